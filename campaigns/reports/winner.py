"""Declaring a split's winner: every new entrant of the campaign takes that branch."""

from __future__ import annotations

from django.db import transaction

from campaigns.models import Campaign, Step
from campaigns.services import CampaignError


def winner_declare(*, campaign: Campaign, step_key: str, branch: str) -> Step:
    """Set config["winner"] on the split step of the campaign's current version (the engine
    routes entrants reaching it to that branch). Enrollments already past it keep theirs.
    Raises CampaignError when there is no such split step or branch."""
    with transaction.atomic():
        step = (Step.objects.select_for_update()
                .filter(campaign=campaign, version_id=campaign.current_version_id,
                        key=step_key, kind="split").first())
        if campaign.current_version_id is None or step is None:
            raise CampaignError({"step": "This campaign's current version has no such split."})
        names = [str(b.get("name", "")) for b in (step.config or {}).get("branches", [])
                 if isinstance(b, dict)]
        if branch not in names:
            raise CampaignError({"branch": f"The split has no branch named “{branch}”."})
        step.config = {**(step.config or {}), "winner": branch}
        step.save(update_fields=["config"])
    return step
