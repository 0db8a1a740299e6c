"""Reads behind the campaign API: versions, enrollments and per-step counts.

Counts follow a step by its key, which is stable across versions, so a step edited in
version N+1 keeps the visits it had in version N.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from campaigns.models import (
    Campaign,
    CampaignVersion,
    Enrollment,
    EnrollmentState,
    StepVisit,
)


def campaign_versions(*, campaign: Campaign) -> list[dict[str, Any]]:
    """Each version with its step count and active enrollments, oldest first."""
    versions = campaign.versions.annotate(
        step_count=Count("steps", distinct=True),
        active_enrollments=Count("enrollments", filter=Q(
            enrollments__state=EnrollmentState.ACTIVE), distinct=True),
    ).order_by("number")
    return [
        {"number": v.number, "published_at": v.published_at, "created_at": v.created_at,
         "step_count": v.step_count, "active_enrollments": v.active_enrollments,
         "is_current": v.pk == campaign.current_version_id}
        for v in versions
    ]


def campaign_enrollments(*, campaign: Campaign, state: str = "", step: str = "",
                         profile: int | None = None) -> QuerySet[Enrollment]:
    enrollments = Enrollment.objects.filter(campaign=campaign).select_related("version")
    if state:
        enrollments = enrollments.filter(state=state)
    if step:
        enrollments = enrollments.filter(step_key=step)
    if profile is not None:
        enrollments = enrollments.filter(profile_id=profile)
    return enrollments


def campaign_step_stats(*, campaign: Campaign) -> dict[str, Any]:
    """Per step of the current version (else the draft): entered (visits), waiting (active
    enrollments there now), passed (visits that left it) and exited (enrollments the exit
    criteria took out there); plus enrollments by state. Three queries."""
    version = _shown_version(campaign)
    visits = {
        row["step__key"]: row for row in
        StepVisit.objects.filter(campaign=campaign).order_by().values("step__key").annotate(
            entered=Count("id"), passed=Count("id", filter=Q(left_at__isnull=False)))
    }
    at_step: dict[tuple[str, str], int] = {}
    by_state = dict.fromkeys(EnrollmentState.values, 0)
    rows = Enrollment.objects.filter(campaign=campaign).order_by().values(
        "step_key", "state").annotate(n=Count("id"))
    for row in rows:
        at_step[row["step_key"], row["state"]] = row["n"]
        by_state[row["state"]] += row["n"]
    by_state["total"] = sum(by_state.values())
    steps = [] if version is None else [
        {"key": step.key, "name": step.name, "kind": step.kind,
         "entered": visits.get(step.key, {}).get("entered", 0),
         "passed": visits.get(step.key, {}).get("passed", 0),
         "waiting": at_step.get((step.key, EnrollmentState.ACTIVE), 0),
         "exited": at_step.get((step.key, EnrollmentState.EXITED), 0)}
        for step in version.steps.order_by("position", "id")
    ]
    return {"version": version.number if version else None, "enrollments": by_state,
            "steps": steps}


def _shown_version(campaign: Campaign) -> CampaignVersion | None:
    if campaign.current_version_id:
        return campaign.current_version
    return campaign.versions.order_by("-number").first()
