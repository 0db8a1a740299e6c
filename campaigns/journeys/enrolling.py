"""Enrollment inserts, set-based: a profile query or a list of profiles in, one
`INSERT … SELECT … ON CONFLICT DO NOTHING` out. The unique (campaign, profile, entry_key)
makes every replay a no-op; the re-entry rule is part of the SELECT.

Entry keys: "once" when re-entry is never (so the constraint itself forbids a second entry),
otherwise one per occurrence ("run:<id>", "event:<id>", "seg:<date>").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models
from django.db.models import QuerySet

from campaigns.journeys.holdout import control_sql
from campaigns.models import Campaign, CampaignVersion, Reentry
from profiles.models import Profile

ONCE = "once"

_COLUMNS = """(campaign_id, version_id, profile_id, entry_key, run_id, step_key, state,
               next_due_at, wait_event, step_entered_at, is_control, data, entered_at,
               exit_reason, updated_at)"""


@dataclass(frozen=True)
class Entry:
    """Who enters what: the campaign's settings that shape the INSERT."""

    campaign_id: int
    version_id: int
    start_key: str
    reentry: str
    reentry_days: int
    holdout_percent: int

    @classmethod
    def of(cls, campaign: Campaign, version: CampaignVersion) -> Entry:
        return cls(campaign.pk, version.pk, version.start_key, campaign.reentry,
                   campaign.reentry_days, campaign.holdout_percent)

    def key(self, occurrence: str) -> str:
        return ONCE if self.reentry == Reentry.NEVER else occurrence


def reentry_sql(entry: Entry, profile_sql: str, now: datetime) -> tuple[str, list]:
    """The WHERE that lets a profile in again: after N days since its last entry; with
    `always`, not while it is still inside (segment entries ask this every sweep)."""
    if entry.reentry == Reentry.AFTER:
        return (f"""NOT EXISTS (SELECT 1 FROM campaigns_enrollment AS prior
                                 WHERE prior.profile_id = {profile_sql}
                                   AND prior.campaign_id = %s AND prior.entered_at > %s)""",  # noqa: S608
                [entry.campaign_id, now - timedelta(days=entry.reentry_days)])
    return "TRUE", []


def enroll_members(
    entry: Entry, members: QuerySet[Profile], *, occurrence: str, now: datetime,
    run_id: int | None = None, extra_where: tuple[str, list] = ("TRUE", []),
) -> int:
    """Enroll a profile query in profile-id chunks (LAUNCH_CHUNK_SIZE): one INSERT … SELECT
    per chunk, memory flat whatever the audience. Returns the rows inserted."""
    bounds = members.aggregate(lo=models.Min("id"), hi=models.Max("id"))
    if bounds["lo"] is None:
        return 0
    chunk = settings.LAUNCH_CHUNK_SIZE
    inserted = 0
    for start in range(bounds["lo"], bounds["hi"] + 1, chunk):
        window = members.filter(id__gte=start, id__lt=start + chunk).values("id")
        select_sql, select_params = window.query.sql_with_params()
        members_sql = f"SELECT m.id FROM ({select_sql}) AS m"  # noqa: S608 — Django's SQL
        inserted += _insert(entry, members_sql, list(select_params),
                            occurrence=occurrence, now=now, run_id=run_id,
                            extra_where=extra_where)
    return inserted


def enroll_profiles(
    entry: Entry, profile_ids: Sequence[int], occurrences: Sequence[str], *, now: datetime,
) -> list[tuple[int, int]]:
    """Enroll given profiles, each with its own occurrence key (an event's). Returns
    (enrollment id, profile id) of the rows inserted."""
    if not profile_ids:
        return []
    keys = [entry.key(occurrence) for occurrence in occurrences]
    return _insert(
        entry, "SELECT m.id, m.entry_key FROM unnest(%s::bigint[], %s::text[]) AS m(id, entry_key)",
        [list(profile_ids), keys], occurrence=None, now=now, returning=True,
    )


def _insert(entry: Entry, members_sql: str, params: list, *, occurrence: str | None,
            now: datetime, run_id: int | None = None,
            extra_where: tuple[str, list] = ("TRUE", []), returning: bool = False):
    reentry, reentry_params = reentry_sql(entry, "m.id", now)
    control = control_sql(f"{int(entry.campaign_id)}::text", "m.id", entry.holdout_percent)
    key_sql = "m.entry_key" if occurrence is None else "%s"
    key_params = [] if occurrence is None else [entry.key(occurrence)]
    sql = f"""
        INSERT INTO campaigns_enrollment {_COLUMNS}
        SELECT %s, %s, m.id, {key_sql}, %s, %s, 'active', %s, '', %s, {control}, '{{}}'::jsonb,
               %s, '', %s
          FROM ({members_sql}) AS m
         WHERE {reentry} AND {extra_where[0]}
        ON CONFLICT DO NOTHING
        {"RETURNING id, profile_id" if returning else ""}
    """  # noqa: S608 — interpolated text is SQL built here or compiled by Django; values bound
    # Placeholders in text order: the SELECT list, the members (FROM), then the WHERE.
    values = [entry.campaign_id, entry.version_id, *key_params, run_id, entry.start_key,
              now, now, now, now, *params, *reentry_params, *extra_where[1]]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.fetchall() if returning else cursor.rowcount
