"""Journeys under faults, with real RQ worker processes and a real SMTP sink: Redis flushed
mid-campaign, pause/resume/restart mid-campaign, the same event ingested three times at
once, two sweeps at once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from campaigns import jobs, lifecycle
from campaigns.journeys import walk
from campaigns.journeys.entry import enter_on_events, run_audience
from campaigns.models import CampaignStatus, Enrollment, EnrollmentState, StepVisit
from channels.models import Delivery, DeliveryStatus
from profiles.ingestion.tracking import event_track
from tests.factories import ProfileFactory
from tests.journeys.builders import journey, pro_segment, profiles, send, wait
from tests.reliability.test_journey_walk_killed import send_here_to, statuses, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AUDIENCE = 400


def three_steps():
    profiles(AUDIENCE)
    return journey([send("s1", "s2"), wait("s2", "s3", 1), send("s3")], segment=pro_segment())


def sweep_until(done, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        jobs.sweep()
        time.sleep(0.3)
    assert done(), f"not done after {timeout} s: {statuses()}"


def assert_each_profile_got_its_two_messages_once(campaign, sink) -> None:
    visits = Counter(StepVisit.objects.filter(campaign=campaign)
                     .values_list("step__key", "outcome"))
    assert visits == Counter({("s1", "next"): AUDIENCE, ("s2", "next"): AUDIENCE,
                              ("s3", "next"): AUDIENCE})
    per_profile = Counter(Delivery.objects.filter(status=DeliveryStatus.SENT)
                          .values_list("profile_id", flat=True))
    assert set(per_profile.values()) == {2} and len(per_profile) == AUDIENCE
    ids = Counter(sink.ids)
    assert sum(ids.values()) == len(ids) == 2 * AUDIENCE


def completed(campaign) -> bool:
    campaign.refresh_from_db()
    return campaign.status == CampaignStatus.COMPLETED


def test_redis_flushed_mid_campaign_the_sweep_completes_it_from_postgresql(
    sink, workers, redis_conn, settings
):
    send_here_to(settings, sink.port)
    campaign = three_steps()
    workers(f"smtp://127.0.0.1:{sink.port}")
    run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now())
    wait_for(lambda: sink.count() >= 100, timeout=60, what="100 messages")

    redis_conn.flushdb()  # every job, queue and registry gone

    wait_for(lambda: statuses()[DeliveryStatus.SENDING] == 0, timeout=30,
             what="the batch in flight to be recorded")
    sweep_until(lambda: completed(campaign), timeout=60)
    assert_each_profile_got_its_two_messages_once(campaign, sink)
    assert set(statuses()) == {DeliveryStatus.SENT}


def test_pause_resume_and_a_worker_restart_resend_nothing_and_never_complete_early(
    sink, workers, settings
):
    send_here_to(settings, sink.port)
    campaign = three_steps()
    email_url = f"smtp://127.0.0.1:{sink.port}"
    first = workers(email_url)
    run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now())
    wait_for(lambda: sink.count() >= 100, timeout=60, what="100 messages")

    # Paused mid-campaign: the batch in flight finishes, then nothing moves or goes out.
    lifecycle.pause(campaign)
    time.sleep(0.5)  # a batch claimed just before the pause may still be going out
    wait_for(lambda: statuses()[DeliveryStatus.SENDING] == 0, timeout=30,
             what="the batch in flight to be recorded")
    sent_while_running = sink.count()
    time.sleep(1.2)  # the wait step of those already past it is over
    jobs.sweep()
    jobs.sweep()
    assert sink.count() == sent_while_running
    assert Enrollment.objects.filter(state=EnrollmentState.ACTIVE).exists()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED

    # The worker restarts (stopped, another started), the campaign resumes.
    first.terminate()
    first.wait(timeout=15)
    workers(email_url)
    lifecycle.resume(campaign)
    sweep_until(lambda: completed(campaign), timeout=60)

    assert_each_profile_got_its_two_messages_once(campaign, sink)
    last_sent = max(Delivery.objects.values_list("sent_at", flat=True))
    assert campaign.completed_at >= last_sent  # not one message after "completed"


def track_from_threads(raws: list[dict]) -> list:
    results, errors = [], []
    barrier = threading.Barrier(len(raws))

    def post(raw):
        try:
            barrier.wait()
            results.append(event_track(raw=raw, default_source="api"))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(raw,)) for raw in raws]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


@pytest.mark.parametrize("reentry, message_id", [("always", "signup-1"), ("never", None)])
def test_the_same_event_ingested_three_times_at_once_enters_once(
    sink, workers, settings, reentry, message_id
):
    # always: three copies of one event (one message id) — ingestion keeps one event;
    # never: three events — the profile enters once ("once" entry key).
    campaign = journey([send("s1")], entry_kind="event", entry_event="signup",
                       reentry=reentry)
    workers(f"smtp://127.0.0.1:{sink.port}")
    ProfileFactory(external_id="ada")
    raw = {"name": "signup", "external_id": "ada", "properties": {}}
    if message_id:
        raw["message_id"] = message_id

    track_from_threads([raw, raw, raw])

    wait_for(lambda: sink.count() >= 1, timeout=30, what="the welcome message")
    time.sleep(1.5)  # the other events' jobs have run too
    assert Enrollment.objects.filter(campaign=campaign).count() == 1
    assert sink.count() == 1


def test_three_jobs_handling_the_same_event_at_once_enter_once(settings):
    settings.CHANNEL_BACKENDS = {c: "channels.backends.memory.MemoryBackend"
                                 for c in ("email", "sms", "push", "mail", "webhook")}
    for reentry in ("always", "after"):
        campaign = journey([send("s1")], entry_kind="event", entry_event=f"signup-{reentry}",
                           reentry=reentry, reentry_days=7)
        profile = ProfileFactory()
        ids = [event_track(raw={"name": f"signup-{reentry}", "external_id": profile.external_id,
                                "properties": {}}, default_source="api").id
               for _ in range(1 if reentry == "always" else 3)]
        barrier = threading.Barrier(3)

        def handle(index, barrier=barrier, ids=ids):
            barrier.wait()
            try:
                enter_on_events([ids[index % len(ids)]])
            finally:
                connection.close()

        threads = [threading.Thread(target=handle, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert Enrollment.objects.filter(campaign=campaign).count() == 1, reentry
        assert Delivery.objects.filter(campaign_step__campaign=campaign).count() == 1


def test_two_sweeps_at_once_never_claim_the_same_enrollment(monkeypatch):
    profiles(3000)
    campaign = journey([wait("w", "x", 3600), {"key": "x", "kind": "exit"}],
                       segment=pro_segment())
    run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now())
    claims: dict[str, list[int]] = {}
    real_claim = walk._claim

    def recording_claim(*args):
        batch = real_claim(*args)
        claims.setdefault(threading.current_thread().name, []).extend(e.id for e in batch)
        time.sleep(0.02)  # hold the locks a little: the other sweep must skip them
        return batch

    monkeypatch.setattr(walk, "_claim", recording_claim)

    def sweeper():
        try:
            while walk.process_due(limit=100):
                pass
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper, name=f"sweep-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    first, second = (claims.get(f"sweep-{i}", []) for i in range(2))
    assert first and second  # both sweeps worked …
    assert not set(first) & set(second)  # … never on the same enrollment …
    assert len(first) + len(second) == 3000  # … and each enrollment was claimed once
    assert StepVisit.objects.filter(campaign=campaign, outcome="").count() == 3000
