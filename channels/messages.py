"""Transactional messages (POST /api/v1/messages) and the deliveries an integrator reads back.

A request names a template (its current revision is used) or carries inline content, a
channel, a profile (id or external_id) or a bare address, and `data` (extra Liquid context,
read as `data.*`). It becomes one queued Delivery of kind transactional, sent by a job
enqueued after commit through the same pipeline and policy as everything else.

Idempotency: the request's Idempotency-Key is stored on the delivery (unique), with a
fingerprint of the request in `data["_request"]`; a replay with the same body returns the
same delivery, another body under the same key is refused. Inline content is kept in
`data["_inline"]`, so the delivery holds enough to re-render it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from channels.models import (
    Channel,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    MessageKind,
    MessageTemplate,
    Reason,
)
from channels.policy import email_is_valid, phone_is_valid
from channels.rendering import INLINE_KEY, REQUEST_KEY, template_revision_current
from channels.templating import check_template
from profiles.models import Profile, PushSubscription
from profiles.selectors import AmbiguousReference, profile_by_reference

IDEMPOTENCY_KEY_MAX = 255
# The fields inline content must have, per channel (any one of a tuple).
REQUIRED_CONTENT = {
    Channel.EMAIL: [("subject",), ("html", "text")],
    Channel.SMS: [("body",)],
    Channel.PUSH: [("title", "body")],
    Channel.MAIL: [("letter",)],
    Channel.WEBHOOK: [("url",)],
}


class MessageError(ValueError):
    """The request cannot be queued; `errors` maps fields to messages."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request."""


@dataclass(frozen=True)
class MessageRequest:
    channel: str = ""
    template: int | None = None
    content: dict[str, Any] | None = None
    profile: str = ""
    address: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        body = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()


def message_queue(*, request: MessageRequest, idempotency_key: str) -> tuple[Delivery, bool]:
    """Queue one transactional delivery; return (delivery, created).

    Raises MessageError (400), IdempotencyConflict (409).
    """
    key = (idempotency_key or "").strip()
    if not key:
        raise MessageError({"Idempotency-Key": "This header is required."})
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise MessageError({"Idempotency-Key": f"At most {IDEMPOTENCY_KEY_MAX} characters."})
    fingerprint = request.fingerprint
    existing = Delivery.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return _replayed(existing, fingerprint), False
    delivery = _new_delivery(request)
    delivery.idempotency_key = key
    delivery.data = {**request.data, REQUEST_KEY: fingerprint}
    if request.content is not None:
        delivery.data[INLINE_KEY] = request.content
    try:
        with transaction.atomic():
            delivery.save()
            DeliveryEvent.objects.create(delivery=delivery, status=delivery.status,
                                         occurred_at=timezone.now(),
                                         detail="Queued by the transactional API.")
            from channels import jobs  # jobs import services; imported late like campaigns

            transaction.on_commit(lambda: jobs.enqueue_send_deliveries([delivery.pk]))
    except IntegrityError:
        # The same key raced in from another request: its delivery is the answer.
        existing = Delivery.objects.filter(idempotency_key=key).first()
        if existing is None:
            raise
        return _replayed(existing, fingerprint), False
    return delivery, True


def _replayed(existing: Delivery, fingerprint: str) -> Delivery:
    if (existing.data or {}).get(REQUEST_KEY) != fingerprint:
        raise IdempotencyConflict
    return existing


