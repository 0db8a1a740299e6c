"""Newly ingested events and the journeys: what makes real time fast.

`enter_on_events(event_ids)` runs in the RQ job profiles.hooks enqueues after ingestion
commits (campaigns.journeys.jobs.on_events). For the batch's events, set-based:
(a) event-entry campaigns enroll the profile (filter and segment qualification checked),
    keyed "event:<id>" (or "once"), so the same event replayed enters nothing twice;
(b) enrollments waiting on that event wake (next_due_at = now);
(c) goal events record conversions (within goal_days of entry, once);
(d) exit events take the profile out of the campaigns naming them;
then the entered and woken enrollments are walked at once, in this job (entry → delivery
handed to the channel without waiting for a sweep). Segment entries are re-checked for the
events' profiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from campaigns.journeys.enrolling import Entry, enroll_profiles
from campaigns.models import Campaign, CampaignStatus, EntryKind, Reentry
from profiles.audiences import segment_audience
from profiles.models import Event
from profiles.rules.matcher import Facts, matches


@dataclass(frozen=True)
class NewEvent:
    id: int
    profile_id: int
    name: str
    properties: dict[str, Any]
    occurred_at: datetime


def enter_on_events(event_ids: list[int], *, now: datetime | None = None) -> dict[str, int]:
    """Apply a batch of new events to every journey; returns counts per effect."""
    now = now or timezone.now()
    events = [NewEvent(*row) for row in Event.objects.filter(id__in=event_ids).values_list(
        "id", "profile_id", "name", "properties", "occurred_at").order_by("id")]
    if not events:
        return {"entered": 0, "woken": 0, "converted": 0, "exited": 0, "walked": 0}
    entered = _enter(events, now)
    woken = _wake(events, now)
    converted = _convert(events)
    exited = _exit(events, now)
    from campaigns.journeys.entry import sweep_segment_entries
    from campaigns.journeys.walk import process_due

    segment_entered = sweep_segment_entries(profile_ids=sorted({e.profile_id for e in events}),
                                            now=now)
    due = [*entered, *woken]
    walked = process_due(limit=len(due), ids=due) if due else 0
    return {"entered": len(entered) + segment_entered, "woken": len(woken),
            "converted": converted, "exited": exited, "walked": walked}


def _enter(events: list[NewEvent], now: datetime) -> list[int]:
    names = {e.name for e in events}
    entered: list[int] = []
    for campaign in Campaign.objects.filter(
        status=CampaignStatus.RUNNING, entry_kind=EntryKind.EVENT, entry_event__in=names,
        current_version__isnull=False,
    ).select_related("segment", "current_version"):
        chosen = _qualified(campaign, [e for e in events if e.name == campaign.entry_event],
                            now)
        if chosen:
            entered += _enroll(campaign, chosen, now)
    return entered


def _qualified(campaign: Campaign, events: list[NewEvent], now: datetime) -> list[NewEvent]:
    """The events passing the campaign's property filter, of profiles in its segment."""
    test = {"type": "event", "name": campaign.entry_event, "op": "at_least", "count": 1,
            "where": list(campaign.entry_event_filter or [])}
    passing = [e for e in events if matches(
        test, Facts(fields={}, attributes={}, events=[(e.name, e.occurred_at, e.properties)]),
        now)]
    if passing and campaign.segment is not None:
        # The compiled segment restricted to these profiles: one query, the same answer as
        # the rules matcher (tests/rules prove they agree).
        members = set(segment_audience(campaign.segment, now=now)
                      .filter(id__in={e.profile_id for e in passing})
                      .values_list("id", flat=True))
        passing = [e for e in passing if e.profile_id in members]
    return passing


def _enroll(campaign: Campaign, events: list[NewEvent], now: datetime) -> list[int]:
    entry = Entry.of(campaign, campaign.current_version)
    if campaign.reentry == Reentry.AFTER:
        # One entry per profile per batch; the NOT EXISTS of the insert cannot see rows the
        # same statement inserts, nor a concurrent job's: a lock per (campaign, profile).
        events = list({e.profile_id: e for e in reversed(events)}.values())
    with transaction.atomic():
        if campaign.reentry == Reentry.AFTER:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, mod(p, 2147483647)::int) "
                    "FROM unnest(%s::bigint[]) AS p ORDER BY p",
                    [campaign.pk, sorted(e.profile_id for e in events)],
                )
        rows = enroll_profiles(entry, [e.profile_id for e in events],
                               [f"event:{e.id}" for e in events], now=now)
    return [enrollment_id for enrollment_id, _ in rows]


def _pairs(events: list[NewEvent]) -> tuple[list[int], list[str], list[datetime]]:
    return ([e.profile_id for e in events], [e.name for e in events],
            [e.occurred_at for e in events])


def _wake(events: list[NewEvent], now: datetime) -> list[int]:
    """Enrollments waiting for one of these events are due now (the engine reads the
    event from the facts and takes the "event" exit)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE campaigns_enrollment AS e
               SET next_due_at = least(coalesce(e.next_due_at, %s), %s), updated_at = %s
              FROM (SELECT DISTINCT p, n FROM unnest(%s::bigint[], %s::text[]) AS t(p, n)) AS ev
             WHERE e.state = 'active' AND e.profile_id = ev.p AND e.wait_event = ev.n
               AND e.wait_event <> ''
         RETURNING e.id
            """,
            [now, now, now, *_pairs(events)[:2]],
        )
        return [row[0] for row in cursor.fetchall()]


def _convert(events: list[NewEvent]) -> int:
    """Goal events within goal_days of entry convert the enrollment, once."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE campaigns_enrollment AS e SET converted_at = ev.at, updated_at = now()
              FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS ev(p, n, at),
                   campaigns_campaign AS c
             WHERE e.profile_id = ev.p AND c.id = e.campaign_id AND c.goal_event = ev.n
               AND c.goal_event <> '' AND e.converted_at IS NULL AND ev.at >= e.entered_at
               AND ev.at <= e.entered_at + make_interval(days => c.goal_days)
            """,
            list(_pairs(events)),
        )
        return cursor.rowcount


def _exit(events: list[NewEvent], now: datetime) -> int:
    """Exit events take the profile out of every active enrollment of the campaigns naming
    them; the visit of the step it was at is closed with outcome "exited"."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH ev AS (SELECT DISTINCT p, n FROM unnest(%s::bigint[], %s::text[]) AS t(p, n)),
            exited AS (
                UPDATE campaigns_enrollment AS e
                   SET state = 'exited', exit_reason = 'exit_event', finished_at = %s,
                       next_due_at = NULL, wait_event = '', updated_at = %s
                  FROM ev, campaigns_campaign AS c
                 WHERE e.state = 'active' AND e.profile_id = ev.p AND c.id = e.campaign_id
                   AND c.exit_event = ev.n AND c.exit_event <> ''
             RETURNING e.id, e.version_id, e.step_key
            ), closed AS (
                UPDATE campaigns_stepvisit AS v
                   SET left_at = %s, outcome = 'exited', detail = 'exit event'
                  FROM exited JOIN campaigns_step AS s
                    ON s.version_id = exited.version_id AND s.key = exited.step_key
                 WHERE v.enrollment_id = exited.id AND v.step_id = s.id AND v.outcome = ''
            )
            SELECT count(*) FROM exited
            """,
            [*_pairs(events)[:2], now, now, now],
        )
        return cursor.fetchone()[0]
