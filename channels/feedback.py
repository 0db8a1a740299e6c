"""Provider feedback: delivered, bounced, complained and failed, after a message left.

Each event is appended to the delivery's status log and moves its status forward only (a
late "delivered" never hides an "opened"). Bounces are classified: a hard bounce suppresses
the address at once, soft bounces count toward quarantine (settings.SOFT_BOUNCE_QUARANTINE);
a complaint suppresses the address and opts the profile out of email. A provider resending
an event is a no-op: one log row per (delivery, event type, timestamp).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels.models import (
    AddressHealth,
    AddressKind,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Suppression,
)
from channels.suppression import ADDRESS_KINDS, address_key, suppress
from profiles.consent import ConsentUpdate, consent_set
from profiles.fields import FieldError
from profiles.models import ConsentState

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Itinera-Signature"
EVENT_TYPES = {
    "delivered": DeliveryStatus.DELIVERED,
    "bounced": DeliveryStatus.BOUNCED,
    "complained": DeliveryStatus.COMPLAINED,
    "failed": DeliveryStatus.FAILED,
}
BOUNCE_TYPES = ("hard", "soft")
# Ours: the email Message-ID `<delivery-N@domain>`, or `itinera-delivery-N` on other channels.
OUR_MESSAGE_ID = re.compile(r"^(?:<?delivery-(\d+)@[^>]+>?|itinera-delivery-(\d+))$")

# How far along a delivery is; feedback moves it only to a higher rank. A bounce or a failure
# answers the same question as "delivered" (did it arrive?); an open, a click or a complaint
# says more than that.
RANK = {
    DeliveryStatus.QUEUED: 0, DeliveryStatus.DEFERRED: 0, DeliveryStatus.SKIPPED: 1,
    DeliveryStatus.SENDING: 1, DeliveryStatus.UNKNOWN: 1,
    DeliveryStatus.SENT: 2, DeliveryStatus.EXPORTED: 2,
    DeliveryStatus.DELIVERED: 3, DeliveryStatus.BOUNCED: 3, DeliveryStatus.FAILED: 3,
    DeliveryStatus.OPENED: 4, DeliveryStatus.CLICKED: 5,
    DeliveryStatus.COMPLAINED: 6, DeliveryStatus.UNSUBSCRIBED: 6,
}


class FeedbackError(ValueError):
    pass


@dataclass(frozen=True)
class FeedbackEvent:
    message_id: str
    type: str
    occurred_at: datetime
    bounce_type: str = ""
    reason: str = ""


@dataclass
class FeedbackResult:
    applied: int = 0
    duplicates: int = 0
    unknown: int = 0  # no delivery has that message id
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"applied": self.applied, "duplicates": self.duplicates,
                "unknown": self.unknown, "errors": self.errors}


def signature_valid(*, body: bytes, signature: str) -> bool:
    """HMAC-SHA256 of the raw body, hex (optionally "sha256=" first), compared in constant
    time. No secret configured means no webhook is trusted."""
    secret = settings.FEEDBACK_WEBHOOK_SECRET
    if not secret or not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    given = signature.strip().removeprefix("sha256=")
    return hmac.compare_digest(expected.encode(), given.encode())


def feedback_parse(payload) -> tuple[list[FeedbackEvent], list[dict]]:
    """Validate a webhook payload (a JSON list of events, or one event); bad items are
    reported by index, good ones returned."""
    items = payload if isinstance(payload, list) else [payload]
    events, errors = [], []
    for index, item in enumerate(items):
        try:
            events.append(_parse_one(item))
        except FeedbackError as exc:
            errors.append({"index": index, "error": str(exc)})
    return events, errors


def _parse_one(item) -> FeedbackEvent:
    if not isinstance(item, dict):
        raise FeedbackError("An event is a JSON object.")
    message_id = str(item.get("message_id") or "").strip()
    if not message_id:
        raise FeedbackError("message_id is required.")
    kind = item.get("type")
    if kind not in EVENT_TYPES:
        raise FeedbackError(f"type must be one of {', '.join(EVENT_TYPES)}.")
    bounce_type = str(item.get("bounce_type") or "").lower()
    if kind == "bounced" and bounce_type not in BOUNCE_TYPES:
        raise FeedbackError("A bounce needs bounce_type hard or soft.")
    return FeedbackEvent(
        message_id=message_id[:255], type=kind, occurred_at=_timestamp(item.get("timestamp")),
        bounce_type=bounce_type if kind == "bounced" else "",
        reason=str(item.get("reason") or "")[:1000],
    )


def _timestamp(value) -> datetime:
    # Required: with the delivery and the type it is what makes a resent event a duplicate.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise FeedbackError("timestamp must be ISO 8601 or Unix seconds.")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def feedback_apply(*, provider: str, events: list[FeedbackEvent]) -> FeedbackResult:
    result = FeedbackResult()
    for event in events:
        outcome = feedback_apply_one(provider=provider, event=event)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def delivery_for_message_id(message_id: str) -> int | None:
    """Our own Message-ID names the delivery; anything else is the provider's id."""
    match = OUR_MESSAGE_ID.match(message_id)
    if match:
        return int(match.group(1) or match.group(2))
    return (
        Delivery.objects.filter(provider_message_id=message_id)
        .values_list("id", flat=True).first()
    )


