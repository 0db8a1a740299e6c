"""Settings pages: the attribute schema and the subscription topics."""

import pytest
from django.urls import reverse

from profiles.models import AttributeDefinition, Topic
from tests.factories import AttributeDefinitionFactory, ProfileFactory, TopicFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_marketer_declares_an_attribute_with_typed_allowed_values(marketer_client):
    response = marketer_client.post(reverse("attribute_create"), {
        "key": "shoe_size", "label": "Shoe size", "type": "number",
        "allowed_values": "38, 39.5, 40, 38", "description": "",
    })

    assert response.status_code == 302
    definition = AttributeDefinition.objects.get(key="shoe_size")
    assert definition.allowed_values == [38, 39.5, 40]


def test_allowed_values_that_do_not_fit_the_type_are_refused(marketer_client):
    response = marketer_client.post(reverse("attribute_create"), {
        "key": "shoe_size", "label": "Shoe size", "type": "number",
        "allowed_values": "38, big", "description": "",
    })

    assert response.status_code == 200
    assert 'id="id_allowed_values-error"' in response.content.decode()
    assert not AttributeDefinition.objects.exists()


def test_a_bad_key_is_refused(marketer_client):
    response = marketer_client.post(reverse("attribute_create"), {
        "key": "2 words", "label": "Bad", "type": "string", "allowed_values": "",
        "description": "",
    })

    assert 'id="id_key-error"' in response.content.decode()
    assert not AttributeDefinition.objects.exists()


def test_the_key_cannot_change_once_created(marketer_client):
    definition = AttributeDefinitionFactory(key="plan", label="Plan", type="string")

    response = marketer_client.post(reverse("attribute_edit", args=[definition.pk]), {
        "key": "tier", "label": "Plan name", "type": "string", "allowed_values": "free, pro",
        "description": "",
    })

    assert response.status_code == 302
    definition.refresh_from_db()
    assert (definition.key, definition.label, definition.allowed_values) == (
        "plan", "Plan name", ["free", "pro"])


def test_deleting_a_definition_keeps_the_stored_values(marketer_client):
    definition = AttributeDefinitionFactory(key="plan")
    profile = ProfileFactory(attributes={"plan": "pro"})

    confirm = marketer_client.get(reverse("attribute_delete", args=[definition.pk]))
    marketer_client.post(reverse("attribute_delete", args=[definition.pk]))

    assert confirm.status_code == 200
    assert not AttributeDefinition.objects.exists()
    profile.refresh_from_db()
    assert profile.attributes == {"plan": "pro"}


def test_the_attribute_list_shows_every_definition(marketer_client):
    AttributeDefinitionFactory(key="tier", label="Loyalty tier", allowed_values=["gold"])

    html = marketer_client.get(reverse("attribute_list")).content.decode()

    assert "Loyalty tier" in html and "gold" in html


def test_a_marketer_creates_and_renames_a_topic_but_not_its_key(marketer_client):
    marketer_client.post(reverse("topic_create"), {
        "key": "newsletter", "name": "Newsletter", "channel": "email", "description": "",
    })
    topic = Topic.objects.get(key="newsletter")

    marketer_client.post(reverse("topic_edit", args=[topic.pk]), {
        "key": "news", "name": "Weekly news", "channel": "email", "description": "Fridays",
    })

    topic.refresh_from_db()
    assert (topic.key, topic.name, topic.description) == ("newsletter", "Weekly news", "Fridays")
    assert "Weekly news" in marketer_client.get(reverse("topic_list")).content.decode()


def test_a_duplicate_topic_key_is_refused(marketer_client):
    TopicFactory(key="newsletter")

    response = marketer_client.post(reverse("topic_create"), {
        "key": "newsletter", "name": "Again", "channel": "email", "description": "",
    })

    assert 'id="id_key-error"' in response.content.decode()
    assert Topic.objects.count() == 1


@pytest.mark.parametrize("name", ["attribute_list", "attribute_create", "topic_list",
                                  "topic_create"])
def test_settings_need_their_permissions(client, name):
    client.force_login(UserFactory(username="nobody"))

    assert client.get(reverse(name)).status_code == 403


def test_the_settings_link_shows_for_marketers(marketer_client):
    html = marketer_client.get(reverse("dashboard")).content.decode()

    assert f'href="{reverse("attribute_list")}"' in html
