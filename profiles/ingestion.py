"""Real-time ingestion: events (one or a batch) and identify calls from integrators.

The batch path is set-based: whatever the batch size, its track items cost a fixed handful of
statements — profiles resolved with one query per kind of key (missing ones created with one
INSERT … ON CONFLICT), receipts and events written by one statement, last_seen_at moved by one
UPDATE. Identify items take the per-item path of profiles.identity.

Idempotency: an event with a message_id is written at most once per (source, message_id); its
EventReceipt is inserted in the same statement as the event, ON CONFLICT DO NOTHING, so a
resent event (even racing its first copy) answers "duplicate" with the first event's id.

After the transaction commits, each subscriber of profiles.hooks gets one RQ job (queue
"events") with the new event ids: ingestion never waits on journeys.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
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
EVENT_ID_SEQUENCE = "profiles_event_id_seq"
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
    properties: dict
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
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    elif not isinstance(properties, dict):
        errors["properties"] = "Must be a JSON object."
    occurred_at = _occurred_at(raw.get("occurred_at"), window, errors)
    source = _key(raw, "source", MAX_SOURCE, errors) or default_source
    message_id = _key(raw, "message_id", MAX_KEY, errors)
    external_id = _key(raw, "external_id", MAX_KEY, errors)
    anonymous_id = _key(raw, "anonymous_id", MAX_KEY, errors)
    email = raw.get("email") or ""
    if email:
        try:
            email = normalize_email(email) if isinstance(email, str) else _bad_email(email)
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
    return value


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
    """Write valid track items set-based, in one transaction; results in the items' order."""
    if not items:
        return []
    now = now or timezone.now()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic():
                results, new_ids = _track(items, now)
                if new_ids and event_subscribers():
                    transaction.on_commit(partial(notify_subscribers, new_ids), robust=True)
            return results
        except (IntegrityError, OperationalError) as exc:
            if attempt == ATTEMPTS or not _retryable(exc):
                raise
            log.info("ingestion: replaying a batch of %d after %s", len(items), type(exc.__cause__))
    raise AssertionError("unreachable")


def _retryable(exc: Exception) -> bool:
    from psycopg import errors as pg

    return isinstance(exc.__cause__, pg.DeadlockDetected | pg.ForeignKeyViolation
                      | pg.SerializationFailure)


def _track(items: list[TrackItem], now: datetime) -> tuple[list[ItemResult], list[int]]:
    with connection.cursor() as cursor:
        profile_ids = resolve_profiles(cursor, items, now=now)
        # A message_id seen twice in one batch: the first is written, the others are duplicates.
        first_of: dict[tuple[str, str], int] = {}
        fresh, repeats = [], []
        for position, item in enumerate(items):
            if item.message_id:
                key = (item.source, item.message_id)
                if key in first_of:
                    repeats.append((position, first_of[key]))
                    continue
                first_of[key] = position
            fresh.append(position)
        written = _insert_events(cursor, [items[p] for p in fresh],
                                 [profile_ids[p] for p in fresh], now)
        results: list[ItemResult | None] = [None] * len(items)
        duplicates = []
        for position in fresh:
            event_id = written.get(items[position].index)
            if event_id is None:
                duplicates.append(position)
            else:
                results[position] = ItemResult(items[position].index, "created", event_id)
        if duplicates:
            known = _receipt_event_ids(cursor, [items[p] for p in duplicates])
            for position in duplicates:
                item = items[position]
                results[position] = ItemResult(item.index, "duplicate",
                                               known.get((item.source, item.message_id)))
        for position, first in repeats:
            results[position] = ItemResult(items[position].index, "duplicate", results[first].id)
        seen = _latest_per_profile(
            (profile_ids[p], items[p].occurred_at) for p in fresh
            if results[p].status == "created"
        )
        _touch_last_seen(cursor, seen)
    new_ids = [r.id for r in results if r.status == "created"]
    return results, new_ids


def _insert_events(cursor, items: list[TrackItem], profile_ids: list[int],
                   now: datetime) -> dict[int, int]:
    """Insert receipts and events in one statement; {item index: event id} of those written.

    An item whose receipt already exists (a resend) gets no event: the receipt insert and the
    event insert are one statement, so an event never exists without its receipt or twice.
    """
    if not items:
        return {}
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    cursor.execute(
        f"""
        WITH items AS MATERIALIZED (
            SELECT nextval('{EVENT_ID_SEQUENCE}') AS id, t.*
              FROM unnest(%s::int[], %s::bigint[], %s::text[], %s::text[], %s::timestamptz[],
                          %s::text[], %s::text[])
                   AS t(idx, profile_id, name, properties, occurred_at, source, message_id)
        ), receipts AS (
            INSERT INTO profiles_eventreceipt (source, message_id, event_id, occurred_at,
                                               received_at)
            SELECT source, message_id, id, occurred_at, %s FROM items WHERE message_id <> ''
            ON CONFLICT (source, message_id) DO NOTHING
            RETURNING event_id
        ), accepted AS (
            SELECT * FROM items
             WHERE message_id = '' OR id IN (SELECT event_id FROM receipts)
        ), written AS (
            INSERT INTO profiles_event (id, profile_id, name, properties, occurred_at,
                                        received_at, source, message_id)
            SELECT id, profile_id, name, properties::jsonb, occurred_at, %s, source, message_id
              FROM accepted
        )
        SELECT idx, id FROM accepted
        """,  # noqa: S608 — the only interpolation is a constant
        [
            [i.index for i in items], profile_ids, [i.name for i in items],
            [dumps(i.properties) for i in items], [i.occurred_at for i in items],
            [i.source for i in items], [i.message_id for i in items], now, now,
        ],
    )
    return dict(cursor.fetchall())


