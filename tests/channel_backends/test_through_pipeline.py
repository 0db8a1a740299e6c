"""The adapters behind the generic pipeline (channels.sending.send_claimed), against the local
provider server: what the pipeline records for each channel's answers."""

import csv
import io
from pathlib import Path

import pytest

from channels.models import Delivery, DeliveryEvent, DeliveryStatus, MailExport, Reason
from channels.sending import send_claimed
from channels.services import deliveries_claim
from profiles.consent import ConsentUpdate, consent_set
from profiles.models import PushSubscription
from tests.factories import DeliveryFactory, ProfileFactory, StepFactory

pytestmark = pytest.mark.django_db

BACKENDS = {
    "email": "channels.backends.memory.MemoryBackend",
    "sms": "channels.backends.sms.HttpSmsBackend",
    "push": "channels.backends.push.PushBackend",
    "mail": "channels.backends.mail.MailFileBackend",
    "webhook": "channels.backends.webhook.WebhookBackend",
}


@pytest.fixture(autouse=True)
def configured(settings, provider, tmp_path):
    settings.CHANNEL_BACKENDS = BACKENDS
    settings.SMS_PROVIDER_URL = provider.url("/sms")
    settings.SMS_PROVIDER_TOKEN = "tok"
    settings.FCM_BASE_URL = provider.url("")
    settings.FCM_PROJECT_ID = "demo"
    settings.FCM_ACCESS_TOKEN = "token"
    settings.WEBHOOK_SIGNING_SECRET = "secret"
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.MEDIA_ROOT = str(tmp_path)
    settings.QUIET_HOURS = {}
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5


def opted_in(channel: str, **fields):
    profile = ProfileFactory(**fields)
    consent_set(profile=profile, update=ConsentUpdate(channel=channel, state="opted_in"))
    return profile


def send(step, render):
    return send_claimed(deliveries=deliveries_claim(campaign_step_id=step.pk, limit=100),
                        renderer=render)


def test_an_sms_campaign_reaches_the_provider_and_is_recorded_sent(provider):
    step = StepFactory(channel="sms")
    profile = opted_in("sms", phone="+33612345678", first_name="Ada")
    delivery = DeliveryFactory(campaign_step=step, profile=profile, channel="sms",
                               address=profile.phone)
    provider.respond(200, {"id": "sms-1"})

    send(step, lambda d: {"body": f"Hi {d.profile.first_name}"})

    (request,) = provider.requests
    assert request.json()["body"] == "Hi Ada"
    assert request.json()["reference"] == f"itinera-delivery-{delivery.pk}"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_message_id) == (DeliveryStatus.SENT, "sms-1")


def test_an_sms_provider_asking_to_slow_down_defers_the_delivery(provider):
    step = StepFactory(channel="sms")
    profile = opted_in("sms", phone="+33612345678")
    delivery = DeliveryFactory(campaign_step=step, profile=profile, channel="sms",
                               address=profile.phone)
    provider.respond(429, headers={"Retry-After": "120"})

    send(step, lambda d: {"body": "Hi"})

    delivery.refresh_from_db()
    assert (delivery.status, delivery.reason) == (DeliveryStatus.DEFERRED,
                                                  Reason.PROVIDER_THROTTLED)
    assert (delivery.next_attempt_at - delivery.updated_at).total_seconds() >= 119


def test_a_direct_mail_run_ends_exported_in_one_file(provider):
    step = StepFactory(channel="mail")
    address = {"address_line1": "1 Quai", "postal_code": "69001", "city": "Lyon",
               "country": "FR"}
    deliveries = [
        DeliveryFactory(campaign_step=step, channel="mail", address=f"Reader {n}",
                        profile=ProfileFactory(attributes=address))
        for n in range(3)
    ]

    send(step, lambda d: {"letter": f"Dear {d.address}"})

    export = MailExport.objects.get()
    rows = list(csv.DictReader(io.StringIO(Path(export.file.path).read_text())))
    assert sorted(r["letter"] for r in rows) == ["Dear Reader 0", "Dear Reader 1", "Dear Reader 2"]
    for delivery in deliveries:
        delivery.refresh_from_db()
        assert (delivery.status, delivery.mail_export_id) == (DeliveryStatus.EXPORTED, export.pk)
        assert list(DeliveryEvent.objects.filter(delivery=delivery)
                    .values_list("status", flat=True)) == [DeliveryStatus.EXPORTED]
    assert provider.requests == []


def test_a_webhook_step_posts_the_rendered_payload(provider):
    step = StepFactory(channel="webhook")
    url = provider.url("/integrator")
    delivery = DeliveryFactory(campaign_step=step, channel="webhook", address=url)

    send(step, lambda d: {"url": url, "payload": f'{{"profile": "{d.profile.external_id}"}}'})

    (request,) = provider.requests
    assert request.json() == {"profile": delivery.profile.external_id}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_a_gone_push_token_fails_the_delivery_and_removes_the_subscription(provider):
    step = StepFactory(channel="push")
    profile = opted_in("push")
    PushSubscription.objects.create(profile=profile, kind="fcm", platform="android",
                                    token="dead-token")
    delivery = DeliveryFactory(campaign_step=step, profile=profile, channel="push",
                               address="dead-token")
    provider.respond(404, {"error": {"status": "NOT_FOUND", "details": [
        {"errorCode": "UNREGISTERED"}]}})

    send(step, lambda d: {"title": "Hi", "body": "There"})

    delivery.refresh_from_db()
    assert (delivery.status, delivery.reason) == (DeliveryStatus.FAILED, Reason.PROVIDER_ERROR)
    assert not PushSubscription.objects.exists()
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 0
