"""How profiles enter journeys: audience runs, segment entries, and (campaigns.journeys.events)
ingested events.

An audience run is a CampaignRun row, unique per (campaign, scheduled time), created with
the campaign's move to running and its next recurrence in one transaction; its enrollments
are then inserted chunk by chunk, set-based, and the run is marked finished. A run left
unfinished by a dead worker is resumed by the sweep (the inserts are idempotent); a
session advisory lock keeps two workers from filling the same run at once.
"""

from __future__ import annotations

from datetime import datetime

from croniter import croniter
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from campaigns.journeys.enrolling import Entry, enroll_members
from campaigns.journeys.events import enter_on_events  # noqa: F401 — part of this interface
from campaigns.models import (
    Campaign,
    CampaignRun,
    CampaignStatus,
    CampaignVersion,
    Enrollment,
    EnrollmentState,
    EntryKind,
    Reentry,
    Step,
)
from profiles.audiences import segment_audience
from profiles.models import Profile

LAUNCHABLE = (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)
_RUN_LOCK = 7_306_001  # advisory lock namespace of audience runs (pg_try_advisory_lock(ns, id))


def run_audience(*, campaign_id: int, scheduled_for: datetime,
                 now: datetime | None = None) -> int:
    """Read the audience for the run at `scheduled_for` and enroll it. Returns how many
    profiles this call enrolled (0 for a replay of a finished run, or a run not due)."""
    now = now or timezone.now()
    run = _start_run(campaign_id, scheduled_for, now)
    if run is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_RUN_LOCK, run.pk])
        if not cursor.fetchone()[0]:
            return 0  # another worker is filling this run right now
        try:
            return _fill_run(run, now)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_RUN_LOCK, run.pk])


def _start_run(campaign_id: int, scheduled_for: datetime, now: datetime) -> CampaignRun | None:
    if scheduled_for > now:
        return None
    with transaction.atomic():
        campaign = (Campaign.objects.select_for_update()
                    .filter(pk=campaign_id, status__in=LAUNCHABLE,
                            entry_kind=EntryKind.AUDIENCE).first())
        if campaign is None:
            return None
        run = CampaignRun.objects.filter(campaign=campaign, scheduled_for=scheduled_for).first()
        if run is not None:
            return None if run.finished_at else run
        if campaign.segment_id is None:
            return None
        version = current_version(campaign, now)
        run = CampaignRun.objects.create(campaign=campaign, version=version,
                                         scheduled_for=scheduled_for)
        campaign.status = CampaignStatus.RUNNING
        campaign.launched_at = campaign.launched_at or now
        campaign.next_run_at = next_run(campaign.recurrence, max(scheduled_for, now))
        campaign.save(update_fields=["status", "launched_at", "next_run_at", "updated_at"])
    return run


def _fill_run(run: CampaignRun, now: datetime) -> int:
    run.refresh_from_db()
    if run.finished_at:
        return 0
    campaign = Campaign.objects.get(pk=run.campaign_id)
    entry = Entry.of(campaign, run.version)
    enrolled = enroll_members(entry, audience_members(campaign, now=now),
                              occurrence=f"run:{run.pk}", now=now, run_id=run.pk)
    CampaignRun.objects.filter(pk=run.pk).update(
        finished_at=timezone.now(), enrolled=Enrollment.objects.filter(run=run).count()
    )
    from campaigns import jobs

    jobs.nudge(campaign.pk)
    return enrolled


def audience_members(campaign: Campaign, *, now: datetime) -> QuerySet[Profile]:
    """campaign.segment ∪ extra segments − excluded segments, as one query."""
    included = [campaign.segment, *campaign.extra_segments.all()]
    if len(included) == 1:
        members = segment_audience(included[0], now=now)
    else:
        union = Q()
        for segment in included:
            union |= Q(id__in=segment_audience(segment, now=now).values("id"))
        members = Profile.objects.filter(union)
    for segment in campaign.excluded_segments.all():
        members = members.exclude(id__in=segment_audience(segment, now=now).values("id"))
    return members


def next_run(recurrence: str, after: datetime) -> datetime | None:
    """The recurrence's first time strictly after `after` (UTC), or None for a one-off."""
    if not recurrence.strip():
        return None
    return croniter(recurrence, after).get_next(datetime)


