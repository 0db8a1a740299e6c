"""Handing a journey's queued deliveries to the channels pipeline, after the walk commits.

Each step's renderer is compiled once per call (its template revisions, or its inline
email); batches are claimed (queued → sending, SKIP LOCKED) and sent by channels.sending.
Only a running campaign's deliveries are sent: a paused campaign's stay queued, and the
sweep nudges them again once it resumes. A delivery is sent only from `queued`, so a
retried call, or two workers, never send one twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from campaigns.models import Campaign, CampaignStatus, Step
from campaigns.rendering import step_renderer
from channels.models import DeliveryStatus
from channels.services import deliveries_claim, send_claimed


def send_created(by_step: dict[int, list[int]]) -> int:
    """Send the deliveries a walk batch just created; returns how many were attempted."""
    if not by_step:
        return 0
    steps = Step.objects.select_related("campaign", "template").in_bulk(list(by_step))
    attempted = 0
    for step_id, ids in by_step.items():
        step = steps.get(step_id)
        if step is None:
            continue
        renderer = step_renderer(step)
        for chunk in _chunks(ids, settings.SEND_BATCH_SIZE):
            if not _running(step.campaign_id):
                break  # paused (or archived) meanwhile: the rest stays queued
            batch = deliveries_claim(campaign_step_id=step_id, ids=chunk, limit=len(chunk))
            send_claimed(deliveries=batch, renderer=renderer)
            attempted += len(batch)
    return attempted


def send_queued(*, step_id: int, batch_size: int | None = None) -> int:
    """Send whatever the step has queued (a deferral released, a sender that died between
    the walk's commit and its claim), batch after batch."""
    step = Step.objects.select_related("campaign", "template").get(pk=step_id)
    renderer = step_renderer(step)
    attempted = 0
    while _running(step.campaign_id) and (batch := deliveries_claim(
        campaign_step_id=step_id, limit=batch_size or settings.SEND_BATCH_SIZE
    )):
        send_claimed(deliveries=batch, renderer=renderer)
        attempted += len(batch)
    return attempted


def queued_step_ids(*, campaign_id: int | None = None) -> list[int]:
    """The steps with queued deliveries: of the campaign, or of every running campaign."""
    where = ({"campaign__status": CampaignStatus.RUNNING} if campaign_id is None
             else {"campaign_id": campaign_id})
    return list(Step.objects.filter(deliveries__status=DeliveryStatus.QUEUED, **where)
                .values_list("id", flat=True).distinct())


def _running(campaign_id: int) -> bool:
    # Read before every batch: a pause stops the sends at the next batch, not the next job.
    return Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.RUNNING).exists()


def _chunks(ids: Sequence[int], size: int):
    for start in range(0, len(ids), size):
        yield list(ids[start:start + size])


def step_send(*, step_id: int, batch_size: int | None = None) -> int:
    """The send job of a step: walk its campaign's due enrollments (each batch's messages
    sent as it commits), send what the step still has queued, complete the campaign if
    that was the end. Returns the messages attempted."""
    from campaigns.journeys.completion import complete_finished
    from campaigns.journeys.walk import walk_batch

    step = Step.objects.select_related("campaign").get(pk=step_id)
    if step.campaign.status != CampaignStatus.RUNNING:
        return 0
    size = batch_size or settings.SEND_BATCH_SIZE
    attempted = 0
    while True:
        walked, sent = walk_batch(limit=size, campaign_id=step.campaign_id)
        attempted += sent
        if not walked:
            break
    attempted += send_queued(step_id=step_id, batch_size=size)
    complete_finished(campaign_id=step.campaign_id)
    return attempted
