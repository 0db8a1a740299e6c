"""An email rendered by render_template and sent over SMTP carries RFC 8058 headers, and a POST
to its https link unsubscribes the recipient."""

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from channels.backends.base import EmailContent, OutboundEmail
from channels.backends.email import EmailSender
from channels.message_templates import (
    proofs_send,
    render_template,
    seed_list_save,
    template_latest_revision,
)
from channels.models import Delivery, DeliveryStatus
from profiles.consent import consent_state
from tests.factories import ProfileFactory, TopicFactory
from tests.message_helpers import email_template, sent_delivery
from tests.smtp import SmtpSink, closed_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(settings):
    sink = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    settings.BASE_URL = "https://ours.example"
    yield sink
    sink.stop()


def test_a_sent_marketing_email_unsubscribes_with_one_post_to_its_link(smtp):
    # Given a newsletter delivery rendered by render_template and sent over SMTP
    topic = TopicFactory(key="newsletter")
    delivery = sent_delivery(
        template=email_template(topic=topic), profile=ProfileFactory(first_name="Ada")
    )
    content = render_template(
        revision=delivery.template_revision, profile=delivery.profile, delivery_id=delivery.pk
    )
    with EmailSender() as sender:
        sender.send(OutboundEmail(
            delivery_id=delivery.pk, to=delivery.address, from_email="news@ours.example",
            message_id=f"<delivery-{delivery.pk}@ours.example>",
            content=EmailContent(subject=content["subject"], html=content["html"],
                                 text=content["text"], headers=content["headers"]),
        ))

    # Then the message carries both headers, a personalized plain-text part and the HTML
    [received] = smtp.messages
    message = received.parsed()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    https_link = next(link for link in links if link.startswith("https://ours.example/u/"))
    assert any(link.startswith("mailto:unsubscribe+") for link in links)
    assert "Hello Ada" in message.get_body(preferencelist=("plain",)).get_content()
    assert "Hello Ada" in message.get_body(preferencelist=("html",)).get_content()

    # When the mailbox provider posts the one-click body to the https link, with no cookie
    response = Client(enforce_csrf_checks=True).post(
        urlsplit(https_link).path, "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded", secure=True,
    )

    # Then the recipient is unsubscribed from the newsletter
    assert response.status_code == 200
    assert consent_state(profile=delivery.profile, channel="email", topic=topic) == "opted_out"


def test_a_proof_goes_to_every_seed_address_marked_as_a_proof(smtp):
    # Given a template and a seed list of two addresses
    template = email_template()
    seeds = seed_list_save(name="Team", addresses=["a@ours.example", "b@ours.example"])
    profile = ProfileFactory(first_name="Eve")

    # When a proof is sent, rendered for a chosen profile
    counts = proofs_send(
        revision=template_latest_revision(template), seed_list=seeds, profile=profile
    )

    # Then each seed got it, marked as a proof, and the deliveries are proofs
    assert counts == {"sent": 2, "failed": 0}
    received = smtp.by_recipient()
    assert set(received) == {"a@ours.example", "b@ours.example"}
    assert received["a@ours.example"][0]["Subject"] == "[Proof] Hi Eve"
    assert set(Delivery.objects.values_list("is_proof", "status")) == {(True, DeliveryStatus.SENT)}


def test_proofs_to_an_unreachable_server_are_failed_not_left_queued(smtp, settings):
    template = email_template()
    seeds = seed_list_save(name="Team", addresses=["a@ours.example"])
    settings.EMAIL_PORT = closed_port()

    counts = proofs_send(revision=template_latest_revision(template), seed_list=seeds)

    assert counts == {"sent": 0, "failed": 1}
    assert Delivery.objects.get().status == DeliveryStatus.FAILED
