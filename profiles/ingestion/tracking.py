"""Tracking events: one or many, one set-based statement.

Track items are written set-based: whatever their number, ONE statement (_WRITE) resolves
their profiles, inserts receipts and events and moves last_seen_at; outside a transaction it
runs in autocommit, so a single event costs one round trip. Only when some profile does not
exist yet are the missing ones created first (one INSERT … ON CONFLICT per kind of key), in a
transaction with the write. Identify items take the per-item path of profiles.identity.

Idempotency: an event with a message_id is written at most once per (source, message_id); its
EventReceipt is inserted in the same statement as the event, ON CONFLICT DO NOTHING, so a
resent event (even racing its first copy) answers "duplicate" with the first event's id.

After the transaction commits, the new event ids go to the subscribers of profiles.hooks
through profiles.ingestion.fanout (a Redis list each, drained in batches by coalesced RQ
jobs, queue "events"): ingestion never waits on journeys.
"""


from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from profiles.hooks import event_subscribers
from profiles.ingestion.fanout import publish
from profiles.ingestion.parsing import ItemResult, TimeWindow, TrackItem, parse_track
from profiles.ingestion.profile_keys import create_missing_profiles, raw_cursor

log = logging.getLogger(__name__)

EVENT_ID_SEQUENCE = "profiles_event_id_seq"
# last_seen_at is not rewritten for events less than this newer than it (see _WRITE): a busy
# profile would otherwise get a new row version (and index entries) from every batch.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
# A batch transaction that lost a race (a deadlock, or a profile merged away under it: the
# deferred foreign key fails at commit) is replayed from the start; it wrote nothing.
ATTEMPTS = 3

# --- track: one event or many, one code path -------------------------------------------


def event_track(*, raw: Any, default_source: str) -> ItemResult:
    """Ingest one event; raises ItemError. Status "created" or "duplicate" (same id)."""
    item = parse_track(raw, index=0, default_source=default_source, window=TimeWindow.at())
    return events_track(items=[item])[0]


def events_track(*, items: list[TrackItem], now: datetime | None = None) -> list[ItemResult]:
    """Write valid track items set-based; results in the items' order.

    Outside a transaction the common case (every profile known) is ONE statement in
    autocommit: no BEGIN/COMMIT round trips, which is most of a single event's cost.
    """
    if not items:
        return []
    now = now or timezone.now()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            if connection.in_atomic_block:
                with transaction.atomic():  # a savepoint: a failed attempt is undone alone
                    results = _track(items, now)
            else:
                results = _track(items, now)
            break
        except (IntegrityError, OperationalError, _Replay) as exc:
            if attempt == ATTEMPTS or not _retryable(exc):
                raise
            log.info("ingestion: replaying %d item(s) after %r", len(items), exc.__cause__ or exc)
    new_ids = [r.id for r in results if r.status == "created"]
    if new_ids and event_subscribers():
        # Inside a caller's transaction: after it commits. In autocommit: now (committed).
        transaction.on_commit(partial(notify_subscribers, new_ids), robust=True)
    return results


class _Replay(Exception):
    """Lost a race that a fresh attempt resolves."""


def _retryable(exc: Exception) -> bool:
    from psycopg import errors as pg

    return isinstance(exc, _Replay) or isinstance(
        exc.__cause__, pg.DeadlockDetected | pg.ForeignKeyViolation | pg.SerializationFailure)


def _track(items: list[TrackItem], now: datetime) -> list[ItemResult]:
    # A message_id seen twice in one batch: the first is written, the others are duplicates.
    first_of: dict[tuple[str, str], int] = {}
    fresh: list[TrackItem] = []
    repeats: list[tuple[int, int]] = []
    for position, item in enumerate(items):
        if item.message_id:
            key = (item.source, item.message_id)
            if key in first_of:
                repeats.append((position, first_of[key]))
                continue
            first_of[key] = position
        fresh.append(item)
    with raw_cursor() as cursor:
        written = _write(cursor, fresh, now)
        if written is None:
            # Some profiles are unknown: create them and write, committed together.
            with transaction.atomic():
                create_missing_profiles(cursor, fresh, now=now)
                written = _write(cursor, fresh, now)
            if written is None:
                raise _Replay  # a profile was merged away between creation and write
        results: dict[int, ItemResult] = {}
        duplicates = []
        for item in fresh:
            event_id = written[item.index]
            if event_id is None:
                duplicates.append(item)
            else:
                results[item.index] = ItemResult(item.index, "created", event_id)
        if duplicates:
            known = _receipt_event_ids(cursor, duplicates)
            for item in duplicates:
                results[item.index] = ItemResult(item.index, "duplicate",
                                                 known.get((item.source, item.message_id)))
    for position, first in repeats:
        index = items[position].index
        results[index] = ItemResult(index, "duplicate", results[items[first].index].id)
    return [results[item.index] for item in items]


