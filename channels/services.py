"""The delivery pipeline: claim queued deliveries, send them, record every outcome.

Every status change writes the Delivery row and its DeliveryEvent in one transaction, so a
delivery is never half-recorded. Claims are conditional updates under SKIP LOCKED, so two
workers never send the same delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from channels.backends.base import DeliveryError, EmailContent, OutboundEmail
from channels.backends.email import EmailSender
from channels.models import Delivery, DeliveryEvent, DeliveryStatus
from profiles.models import Profile

log = logging.getLogger(__name__)

NO_EMAIL = "The profile has no email address."
INTERRUPTED = (
    "The worker stopped while sending this batch; the message may or may not have left, "
    "so it is not resent automatically (that could send it twice)."
)


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    status: str
    provider_message_id: str = ""
    error: str = ""


def deliveries_claim(*, campaign_step_id: int, limit: int) -> list[Delivery]:
    """Move up to `limit` queued deliveries of a step to `sending` and return them."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(campaign_step_id=campaign_step_id, status=DeliveryStatus.QUEUED)
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        Delivery.objects.filter(id__in=ids).update(
            status=DeliveryStatus.SENDING, claimed_at=now, updated_at=now
        )
    return list(Delivery.objects.filter(id__in=ids).select_related("profile").order_by("id"))


def email_send_batch(
    *, deliveries: Sequence[Delivery], render: Callable[[Delivery], EmailContent]
) -> list[Outcome]:
    """Send claimed email deliveries over one connection and record each outcome."""
    outcomes: list[Outcome] = []
    try:
        with EmailSender() as sender:
            for delivery in deliveries:
                outcomes.append(_send_one(sender, delivery, render))
    except DeliveryError as exc:
        # The server was unreachable: everything not yet attempted fails with the reason.
        done = {o.delivery_id for o in outcomes}
        outcomes += [
            Outcome(d.id, DeliveryStatus.FAILED, error=str(exc))
            for d in deliveries
            if d.id not in done
        ]
    finally:
        deliveries_record(outcomes)
    return outcomes


def _send_one(sender: EmailSender, delivery: Delivery, render) -> Outcome:
    try:
        content = render(delivery)
    except Exception as exc:  # A template that fails for this profile fails only this message.
        log.warning("render failed for delivery %s: %s", delivery.id, exc)
        return Outcome(delivery.id, DeliveryStatus.FAILED, error=f"Template error: {exc}")
    email = OutboundEmail(
        delivery_id=delivery.id,
        to=delivery.address,
        content=content,
        from_email=settings.DEFAULT_FROM_EMAIL,
        message_id=delivery_message_id(delivery.id),
    )
    try:
        return Outcome(delivery.id, DeliveryStatus.SENT, provider_message_id=sender.send(email))
    except DeliveryError as exc:
        return Outcome(delivery.id, DeliveryStatus.FAILED, error=str(exc))


def delivery_message_id(delivery_id: int) -> str:
    """A stable Message-ID: a resend of the same delivery is recognisable downstream."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "itinera.local"
    return f"<delivery-{delivery_id}@{domain}>"


def deliveries_record(outcomes: Sequence[Outcome]) -> None:
    """Apply outcomes to deliveries still in `sending`, with one log row each."""
    if not outcomes:
        return
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE channels_delivery AS d
               SET status = o.status, provider_message_id = o.message_id, error = o.error,
                   sent_at = CASE WHEN o.status = 'sent' THEN %s ELSE d.sent_at END,
                   updated_at = %s
              FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[])
                   AS o(id, status, message_id, error)
             WHERE d.id = o.id AND d.status = 'sending'
         RETURNING d.id
            """,
            [
                now,
                now,
                [o.delivery_id for o in outcomes],
                [o.status for o in outcomes],
                [o.provider_message_id for o in outcomes],
                [o.error for o in outcomes],
            ],
        )
        applied = {row[0] for row in cursor.fetchall()}
        DeliveryEvent.objects.bulk_create(
            DeliveryEvent(
                delivery_id=o.delivery_id, status=o.status, occurred_at=now, detail=o.error
            )
            for o in outcomes
            if o.delivery_id in applied
        )


def deliveries_fail_interrupted(*, older_than: timedelta | None = None) -> int:
    """Close deliveries stuck in `sending` by a worker that died; return how many."""
    lease = older_than or timedelta(seconds=settings.SEND_LEASE_SECONDS)
    stale = Delivery.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lt=timezone.now() - lease
    ).values_list("id", flat=True)[:10_000]
    outcomes = [Outcome(pk, DeliveryStatus.FAILED, error=INTERRUPTED) for pk in stale]
    deliveries_record(outcomes)
    return len(outcomes)


def deliveries_create_for_audience(
    *, campaign_step_id: int, members, chunk_size: int | None = None
) -> int:
    """Materialize one email delivery per member, set-based, with its first log row.

    `members` is a Profile queryset (e.g. a compiled segment); it runs inside PostgreSQL as
    INSERT … SELECT in profile-id ranges, so memory stays flat however large the audience.
    Profiles without an email are recorded as skipped. Re-running is a no-op (unique step +
    profile). Returns the number of deliveries created.
    """
    chunk = chunk_size or settings.LAUNCH_CHUNK_SIZE
    bounds = Profile.objects.aggregate(lo=models.Min("id"), hi=models.Max("id"))
    if bounds["lo"] is None:
        return 0
    created = 0
    for start in range(bounds["lo"], bounds["hi"] + 1, chunk):
        window = members.filter(id__gte=start, id__lt=start + chunk).values_list("id", "email")
        created += _insert_deliveries(campaign_step_id, window)
    return created


def _insert_deliveries(campaign_step_id: int, window) -> int:
    select_sql, select_params = window.query.sql_with_params()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH member(id, email) AS ({select_sql}),
            inserted AS (
                INSERT INTO channels_delivery
                       (profile_id, campaign_step_id, channel, address, status,
                        provider_message_id, error, created_at, updated_at)
                SELECT id, %s, 'email', email,
                       CASE WHEN email = '' THEN 'skipped' ELSE 'queued' END,
                       '', CASE WHEN email = '' THEN %s ELSE '' END, %s, %s
                  FROM member
                ON CONFLICT (campaign_step_id, profile_id) DO NOTHING
                RETURNING id, status, error
            )
            INSERT INTO channels_deliveryevent (delivery_id, status, occurred_at, detail)
            SELECT id, status, %s, error FROM inserted
            """,  # noqa: S608 — the only interpolated text is SQL Django compiled, values are bound
            [*select_params, campaign_step_id, NO_EMAIL, now, now, now],
        )
        return cursor.rowcount
