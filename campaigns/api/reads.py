"""Reads behind the campaign API: versions, enrollments and per-step counts."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from campaigns import selectors
from campaigns.models import Campaign, CampaignVersion, Enrollment, EnrollmentState


def campaign_versions(*, campaign: Campaign) -> list[dict[str, Any]]:
    """Each version with its step count and active enrollments, oldest first."""
    return [
        {"number": v.number, "published_at": v.published_at, "created_at": v.created_at,
         "step_count": v.steps_count, "active_enrollments": v.in_flight,
         "is_current": v.pk == campaign.current_version_id}
        for v in reversed(selectors.campaign_versions(campaign=campaign))
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


def campaign_step_stats(*, campaign: Campaign, version: CampaignVersion | None = None
                        ) -> dict[str, Any]:
    """Per step of `version` (default: the current one, else the newest) the designer's live
    counts (campaigns.selectors.step_live_counts), and the campaign's enrollments by state."""
    version = version or campaign.current_version or campaign.versions.order_by(
        "-number").first()
    counts = selectors.step_live_counts(version=version) if version else {}
    steps = [] if version is None else [
        {"key": step.key, "name": step.name, "kind": step.kind,
         **counts.get(step.key, selectors.ZERO_COUNTS)}
        for step in version.steps.order_by("position", "id")
    ]
    by_state = dict.fromkeys(EnrollmentState.values, 0)
    rows = Enrollment.objects.filter(campaign=campaign).order_by().values("state").annotate(
        n=Count("id"))
    by_state.update({row["state"]: row["n"] for row in rows})
    by_state["total"] = sum(by_state.values())
    return {"version": version.number if version else None, "enrollments": by_state,
            "steps": steps}