def _new_delivery(request: MessageRequest) -> Delivery:
    errors: dict[str, str] = {}
    template = None
    if request.template is not None and request.content is not None:
        errors["template"] = "Give a template or inline content, not both."
    elif request.template is not None:
        template = MessageTemplate.objects.filter(pk=request.template).first()
        if template is None:
            errors["template"] = f"Unknown template {request.template}."
    elif request.content is None:
        errors["template"] = "Give a template or inline content."
    channel = request.channel or (template.channel if template else "")
    if channel not in Channel.values:
        errors["channel"] = (f"Unknown channel {channel!r}." if channel
                             else "A channel is required with inline content.")
    elif template is not None and template.channel != channel:
        errors["channel"] = f"The template is for the {template.channel} channel."
    if request.content is not None and "channel" not in errors:
        errors.update(_content_errors(channel, request.content))
    profile, address = None, request.address.strip()
    if request.profile:
        try:
            profile = profile_by_reference(reference=request.profile)
        except Profile.DoesNotExist:
            errors["profile"] = f"Unknown profile {request.profile!r}."
        except AmbiguousReference:
            errors["profile"] = (f"{request.profile!r} is one profile's id and another's "
                                 "external_id.")
    elif not address:
        errors["profile"] = "Give a profile (id or external_id) or an address."
    if address and "channel" not in errors:
        if channel == Channel.EMAIL and not email_is_valid(address):
            errors["address"] = "Not a valid email address."
        elif channel == Channel.SMS and not phone_is_valid(address):
            errors["address"] = "Not a phone number in E.164 form, e.g. +33612345678."
    if errors:
        raise MessageError(errors)
    if profile is not None and not address:
        address = _profile_address(profile, channel)
    return Delivery(
        profile=profile, channel=channel, address=address, kind=MessageKind.TRANSACTIONAL,
        status=DeliveryStatus.QUEUED,
        template_revision=template_revision_current(template=template) if template else None,
    )


def _content_errors(channel: str, content: dict[str, Any]) -> dict[str, str]:
    if not isinstance(content, dict):
        return {"content": "An object of the channel's fields."}
    errors: dict[str, str] = {}
    for names in REQUIRED_CONTENT[channel]:
        if not any(isinstance(content.get(n), str) and content[n].strip() for n in names):
            errors[f"content.{names[0]}"] = f"Required: {' or '.join(names)}."
    for name, source in content.items():
        if isinstance(source, str):
            try:
                check_template(source, html=(channel == Channel.EMAIL and name == "html"))
            except ValueError as exc:
                errors[f"content.{name}"] = str(exc)
    return errors


def _profile_address(profile: Profile, channel: str) -> str:
    if channel == Channel.EMAIL:
        return profile.email
    if channel == Channel.SMS:
        return profile.phone
    if channel == Channel.PUSH:
        newest = PushSubscription.objects.filter(profile=profile).order_by("-id").first()
        return newest.token if newest else ""
    if channel == Channel.MAIL:
        return profile.full_name
    return ""


# --- reading deliveries ------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryQuery:
    campaign: int | None = None
    channel: str = ""
    status: str = ""
    reason: str = ""
    since: datetime | None = None
    until: datetime | None = None
    profile: str = ""


def deliveries_query(*, query: DeliveryQuery) -> QuerySet[Delivery]:
    """Deliveries matching every given filter (newest first). Raises MessageError for a
    filter value that names nothing (an unknown channel, status, reason or profile)."""
    errors: dict[str, str] = {}
    for name, choices in (("channel", Channel.values), ("status", DeliveryStatus.values),
                          ("reason", Reason.values)):
        value = getattr(query, name)
        if value and value not in choices:
            errors[name] = f"Unknown {name} {value!r}: use one of {', '.join(choices)}."
    rows = Delivery.objects.select_related("campaign_step").order_by("-id")
    if query.profile:
        try:
            rows = rows.filter(profile=profile_by_reference(reference=query.profile))
        except (Profile.DoesNotExist, AmbiguousReference):
            errors["profile"] = f"Unknown or ambiguous profile {query.profile!r}."
    if errors:
        raise MessageError(errors)
    if query.campaign is not None:
        rows = rows.filter(campaign_step__campaign_id=query.campaign)
    for name in ("channel", "status", "reason"):
        if getattr(query, name):
            rows = rows.filter(**{name: getattr(query, name)})
    if query.since:
        rows = rows.filter(created_at__gte=query.since)
    if query.until:
        rows = rows.filter(created_at__lt=query.until)
    return rows
