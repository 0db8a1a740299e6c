"""Provider feedback webhooks: signature, status moves, bounce classification, complaints."""

import hashlib
import hmac
import json

import pytest

from channels.models import AddressHealth, DeliveryEvent, DeliveryStatus, Suppression
from profiles.consent import consent_state
from tests.factories import DeliveryFactory

SECRET = "test-feedback-secret"
T1 = "2026-11-20T10:00:00Z"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.FEEDBACK_WEBHOOK_SECRET = SECRET
    settings.SOFT_BOUNCE_QUARANTINE = 3


def post(client, events, *, secret=SECRET, provider="ses"):
    body = json.dumps(events).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        f"/hooks/feedback/{provider}", body, content_type="application/json",
        headers={"X-Itinera-Signature": signature},
    )


def delivery_message_id(delivery_id):
    return f"<delivery-{delivery_id}@itinera.example>"


def event(delivery, type_, *, timestamp=T1, **extra):
    return {"message_id": delivery_message_id(delivery.id), "type": type_,
            "timestamp": timestamp, **extra}


@pytest.fixture
def sent(db):
    return DeliveryFactory(status=DeliveryStatus.SENT)


def test_delivered_moves_a_sent_delivery_forward_and_logs_it(client, sent):
    response = post(client, [event(sent, "delivered")])

    assert response.status_code == 200
    assert response.json()["applied"] == 1
    sent.refresh_from_db()
    assert sent.status == DeliveryStatus.DELIVERED
    assert list(sent.events.values_list("status", flat=True)) == ["delivered"]


def test_delivered_after_opened_is_logged_but_the_status_stays_opened(client, db):
    opened = DeliveryFactory(status=DeliveryStatus.OPENED)

    post(client, [event(opened, "delivered")])

    opened.refresh_from_db()
    assert opened.status == DeliveryStatus.OPENED
    assert opened.events.filter(status="delivered").count() == 1


def test_the_provider_id_finds_the_delivery_too(client, db):
    delivery = DeliveryFactory(status=DeliveryStatus.SENT, provider_message_id="prov-123")

    post(client, [{"message_id": "prov-123", "type": "delivered", "timestamp": T1}])

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


def test_a_forged_signature_is_refused_and_changes_nothing(client, sent):
    response = post(client, [event(sent, "bounced", bounce_type="hard")], secret="wrong")

    assert response.status_code == 401
    sent.refresh_from_db()
    assert sent.status == DeliveryStatus.SENT
    assert not DeliveryEvent.objects.exists()
    assert not Suppression.objects.exists()


def test_a_missing_signature_is_refused(client, sent):
    response = client.post("/hooks/feedback/ses", json.dumps([event(sent, "delivered")]),
                           content_type="application/json")

    assert response.status_code == 401


def test_no_configured_secret_refuses_every_webhook(client, sent, settings):
    settings.FEEDBACK_WEBHOOK_SECRET = ""

    response = post(client, [event(sent, "delivered")], secret="")

    assert response.status_code == 401


def test_a_hard_bounce_suppresses_the_address_at_once(client, sent):
    post(client, [event(sent, "bounced", bounce_type="hard", reason="550 no such user")])

    sent.refresh_from_db()
    assert sent.status == DeliveryStatus.BOUNCED
    assert "550 no such user" in sent.error
    suppression = Suppression.objects.get()
    assert (suppression.kind, suppression.address, suppression.cause) == (
        "email", sent.address.lower(), "hard_bounce")


def test_soft_bounces_quarantine_the_address_at_the_threshold(client, db):
    deliveries = [DeliveryFactory(status=DeliveryStatus.SENT, address="soft@example.com")
                  for _ in range(3)]

    post(client, [event(deliveries[0], "bounced", bounce_type="soft")])
    post(client, [event(deliveries[1], "bounced", bounce_type="soft")])
    assert not Suppression.objects.exists()
    assert AddressHealth.objects.get(address="soft@example.com").soft_bounces == 2
    post(client, [event(deliveries[2], "bounced", bounce_type="soft")])

    assert Suppression.objects.get(address="soft@example.com").cause == "soft_bounces"


def test_a_delivery_in_between_restarts_the_soft_bounce_count(client, db):
    first, second = (DeliveryFactory(status=DeliveryStatus.SENT, address="s@example.com")
                     for _ in range(2))
    post(client, [event(first, "bounced", bounce_type="soft")])

    post(client, [event(second, "delivered")])

    assert AddressHealth.objects.get(address="s@example.com").soft_bounces == 0


def test_a_complaint_suppresses_and_opts_the_profile_out_of_email(client, sent):
    post(client, [event(sent, "complained")])

    sent.refresh_from_db()
    assert sent.status == DeliveryStatus.COMPLAINED
    assert Suppression.objects.get().cause == "complaint"
    assert consent_state(profile=sent.profile, channel="email") == "opted_out"
    assert sent.profile.consent_changes.get().source == "complaint"


def test_the_same_event_twice_is_applied_once(client, db):
    delivery = DeliveryFactory(status=DeliveryStatus.SENT, address="twice@example.com")
    bounce = event(delivery, "bounced", bounce_type="soft")

    post(client, [bounce])
    response = post(client, [bounce])

    assert response.json()["duplicates"] == 1
    assert delivery.events.count() == 1
    assert AddressHealth.objects.get(address="twice@example.com").soft_bounces == 1


def test_bad_items_are_reported_and_good_ones_applied(client, sent):
    response = post(client, [{"type": "delivered"}, event(sent, "delivered"),
                             {"message_id": "x", "type": "bounced", "timestamp": T1}])

    body = response.json()
    assert body["applied"] == 1
    assert [e["index"] for e in body["errors"]] == [0, 2]


def test_an_unknown_message_id_is_counted_not_an_error(client, db):
    response = post(client, [{"message_id": "<delivery-999999@x.example>",
                              "type": "delivered", "timestamp": T1}])

    assert response.status_code == 200
    assert response.json()["unknown"] == 1


def test_the_id_of_a_message_on_another_channel_finds_its_delivery(client, db):
    sms = DeliveryFactory(channel="sms", address="+33612345678", status=DeliveryStatus.SENT)

    post(client, [{"message_id": f"itinera-delivery-{sms.id}", "type": "bounced",
                   "bounce_type": "hard", "timestamp": 1_790_000_000}])

    assert Suppression.objects.get().address == "+33612345678"
    assert Suppression.objects.get().kind == "phone"
