"""RFC 8058 unsubscribe: one-click POST without login or cookie, GET changes nothing."""

from urllib.parse import urlsplit

import pytest
from django.test import Client

from channels.models import DeliveryEvent, DeliveryStatus, MessageKind
from channels.unsubscribe import email_headers, unsubscribe_from_address, unsubscribe_url
from profiles.consent import consent_state
from profiles.models import ConsentChange
from tests.factories import TopicFactory
from tests.message_helpers import email_template, sent_delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def csrf_client():
    """A client that enforces CSRF like a browser-less mail provider meets it."""
    return Client(enforce_csrf_checks=True)


def link_path(delivery) -> str:
    return urlsplit(unsubscribe_url(delivery.pk)).path


def test_a_marketing_email_names_both_unsubscribe_links_and_one_click(settings):
    settings.BASE_URL = "https://ours.example"
    delivery = sent_delivery()

    headers = email_headers(delivery)

    https_link, mailto = [part.strip(" <>") for part in headers["List-Unsubscribe"].split(",")]
    assert https_link == unsubscribe_url(delivery.pk)
    assert https_link.startswith("https://ours.example/u/")
    assert mailto.startswith("mailto:unsubscribe+") and mailto.endswith("@ours.example")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_transactional_email_carries_no_unsubscribe_headers():
    receipt = email_template(kind=MessageKind.TRANSACTIONAL, html="<p>Receipt</p>")
    delivery = sent_delivery(template=receipt)

    assert email_headers(delivery) == {}


def test_a_one_click_post_opts_the_profile_out_of_the_topic(csrf_client):
    # Given a delivery of a newsletter template
    topic = TopicFactory(key="newsletter")
    delivery = sent_delivery(template=email_template(topic=topic))

    # When the provider posts the one-click body, with no cookie or CSRF token
    response = csrf_client.post(
        link_path(delivery), "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    # Then the profile is opted out of that topic, with the source and a delivery event
    assert response.status_code == 200
    assert consent_state(profile=delivery.profile, channel="email", topic=topic) == "opted_out"
    assert ConsentChange.objects.get(profile=delivery.profile).source == "unsubscribe"
    assert DeliveryEvent.objects.filter(delivery=delivery, status="unsubscribed").count() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.UNSUBSCRIBED


def test_without_a_topic_the_post_opts_out_of_the_channel(csrf_client):
    delivery = sent_delivery()

    csrf_client.post(link_path(delivery), {"List-Unsubscribe": "One-Click"})

    # consent_state, not consent_allows: the latter ignores a channel-wide opt-out today
    # (profiles.consent filters topic__in=[None, topic], and Django drops None from IN).
    assert consent_state(profile=delivery.profile, channel="email") == "opted_out"


def test_posting_twice_changes_nothing_more(csrf_client):
    delivery = sent_delivery()

    csrf_client.post(link_path(delivery), {"List-Unsubscribe": "One-Click"})
    second = csrf_client.post(link_path(delivery), {"List-Unsubscribe": "One-Click"})

    assert second.status_code == 200
    assert ConsentChange.objects.filter(profile=delivery.profile).count() == 1
    assert DeliveryEvent.objects.filter(delivery=delivery, status="unsubscribed").count() == 1


def test_a_get_only_shows_the_page_and_changes_nothing(client):
    # Given a delivery; when a link scanner fetches its unsubscribe link
    delivery = sent_delivery()

    response = client.get(link_path(delivery))

    # Then the page asks for confirmation and nothing changed
    assert response.status_code == 200
    assert b"Unsubscribe</button>" in response.content
    assert consent_state(profile=delivery.profile, channel="email") == "unknown"
    assert not ConsentChange.objects.exists()
    assert not DeliveryEvent.objects.filter(status="unsubscribed").exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_token_answers_404_and_changes_nothing(csrf_client, method):
    delivery = sent_delivery()
    other = sent_delivery()
    forged = link_path(delivery).replace(f"/u/{delivery.pk}.", f"/u/{other.pk}.")

    response = getattr(csrf_client, method)(forged)

    assert response.status_code == 404
    assert not ConsentChange.objects.exists()
    assert consent_state(profile=other.profile, channel="email") == "unknown"


def test_the_preference_center_turns_a_topic_off_and_leaves_the_others(csrf_client):
    # Given two email topics and a delivery
    news, offers = TopicFactory(key="news"), TopicFactory(key="offers")
    delivery = sent_delivery(template=email_template(topic=news))

    # When the recipient unticks "offers" and saves
    response = csrf_client.post(link_path(delivery), {"action": "preferences", "topics": ["news"]})

    # Then only offers is opted out; news stays as it was (unknown, not turned into opt-in)
    assert response.status_code == 200
    assert consent_state(profile=delivery.profile, channel="email", topic=offers) == "opted_out"
    assert consent_state(profile=delivery.profile, channel="email", topic=news) == "unknown"
    assert not DeliveryEvent.objects.filter(status="unsubscribed").exists()


def test_the_preference_center_shows_topics_with_their_state(client):
    TopicFactory(key="news", name="News")
    delivery = sent_delivery()

    response = client.get(link_path(delivery))

    assert b'value="news" checked' in response.content


def test_a_mail_to_the_mailto_address_unsubscribes_and_a_forged_one_does_not():
    delivery = sent_delivery()
    mailto = email_headers(delivery)["List-Unsubscribe"].split("<mailto:")[1].rstrip(">")
    forged = mailto.replace(f"+{delivery.pk}.", f"+{delivery.pk + 1}.")

    assert unsubscribe_from_address(forged) is False
    assert consent_state(profile=delivery.profile, channel="email") == "unknown"
    assert unsubscribe_from_address(mailto.upper()) is True
    assert consent_state(profile=delivery.profile, channel="email") == "opted_out"
