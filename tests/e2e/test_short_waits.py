"""A wait shorter than the sweep's period ends on time: the walk schedules a wake-up job
(RQ's scheduler) for it, so a 2-second wait does not take the 30 s of the next sweep."""

from __future__ import annotations

import time

import django_rq
import pytest
from django.utils import timezone

from campaigns import lifecycle
from campaigns.journeys.entry import run_audience
from campaigns.models import CampaignStatus, Enrollment, EnrollmentState
from tests.journeys.builders import journey, pro_segment, profiles, send, wait

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _wait_for(done, timeout: float) -> float:
    start = time.monotonic()
    while not done():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.1)
    return time.monotonic() - start


def test_a_two_second_wait_is_woken_by_a_scheduled_job_not_the_sweep(
    smtp_sink, start_rq_worker, settings
):
    profiles(3)
    campaign = journey([send("s1", "s2"), wait("s2", "s3", 2), send("s3")],
                       segment=pro_segment())
    start_rq_worker(email_url=smtp_sink.url)

    run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now())  # nudges the walk
    _wait_for(lambda: len(smtp_sink.messages) == 3, timeout=30)
    # No sweep runs in this test: only the wake-up job can finish the wait.
    waited = _wait_for(lambda: len(smtp_sink.messages) == 6, timeout=15)

    assert waited < 10
    assert not Enrollment.objects.filter(campaign=campaign,
                                         state=EnrollmentState.ACTIVE).exists()
    subjects = sorted(m.parsed()["Subject"].split(" ")[0] for m in smtp_sink.messages)
    assert subjects == ["s1"] * 3 + ["s3"] * 3


def test_resume_goes_on_at_once_without_waiting_for_the_sweep(smtp_sink, start_rq_worker):
    profiles(3)
    campaign = journey([send("s1")], segment=pro_segment(), launched_at=timezone.now())
    run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now())  # walk jobs queued
    lifecycle.pause(campaign)
    start_rq_worker(email_url=smtp_sink.url)  # runs the queued walk jobs: paused, no-ops
    # Resume once those jobs are over: a job still running at the resume would take the
    # nudge's slot and end without walking (the sweep, not run here, would then go on).
    queue = django_rq.get_queue("send")
    _wait_for(lambda: queue.count == 0 and not queue.started_job_registry.get_job_ids(),
              timeout=30)
    assert Enrollment.objects.filter(campaign=campaign).count() == 3
    assert smtp_sink.messages == []

    campaign.refresh_from_db()
    lifecycle.resume(campaign)

    _wait_for(lambda: len(smtp_sink.messages) == 3, timeout=15)
    campaign.refresh_from_db()
    assert campaign.status in (CampaignStatus.RUNNING, CampaignStatus.COMPLETED)
