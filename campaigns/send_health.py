"""Auto-pause: a running campaign whose provider keeps failing stops itself.

After every recorded batch (channels.hooks.register_after_batch), when the batch's own
deliveries of a campaign step failed with provider errors at SEND_PAUSE_ERROR_RATE or more,
the campaign's recent deliveries are counted in one query: those that reached the provider
(attempts > 0) and were recorded in the last SEND_PAUSE_WINDOW_SECONDS, and among them those
whose latest outcome is a provider error (failed, or deferred for a retry). With at least
SEND_PAUSE_MIN_ATTEMPTS tried and the error share at the rate or above, the campaign goes
running → paused (a conditional UPDATE: a campaign paused, completed or archived meanwhile is
left alone), with pause_reason saying why. The runtime claims nothing for a paused campaign,
so what is still queued stays queued until a marketer resumes it.

The batch gate keeps the normal case free (no query when a batch has few errors); the count
reads at most SCAN_IDS delivery ids below the batch's newest, so one check stays bounded
however large the campaign (a campaign whose deliveries are a thin slice of a busy table's
recent ids is judged on fewer messages, and may not reach the minimum).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus
from channels import hooks
from channels.models import Reason

log = logging.getLogger(__name__)

SCAN_IDS = 50_000


def register() -> None:
    hooks.register_after_batch(pause_on_provider_errors)


def pause_on_provider_errors(batch: hooks.SentBatch) -> list[int]:
    """The hook: pause the batch's campaigns that are past the error threshold; returns
    their ids."""
    rate = settings.SEND_PAUSE_ERROR_RATE
    if rate <= 0:
        return []
    steps = _failing_steps(batch, rate)
    if not steps:
        return []
    now = timezone.now()
    newest = max(batch.step_of)
    since = now - timedelta(seconds=settings.SEND_PAUSE_WINDOW_SECONDS)
    paused = []
    for campaign_id, errors, tried in recent_provider_errors(steps, newest=newest, since=since):
        past = tried >= settings.SEND_PAUSE_MIN_ATTEMPTS and errors >= rate * tried
        if past and _pause(campaign_id, errors=errors, tried=tried, now=now):
            paused.append(campaign_id)
    return paused


def _failing_steps(batch: hooks.SentBatch, rate: float) -> list[int]:
    """Steps whose deliveries in this batch reached the provider and failed at `rate` or
    more (the cheap test that decides whether the window is worth counting)."""
    tried: dict[int, int] = defaultdict(int)
    errors: dict[int, int] = defaultdict(int)
    for outcome in batch.outcomes:
        step_id = batch.step_of.get(outcome.delivery_id)
        if step_id is None or not outcome.attempted:
            continue
        tried[step_id] += 1
        if outcome.reason == Reason.PROVIDER_ERROR:
            errors[step_id] += 1
    return [s for s, n in errors.items() if n >= rate * tried[s]]


def recent_provider_errors(step_ids: list[int], *, newest: int,
                           since: datetime) -> list[tuple[int, int, int]]:
    """(campaign id, provider errors, deliveries tried) over the recent window of the
    campaigns these steps belong to, every step of each campaign counted."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT s.campaign_id,
                   count(*) FILTER (WHERE d.reason = %s),
                   count(*)
              FROM channels_delivery AS d
              JOIN campaigns_step AS s ON s.id = d.campaign_step_id
             WHERE s.campaign_id IN (SELECT campaign_id FROM campaigns_step WHERE id = ANY(%s))
               AND d.id > %s AND d.id <= %s
               AND d.attempts > 0 AND d.updated_at >= %s
               AND d.status NOT IN ('queued', 'sending')
             GROUP BY s.campaign_id
            """,
            [Reason.PROVIDER_ERROR.value, step_ids, newest - SCAN_IDS, newest, since],
        )
        return cursor.fetchall()


def _pause(campaign_id: int, *, errors: int, tried: int, now: datetime) -> bool:
    reason = (
        f"Paused automatically: {errors} of the last {tried} messages sent to the provider "
        f"failed with provider errors (threshold {settings.SEND_PAUSE_ERROR_RATE:.0%} of at "
        f"least {settings.SEND_PAUSE_MIN_ATTEMPTS}). Check the provider, then resume."
    )
    changed = Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.RUNNING).update(
        status=CampaignStatus.PAUSED, paused_at=now, pause_reason=reason[:300], updated_at=now
    )
    if changed:
        log.warning("campaign %s paused: %s", campaign_id, reason)
    return bool(changed)
