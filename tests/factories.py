"""Factories per model, shared by every test module."""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import Campaign, Step
from profiles.models import Profile, Segment


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile

    external_id = factory.Sequence(lambda n: f"cust-{n:06d}")
    email = factory.LazyAttribute(lambda p: f"{p.external_id}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    timezone = "Europe/Paris"
    locale = "fr-FR"
    attributes = factory.LazyFunction(lambda: {"plan": "free"})


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    rules = factory.LazyFunction(
        lambda: {"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]}
    )


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    segment = factory.SubFactory(SegmentFactory)


class StepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Step

    campaign = factory.SubFactory(CampaignFactory)
    position = 1
    subject = "Hello {{ profile.first_name | default: 'there' }}"
    html_body = (
        "<p>Hello {{ profile.first_name | default: 'there' }}, welcome to {{ campaign.name }}.</p>"
    )


class DeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "channels.Delivery"

    profile = factory.SubFactory(ProfileFactory)
    campaign_step = factory.SubFactory(StepFactory)
    address = factory.LazyAttribute(lambda d: d.profile.email)


class AttributeDefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "profiles.AttributeDefinition"
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"attr_{n}")
    label = factory.LazyAttribute(lambda d: d.key.replace("_", " ").capitalize())
    type = "string"


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "profiles.Topic"
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"topic-{n}")
    name = factory.LazyAttribute(lambda t: t.key.replace("-", " ").capitalize())
    channel = "email"


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "profiles.Event"

    profile = factory.SubFactory(ProfileFactory)
    name = "page_viewed"
    properties = factory.LazyFunction(lambda: {"path": "/"})
    occurred_at = factory.LazyFunction(timezone.now)
    source = "web"


class PlacementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "channels.Placement"
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"placement_{n}")
    name = factory.LazyAttribute(lambda p: p.key.replace("_", " ").capitalize())


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "channels.Offer"

    placement = factory.SubFactory(PlacementFactory)
    name = factory.Sequence(lambda n: f"Offer {n}")
    content = factory.LazyFunction(lambda: {"title": "Hello"})


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "channels.MessageTemplate"

    name = factory.Sequence(lambda n: f"Template {n}")
    channel = "email"
    content = factory.LazyFunction(lambda: {
        "subject": "Hi {{ profile.first_name }}",
        "html": "<p>Hello {{ profile.first_name }}, order {{ data.order }}</p>",
    })
