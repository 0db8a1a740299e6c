"""A campaign's lifecycle: draft → scheduled → running → paused → completed → archived.

Every transition is one conditional UPDATE on the status it expects, so two clicks at once
make one transition and the second gets a CampaignError. The runtime (campaigns.journeys)
reads the status: it never claims enrollments nor sends deliveries of a paused campaign, so
pausing stops sends at once and resuming goes on from the rows, with nothing sent twice.
Completion belongs to the runtime (campaigns.journeys.completion), which knows when the
last enrollment and delivery are done.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from croniter import croniter
from django.db import transaction
from django.utils import timezone

from campaigns.errors import CampaignError
from campaigns.graph import graph_from_version
from campaigns.journeys import completion
from campaigns.models import Campaign, CampaignStatus, CampaignVersion, EntryKind
from campaigns.validation import problems_as_errors, validate
from campaigns.versions import draft_of, draft_version

_EDITED = (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED)
_CHANGED = "The campaign changed meanwhile: reload it and try again."


def publish(campaign: Campaign, user=None, now: datetime | None = None, *,
            at: datetime | None = None) -> Campaign:
    """Validate and publish the draft version.

    A draft campaign becomes scheduled (an audience read at a later time or on a
    recurrence) or running (event and segment entries, an audience read now), with the
    version as its current one. A scheduled, running or paused campaign with a draft makes
    it current version N+1: new entries take it, enrollments inside finish their version.
    `at` sets an audience's time (the schedule form's "send at").
    """
    now = now or timezone.now()
    campaign.refresh_from_db()
    if at is not None:
        campaign.scheduled_at = at
    version = _version_to_publish(campaign, user)
    problems = validate(campaign, graph_from_version(version))
    if problems:
        raise CampaignError(problems_as_errors(problems))
    with transaction.atomic():
        _mark_published(version, now)
        if campaign.status == CampaignStatus.DRAFT:
            fields = _first_status(campaign, now)
            expected = [CampaignStatus.DRAFT]
        else:
            fields, expected = {}, list(_EDITED)
        updated = Campaign.objects.filter(pk=campaign.pk, status__in=expected).update(
            current_version=version, updated_at=now, **fields
        )
        if not updated:
            raise CampaignError(_CHANGED)
        if fields.get("next_run_at") is not None:
            _enqueue_launch(campaign.pk, fields["next_run_at"])
    campaign.refresh_from_db()
    return campaign


def _version_to_publish(campaign: Campaign, user) -> CampaignVersion:
    if campaign.status == CampaignStatus.DRAFT:
        # A campaign unscheduled back to draft republishes the version it had.
        version = draft_of(campaign) or campaign.current_version or draft_version(campaign, user)
        return version
    if campaign.status in _EDITED:
        draft = draft_of(campaign)
        if draft is None:
            raise CampaignError("There are no changes to publish.")
        return draft
    raise CampaignError(
        f"A {campaign.get_status_display().lower()} campaign cannot be published."
    )


def _mark_published(version: CampaignVersion, now: datetime) -> None:
    if version.is_published:
        return
    if not CampaignVersion.objects.filter(pk=version.pk, published_at__isnull=True).update(
        published_at=now
    ):
        raise CampaignError(_CHANGED)


def _first_status(campaign: Campaign, now: datetime) -> dict:
    if campaign.entry_kind != EntryKind.AUDIENCE:
        return {"status": CampaignStatus.RUNNING, "launched_at": now, "next_run_at": None,
                "paused_at": None, "pause_reason": ""}
    first = next_run_at(campaign, now)
    fields = {"scheduled_at": campaign.scheduled_at, "next_run_at": first,
              "paused_at": None, "pause_reason": ""}
    if first > now:
        return {**fields, "status": CampaignStatus.SCHEDULED}
    # An audience read now: running at once; the runtime's sweep (or the launch job
    # enqueued below) enrolls it, since its run is due.
    return {**fields, "status": CampaignStatus.RUNNING, "launched_at": now}


def next_run_at(campaign: Campaign, now: datetime) -> datetime:
    """An audience's first reading: its time (now when none was chosen), or the first
    recurrence at or after it."""
    if not campaign.recurrence:
        return campaign.scheduled_at or now  # no time chosen: read when published
    start = max(campaign.scheduled_at or now, now)
    # croniter gives the next time strictly after its base: step back so `start` counts.
    return croniter(campaign.recurrence, start - timedelta(microseconds=1)).get_next(datetime)


def _enqueue_launch(campaign_id: int, at: datetime) -> None:
    from campaigns import jobs  # jobs import services, which import this module

    transaction.on_commit(lambda: jobs.enqueue_launch(campaign_id, at))


def pause(campaign: Campaign, reason: str = "", now: datetime | None = None) -> Campaign:
    """Running or scheduled → paused: no new entry, no step walked, no queued message sent."""
    now = now or timezone.now()
    _transition(campaign, [CampaignStatus.RUNNING, CampaignStatus.SCHEDULED],
                "Only a running or scheduled campaign can be paused.",
                status=CampaignStatus.PAUSED, paused_at=now, pause_reason=reason[:300],
                updated_at=now)
    return campaign


def resume(campaign: Campaign, now: datetime | None = None) -> Campaign:
    """Paused → running (or scheduled, when its audience has not been read yet)."""
    now = now or timezone.now()
    campaign.refresh_from_db()
    status = CampaignStatus.RUNNING if campaign.launched_at else CampaignStatus.SCHEDULED
    _transition(campaign, [CampaignStatus.PAUSED], "Only a paused campaign can be resumed.",
                status=status, paused_at=None, pause_reason="", updated_at=now)
    if status == CampaignStatus.SCHEDULED and campaign.next_run_at:
        with transaction.atomic():
            _enqueue_launch(campaign.pk, max(campaign.next_run_at, now))
    elif status == CampaignStatus.RUNNING:
        # What the pause held (due steps, queued messages) goes on now, not at the next sweep.
        from campaigns import jobs

        transaction.on_commit(lambda: jobs.nudge(campaign.pk))
    return campaign


def archive(campaign: Campaign, now: datetime | None = None) -> Campaign:
    """Completed, paused or draft → archived (out of the lists; its reports stay)."""
    now = now or timezone.now()
    _transition(campaign, [CampaignStatus.COMPLETED, CampaignStatus.PAUSED,
                           CampaignStatus.DRAFT],
                "Pause the campaign before archiving it: only a completed, paused or draft "
                "campaign can be archived.",
                status=CampaignStatus.ARCHIVED, archived_at=now, updated_at=now)
    return campaign


def unschedule(campaign: Campaign) -> Campaign:
    """Scheduled → draft, as long as its audience has not been read."""
    _transition(campaign, [CampaignStatus.SCHEDULED],
                "Only a scheduled campaign that has not launched can be unscheduled.",
                status=CampaignStatus.DRAFT, scheduled_at=None, next_run_at=None,
                updated_at=timezone.now())
    return campaign


def complete_finished(*, campaign_id: int | None = None) -> int:
    """Running → completed for every campaign (or the one) that is done; the runtime
    decides what done means (campaigns.journeys.completion: never early)."""
    return completion.complete_finished(campaign_id=campaign_id)


def _transition(campaign: Campaign, expected: list[str], refusal: str, **fields) -> None:
    if not Campaign.objects.filter(pk=campaign.pk, status__in=expected).update(**fields):
        raise CampaignError(refusal)
    campaign.refresh_from_db()
