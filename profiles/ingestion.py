"""Real-time ingestion: events (one or a batch) and identify calls from integrators.

Track items are written set-based: whatever their number, ONE statement (_WRITE) resolves
their profiles, inserts receipts and events and moves last_seen_at; outside a transaction it
runs in autocommit, so a single event costs one round trip. Only when some profile does not
exist yet are the missing ones created first (one INSERT … ON CONFLICT per kind of key), in a
transaction with the write. Identify items take the per-item path of profiles.identity.

Idempotency: an event with a message_id is written at most once per (source, message_id); its
EventReceipt is inserted in the same statement as the event, ON CONFLICT DO NOTHING, so a
resent event (even racing its first copy) answers "duplicate" with the first event's id.

After the transaction commits, each subscriber of profiles.hooks gets one RQ job (queue
"events") with the new event ids: ingestion never waits on journeys.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from profiles.fields import FieldError, normalize_email
from profiles.hooks import event_subscribers
from profiles.models import Event
from profiles.partitions import retention_horizon

log = logging.getLogger(__name__)

TRACK_KEYS = frozenset({
    "type", "name", "properties", "occurred_at", "message_id", "source",
    "external_id", "anonymous_id", "email",
})
IDENTITY_KEYS = ("external_id", "anonymous_id", "email")
MAX_NAME = 200
MAX_SOURCE = 100
MAX_KEY = 255
MAX_EMAIL = 254
EVENT_ID_SEQUENCE = "profiles_event_id_seq"
# last_seen_at is not rewritten for events less than this newer than it (see _WRITE): a busy
# profile would otherwise get a new row version (and index entries) from every batch.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
# A batch transaction that lost a race (a deadlock, or a profile merged away under it: the
# deferred foreign key fails at commit) is replayed from the start; it wrote nothing.
ATTEMPTS = 3


class ItemError(ValueError):
    """One item is unusable: field → message. Nothing of the item was written."""

    def __init__(self, errors: dict[str, Any]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(slots=True)
class TrackItem:
    index: int
    name: str
    properties: str  # JSON text, checked storable
    occurred_at: datetime
    source: str
    message_id: str
    external_id: str = ""
    anonymous_id: str = ""
    email: str = ""


@dataclass(slots=True)
class ItemResult:
    index: int
    status: str  # created | duplicate | updated (identify) | error
    id: int | None = None
    errors: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.id is not None:
            out["id"] = self.id
        if self.errors is not None:
            out["errors"] = self.errors
        out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The occurred_at values ingestion accepts: the retention horizon to a little ahead."""

    earliest: datetime
    latest: datetime
    now: datetime

    @classmethod
    def at(cls, now: datetime | None = None) -> TimeWindow:
        now = now or timezone.now()
        return cls(
            earliest=retention_horizon(now),
            latest=now + timedelta(seconds=settings.EVENT_MAX_FUTURE_SECONDS),
            now=now,
        )


# --- parsing -----------------------------------------------------------------------------


def parse_track(raw: Any, *, index: int, default_source: str, window: TimeWindow) -> TrackItem:
    """Validate one event; raise ItemError naming every bad field."""
    if not isinstance(raw, dict):
        raise ItemError({"item": "Expected a JSON object."})
    errors: dict[str, Any] = {}
    for key in raw.keys() - TRACK_KEYS:
        errors[str(key)] = "Unknown field."
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = "Required: the event's name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"At most {MAX_NAME} characters."
    elif "\x00" in name:
        errors["name"] = NUL_MESSAGE
    properties = raw.get("properties")
    if properties is None:
        properties = "{}"
    elif not isinstance(properties, dict):
        errors["properties"] = "Must be a JSON object."
    else:
        try:
            properties = storable_json(properties)
        except ValueError as exc:
            errors["properties"] = str(exc)
    occurred_at = _occurred_at(raw.get("occurred_at"), window, errors)
    source = _key(raw, "source", MAX_SOURCE, errors) or default_source
    message_id = _key(raw, "message_id", MAX_KEY, errors)
    external_id = _key(raw, "external_id", MAX_KEY, errors)
    anonymous_id = _key(raw, "anonymous_id", MAX_KEY, errors)
    email = raw.get("email") or ""
    if email:
        try:
            email = normalize_email(email) if isinstance(email, str) else _bad_email(email)
            if len(email) > MAX_EMAIL:
                raise FieldError(f"At most {MAX_EMAIL} characters.")
        except FieldError as exc:
            errors["email"] = str(exc)
    if not (external_id or anonymous_id or email) and not errors.keys() & set(IDENTITY_KEYS):
        errors["external_id"] = "Name the profile: external_id, anonymous_id or email."
    if errors:
        raise ItemError(errors)
    return TrackItem(index, name.strip(), properties, occurred_at, source[:MAX_SOURCE],
                     message_id, external_id, anonymous_id, email)