_WRITE = f"""
WITH raw AS (
    SELECT * FROM unnest(%b::int[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
                         %b::timestamptz[], %b::text[], %b::text[])
           AS t(idx, external_id, anonymous_id, email, name, properties, occurred_at, source,
                message_id)
), resolved AS MATERIALIZED (
    -- external_id, else anonymous_id (alias), else email (the oldest profile with it). Each
    -- is a LATERAL lookup with LIMIT (which keeps the planner from flattening it into a join
    -- that scans a table), so whatever the table sizes the plan is index probes per item.
    SELECT raw.*, coalesce(x.id, a.profile_id, e.id) AS profile_id
      FROM raw
      LEFT JOIN LATERAL (
            SELECT p.id FROM profiles_profile p
             WHERE raw.external_id <> '' AND p.external_id = raw.external_id
             LIMIT 1
      ) x ON true
      LEFT JOIN LATERAL (
            SELECT alias.profile_id FROM profiles_profilealias alias
             WHERE raw.external_id = '' AND raw.anonymous_id <> ''
               AND alias.kind = 'anonymous_id' AND alias.value = raw.anonymous_id
             LIMIT 1
      ) a ON true
      LEFT JOIN LATERAL (
            SELECT p.id FROM profiles_profile p
             WHERE raw.external_id = '' AND raw.anonymous_id = ''
               AND lower(p.email) = raw.email
             ORDER BY p.id LIMIT 1
      ) e ON true
), complete AS (
    SELECT NOT EXISTS (SELECT FROM resolved WHERE profile_id IS NULL) AS ok
), items AS MATERIALIZED (
    SELECT nextval('{EVENT_ID_SEQUENCE}') AS id, resolved.*
      FROM resolved WHERE (SELECT ok FROM complete)
), receipts AS (
    INSERT INTO profiles_eventreceipt (source, message_id, event_id, occurred_at, received_at)
    SELECT source, message_id, id, occurred_at, %b FROM items WHERE message_id <> ''
    ON CONFLICT (source, message_id) DO NOTHING
    RETURNING event_id
), accepted AS MATERIALIZED (
    SELECT * FROM items WHERE message_id = '' OR id IN (SELECT event_id FROM receipts)
), written AS (
    INSERT INTO profiles_event (id, profile_id, name, properties, occurred_at, received_at,
                                source, message_id)
    SELECT id, profile_id, name, properties::jsonb, occurred_at, %b, source, message_id
      FROM accepted
), seen AS (
    SELECT profile_id AS id, max(occurred_at) AS at FROM accepted GROUP BY profile_id
), locked AS (
    -- Only rows that move past the resolution, locked in id order: concurrent batches on
    -- the same profiles queue instead of deadlocking. NO KEY: the events' foreign-key
    -- checks (KEY SHARE) on these rows are not blocked.
    SELECT p.id, seen.at FROM profiles_profile p JOIN seen ON seen.id = p.id
     WHERE p.last_seen_at IS NULL OR p.last_seen_at < seen.at - %b::interval
     ORDER BY p.id
       FOR NO KEY UPDATE OF p
), touched AS (
    UPDATE profiles_profile p SET last_seen_at = locked.at
      FROM locked
     WHERE p.id = locked.id AND (p.last_seen_at IS NULL OR p.last_seen_at < locked.at)
)
SELECT (SELECT ok FROM complete), resolved.idx, accepted.id
  FROM resolved LEFT JOIN accepted ON accepted.idx = resolved.idx
"""  # noqa: S608 — the only interpolation is a constant


def _write(cursor, items: list[TrackItem], now: datetime) -> dict[int, int | None] | None:
    """Resolve profiles, insert receipts and events, move last_seen_at: one statement.

    Returns {item index: event id, or None for a resend (its receipt existed)}; or None, with
    nothing written, when some item's profile does not exist yet. The receipt and the event
    are inserted together, so an event never exists without its receipt, nor twice.

    A single event runs the prepared generic plan (planning cost as much as running it); a
    batch is planned for its size, which costs little beside its execution.
    """
    cursor.execute(_WRITE, [
        [i.index for i in items], [i.external_id for i in items],
        [i.anonymous_id for i in items], [i.email.lower() for i in items],
        [i.name for i in items], [i.properties for i in items],
        [i.occurred_at for i in items], [i.source for i in items],
        [i.message_id for i in items], now, now, LAST_SEEN_RESOLUTION,
    ], prepare=len(items) == 1)
    rows = cursor.fetchall()
    if rows and not rows[0][0]:
        return None
    return {index: event_id for _, index, event_id in rows}


def _receipt_event_ids(cursor, items: list[TrackItem]) -> dict[tuple[str, str], int]:
    cursor.execute(
        """
        SELECT r.source, r.message_id, r.event_id
          FROM profiles_eventreceipt r
          JOIN unnest(%b::text[], %b::text[]) AS t(source, message_id)
            ON r.source = t.source AND r.message_id = t.message_id
        """,
        [[i.source for i in items], [i.message_id for i in items]],
    )
    return {(source, message_id): event_id for source, message_id, event_id in cursor.fetchall()}




# --- after commit -------------------------------------------------------------------------


def notify_subscribers(event_ids: list[int]) -> None:
    """Hand this ingestion's new events to the subscribers (called after commit): the ids
    wait in Redis and one drain job per subscriber takes them in batches (fanout)."""
    publish(event_ids)
