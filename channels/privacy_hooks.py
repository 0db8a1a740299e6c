"""Channels' part in a GDPR erasure and export (registered with profiles.hooks in
ChannelsConfig.ready).

Erasure keeps every delivery row and its status log, so campaign counts (sent, failed…) stay
true, and removes what identifies the person: the address, and any address quoted in an
error or a log line (an SMTP "550 <ada@example.com>: no such user"). A message still queued
is skipped. The rows are detached from the profile (Delivery.profile is nullable).
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import F, Func, Value
from django.utils import timezone

from channels.models import Delivery, DeliveryEvent, DeliveryStatus
from profiles.models import Profile

ERASED = "[erased]"
# Anything shaped like an email address, wherever it is quoted in free text.
EMAIL_LIKE = r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+"


def erase_deliveries(*, profile_id: int) -> int:
    """Anonymize the profile's deliveries and their log; returns the deliveries touched."""
    deliveries = Delivery.objects.filter(profile_id=profile_id)
    _skip_unsent(deliveries)
    known = set(deliveries.exclude(address="").values_list("address", flat=True))
    person = Profile.objects.filter(pk=profile_id).values("email", "phone").first() or {}
    known |= {value for value in person.values() if value}
    DeliveryEvent.objects.filter(delivery__profile_id=profile_id).update(
        detail=_scrubbed("detail", known)
    )
    # Detached here rather than left to the profile's SET_NULL: the rows this handler kept.
    return deliveries.update(address="", error=_scrubbed("error", known), profile=None)


def _skip_unsent(deliveries) -> None:
    """Messages not sent yet will not be: skipped, with a line in their log.

    Locked first, so a worker claiming them now waits and then finds them no longer queued.
    """
    queued = list(
        deliveries.select_for_update().filter(status=DeliveryStatus.QUEUED)
        .values_list("pk", flat=True)
    )
    if not queued:
        return
    now = timezone.now()
    Delivery.objects.filter(pk__in=queued).update(status=DeliveryStatus.SKIPPED, updated_at=now)
    DeliveryEvent.objects.bulk_create(
        DeliveryEvent(delivery_id=pk, status=DeliveryStatus.SKIPPED, occurred_at=now,
                      detail="The profile was erased.")
        for pk in queued
    )


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