def _bad_email(value: Any) -> str:
    raise FieldError("Must be a string.")


def _key(raw: dict, key: str, limit: int, errors: dict) -> str:
    """An identifier: a string (or an integer, which integrators often send) of bounded size."""
    value = raw.get(key)
    if value is None or value == "":
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors[key] = "Must be a string."
        return ""
    if len(value) > limit:
        errors[key] = f"At most {limit} characters."
        return ""
    if "\x00" in value:
        errors[key] = NUL_MESSAGE
        return ""
    return value


# \u0000 as JSON escapes it, not a literal backslash followed by "u0000" (an even run of
# backslashes before it is escaped backslashes).
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
NUL_MESSAGE = "Contains a NUL character (\\u0000), which cannot be stored."


def storable_json(value: Any) -> str:
    """JSON text PostgreSQL's jsonb accepts, or ValueError saying why not.

    Checked per item, because one unstorable value would otherwise fail the statement of the
    whole batch: jsonb refuses \\u0000 and lone surrogates, and JSON has no Infinity/NaN
    (a number like 1e400 parses as infinity).
    """
    try:
        text = _encode(value)
    except ValueError:
        raise ValueError("Numbers must be finite (no Infinity or NaN).") from None
    if "\\u0000" in text and _ESCAPED_NUL.search(text):
        raise ValueError(NUL_MESSAGE)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("Contains an unpaired surrogate (\\ud800–\\udfff): not valid text.") \
            from None
    return text


def _occurred_at(value: Any, window: TimeWindow, errors: dict) -> datetime:
    if value is None or value == "":
        return window.now
    if not isinstance(value, str):
        errors["occurred_at"] = "Must be an ISO 8601 string, e.g. 2026-05-01T09:30:00+02:00."
        return window.now
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        errors["occurred_at"] = (
            f"{value!r} is not an ISO 8601 date and time, e.g. 2026-05-01T09:30:00+02:00."
        )
        return window.now
    if moment.tzinfo is None:
        errors["occurred_at"] = "Needs its UTC offset, e.g. 2026-05-01T09:30:00+02:00 or …Z."
    elif moment < window.earliest:
        errors["occurred_at"] = (
            f"Older than the retention horizon ({settings.EVENT_RETENTION_DAYS} days): events "
            f"before {window.earliest:%Y-%m-%dT%H:%M:%SZ} are not accepted."
        )
    elif moment > window.latest:
        errors["occurred_at"] = (
            f"More than {settings.EVENT_MAX_FUTURE_SECONDS} seconds ahead of the server clock "
            f"({window.now:%Y-%m-%dT%H:%M:%SZ}); check the sender's clock."
        )
    return moment


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


# --- profiles by key, created when unknown -----------------------------------------------


def create_missing_profiles(cursor, items: list[TrackItem], *, now: datetime) -> None:
    """Make sure every item's key names a profile (external_id, else anonymous_id, else email).

    Unknown keys get a new profile: an external_id its own profile, an anonymous_id an
    anonymous profile with that alias, an email a profile with that email. Creation is
    INSERT … ON CONFLICT, so concurrent batches naming the same new key end up on the same
    profile.
    """
    by_external = {i.external_id for i in items if i.external_id}
    by_anonymous = {i.anonymous_id for i in items if not i.external_id and i.anonymous_id}
    by_email = {i.email.lower(): i.email for i in items
                if not i.external_id and not i.anonymous_id and i.email}
    profiles_by_external_id(cursor, sorted(by_external), now=now)
    profiles_by_anonymous_id(cursor, sorted(by_anonymous), now=now)
    profiles_by_email(cursor, by_email, now=now)


_NEW_PROFILE_COLUMNS = (
    "external_id, email, phone, first_name, last_name, timezone, locale, attributes, "
    "created_at, updated_at"
)


def profiles_by_external_id(cursor, external_ids: list[str], *, now: datetime) -> dict[str, int]:
    if not external_ids:
        return {}
    cursor.execute(
        "SELECT external_id, id FROM profiles_profile WHERE external_id = ANY(%b::text[])",
        [external_ids],
    )
    found = dict(cursor.fetchall())
    missing = [x for x in external_ids if x not in found]
    if missing:
        cursor.execute(
            f"""
            INSERT INTO profiles_profile ({_NEW_PROFILE_COLUMNS})
            SELECT x, '', '', '', '', 'UTC', '', '{{}}', %b, %b
              FROM unnest(%b::text[]) AS x ORDER BY x
            ON CONFLICT (external_id) DO NOTHING
            RETURNING external_id, id
            """,  # noqa: S608 — constant column list
            [now, now, missing],
        )
        found.update(cursor.fetchall())
        # Created by a concurrent request since our first look (it committed: we waited).
        lost = [x for x in missing if x not in found]
        if lost:
            cursor.execute(
                "SELECT external_id, id FROM profiles_profile WHERE external_id = ANY(%b::text[])",
                [lost],
            )
            found.update(cursor.fetchall())
    return found


