"""Auto-pause (campaigns/send_health.py through channels.hooks): a running campaign whose
provider keeps failing goes to paused, and what was still queued stays queued.

Real local providers: an aiosmtpd server refusing recipients, an HTTP SMS provider answering
503. Sending is driven like the runtime drives it: batch after batch while the campaign runs.
"""

import pytest
from django.utils import timezone

from campaigns import send_health
from campaigns.models import Campaign, CampaignStatus
from channels import hooks
from channels.models import Delivery, DeliveryStatus, Reason
from channels.sending import send_claimed
from channels.services import deliveries_claim
from profiles.consent import ConsentUpdate, consent_set
from profiles.models import Profile
from tests.channel_backends.conftest import provider  # noqa: F401 — the local HTTP provider
from tests.factories import CampaignFactory, StepFactory
from tests.smtp import SmtpSink

pytestmark = pytest.mark.django_db

EMAIL = {"subject": "Hi", "html": "<p>Hi</p>", "text": "Hi", "from_email": "a@example.com"}


@pytest.fixture(autouse=True)
def thresholds(settings):
    settings.SEND_PAUSE_ERROR_RATE = 0.2
    settings.SEND_PAUSE_MIN_ATTEMPTS = 50
    settings.SEND_PAUSE_WINDOW_SECONDS = 900
    settings.QUIET_HOURS = {}
    settings.FREQUENCY_CAPS = {}
    # Registered by CampaignsConfig.ready(); asserted rather than re-registered, so a lost
    # registration fails here.
    assert send_health.pause_on_provider_errors in hooks._after_batch


@pytest.fixture
def sink(settings):
    server = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    settings.CHANNEL_BACKENDS = {**settings.CHANNEL_BACKENDS,
                                 "email": "channels.backends.email.EmailBackend"}
    yield server
    server.stop()


def running_step(channel="email"):
    campaign = CampaignFactory(status=CampaignStatus.RUNNING, launched_at=timezone.now())
    return StepFactory(campaign=campaign, channel=channel)


def queue(step, n, *, channel="email"):
    profiles = Profile.objects.bulk_create(
        Profile(external_id=f"p{step.pk}-{i}", email=f"p{step.pk}-{i}@example.com",
                phone=f"+336123{step.pk % 100:02d}{i:03d}", timezone="Europe/Paris")
        for i in range(n)
    )
    Delivery.objects.bulk_create(
        Delivery(profile=p, campaign_step=step, channel=channel,
                 address=p.email if channel == "email" else p.phone)
        for p in profiles
    )
    return profiles


def send_while_running(step, render, batch=60):
    """What the runtime does: claim and send a batch at a time, never for a paused campaign."""
    while Campaign.objects.get(pk=step.campaign_id).status == CampaignStatus.RUNNING:
        claimed = deliveries_claim(campaign_step_id=step.pk, limit=batch)
        if not claimed:
            return
        send_claimed(deliveries=claimed, renderer=render)


def counts(step):
    rows = Delivery.objects.filter(campaign_step=step)
    return {s: rows.filter(status=s).count() for s in DeliveryStatus.values
            if rows.filter(status=s).exists()}


def test_an_smtp_server_refusing_every_recipient_pauses_the_campaign(sink):
    step = running_step()
    profiles = queue(step, 150)
    sink.refuse = {p.email for p in profiles}

    send_while_running(step, lambda d: EMAIL)

    campaign = Campaign.objects.get(pk=step.campaign_id)
    assert campaign.status == CampaignStatus.PAUSED
    assert campaign.paused_at is not None
    assert "60 of the last 60" in campaign.pause_reason
    assert "provider errors" in campaign.pause_reason
    # The first batch failed (550: permanent); the rest was never claimed and stays queued.
    assert counts(step) == {DeliveryStatus.FAILED: 60, DeliveryStatus.QUEUED: 90}
    assert set(Delivery.objects.filter(campaign_step=step, status=DeliveryStatus.FAILED)
               .values_list("reason", flat=True)) == {Reason.PROVIDER_ERROR}
    assert sink.messages == []


