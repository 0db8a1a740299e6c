"""Channels' part in a GDPR erasure and export (registered with profiles.hooks in
ChannelsConfig.ready).

Erasure keeps every delivery row and its status log, so campaign counts (sent, failed…) stay
true, and removes what identifies the person: the address, and any address quoted in an
error or a log line (an SMTP "550 <ada@example.com>: no such user"). The rows are then
detached from the profile when Delivery.profile allows it (nullable, SET_NULL); until then
the profile's deletion cascades to them.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import F, Func, Value

from channels.models import Delivery, DeliveryEvent
from profiles.models import Profile

ERASED = "[erased]"
# Anything shaped like an email address, wherever it is quoted in free text.
EMAIL_LIKE = r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+"


def erase_deliveries(*, profile_id: int) -> int:
    """Anonymize the profile's deliveries and their log; returns the deliveries touched."""
    deliveries = Delivery.objects.filter(profile_id=profile_id)
    known = set(deliveries.exclude(address="").values_list("address", flat=True))
    person = Profile.objects.filter(pk=profile_id).values("email", "phone").first() or {}
    known |= {value for value in person.values() if value}
    DeliveryEvent.objects.filter(delivery__profile_id=profile_id).update(
        detail=_scrubbed("detail", known)
    )
    changes: dict[str, Any] = {"address": "", "error": _scrubbed("error", known)}
    if Delivery._meta.get_field("profile").null:
        changes["profile"] = None
    return deliveries.update(**changes)


def _scrubbed(column: str, addresses: set[str]):
    """The column with each known address (any case) and anything email-shaped replaced."""
    expression = F(column)
    for address in sorted(addresses):
        # re.escape's backslashes before punctuation read as literals in PostgreSQL's regexes.
        expression = _regexp_replace(expression, re.escape(address), "gi")
    return _regexp_replace(expression, EMAIL_LIKE, "g")


def _regexp_replace(expression, pattern: str, flags: str) -> Func:
    return Func(
        expression, Value(pattern), Value(ERASED), Value(flags), function="regexp_replace"
    )


def export_deliveries(*, profile_id: int) -> dict[str, Any]:
    """The messages sent to the profile, each with its status log."""
    deliveries = (
        Delivery.objects.filter(profile_id=profile_id)
        .select_related("campaign_step__campaign")
        .prefetch_related("events")
        .order_by("created_at", "id")
    )
    return {"deliveries": [_delivery(d) for d in deliveries]}


def _delivery(delivery: Delivery) -> dict[str, Any]:
    step = delivery.campaign_step
    return {
        "id": delivery.pk,
        "channel": delivery.channel,
        "address": delivery.address,
        "status": delivery.status,
        "campaign": step.campaign.name if step else None,
        "created_at": delivery.created_at,
        "sent_at": delivery.sent_at,
        "error": delivery.error,
        "log": [
            {"status": e.status, "occurred_at": e.occurred_at, "detail": e.detail}
            for e in delivery.events.all()
        ],
    }


def register() -> None:
    from profiles.hooks import register_erase_handler, register_export_contributor

    register_erase_handler("channels", erase_deliveries)
    register_export_contributor("channels", export_deliveries)
