"""A worker SIGKILLed while a 10,000-profile audience walks a 3-step journey
(send → wait 2 s → send), real RQ worker processes, a real SMTP sink.

After a second worker is started and the sweep has run: every profile visited every step
exactly once, has exactly one delivery per send step, and no Message-ID reached the sink
twice. The deliveries the dead worker had in flight (at most one batch) are `unknown`
(reason interrupted: they may or may not have left, so they are never resent); every other
delivery is `sent` and reached the sink once.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest
from django.db.models import Count
from django.utils import timezone

from campaigns import jobs
from campaigns.journeys.entry import run_audience
from campaigns.models import CampaignStatus, Enrollment, EnrollmentState, StepVisit
from channels.models import Delivery, DeliveryStatus, Reason
from tests.journeys.builders import journey, pro_segment, profiles, send, wait
from tests.reliability.test_worker_killed_mid_send import BATCH, kill_with_descendants

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AUDIENCE = int(os.environ.get("RELIABILITY_JOURNEY_AUDIENCE", "10000"))
KILL_AFTER = AUDIENCE // 4 + BATCH // 2  # messages received: half-way through a batch


def wait_for(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; deliveries: {statuses()}; "
                         f"enrollments: {states()}")


def statuses() -> Counter:
    return Counter(dict(Delivery.objects.values_list("status").annotate(n=Count("id"))
                        .order_by()))


def states() -> Counter:
    return Counter(dict(Enrollment.objects.values_list("state").annotate(n=Count("id"))
                        .order_by()))


def finished() -> bool:
    return (not Enrollment.objects.filter(state=EnrollmentState.ACTIVE).exists()
            and not Delivery.objects.filter(status=DeliveryStatus.QUEUED).exists())


def send_here_to(settings, port: int) -> None:
    """This process's sends (the sweep walks too) go to the sink, like the workers'."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""


def test_a_worker_killed_mid_walk_loses_no_step_and_doubles_no_message(sink, workers,
                                                                       settings, monkeypatch):
    send_here_to(settings, sink.port)
    # The sweep only nudges the workers here (it would otherwise walk and send in this
    # process too, competing with the sink for it).
    monkeypatch.setattr(jobs, "SWEEP_WALK_SECONDS", 0)
    profiles(AUDIENCE)
    campaign = journey([send("s1", "s2"), wait("s2", "s3", 2), send("s3")],
                       segment=pro_segment())
    email_url = f"smtp://127.0.0.1:{sink.port}"
    first = workers(email_url)
    assert run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now()) == AUDIENCE

    # When: the worker (parent and work horse) is killed in the middle of the first send …
    wait_for(lambda: sink.count() >= KILL_AFTER, timeout=60, what=f"{KILL_AFTER} messages")
    kill_with_descendants(first.pid)
    first.wait(timeout=10)
    killed_at = timezone.now()
    in_flight = statuses()[DeliveryStatus.SENDING]
    assert Enrollment.objects.filter(step_key="s1", state=EnrollmentState.ACTIVE).exists(), (
        "the kill came too late to test anything")

    # … two workers are started (the walk jobs still queued go on) and the sweep runs —
    # with a short lease, so the dead worker's batch is closed — until nothing is left.
    workers(email_url)
    workers(email_url)
    settings.SEND_LEASE_SECONDS = 1
    time.sleep(max(0.0, 1.1 - (timezone.now() - killed_at).total_seconds()))
    deadline = time.monotonic() + 150
    summary = Counter()
    started = time.monotonic()
    while not finished() and time.monotonic() < deadline:
        summary.update(jobs.sweep())
        time.sleep(0.5)
    print(f"after the kill: {time.monotonic() - started:.1f} s to finish")
    wait_for(finished, timeout=5, what="the journey to finish")
    wait_for(lambda: statuses()[DeliveryStatus.SENDING] == 0, timeout=30,
             what="the last batches to be recorded")
    summary.update(jobs.sweep())

    # Then: every profile visited every step exactly once, and completed …
    assert states() == Counter({EnrollmentState.COMPLETED: AUDIENCE})
    visits = Counter(StepVisit.objects.filter(campaign=campaign)
                     .values_list("step__key", "outcome"))
    assert visits == Counter({("s1", "next"): AUDIENCE, ("s2", "next"): AUDIENCE,
                              ("s3", "next"): AUDIENCE})
    # … with one delivery per send step, none sent twice …
    per_step = Counter(Delivery.objects.values_list("campaign_step__key", flat=True))
    assert per_step == Counter({"s1": AUDIENCE, "s3": AUDIENCE})
    ids = Counter(sink.ids)
    assert sum(ids.values()) == len(ids), [m for m, n in ids.items() if n > 1][:5]
    # … sent, except the dead worker's batch in flight: unknown, never resent.
    counts = statuses()
    assert set(counts) <= {DeliveryStatus.SENT, DeliveryStatus.UNKNOWN}
    assert counts[DeliveryStatus.UNKNOWN] == in_flight <= BATCH
    assert summary["interrupted"] == in_flight
    unknown = Delivery.objects.filter(status=DeliveryStatus.UNKNOWN)
    assert set(unknown.values_list("reason", flat=True)) <= {Reason.INTERRUPTED}
    sent_ids = set(Delivery.objects.filter(status=DeliveryStatus.SENT)
                   .values_list("provider_message_id", flat=True))
    assert len(sent_ids) == counts[DeliveryStatus.SENT] and sent_ids <= set(ids)
    unknown_prefixes = {f"<delivery-{pk}@" for pk in unknown.values_list("id", flat=True)}
    assert not {m for m in set(ids) - sent_ids if m[: m.index("@") + 1] not in unknown_prefixes}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
