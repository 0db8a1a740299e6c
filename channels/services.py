"""Delivery writes: claim queued deliveries, materialize a batch of journey messages, and the
email-only entry point kept for its callers. Sending itself is channels.sending (policy,
render, backend, set-based recording), re-exported here under its historical names.

Claims are conditional updates under SKIP LOCKED, so two workers never send the same delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from channels.backends.base import EmailContent
from channels.models import Channel, Delivery, DeliveryStatus, MessageKind, Reason
from channels.sending import (  # noqa: F401 — the public names other code imports from here
    INTERRUPTED,
    Outcome,
    deliveries_fail_interrupted,
    deliveries_record,
    deliveries_release_due,
    delivery_message_id,
    send_claimed,
)

NO_EMAIL = "The profile has no email address."
NO_ADDRESS = "The profile has no address on this channel."


def deliveries_claim(
    *, limit: int, campaign_step_id: int | None = None, ids: Sequence[int] | None = None,
    channel: str | None = None,
) -> list[Delivery]:
    """Move up to `limit` queued deliveries to `sending` and return them (profile loaded).

    With `campaign_step_id`, that step's; otherwise deliveries outside campaigns
    (transactional, proofs), optionally only `ids` and only one `channel`.
    """
    now = timezone.now()
    queued = Delivery.objects.select_for_update(skip_locked=True).filter(
        status=DeliveryStatus.QUEUED
    )
    if campaign_step_id is not None:
        queued = queued.filter(campaign_step_id=campaign_step_id)
    else:
        queued = queued.filter(campaign_step__isnull=True)
    if ids is not None:
        queued = queued.filter(id__in=list(ids))
    if channel is not None:
        queued = queued.filter(channel=channel)
    with transaction.atomic():
        claimed = list(queued.order_by("id").values_list("id", flat=True)[:limit])
        if not claimed:
            return []
        Delivery.objects.filter(id__in=claimed).update(
            status=DeliveryStatus.SENDING, claimed_at=now, updated_at=now
        )
    return list(Delivery.objects.filter(id__in=claimed).select_related("profile").order_by("id"))


def email_send_batch(
    *, deliveries: Sequence[Delivery], render: Callable[[Delivery], EmailContent]
) -> list[Outcome]:
    """Send claimed email deliveries through the generic pipeline (policy included)."""

    def renderer(delivery: Delivery) -> dict:
        content = render(delivery)
        return {"subject": content.subject, "html": content.html, "text": content.text,
                "headers": dict(content.headers), "from_email": settings.DEFAULT_FROM_EMAIL}

    return send_claimed(deliveries=deliveries, renderer=renderer)


@dataclass(frozen=True)
class EnrollmentSend:
    """One message a journey decided: which walk (enrollment), which step, to whom, how."""

    enrollment_id: int
    step_id: int
    profile_id: int
    channel: str = Channel.EMAIL
    kind: str = MessageKind.MARKETING
    template_revision_id: int | None = None
    fixed_address: str = ""  # a webhook's URL


def deliveries_create_for_enrollments(
    *, sends: Sequence[EnrollmentSend], now=None,
) -> list[tuple[int, int, str]]:
    """Materialize a batch of journey messages in one INSERT … SELECT, with their first log
    rows, and return (delivery id, campaign step id, status) of those created.

    The address is read from the profile for its channel (email, phone, the newest push
    token, the postal name; `fixed_address` for a webhook's URL); a profile without one gets
    a skipped delivery (missing_address). `kind` is the template's (a transactional template
    stays exempt from marketing rules in a journey). Unique per (enrollment, step): a
    replayed batch creates nothing.
    """
    if not sends:
        return []
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH wanted AS (
                SELECT w.*, CASE w.channel
                    WHEN 'email' THEN p.email
                    WHEN 'sms' THEN p.phone
                    WHEN 'push' THEN coalesce((SELECT s.token FROM profiles_pushsubscription s
                                                WHERE s.profile_id = p.id
                                                ORDER BY s.id DESC LIMIT 1), '')
                    WHEN 'mail' THEN trim(p.first_name || ' ' || p.last_name)
                    ELSE w.fixed END AS address
                  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[],
                              %s::bigint[], %s::text[])
                       AS w(enrollment_id, step_id, profile_id, channel, kind, revision, fixed)
                  JOIN profiles_profile AS p ON p.id = w.profile_id
            ), inserted AS (
                INSERT INTO channels_delivery
                       (profile_id, campaign_step_id, enrollment_id, channel, kind, address,
                        status, reason, template_revision_id, provider_message_id, error,
                        created_at, updated_at)
                SELECT profile_id, step_id, enrollment_id, channel, kind, address,
                       CASE WHEN address = '' THEN 'skipped' ELSE 'queued' END,
                       CASE WHEN address = '' THEN %s ELSE '' END, revision, '',
                       CASE WHEN address = '' AND channel = 'email' THEN %s
                            WHEN address = '' THEN %s ELSE '' END, %s, %s
                  FROM wanted
                ON CONFLICT DO NOTHING
                RETURNING id, campaign_step_id, status, error
            ), logged AS (
                INSERT INTO channels_deliveryevent (delivery_id, status, occurred_at, detail)
                SELECT id, status, %s, error FROM inserted
            )
            SELECT id, campaign_step_id, status FROM inserted ORDER BY id
            """,
            [[s.enrollment_id for s in sends], [s.step_id for s in sends],
             [s.profile_id for s in sends], [str(s.channel) for s in sends],
             [str(s.kind) for s in sends], [s.template_revision_id for s in sends],
             [s.fixed_address for s in sends],
             Reason.MISSING_ADDRESS.value, NO_EMAIL, NO_ADDRESS, now, now, now],
        )
        return cursor.fetchall()