def profiles_by_anonymous_id(cursor, anonymous_ids: list[str], *, now: datetime) -> dict[str, int]:
    if not anonymous_ids:
        return {}
    select = (
        "SELECT value, profile_id FROM profiles_profilealias "
        "WHERE kind = 'anonymous_id' AND value = ANY(%b::text[])"
    )
    cursor.execute(select, [anonymous_ids])
    found = dict(cursor.fetchall())
    missing = [x for x in anonymous_ids if x not in found]
    if missing:
        # The alias takes the unique key, so only the winner of a race creates a profile;
        # the alias may come first in the statement because foreign keys are deferred.
        cursor.execute(
            f"""
            WITH new AS (
                SELECT v, nextval(pg_get_serial_sequence('profiles_profile', 'id')) AS id
                  FROM unnest(%b::text[]) AS v ORDER BY v
            ), aliases AS (
                INSERT INTO profiles_profilealias (profile_id, kind, value, created_at)
                SELECT id, 'anonymous_id', v, %b FROM new
                ON CONFLICT (kind, value) DO NOTHING
                RETURNING profile_id, value
            ), profiles AS (
                INSERT INTO profiles_profile (id, {_NEW_PROFILE_COLUMNS})
                SELECT profile_id, NULL, '', '', '', '', 'UTC', '', '{{}}', %b, %b FROM aliases
            )
            SELECT value, profile_id FROM aliases
            """,  # noqa: S608 — constant column list
            [missing, now, now, now],
        )
        found.update(cursor.fetchall())
        lost = [x for x in missing if x not in found]
        if lost:
            cursor.execute(select, [lost])
            found.update(cursor.fetchall())
    return found


def profiles_by_email(cursor, emails: Mapping[str, str], *, now: datetime) -> dict[str, int]:
    """{lower-cased email: profile id}; `emails` maps lower-cased → as given (normalized)."""
    if not emails:
        return {}
    keys = sorted(emails)
    found = _oldest_by_email(cursor, keys)
    missing = [e for e in keys if e not in found]
    if missing:
        # Email is not unique, so no ON CONFLICT: a transaction lock per address serializes
        # the creators, and the second one finds the first one's profile.
        lock_emails(cursor, missing)
        found.update(_oldest_by_email(cursor, missing))
        missing = [e for e in missing if e not in found]
    if missing:
        cursor.execute(
            f"""
            INSERT INTO profiles_profile ({_NEW_PROFILE_COLUMNS})
            SELECT NULL, e, '', '', '', 'UTC', '', '{{}}', %b, %b FROM unnest(%b::text[]) AS e
            RETURNING lower(email), id
            """,  # noqa: S608 — constant column list
            [now, now, [emails[e] for e in missing]],
        )
        found.update(cursor.fetchall())
    return found


def _oldest_by_email(cursor, lowered: list[str]) -> dict[str, int]:
    cursor.execute(
        """
        SELECT DISTINCT ON (lower(email)) lower(email), id FROM profiles_profile
         WHERE lower(email) = ANY(%b::text[])
         ORDER BY lower(email), id
        """,
        [lowered],
    )
    return dict(cursor.fetchall())


@contextmanager
def raw_cursor():
    """psycopg's own cursor on Django's connection (same transaction), binding on the server
    with binary parameters (%b): Django's ClientCursor quoted every array element in Python,
    a third of a batch's cost. Errors still surface as Django's (IntegrityError…)."""
    import psycopg

    connection.ensure_connection()
    conn = connection.connection
    with connection.wrap_database_errors, psycopg.Cursor(conn) as cursor:
        _prepare_session(conn, cursor)
        yield cursor


def _prepare_session(conn, cursor) -> None:
    """Let the write statement be prepared once per connection, with a generic plan.

    Planning that statement cost as much as running it for a single event, and PostgreSQL's
    "auto" mode kept choosing custom plans. Django disables prepared statements
    (prepare_threshold=None) and its ClientCursor never prepares, so only statements executed
    here with prepare=True are affected. The SET is done outside any transaction only, so a
    rollback cannot undo it unnoticed.
    """
    import psycopg

    if conn.prepare_threshold is None:
        conn.prepare_threshold = 1_000_000_000  # nothing is prepared unless asked
    if (not getattr(conn, "_itinera_generic_plans", False) and conn.autocommit
            and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE):
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        conn._itinera_generic_plans = True


def lock_emails(cursor, lowered: list[str]) -> None:
    """Transaction-scoped advisory locks on email addresses, always taken in sorted order."""
    cursor.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('itinera.profile.email:' || e, 0)) "
        "FROM unnest(%b::text[]) AS e ORDER BY e",
        [sorted(lowered)],
    )