def feedback_apply_one(*, provider: str, event: FeedbackEvent) -> str:
    """Apply one event; returns "applied", "duplicates" or "unknown"."""
    delivery_id = delivery_for_message_id(event.message_id)
    if delivery_id is None:
        return "unknown"
    status = EVENT_TYPES[event.type]
    with transaction.atomic():
        # The row lock serializes two copies of one event arriving at once.
        delivery = Delivery.objects.select_for_update().filter(id=delivery_id).first()
        if delivery is None:
            return "unknown"
        if DeliveryEvent.objects.filter(
            delivery=delivery, status=status, occurred_at=event.occurred_at
        ).exists():
            return "duplicates"
        detail = _detail(provider, event)
        DeliveryEvent.objects.create(
            delivery=delivery, status=status, occurred_at=event.occurred_at, detail=detail
        )
        if RANK[status] > RANK.get(delivery.status, 0):
            delivery.status = status
            fields = ["status", "updated_at"]
            if status in (DeliveryStatus.BOUNCED, DeliveryStatus.FAILED):
                delivery.error = detail
                fields.append("error")
            delivery.save(update_fields=fields)
        _address_consequences(delivery, event)
    return "applied"


def _detail(provider: str, event: FeedbackEvent) -> str:
    kind = f"{event.bounce_type} bounce" if event.bounce_type else event.type
    return f"{provider}: {kind}" + (f": {event.reason}" if event.reason else "")


def _address_consequences(delivery: Delivery, event: FeedbackEvent) -> None:
    kind = ADDRESS_KINDS.get(delivery.channel)
    if kind is None or not delivery.address:
        return
    try:
        key = address_key(kind=kind, address=delivery.address)
    except FieldError:
        return
    note = f"Delivery {delivery.id}: {event.reason}"[:1000]
    if event.type == "bounced" and event.bounce_type == "hard":
        suppress(kind=kind, address=key, cause=Suppression.Cause.HARD_BOUNCE, note=note)
    elif event.type == "bounced":
        _soft_bounce(kind, key, event.occurred_at, note)
    elif event.type == "complained":
        suppress(kind=kind, address=key, cause=Suppression.Cause.COMPLAINT, note=note)
        if delivery.profile_id and kind == AddressKind.EMAIL:
            consent_set(profile=delivery.profile, update=ConsentUpdate(
                channel="email", state=ConsentState.OPTED_OUT, source="complaint",
                occurred_at=event.occurred_at,
            ))
    elif event.type == "delivered":
        # Quarantine counts soft bounces in a row: an arrival starts the count again.
        AddressHealth.objects.filter(kind=kind, address=key, soft_bounces__gt=0).update(
            soft_bounces=0
        )


def _soft_bounce(kind: str, key: str, when: datetime, note: str) -> None:
    # Count it in one statement (insert or increment), which also holds under concurrency.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO channels_addresshealth (kind, address, soft_bounces, last_bounce_at)
            VALUES (%s, %s, 1, %s)
            ON CONFLICT (kind, address) DO UPDATE
               SET soft_bounces = channels_addresshealth.soft_bounces + 1,
                   last_bounce_at = EXCLUDED.last_bounce_at
         RETURNING soft_bounces
            """,
            [kind, key, when],
        )
        soft_bounces = cursor.fetchone()[0]
    if soft_bounces >= settings.SOFT_BOUNCE_QUARANTINE:
        suppress(kind=kind, address=key, cause=Suppression.Cause.SOFT_BOUNCES,
                 note=f"{soft_bounces} soft bounces. {note}")
