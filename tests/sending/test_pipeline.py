"""The generic sending pipeline: outcomes, retries, deferrals, and set-based recording."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import jobs
from campaigns.models import CampaignStatus
from campaigns.services import campaign_launch, step_send
from channels.backends import memory
from channels.backends.base import DeliveryError, ProviderError
from channels.models import (
    AddressKind,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Reason,
    Suppression,
    TemplateRevision,
)
from channels.rendering import DeliveryRenderer
from channels.sending import deliveries_release_due, send_claimed
from channels.services import deliveries_claim
from profiles.consent import ConsentUpdate, consent_set
from profiles.models import ConsentState
from tests.factories import (
    DeliveryFactory,
    MessageTemplateFactory,
    ProfileFactory,
    SegmentFactory,
    StepFactory,
)

pytestmark = pytest.mark.django_db


def hello(delivery: Delivery) -> dict:
    return {"subject": "Hello", "html": f"<p>Hi {delivery.profile.first_name}</p>", "text": "Hi"}


def claim(step, limit: int = 1000) -> list[Delivery]:
    return deliveries_claim(campaign_step_id=step.pk, limit=limit)


def events_of(delivery: Delivery) -> list[str]:
    return list(DeliveryEvent.objects.filter(delivery=delivery).order_by("id")
                .values_list("status", flat=True))


def test_a_batch_is_sent_through_one_backend_and_recorded_sent(outbox):
    step = StepFactory()
    deliveries = [DeliveryFactory(campaign_step=step) for _ in range(3)]

    outcomes = send_claimed(deliveries=claim(step), renderer=hello)

    assert [o.status for o in outcomes] == [DeliveryStatus.SENT] * 3
    assert sorted(m.address for m in outbox["email"]) == sorted(d.address for d in deliveries)
    assert len(memory.opened) == 1  # one backend opened for the batch
    for delivery in deliveries:
        delivery.refresh_from_db()
        assert (delivery.status, delivery.reason, delivery.attempts) == ("sent", "", 1)
        assert delivery.provider_message_id == f"memory-{delivery.pk}"
        assert events_of(delivery) == [DeliveryStatus.SENT]


def test_every_message_not_sent_is_recorded_with_its_reason(outbox):
    step = StepFactory()
    sent = DeliveryFactory(campaign_step=step)
    opted_out = DeliveryFactory(campaign_step=step)
    consent_set(profile=opted_out.profile,
                update=ConsentUpdate(channel="email", state=ConsentState.OPTED_OUT))
    suppressed = DeliveryFactory(campaign_step=step)
    Suppression.objects.create(kind=AddressKind.EMAIL, address=suppressed.address.lower(),
                               cause=Suppression.Cause.MANUAL)
    broken = DeliveryFactory(campaign_step=step)

    def render(delivery):
        if delivery.pk == broken.pk:
            raise ValueError("unknown filter 'nope'")
        return hello(delivery)

    send_claimed(deliveries=claim(step), renderer=render)

    rows = {d.pk: d for d in Delivery.objects.filter(campaign_step=step)}
    assert (rows[sent.pk].status, rows[sent.pk].reason) == ("sent", "")
    assert (rows[opted_out.pk].status, rows[opted_out.pk].reason) == ("skipped", "unsubscribed")
    assert (rows[suppressed.pk].status, rows[suppressed.pk].reason) == ("skipped", "suppressed")
    assert (rows[broken.pk].status, rows[broken.pk].reason) == ("failed", "template_error")
    assert events_of(opted_out) == [DeliveryStatus.SKIPPED]
    assert [m.delivery_id for m in outbox["email"]] == [sent.pk]


def test_recording_a_batch_costs_the_same_queries_for_20_or_200_messages(outbox):
    def queries_for(n: int) -> int:
        step = StepFactory()
        for i in range(n):  # a mix of outcomes: one in ten has no address (skipped)
            if i % 10 == 0:
                DeliveryFactory(campaign_step=step, address="")
            else:
                DeliveryFactory(campaign_step=step)
        batch = claim(step)
        with CaptureQueriesContext(connection) as captured:
            outcomes = send_claimed(deliveries=batch, renderer=hello)
        assert len(outcomes) == n
        assert {o.status for o in outcomes} == {"sent", "skipped"}
        return len(captured)

    assert queries_for(20) == queries_for(200)


def test_a_retryable_error_defers_with_backoff_then_fails_after_the_last_attempt(
    outbox, settings
):
    settings.SEND_MAX_ATTEMPTS = 3
    settings.SEND_RETRY_BASE_SECONDS = 60
    step = StepFactory()
    delivery = DeliveryFactory(campaign_step=step)
    memory.failures[delivery.address] = DeliveryError("451 try later", permanent=False)
    waits = []

    for _ in range(3):
        before = timezone.now()
        send_claimed(deliveries=claim(step), renderer=hello, now=before)
        delivery.refresh_from_db()
        if delivery.status == DeliveryStatus.DEFERRED:
            waits.append(delivery.next_attempt_at - before)
            assert deliveries_release_due(now=delivery.next_attempt_at) == 1

    assert waits == [timedelta(seconds=60), timedelta(seconds=120)]
    assert (delivery.status, delivery.reason, delivery.attempts) == ("failed", "provider_error", 3)
    assert delivery.error == "451 try later"
    assert events_of(delivery) == ["deferred", "queued", "deferred", "queued", "failed"]


def test_a_deferred_delivery_is_not_released_before_it_is_due(outbox):
    step = StepFactory()
    delivery = DeliveryFactory(campaign_step=step)
    memory.failures[delivery.address] = DeliveryError("451", permanent=False)
    send_claimed(deliveries=claim(step), renderer=hello)
    delivery.refresh_from_db()

    assert deliveries_release_due(now=delivery.next_attempt_at - timedelta(seconds=1)) == 0
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DEFERRED


def test_a_permanent_error_fails_only_that_recipient(outbox):
    step = StepFactory()
    bad, good = DeliveryFactory(campaign_step=step), DeliveryFactory(campaign_step=step)
    memory.failures[bad.address] = DeliveryError("550 no such user", permanent=True)

    send_claimed(deliveries=claim(step), renderer=hello)

    bad.refresh_from_db()
    good.refresh_from_db()
    assert (bad.status, bad.reason, bad.next_attempt_at) == ("failed", "provider_error", None)
    assert good.status == DeliveryStatus.SENT


def test_a_throttling_provider_defers_the_rest_of_the_batch_without_trying_it(outbox):
    step = StepFactory()
    first, second, third = (DeliveryFactory(campaign_step=step) for _ in range(3))
    memory.failures[second.address] = ProviderError("429", permanent=False, retry_after=300)
    now = timezone.now()

    send_claimed(deliveries=claim(step), renderer=hello, now=now)

    rows = {d.pk: d for d in Delivery.objects.filter(campaign_step=step)}
    assert rows[first.pk].status == DeliveryStatus.SENT
    for pk, attempts in ((second.pk, 1), (third.pk, 0)):
        assert rows[pk].status == DeliveryStatus.DEFERRED
        assert rows[pk].reason == Reason.PROVIDER_THROTTLED
        assert rows[pk].next_attempt_at >= now + timedelta(seconds=300)
        assert rows[pk].attempts == attempts
    assert [m.delivery_id for m in outbox["email"]] == [first.pk]


def test_quiet_hours_defer_an_sms_and_the_sweep_releases_it_when_due(outbox, settings,
                                                                     redis_conn):
    settings.QUIET_HOURS = {"sms": ("00:00", "23:59")}  # always quiet, in any zone
    step = StepFactory(campaign__status=CampaignStatus.RUNNING, channel="sms")
    profile = ProfileFactory(phone="+33612345678")
    consent_set(profile=profile, update=ConsentUpdate(channel="sms", state="opted_in"))
    delivery = DeliveryFactory(campaign_step=step, profile=profile, channel="sms",
                               address=profile.phone)

    send_claimed(deliveries=claim(step), renderer=lambda d: {"body": "Hi"})
    delivery.refresh_from_db()
    assert (delivery.status, delivery.reason) == ("deferred", "quiet_hours_deferred")
    assert delivery.attempts == 0
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1))

    result = jobs.sweep()

    assert result["released"] == 1
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.QUEUED
    assert result["nudged"] == 1
    assert outbox["sms"] == []


def test_a_campaign_with_a_deferred_delivery_is_not_completed(outbox):
    step = StepFactory(campaign__status=CampaignStatus.RUNNING)
    DeliveryFactory(campaign_step=step, status=DeliveryStatus.DEFERRED,
                    next_attempt_at=timezone.now() + timedelta(hours=1))

    assert jobs.services.campaign_complete_if_done(campaign_id=step.campaign_id) is False


def test_a_template_step_sends_its_templates_current_revision(outbox):
    template = MessageTemplateFactory(content={
        "subject": "Hi {{ profile.first_name }}",
        "html": "<p>{{ campaign.name }} for {{ profile.first_name }}</p>"})
    step = StepFactory(template=template, subject="", html_body="",
                       campaign__status=CampaignStatus.SCHEDULED,
                       campaign__scheduled_at=timezone.now(),
                       campaign__segment=SegmentFactory())
    ada = ProfileFactory(first_name="Ada", attributes={"plan": "pro"})

    campaign_launch(campaign_id=step.campaign_id)
    step_send(step_id=step.pk)

    revision = TemplateRevision.objects.get(template=template)
    assert revision.version == template.version
    delivery = Delivery.objects.get(campaign_step=step)
    assert (delivery.status, delivery.template_revision_id) == ("sent", revision.pk)
    [message] = outbox["email"]
    assert message.address == ada.email
    assert message.content["subject"] == "Hi Ada"
    assert f"{step.campaign.name} for Ada" in message.content["html"]
    assert "Ada" in message.content["text"]  # generated from the HTML


def test_a_template_batch_costs_the_same_queries_for_20_or_200_messages(outbox):
    template = MessageTemplateFactory()
    revision = TemplateRevision.objects.create(template=template, version=1,
                                               content=template.content)
    renderer = DeliveryRenderer(campaign={"id": 1, "name": "Spring"})

    def queries_for(n: int) -> int:
        step = StepFactory(template=template)
        for _ in range(n):
            DeliveryFactory(campaign_step=step, template_revision=revision)
        batch = claim(step)
        with CaptureQueriesContext(connection) as captured:
            outcomes = send_claimed(deliveries=batch, renderer=renderer)
        assert {o.status for o in outcomes} == {"sent"}
        return len(captured)

    queries_for(1)  # the revision is compiled (and cached) on first use
    assert queries_for(20) == queries_for(200)


def test_a_marketing_template_email_carries_one_click_unsubscribe_headers(outbox):
    template = MessageTemplateFactory()
    revision = TemplateRevision.objects.create(template=template, version=1,
                                               content=template.content)
    step = StepFactory(template=template)
    DeliveryFactory(campaign_step=step, template_revision=revision)

    send_claimed(deliveries=claim(step), renderer=DeliveryRenderer())

    [message] = outbox["email"]
    assert message.content["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "List-Unsubscribe" in message.content["headers"]


def test_a_proof_is_sent_to_its_seed_address_rendered_for_the_chosen_profile(outbox):
    template = MessageTemplateFactory()
    revision = TemplateRevision.objects.create(template=template, version=1,
                                               content=template.content)
    ada = ProfileFactory(first_name="Ada")
    consent_set(profile=ada, update=ConsentUpdate(channel="email", state="opted_out"))
    proof = Delivery.objects.create(channel="email", address="seed@example.com", is_proof=True,
                                    template_revision=revision,
                                    data={"proof_profile_id": ada.pk})

    send_claimed(deliveries=deliveries_claim(ids=[proof.pk], limit=10),
                 renderer=DeliveryRenderer())

    [message] = outbox["email"]
    assert (message.address, message.content["subject"]) == ("seed@example.com",
                                                             "[Proof] Hi Ada")
    assert Delivery.objects.get(pk=proof.pk).status == DeliveryStatus.SENT


def test_an_interrupted_delivery_becomes_unknown_and_is_never_sent_again(outbox, settings):
    step = StepFactory(campaign__status=CampaignStatus.RUNNING)
    delivery = DeliveryFactory(campaign_step=step, status=DeliveryStatus.SENDING,
                               claimed_at=timezone.now() - timedelta(hours=1))

    jobs.deliveries_fail_interrupted(older_than=timedelta(minutes=10))
    step_send(step_id=step.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.reason) == (DeliveryStatus.UNKNOWN, Reason.INTERRUPTED)
    assert outbox["email"] == []


def test_the_sweep_nudges_queued_deliveries_outside_campaigns(
    outbox, redis_conn, django_capture_on_commit_callbacks
):
    import django_rq

    DeliveryFactory(campaign_step=None)

    with django_capture_on_commit_callbacks(execute=True):  # django-rq enqueues on commit
        jobs.sweep()
    with django_capture_on_commit_callbacks(execute=True):
        jobs.sweep()  # a second sweep while the job waits adds nothing

    [job] = django_rq.get_queue("send").get_jobs()
    assert job.func_name == "channels.jobs.send_deliveries"