# --- batches: tracks and identifies -------------------------------------------------------


def batch_ingest(*, items: list[Any], default_source: str, actor_token=None) -> list[ItemResult]:
    """Ingest a batch: bad items are reported and never block the good ones.

    Identify items run first, one transaction each (they may merge profiles), so that the
    batch's events land on the merged profile; then every valid track item in one set-based
    transaction.
    """
    from profiles.identity import IdentifyError, profile_identify

    window = TimeWindow.at()
    results: list[ItemResult | None] = [None] * len(items)
    tracks: list[TrackItem] = []
    for index, raw in enumerate(items):
        kind = raw.get("type") if isinstance(raw, dict) else None
        try:
            if kind == "track":
                tracks.append(parse_track(raw, index=index, default_source=default_source,
                                          window=window))
            elif kind == "identify":
                request = parse_identify(raw, default_source=default_source)
                outcome = profile_identify(**request, actor_token=actor_token)
                results[index] = ItemResult(
                    index, "created" if outcome.created else "updated",
                    extra={"profile_id": outcome.profile.pk, "merged": outcome.merge is not None},
                )
            else:
                raise ItemError({"type": 'Must be "track" or "identify".'})
        except (ItemError, IdentifyError) as exc:
            results[index] = ItemResult(index, "error", errors=exc.errors)
    for result in events_track(items=tracks, now=window.now):
        results[result.index] = result
    return results


IDENTIFY_KEYS = frozenset({
    "type", "external_id", "anonymous_id", "email", "phone", "first_name", "last_name",
    "timezone", "locale", "attributes", "consent", "push", "source",
})
IDENTIFY_FIELDS = ("phone", "first_name", "last_name", "timezone", "locale", "attributes")


def parse_identify(raw: Any, *, default_source: str) -> dict[str, Any]:
    """The keyword arguments of profiles.identity.profile_identify, or ItemError."""
    if not isinstance(raw, dict):
        raise ItemError({"item": "Expected a JSON object."})
    errors: dict[str, Any] = {str(k): "Unknown field." for k in raw.keys() - IDENTIFY_KEYS}
    for key, value in raw.items():
        try:
            storable_json(value)
        except ValueError as exc:
            errors[str(key)] = str(exc)
    keys = {k: _key(raw, k, MAX_KEY, errors) for k in ("external_id", "anonymous_id")}
    email = raw.get("email")
    if email is not None and not isinstance(email, str):
        errors["email"] = "Must be a string."
    source = _key(raw, "source", MAX_SOURCE, errors) or default_source
    consent = raw.get("consent") or []
    if not isinstance(consent, list) or not all(isinstance(c, dict) for c in consent):
        errors["consent"] = 'A list of {"channel", "topic" (optional), "state"} objects.'
    push = raw.get("push")
    if push is not None and not isinstance(push, dict):
        errors["push"] = "Must be a JSON object."
    for key in ("first_name", "last_name", "phone", "timezone", "locale"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            errors[key] = "Must be a string."
    if errors:
        raise ItemError(errors)
    data = {k: raw[k] for k in IDENTIFY_FIELDS if k in raw}
    return {
        "external_id": keys["external_id"], "anonymous_id": keys["anonymous_id"],
        "email": (email or "").strip(), "data": data, "consent": consent, "push": push,
        "source": source,
    }


# --- reads ---------------------------------------------------------------------------------


def profile_events(*, profile, name: str = "", since: str = "", until: str = "") -> QuerySet:
    """A profile's events, filtered; bounds on occurred_at also prune partitions."""
    events = Event.objects.filter(profile=profile)
    if name:
        events = events.filter(name=name)
    errors: dict[str, str] = {}
    for key, value, lookup in (("since", since, "occurred_at__gte"),
                               ("until", until, "occurred_at__lt")):
        if not value:
            continue
        moment = parse_datetime(value)
        if moment is None:
            errors[key] = f"{value!r} is not an ISO 8601 date and time."
            continue
        events = events.filter(**{lookup: moment})
    if errors:
        raise ItemError(errors)
    return events


def parse_datetime(value: str) -> datetime | None:
    """ISO 8601; a date alone or a time without offset is read as UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- after commit -------------------------------------------------------------------------


def notify_subscribers(event_ids: list[int]) -> None:
    """One job per subscriber for this ingestion's new events (called after commit)."""
    queue = _events_queue()
    for path in event_subscribers():
        queue.enqueue(path, event_ids)


@cache
def _events_queue():
    # One queue (and Redis connection pool) per process: django_rq builds a new client, hence
    # a new TCP connection, on every get_queue() call.
    import django_rq

    return django_rq.get_queue("events")
