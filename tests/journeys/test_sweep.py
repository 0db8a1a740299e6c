"""The sweep (cron, every 30 s): launches, walks, completes — never early — and nudges."""

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from campaigns import jobs
from campaigns.models import CampaignStatus, Enrollment
from tests.journeys.builders import journey, pro_segment, profiles, send, wait

pytestmark = pytest.mark.django_db


def test_a_journey_with_profiles_still_waiting_is_not_completed_until_they_finish(
    redis_conn, outbox
):
    profiles(5)
    campaign = journey([send("s1", "s2"), wait("s2", "s3", 3600), send("s3")],
                       segment=pro_segment(), status=CampaignStatus.SCHEDULED,
                       scheduled_at=timezone.now() - timedelta(seconds=5))

    first = jobs.sweep()

    assert (first["launched"], first["enrolled"], first["walked"]) == (1, 5, 5)
    assert first["completed"] == 0
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING  # five profiles wait at s2
    assert len(outbox["email"]) == 5

    Enrollment.objects.update(next_due_at=timezone.now() - timedelta(seconds=1),
                              data={"step": "s2", "until": timezone.now().isoformat()})
    second = jobs.sweep()

    assert (second["walked"], second["completed"]) == (5, 1)
    assert len(outbox["email"]) == 10
    assert jobs.sweep()["launched"] == 0  # a one-off run is not launched again


def test_recurring_and_event_journeys_never_complete_by_themselves(redis_conn):
    profiles(2)
    recurring = journey([send("s1")], segment=pro_segment(), recurrence="0 9 * * *",
                        next_run_at=timezone.now() - timedelta(seconds=1))
    triggered = journey([send("s1")], entry_kind="event", entry_event="signup")

    jobs.sweep()
    jobs.sweep()

    for campaign in (recurring, triggered):
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.RUNNING
    assert recurring.next_run_at > timezone.now()


def test_nudge_enqueues_one_walk_job_per_slot_once(redis_conn, settings,
                                                   django_capture_on_commit_callbacks):
    settings.SEND_PARALLELISM = 3
    with django_capture_on_commit_callbacks(execute=True):
        jobs.nudge(42)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.nudge(42)  # still queued: not enqueued twice

    assert sorted(django_rq.get_queue("send").job_ids) == [
        "campaign-walk-42-0", "campaign-walk-42-1", "campaign-walk-42-2"]
