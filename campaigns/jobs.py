"""RQ jobs: thin nudges that take ids and call services. Rows hold the truth."""

from __future__ import annotations

from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.utils import timezone
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from campaigns import services
from campaigns.models import Campaign, CampaignStatus, Step
from channels.jobs import nudge_queued_outside_campaigns
from channels.models import DeliveryStatus
from channels.services import deliveries_fail_interrupted, deliveries_release_due

_ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def launch_campaign(campaign_id: int) -> int:
    return services.campaign_launch(campaign_id=campaign_id)


def send_step(step_id: int) -> int:
    return services.step_send(step_id=step_id)


def sweep() -> dict[str, int]:
    """Every minute (config/cron.py): find due or stranded work and nudge it."""
    now = timezone.now()
    due = list(
        Campaign.objects.filter(status=CampaignStatus.SCHEDULED, scheduled_at__lte=now)
        .values_list("id", flat=True)
    )
    for campaign_id in due:
        services.campaign_launch(campaign_id=campaign_id, now=now)
    interrupted = deliveries_fail_interrupted()
    # Deferred deliveries now due (quiet hours over, a retry's backoff passed) are queued
    # again, and the steps below nudged for them.
    released = deliveries_release_due(now=now)
    nudge_queued_outside_campaigns()
    steps = list(
        Step.objects.filter(
            campaign__status=CampaignStatus.RUNNING, deliveries__status=DeliveryStatus.QUEUED
        ).values_list("id", flat=True).distinct()
    )
    for step_id in steps:
        enqueue_send(step_id)
    completed = services.campaigns_complete_if_done()
    return {"launched": len(due), "interrupted": interrupted, "released": released,
            "nudged": len(steps), "completed": completed}


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
