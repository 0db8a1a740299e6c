"""A profile's history on one line of time: events, messages, consent changes, merges.

Each source gives its newest `limit + 1` rows and they are merged by time, so a page costs
four small indexed queries whatever the profile's history holds. Deliveries are read through
the reverse relation (profile.deliveries): profiles never imports channels or campaigns.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime

from profiles.models import ConsentState, Profile

DEFAULT_LIMIT = 30
MAX_LIMIT = 1000


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # "event", "delivery", "consent", "merge"
    at: datetime
    title: str
    detail: str = ""
    status: str = ""
    source: str = ""
    delivery_id: int | None = None


def profile_timeline(*, profile: Profile, limit: int = DEFAULT_LIMIT):
    """(entries newest first, whether older entries exist)."""
    limit = max(1, min(limit, MAX_LIMIT))
    take = limit + 1
    sources = [
        (_event(e) for e in profile.events.order_by("-occurred_at")[:take]),
        (_delivery(d) for d in profile.deliveries.select_related("campaign_step__campaign")
         .order_by("-created_at", "-id")[:take]),
        (_consent(c) for c in profile.consent_changes.select_related("topic")
         .order_by("-occurred_at", "-id")[:take]),
        (_merge(m) for m in profile.merges.order_by("-created_at")[:take]),
    ]
    entries = list(heapq.merge(*sources, key=lambda entry: entry.at, reverse=True))
    return entries[:limit], len(entries) > limit


def _event(event) -> TimelineEntry:
    properties = ", ".join(f"{k}={v}" for k, v in list(event.properties.items())[:5])
    return TimelineEntry("event", event.occurred_at, event.name, properties, source=event.source)


def _delivery(delivery) -> TimelineEntry:
    step = delivery.campaign_step
    campaign = step.campaign.name if step else "Transactional message"
    return TimelineEntry(
        "delivery", delivery.created_at, f"{delivery.get_channel_display()}: {campaign}",
        delivery.error[:200], delivery.status, delivery_id=delivery.pk,
    )


def _consent(change) -> TimelineEntry:
    scope = change.get_channel_display()
    if change.topic_id:
        scope = f"{scope} · {change.topic.name}"
    states = dict(ConsentState.choices)
    title = (f"{scope} consent: {states.get(change.previous_state, change.previous_state)} → "
             f"{states.get(change.state, change.state)}")
    return TimelineEntry("consent", change.occurred_at, title, source=change.source)


def _merge(merge) -> TimelineEntry:
    who = merge.merged_external_id or merge.merged_email or f"anonymous #{merge.merged_profile_id}"
    moved = ", ".join(f"{n} {kind}" for kind, n in (merge.moved or {}).items() if n)
    detail = f"{merge.reason}. Moved: {moved}" if moved else merge.reason
    return TimelineEntry("merge", merge.created_at, f"Merged profile {who} into this one", detail)
