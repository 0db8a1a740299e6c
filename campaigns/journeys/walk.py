"""The walk: claim due enrollments, run the engine on each, execute what it decided.

    process_due(limit=500)            # the sweep and the walk jobs
    process_due(limit=n, ids=[...])   # enrollments an event just created or woke

One transaction per batch: the claim (SELECT … FOR UPDATE SKIP LOCKED over active, due
enrollments of running campaigns — a paused campaign's enrollments hold where they are),
then the moves, the step visits and the deliveries, all set-based (campaigns.journeys.
actions), the moves stamping claimed_at. The row locks, held to COMMIT, are what keep two
walkers apart (a second one skips them, then finds them no longer due); a crash before COMMIT leaves
everything as it was (the batch is due again), a crash after leaves queued deliveries that
the senders pick up. Sending happens after the commit (campaigns.journeys.sending), so a
message never goes out for a move that was rolled back, and a delivery's state (queued →
sending) means nothing is sent twice.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from campaigns import engine
from campaigns.engine import CampaignRules, Decision, Fail
from campaigns.graph import Graph, graph_from_version
from campaigns.journeys import actions, sending
from campaigns.journeys.facts import profile_facts, rules_ready
from campaigns.models import Campaign, CampaignStatus, CampaignVersion, EnrollmentState

log = logging.getLogger(__name__)


def process_due(*, limit: int, campaign_id: int | None = None, now: datetime | None = None,
                ids: Sequence[int] | None = None) -> int:
    """Walk up to `limit` due enrollments as far as they go now; returns how many."""
    return walk_batch(limit=limit, campaign_id=campaign_id, now=now, ids=ids)[0]


def walk_batch(*, limit: int, campaign_id: int | None = None, now: datetime | None = None,
               ids: Sequence[int] | None = None) -> tuple[int, int]:
    """process_due, returning (enrollments walked, messages handed to the channels)."""
    now = now or timezone.now()
    with transaction.atomic():
        batch = _claim(limit, campaign_id, ids, now)
        if not batch:
            return 0, 0
        decisions = decide(batch, now)
        created = actions.apply(batch, decisions, now)
    return len(batch), sending.send_created(created)


@dataclass(slots=True)
class Claimed:
    """The columns of a claimed enrollment the walk reads: a plain row, not a model instance
    (building 1,000 instances was a quarter of a batch's time)."""

    id: int
    campaign_id: int
    version_id: int
    profile_id: int
    step_key: str
    entered_at: datetime
    step_entered_at: datetime | None
    is_control: bool
    converted_at: datetime | None
    data: dict | None


_CLAIM = """
    SELECT e.id, e.campaign_id, e.version_id, e.profile_id, e.step_key, e.entered_at,
           e.step_entered_at, e.is_control, e.converted_at, e.data::text
      FROM campaigns_enrollment e
      JOIN campaigns_campaign c ON c.id = e.campaign_id
     WHERE e.state = %b AND e.next_due_at <= %b AND c.status = %b {where}
     {order} {limit}
       FOR UPDATE OF e SKIP LOCKED
"""


def _claim(limit: int, campaign_id: int | None, ids: Sequence[int] | None,
           now: datetime) -> list[Claimed]:
    params: list = [EnrollmentState.ACTIVE.value, now, CampaignStatus.RUNNING.value]
    if ids is not None:
        sql = _CLAIM.format(where="AND e.id = ANY(%b::bigint[])", order="", limit="")
        params.append(list(ids))
    elif campaign_id is not None:
        # Every one of them is due: order does not matter, and sorting a big campaign's
        # due rows would cost more than the walk (its index is by step, not by due time).
        sql = _CLAIM.format(where="AND e.campaign_id = %b", order="", limit="LIMIT %b")
        params += [campaign_id, limit]
    else:  # the due index, oldest first
        sql = _CLAIM.format(where="", order="ORDER BY e.next_due_at", limit="LIMIT %b")
        params.append(limit)
    with actions.binary_cursor() as cursor:
        # Binary results: psycopg's C loaders, where Django's text timestamp loader is Python.
        cursor.execute(sql, params, binary=True)
        rows = cursor.fetchall()
    tz = connection.timezone  # what Django's own loader stamps on every datetime

    def aware(value: datetime | None) -> datetime | None:
        return None if value is None else value.replace(tzinfo=tz)

    return [
        Claimed(id_, campaign, version, profile, step_key, aware(entered), aware(step_entered),
                is_control, aware(converted), {} if data == "{}" else json.loads(data)
                if data is not None else None)
        for (id_, campaign, version, profile, step_key, entered, step_entered, is_control,
             converted, data) in rows
    ]


def decide(batch: list[Claimed], now: datetime) -> dict[int, Decision]:
    """enrollment id → the engine's decision, graphs and facts loaded once per version."""
    by_version: dict[int, list[Claimed]] = defaultdict(list)
    for enrollment in batch:
        by_version[enrollment.version_id].append(enrollment)
    versions = CampaignVersion.objects.in_bulk(list(by_version))
    campaigns = Campaign.objects.in_bulk({e.campaign_id for e in batch})
    decisions: dict[int, Decision] = {}
    for version_id, enrollments in by_version.items():
        graph, rules = rules_ready(graph_from_version(versions[version_id]),
                                   campaign_rules(campaigns[enrollments[0].campaign_id]))
        facts = profile_facts([e.profile_id for e in enrollments], graph, rules, now,
                              enrollments=enrollments)
        for enrollment in enrollments:
            decisions[enrollment.id] = _advance(graph, enrollment, facts, rules, now)
    return decisions


def _advance(graph: Graph, enrollment: Claimed, facts: dict, rules: CampaignRules,
             now: datetime) -> Decision:
    profile_facts_ = facts.get(enrollment.profile_id)
    if profile_facts_ is None:  # the profile was deleted or merged away under the walk
        return Decision((Fail(enrollment.step_key, "The profile no longer exists."),),
                        enrollment.step_key)
    state = engine.EnrollmentState(
        profile_id=enrollment.profile_id, step_key=enrollment.step_key,
        entered_at=enrollment.entered_at,
        step_entered_at=enrollment.step_entered_at or enrollment.entered_at,
        is_control=enrollment.is_control, converted_at=enrollment.converted_at,
        data=dict(enrollment.data or {}),
    )
    try:
        return engine.advance(graph, state, profile_facts_, now, rules=rules)
    except Exception as exc:  # One enrollment the engine cannot handle must not stall a batch.
        log.exception("journey engine failed on enrollment %s", enrollment.id)
        return Decision((Fail(enrollment.step_key, f"Engine error: {exc!r}"[:300]),),
                        enrollment.step_key)


def campaign_rules(campaign: Campaign) -> CampaignRules:
    window = None
    if campaign.send_window_start and campaign.send_window_end:
        window = {"start": f"{campaign.send_window_start:%H:%M}",
                  "end": f"{campaign.send_window_end:%H:%M}",
                  "days": list(campaign.send_window_days or [])}
    return CampaignRules(
        campaign_id=campaign.pk, exit_rules=dict(campaign.exit_rules or {}),
        exit_event=campaign.exit_event, goal_event=campaign.goal_event,
        goal_days=campaign.goal_days, send_window=window,
    )
