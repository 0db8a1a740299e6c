"""Writes of a campaign's entry and campaign-wide rules (the settings page). The step graph
is written by campaigns.versions; publishing decides when the entry starts."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from campaigns.errors import CampaignError
from campaigns.models import Campaign
from campaigns.versions import FINISHED

# Plain Campaign fields the settings page writes; segments many-to-many are set apart.
FIELDS = (
    "name", "description", "priority", "entry_kind", "segment", "scheduled_at", "recurrence",
    "entry_event", "entry_event_filter", "reentry", "reentry_days", "exit_event", "exit_rules",
    "goal_event", "goal_days", "holdout_percent", "send_window_start", "send_window_end",
    "send_window_days",
)


def campaign_settings_save(*, campaign: Campaign | None, user, values: dict[str, Any]) -> Campaign:
    """Create a draft campaign, or change a campaign's settings while it is not finished.
    A scheduled or running campaign takes the new settings at its next reading of them."""
    if campaign is not None and campaign.status in FINISHED:
        raise CampaignError(f"A {campaign.get_status_display().lower()} campaign cannot be "
                            "changed.")
    if not (values.get("name") or "").strip():
        raise CampaignError({"name": "A name is required."})
    extra = values.get("extra_segments") or []
    excluded = values.get("excluded_segments") or []
    with transaction.atomic():
        if campaign is None:
            campaign = Campaign(created_by=user, owner=user)
        for name in FIELDS:
            if name in values:
                setattr(campaign, name, values[name])
        campaign.save()
        campaign.extra_segments.set(extra)
        campaign.excluded_segments.set(excluded)
    return campaign
