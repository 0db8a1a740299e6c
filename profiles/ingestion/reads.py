"""Reading a profile's events back."""

from __future__ import annotations

import logging

from django.db.models import QuerySet

from profiles.ingestion.parsing import ItemError, parse_datetime
from profiles.models import Event

log = logging.getLogger(__name__)

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