def _receipt_event_ids(cursor, items: list[TrackItem]) -> dict[tuple[str, str], int]:
    cursor.execute(
        """
        SELECT r.source, r.message_id, r.event_id
          FROM profiles_eventreceipt r
          JOIN unnest(%s::text[], %s::text[]) AS t(source, message_id)
            ON r.source = t.source AND r.message_id = t.message_id
        """,
        [[i.source for i in items], [i.message_id for i in items]],
    )
    return {(source, message_id): event_id for source, message_id, event_id in cursor.fetchall()}


def _latest_per_profile(pairs: Iterable[tuple[int, datetime]]) -> dict[int, datetime]:
    latest: dict[int, datetime] = {}
    for profile_id, moment in pairs:
        if profile_id not in latest or moment > latest[profile_id]:
            latest[profile_id] = moment
    return latest


def _touch_last_seen(cursor, latest: Mapping[int, datetime]) -> None:
    """Move last_seen_at forward only. Rows are locked in id order so concurrent batches
    touching the same profiles queue up instead of deadlocking."""
    if not latest:
        return
    ids = sorted(latest)
    cursor.execute(
        """
        WITH seen AS (
            SELECT * FROM unnest(%s::bigint[], %s::timestamptz[]) AS t(id, at)
        ), locked AS (
            SELECT p.id, seen.at FROM profiles_profile p JOIN seen ON seen.id = p.id
             WHERE p.last_seen_at IS NULL OR p.last_seen_at < seen.at
             ORDER BY p.id
               FOR UPDATE OF p
        )
        UPDATE profiles_profile p SET last_seen_at = locked.at
          FROM locked
         WHERE p.id = locked.id AND (p.last_seen_at IS NULL OR p.last_seen_at < locked.at)
        """,
        [ids, [latest[i] for i in ids]],
    )


# --- profiles by key, created when unknown -----------------------------------------------


def resolve_profiles(cursor, items: list[TrackItem], *, now: datetime) -> list[int]:
    """The profile id of each item (external_id, else anonymous_id, else email).

    Unknown keys get a new profile: an external_id its own profile, an anonymous_id an
    anonymous profile with that alias, an email a profile with that email. One query per kind
    of key when every profile exists; creation is INSERT … ON CONFLICT, so concurrent batches
    naming the same new key end up on the same profile.
    """
    by_external = {i.external_id for i in items if i.external_id}
    by_anonymous = {i.anonymous_id for i in items if not i.external_id and i.anonymous_id}
    by_email = {i.email.lower(): i.email for i in items
                if not i.external_id and not i.anonymous_id and i.email}
    external = profiles_by_external_id(cursor, sorted(by_external), now=now)
    anonymous = profiles_by_anonymous_id(cursor, sorted(by_anonymous), now=now)
    emails = profiles_by_email(cursor, by_email, now=now)
    ids = []
    for item in items:
        if item.external_id:
            ids.append(external[item.external_id])
        elif item.anonymous_id:
            ids.append(anonymous[item.anonymous_id])
        else:
            ids.append(emails[item.email.lower()])
    return ids


_NEW_PROFILE_COLUMNS = (
    "external_id, email, phone, first_name, last_name, timezone, locale, attributes, "
    "created_at, updated_at"
)


def profiles_by_external_id(cursor, external_ids: list[str], *, now: datetime) -> dict[str, int]:
    if not external_ids:
        return {}
    cursor.execute(
        "SELECT external_id, id FROM profiles_profile WHERE external_id = ANY(%s::text[])",
        [external_ids],
    )
    found = dict(cursor.fetchall())
    missing = [x for x in external_ids if x not in found]
    if missing:
        cursor.execute(
            f"""
            INSERT INTO profiles_profile ({_NEW_PROFILE_COLUMNS})
            SELECT x, '', '', '', '', 'UTC', '', '{{}}', %s, %s
              FROM unnest(%s::text[]) AS x ORDER BY x
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
                "SELECT external_id, id FROM profiles_profile WHERE external_id = ANY(%s::text[])",
                [lost],
            )
            found.update(cursor.fetchall())
    return found


def profiles_by_anonymous_id(cursor, anonymous_ids: list[str], *, now: datetime) -> dict[str, int]:
    if not anonymous_ids:
        return {}
    select = (
        "SELECT value, profile_id FROM profiles_profilealias "
        "WHERE kind = 'anonymous_id' AND value = ANY(%s::text[])"
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
                  FROM unnest(%s::text[]) AS v ORDER BY v
            ), aliases AS (
                INSERT INTO profiles_profilealias (profile_id, kind, value, created_at)
                SELECT id, 'anonymous_id', v, %s FROM new
                ON CONFLICT (kind, value) DO NOTHING
                RETURNING profile_id, value
            ), profiles AS (
                INSERT INTO profiles_profile (id, {_NEW_PROFILE_COLUMNS})
                SELECT profile_id, NULL, '', '', '', '', 'UTC', '', '{{}}', %s, %s FROM aliases
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
            SELECT NULL, e, '', '', '', 'UTC', '', '{{}}', %s, %s FROM unnest(%s::text[]) AS e
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
         WHERE lower(email) = ANY(%s::text[])
         ORDER BY lower(email), id
        """,
        [lowered],
    )
    return dict(cursor.fetchall())


def lock_emails(cursor, lowered: list[str]) -> None:
    """Transaction-scoped advisory locks on email addresses, always taken in sorted order."""
    cursor.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('itinera.profile.email:' || e, 0)) "
        "FROM unnest(%s::text[]) AS e ORDER BY e",
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
    import django_rq

    queue = django_rq.get_queue("events")
    for path in event_subscribers():
        queue.enqueue(path, event_ids)