def test_an_sms_provider_answering_503_pauses_the_campaign_and_nothing_is_failed(
    settings, provider  # noqa: F811
):
    settings.CHANNEL_BACKENDS = {**settings.CHANNEL_BACKENDS,
                                 "sms": "channels.backends.sms.HttpSmsBackend"}
    settings.SMS_PROVIDER_URL = provider.url("/sms")
    settings.SMS_PROVIDER_TOKEN = "tok"
    settings.PROVIDER_TIMEOUT_SECONDS = 2
    step = running_step("sms")
    for profile in queue(step, 120, channel="sms"):
        consent_set(profile=profile, update=ConsentUpdate(channel="sms", state="opted_in"))
    for _ in range(120):
        provider.respond(503, {"error": "down"})

    send_while_running(step, lambda d: {"body": "Hi"})

    campaign = Campaign.objects.get(pk=step.campaign_id)
    assert campaign.status == CampaignStatus.PAUSED
    assert len(provider.requests) == 60
    # 5xx is retryable: the tried ones wait for a retry, the others were never claimed.
    assert counts(step) == {DeliveryStatus.DEFERRED: 60, DeliveryStatus.QUEUED: 60}
    assert not Delivery.objects.filter(campaign_step=step, status=DeliveryStatus.FAILED).exists()


def test_a_few_refused_recipients_do_not_pause_the_campaign(sink):
    step = running_step()
    profiles = queue(step, 120)
    sink.refuse = {p.email for p in profiles[::10]}  # 10 %, under the 20 % threshold

    send_while_running(step, lambda d: EMAIL)

    assert Campaign.objects.get(pk=step.campaign_id).status == CampaignStatus.RUNNING
    assert counts(step) == {DeliveryStatus.SENT: 108, DeliveryStatus.FAILED: 12}


def test_fewer_attempts_than_the_minimum_do_not_pause(sink):
    step = running_step()
    sink.refuse = {p.email for p in queue(step, 40)}  # every one fails, but 40 < 50

    send_while_running(step, lambda d: EMAIL)

    assert Campaign.objects.get(pk=step.campaign_id).status == CampaignStatus.RUNNING
    assert counts(step) == {DeliveryStatus.FAILED: 40}


def test_failures_across_batches_add_up_in_the_window(sink):
    step = running_step()
    sink.refuse = {p.email for p in queue(step, 100)}

    send_while_running(step, lambda d: EMAIL, batch=30)  # 30, 30: 60 tried before pausing

    campaign = Campaign.objects.get(pk=step.campaign_id)
    assert campaign.status == CampaignStatus.PAUSED
    assert "60 of the last 60" in campaign.pause_reason
    assert counts(step) == {DeliveryStatus.FAILED: 60, DeliveryStatus.QUEUED: 40}


def test_a_campaign_paused_by_hand_keeps_its_reason(sink):
    step = running_step()
    sink.refuse = {p.email for p in queue(step, 60)}
    claimed = deliveries_claim(campaign_step_id=step.pk, limit=60)
    Campaign.objects.filter(pk=step.campaign_id).update(
        status=CampaignStatus.PAUSED, pause_reason="by hand")

    send_claimed(deliveries=claimed, renderer=lambda d: EMAIL)  # an in-flight batch ends

    campaign = Campaign.objects.get(pk=step.campaign_id)
    assert (campaign.status, campaign.pause_reason) == (CampaignStatus.PAUSED, "by hand")


def test_zero_rate_turns_auto_pause_off(settings, sink):
    settings.SEND_PAUSE_ERROR_RATE = 0
    step = running_step()
    sink.refuse = {p.email for p in queue(step, 100)}

    send_while_running(step, lambda d: EMAIL)

    assert Campaign.objects.get(pk=step.campaign_id).status == CampaignStatus.RUNNING
    assert counts(step) == {DeliveryStatus.FAILED: 100}


def test_the_runtime_sender_stops_at_the_pause(settings, sink):
    from campaigns.journeys.sending import send_queued

    settings.SEND_BATCH_SIZE = 60
    step = running_step()
    sink.refuse = {p.email for p in queue(step, 150)}

    assert send_queued(step_id=step.pk) == 60

    assert Campaign.objects.get(pk=step.campaign_id).status == CampaignStatus.PAUSED
    assert counts(step) == {DeliveryStatus.FAILED: 60, DeliveryStatus.QUEUED: 90}
