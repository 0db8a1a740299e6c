"""RQ jobs for deliveries outside campaigns (transactional API, proofs): thin nudges that take
ids and call services. Rows hold the truth; the sweep re-nudges whatever a lost job left."""

from __future__ import annotations

import django_rq
from django.conf import settings
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from channels.models import Delivery, DeliveryStatus
from channels.rendering import DeliveryRenderer
from channels.retention import deliveries_purge
from channels.services import deliveries_claim, send_claimed


def send_deliveries(delivery_ids: list[int] | None = None) -> int:
    """Send queued deliveries outside campaigns: these ids, or all of them, batch by batch."""
    renderer = DeliveryRenderer()
    sent = 0
    while batch := deliveries_claim(ids=delivery_ids, limit=settings.SEND_BATCH_SIZE):
        send_claimed(deliveries=batch, renderer=renderer)
        sent += len(batch)
    return sent


def purge_expired_deliveries() -> int:
    """Daily (config/cron.py): delete deliveries past DELIVERY_RETENTION_DAYS."""
    return deliveries_purge()


def enqueue_send_deliveries(delivery_ids: list[int]) -> None:
    django_rq.get_queue("send").enqueue(send_deliveries, list(delivery_ids))


def nudge_queued_outside_campaigns() -> bool:
    """From the sweep: one job for every queued delivery outside campaigns, if any."""
    waiting = Delivery.objects.filter(
        campaign_step__isnull=True, status=DeliveryStatus.QUEUED
    ).exists()
    if waiting:
        queue = django_rq.get_queue("send")
        job_id = "send-outside-campaigns"
        try:
            active = Job.fetch(job_id, connection=queue.connection).get_status() in _ACTIVE
        except NoSuchJobError:
            active = False
        if not active:
            queue.enqueue(send_deliveries, None, job_id=job_id)
    return waiting


_ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
