"""A campaign step's audience materialized for other channels than email."""

import pytest

from channels.models import Delivery, DeliveryStatus, Reason, TemplateRevision
from channels.services import deliveries_create_for_audience
from profiles.models import Profile, PushSubscription
from tests.factories import MessageTemplateFactory, ProfileFactory, StepFactory

pytestmark = pytest.mark.django_db


def test_an_sms_step_addresses_each_members_phone_and_skips_those_without_one():
    template = MessageTemplateFactory(channel="sms", content={"body": "Hi"})
    revision = TemplateRevision.objects.create(template=template, version=1, content={})
    step = StepFactory(template=template, channel="sms")
    with_phone = ProfileFactory(phone="+33612345678")
    without = ProfileFactory(phone="")

    created = deliveries_create_for_audience(
        campaign_step_id=step.pk, members=Profile.objects.all(), channel="sms",
        template_revision_id=revision.pk,
    )

    assert created == 2
    sms = Delivery.objects.get(profile=with_phone)
    assert (sms.channel, sms.address, sms.status, sms.template_revision_id) == (
        "sms", "+33612345678", DeliveryStatus.QUEUED, revision.pk)
    skipped = Delivery.objects.get(profile=without)
    assert (skipped.status, skipped.reason) == (DeliveryStatus.SKIPPED, Reason.MISSING_ADDRESS)


def test_a_push_step_addresses_the_members_newest_subscription():
    step = StepFactory(channel="push")
    profile = ProfileFactory()
    for token in ("old-token", "new-token"):
        PushSubscription.objects.create(profile=profile, kind="fcm", platform="android",
                                        token=token)

    deliveries_create_for_audience(campaign_step_id=step.pk, members=Profile.objects.all(),
                                   channel="push")

    assert Delivery.objects.get(profile=profile).address == "new-token"


def test_a_transactional_templates_deliveries_are_transactional():
    template = MessageTemplateFactory(kind="transactional")
    step = StepFactory(template=template)
    ProfileFactory()

    deliveries_create_for_audience(campaign_step_id=step.pk, members=Profile.objects.all(),
                                   kind=template.kind)

    assert Delivery.objects.get().kind == "transactional"
