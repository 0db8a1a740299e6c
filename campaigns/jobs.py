"""RQ jobs: thin nudges that take ids and call services. Rows hold the truth."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.utils import timezone
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from campaigns import services
from campaigns.journeys.completion import complete_finished
from campaigns.journeys.entry import due_runs, run_audience, sweep_segment_entries
from campaigns.journeys.jobs import walk_campaign
from campaigns.journeys.sending import queued_step_ids
from campaigns.journeys.walk import process_due
from campaigns.models import CampaignStatus, Enrollment, EnrollmentState
from channels.jobs import nudge_queued_outside_campaigns
from channels.services import deliveries_fail_interrupted, deliveries_release_due

_ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def launch_campaign(campaign_id: int) -> int:
    return services.campaign_launch(campaign_id=campaign_id)


def send_step(step_id: int) -> int:
    return services.step_send(step_id=step_id)


# The sweep walks due enrollments itself for at most this long, then leaves the rest to
# the walk jobs it nudges (and to the next sweep).
SWEEP_WALK_SECONDS = 20
SWEEP_WALK_BATCH = 1000


def sweep() -> dict[str, int]:
    """Every 30 s (config/cron.py): everything due or stranded, found from PostgreSQL alone
    (Redis may have lost every job): audience runs to start or resume, due enrollments,
    dead workers' deliveries, deferred deliveries due again, queued ones to nudge, segment
    entries, and campaigns that are done."""
    now = timezone.now()
    runs = due_runs(now)
    enrolled = sum(run_audience(campaign_id=pk, scheduled_for=at, now=now) for pk, at in runs)
    walked = _walk_due()
    interrupted = deliveries_fail_interrupted()
    # Deferred deliveries now due (quiet hours over, a retry's backoff passed) are queued
    # again, and the steps below nudged for them.
    released = deliveries_release_due(now=now)
    nudge_queued_outside_campaigns()
    steps = queued_step_ids()
    for step_id in steps:
        enqueue_send(step_id)
    entered = sweep_segment_entries()
    still_due = (Enrollment.objects.filter(
        state=EnrollmentState.ACTIVE, next_due_at__lte=timezone.now(),
        campaign__status=CampaignStatus.RUNNING,
    ).values_list("campaign_id", flat=True).distinct())
    for campaign_id in still_due:
        nudge(campaign_id)
    completed = complete_finished()
    return {"launched": len(runs), "enrolled": enrolled, "walked": walked,
            "interrupted": interrupted, "released": released, "nudged": len(steps),
            "entered": entered, "completed": completed}


def _walk_due() -> int:
    deadline = time.monotonic() + SWEEP_WALK_SECONDS
    walked = 0
    while time.monotonic() < deadline and (count := process_due(limit=SWEEP_WALK_BATCH)):
        walked += count
    return walked


def nudge(campaign_id: int) -> None:
    """Fan a campaign's walk out to SEND_PARALLELISM jobs (queue "send"), skipping slots
    still active; after the current transaction commits."""
    queue = django_rq.get_queue("send")
    for slot in range(settings.SEND_PARALLELISM):
        job_id = f"campaign-walk-{campaign_id}-{slot}"
        if not _is_active(job_id, queue.connection):
            queue.enqueue(walk_and_wake, campaign_id, job_id=job_id)


# The sweep's period: a wait ending sooner than this is woken by a scheduled job instead.
SWEEP_SECONDS = 30


def walk_and_wake(campaign_id: int) -> int:
    """Walk the campaign, then schedule a walk for the first wait ending before the next
    sweep (a 10-second wait should not take 30). Only a nudge: the sweep stays the truth."""
    walked = walk_campaign(campaign_id)
    now = timezone.now()
    soon = (Enrollment.objects.filter(
        state=EnrollmentState.ACTIVE, campaign_id=campaign_id,
        next_due_at__gt=now, next_due_at__lte=now + timedelta(seconds=SWEEP_SECONDS),
    ).order_by("next_due_at").values_list("next_due_at", flat=True).first())
    if soon is not None:
        due = soon.replace(microsecond=0) + timedelta(seconds=1)  # RQ keeps whole seconds
        django_rq.get_queue("send").enqueue_at(
            due, walk_and_wake, campaign_id,
            job_id=f"campaign-wake-{campaign_id}-{int(due.timestamp())}",
        )
    return walked


def enqueue_launch(campaign_id: int, at: datetime) -> None:
    queue = django_rq.get_queue("launch")
    job_id = f"campaign-launch-{campaign_id}-{int(at.timestamp())}"
    if at <= timezone.now():
        queue.enqueue(launch_campaign, campaign_id, job_id=job_id)
    else:
        # RQ's scheduler keeps whole seconds and may run the job up to a second before `at`,
        # when the launch would find the campaign not yet due and do nothing: round up.
        due = at.replace(microsecond=0) + timedelta(seconds=1) if at.microsecond else at
        queue.enqueue_at(due, launch_campaign, campaign_id, job_id=job_id)


def enqueue_send(step_id: int) -> None:
    """Fan a step's sending out to SEND_PARALLELISM jobs, skipping slots still active."""
    queue = django_rq.get_queue("send")
    for slot in range(settings.SEND_PARALLELISM):
        job_id = f"step-send-{step_id}-{slot}"
        if not _is_active(job_id, queue.connection):
            queue.enqueue(send_step, step_id, job_id=job_id)


def _is_active(job_id: str, connection) -> bool:
    try:
        return Job.fetch(job_id, connection=connection).get_status() in _ACTIVE
    except NoSuchJobError:
        return False
