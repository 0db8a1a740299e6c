"""Profiles by key (external_id, anonymous_id, email), created when unknown; the raw cursor
the set-based writes use."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import datetime

from django.db import connection

from profiles.ingestion.parsing import TrackItem

log = logging.getLogger(__name__)

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