def due_runs(now: datetime, *, campaign_id: int | None = None) -> list[tuple[int, datetime]]:
    """(campaign id, scheduled time) of every audience run (or the campaign's) to start or
    to resume."""
    audience = Campaign.objects.filter(entry_kind=EntryKind.AUDIENCE, status__in=LAUNCHABLE)
    unfinished = CampaignRun.objects.filter(finished_at__isnull=True,
                                            campaign__status__in=LAUNCHABLE)
    if campaign_id is not None:
        audience, unfinished = (audience.filter(pk=campaign_id),
                                unfinished.filter(campaign_id=campaign_id))
    never_ran = ~Exists(CampaignRun.objects.filter(campaign=OuterRef("pk")))
    due: dict[tuple[int, datetime], None] = {}
    for pk, next_run_at, scheduled_at, launched_at, ran in audience.filter(
        Q(next_run_at__lte=now)
        | Q(next_run_at__isnull=True, status=CampaignStatus.SCHEDULED, scheduled_at__lte=now)
        | Q(next_run_at__isnull=True, status=CampaignStatus.RUNNING)
    ).annotate(ran=~never_ran).values_list("pk", "next_run_at", "scheduled_at", "launched_at",
                                           "ran"):
        # A campaign published to run "now" carries that time in scheduled_at/launched_at.
        first = next_run_at or (None if ran else scheduled_at or launched_at)
        if first is not None and first <= now:
            due[(pk, first)] = None
    for pk, scheduled_for in unfinished.values_list("campaign_id", "scheduled_for"):
        due[(pk, scheduled_for)] = None
    return list(due)


def launch_due(*, campaign_id: int, now: datetime | None = None) -> int:
    """The one campaign's due runs (the launch job's and campaign_launch's entry point)."""
    now = now or timezone.now()
    return sum(run_audience(campaign_id=pk, scheduled_for=at, now=now)
               for pk, at in due_runs(now, campaign_id=campaign_id))


def current_version(campaign: Campaign, now: datetime) -> CampaignVersion:
    """The published version new entries take. A campaign saved before versions (one inline
    step, no version yet) gets version 1 around its steps here, as migration 0005 did."""
    if campaign.current_version_id is not None:
        return campaign.current_version
    steps = list(Step.objects.filter(campaign=campaign, version__isnull=True)
                 .order_by("position", "id"))
    version = CampaignVersion.objects.create(
        campaign=campaign, number=(campaign.versions.count() + 1),
        start_key=steps[0].key if steps else "", published_at=now,
    )
    for index, step in enumerate(steps):
        step.version = version
        following = steps[index + 1] if index + 1 < len(steps) else None
        step.exits = step.exits or {"next": following.key if following else None}
        step.save(update_fields=["version", "exits"])
    campaign.current_version = version
    campaign.save(update_fields=["current_version", "updated_at"])
    return version


def sweep_segment_entries(*, profile_ids: list[int] | None = None,
                          now: datetime | None = None) -> int:
    """Running segment-entry campaigns: profiles now in the segment and not inside (by the
    re-entry rule) enter, keyed "seg:<day>" (or "once"). With `profile_ids`, only those
    (a profile's events just came in). Returns how many entered."""
    now = now or timezone.now()
    entered = 0
    for campaign in Campaign.objects.filter(
        entry_kind=EntryKind.SEGMENT_ENTRY, status=CampaignStatus.RUNNING,
        segment__isnull=False, current_version__isnull=False,
    ).select_related("segment", "current_version"):
        members = segment_audience(campaign.segment, now=now)
        if profile_ids is not None:
            members = members.filter(id__in=profile_ids)
        entry = Entry.of(campaign, campaign.current_version)
        count = enroll_members(entry, members, occurrence=f"seg:{now:%Y-%m-%d}", now=now,
                               extra_where=_not_inside(campaign))
        if count:
            from campaigns import jobs

            jobs.nudge(campaign.pk)
        entered += count
    return entered


def _not_inside(campaign: Campaign) -> tuple[str, list]:
    # "Comes to match": a profile still walking the journey does not enter it again.
    if campaign.reentry == Reentry.NEVER:
        return "TRUE", []
    return ("""NOT EXISTS (SELECT 1 FROM campaigns_enrollment AS inside
                            WHERE inside.profile_id = m.id AND inside.campaign_id = %s
                              AND inside.state = %s)""",
            [campaign.pk, EnrollmentState.ACTIVE])
