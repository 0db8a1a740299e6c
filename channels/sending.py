"""The generic sending pipeline: a claimed batch in, every outcome recorded.

    send_claimed(deliveries=claimed, renderer=render)

For a batch claimed by `channels.services.deliveries_claim` (status `sending`):
1. the delivery policy (channels.policy.evaluate) decides send / skip / defer for the whole
   batch, set-based;
2. each allowed message is rendered by `renderer(delivery) -> content dict` (the caller
   compiles its templates once per batch); a render error fails only that message
   (reason template_error);
3. the channel's backend is opened once per batch and channel, and sends message by message
   (no faster than settings.SEND_RATE_LIMITS allows the channel, across workers);
   a retryable provider error defers the delivery with exponential backoff
   (SEND_RETRY_BASE_SECONDS × 2^(attempt-1), or the provider's Retry-After if longer) until
   SEND_MAX_ATTEMPTS, then fails it (provider_error); a permanent one fails it at once;
4. every outcome is recorded in one UPDATE … FROM unnest plus one DeliveryEvent insert;
5. the after-batch hooks (channels.hooks) see the recorded outcomes, e.g. campaigns pausing a
   campaign whose provider keeps failing.

A delivery left in `sending` by a worker that died becomes `unknown` (reason interrupted):
the message may or may not have left, so it is listed for an operator and never resent.
Deferred deliveries go back to `queued` when due (`deliveries_release_due`, from the sweep).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from channels import hooks, policy
from channels.backends.base import DeliveryError, Outbound, ProviderError, get_backend
from channels.models import Channel, Delivery, DeliveryEvent, DeliveryStatus, Reason
from channels.throttle import rate_limiter

log = logging.getLogger(__name__)

INTERRUPTED = (
    "The worker stopped while sending this batch; the message may or may not have left, "
    "so it is not resent automatically (that could send it twice)."
)

Renderer = Callable[[Delivery], dict]


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    status: str
    provider_message_id: str = ""
    error: str = ""
    reason: str = ""
    next_attempt_at: datetime | None = None
    attempted: bool = False  # reached the provider: counts toward SEND_MAX_ATTEMPTS


def send_claimed(
    *, deliveries: Sequence[Delivery], renderer: Renderer, now: datetime | None = None
) -> list[Outcome]:
    """Decide, render, send and record a claimed batch; return its outcomes."""
    if not deliveries:
        return []
    now = now or timezone.now()
    outcomes: list[Outcome] = []
    try:
        verdicts = policy.evaluate(deliveries, now)
        by_channel: dict[str, list[Outbound]] = {}
        for delivery in deliveries:
            verdict = verdicts[delivery.id]
            if verdict.action == policy.SKIP:
                outcomes.append(Outcome(delivery.id, DeliveryStatus.SKIPPED, reason=verdict.reason,
                                        error=Reason(verdict.reason).label))
            elif verdict.action == policy.DEFER:
                outcomes.append(Outcome(
                    delivery.id, DeliveryStatus.DEFERRED, reason=verdict.reason,
                    next_attempt_at=verdict.until,
                    error=f"{Reason(verdict.reason).label} until {verdict.until:%Y-%m-%d %H:%M}Z",
                ))
            else:
                message = _render(delivery, renderer)
                if isinstance(message, Outcome):
                    outcomes.append(message)
                else:
                    by_channel.setdefault(delivery.channel, []).append(message)
        attempts = {d.id: d.attempts for d in deliveries}
        for channel, messages in by_channel.items():
            _transmit(channel, messages, attempts, now, outcomes)
    finally:
        # Whatever happened, what is known is recorded; the rest stays `sending` and the
        # sweep marks it unknown (never resent blindly).
        deliveries_record(outcomes, now=now)
    step_of = {d.id: d.campaign_step_id for d in deliveries if d.campaign_step_id is not None}
    hooks.after_batch(hooks.SentBatch(outcomes=outcomes, step_of=step_of))
    return outcomes


def _render(delivery: Delivery, renderer: Renderer) -> Outbound | Outcome:
    try:
        content = renderer(delivery)
    except Exception as exc:  # A template that fails for this profile fails only this message.
        log.warning("render failed for delivery %s: %s", delivery.id, exc)
        return Outcome(delivery.id, DeliveryStatus.FAILED, reason=Reason.TEMPLATE_ERROR,
                       error=f"Template error: {exc}")
    return Outbound(delivery_id=delivery.id, channel=delivery.channel, address=delivery.address,
                    content=content, message_id=delivery_message_id(delivery.id, delivery.channel))


def _transmit(channel: str, messages: list[Outbound], attempts: dict[int, int], now: datetime,
              outcomes: list[Outcome]) -> None:
    done: set[int] = set()
    throttled: ProviderError | None = None
    limiter = rate_limiter(channel)
    try:
        try:
            backend = get_backend(channel)
        except ImportError as exc:
            raise DeliveryError(f"The {channel} backend cannot be loaded: {exc}",
                                permanent=True) from exc
        with backend:
            for message in messages:
                if throttled is not None:
                    break
                if limiter is not None:
                    limiter.wait()
                try:
                    provider_id = backend.send(message)
                except DeliveryError as exc:
                    outcomes.append(_failure(message.delivery_id, exc, attempts, now))
                    if isinstance(exc, ProviderError) and exc.retry_after:
                        throttled = exc  # the provider asked us to slow down: stop this batch
                else:
                    outcomes.append(Outcome(message.delivery_id, DeliveryStatus.SENT,
                                            provider_message_id=provider_id, attempted=True))
                done.add(message.delivery_id)
    except DeliveryError as exc:
        # The provider could not be reached (or the backend opened): every message not yet
        # attempted shares the failure, retryable or not.
        for message in messages:
            if message.delivery_id not in done:
                outcomes.append(_failure(message.delivery_id, exc, attempts, now))
                done.add(message.delivery_id)
    if throttled is not None:
        until = now + timedelta(seconds=throttled.retry_after)
        outcomes.extend(
            Outcome(m.delivery_id, DeliveryStatus.DEFERRED, reason=Reason.PROVIDER_THROTTLED,
                    next_attempt_at=until, error=f"Provider throttled: {throttled}")
            for m in messages if m.delivery_id not in done
        )


def _failure(delivery_id: int, exc: DeliveryError, attempts: dict[int, int],
             now: datetime) -> Outcome:
    attempt = attempts.get(delivery_id, 0) + 1
    if exc.permanent or attempt >= settings.SEND_MAX_ATTEMPTS:
        return Outcome(delivery_id, DeliveryStatus.FAILED, reason=Reason.PROVIDER_ERROR,
                       error=str(exc), attempted=True)
    wait = retry_delay(attempt)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        wait = max(wait, timedelta(seconds=retry_after))
    reason = Reason.PROVIDER_THROTTLED if retry_after else Reason.PROVIDER_ERROR
    return Outcome(delivery_id, DeliveryStatus.DEFERRED, reason=reason, error=str(exc),
                   next_attempt_at=now + wait, attempted=True)


def retry_delay(attempt: int) -> timedelta:
    """Exponential backoff after the attempt-th failed attempt (1-based)."""
    return timedelta(seconds=settings.SEND_RETRY_BASE_SECONDS * 2 ** (attempt - 1))


def delivery_message_id(delivery_id: int, channel: str = Channel.EMAIL) -> str:
    """A stable message id: a resend of the same delivery is recognisable downstream."""
    if channel != Channel.EMAIL:
        return f"itinera-delivery-{delivery_id}"
    return f"<delivery-{delivery_id}@{_message_id_domain(settings.DEFAULT_FROM_EMAIL)}>"


@lru_cache(maxsize=4)
def _message_id_domain(from_email: str) -> str:
    # Parsed once per sender, not once per message (parseaddr is slow in a 200-message batch).
    return parseaddr(from_email)[1].rpartition("@")[2] or "itinera.local"


def deliveries_record(outcomes: Sequence[Outcome], *, now: datetime | None = None) -> None:
    """Apply outcomes to deliveries still in `sending`, with one log row each: one UPDATE
    and one INSERT whatever the batch size."""
    if not outcomes:
        return
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE channels_delivery AS d
               SET status = o.status, reason = o.reason, provider_message_id = o.message_id,
                   error = o.error, next_attempt_at = o.next_attempt_at,
                   attempts = d.attempts + o.attempted::int,
                   sent_at = CASE WHEN o.status = 'sent' THEN %s ELSE d.sent_at END,
                   updated_at = %s
              FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[],
                          %s::timestamptz[], %s::boolean[])
                   AS o(id, status, reason, message_id, error, next_attempt_at, attempted)
             WHERE d.id = o.id AND d.status = 'sending'
         RETURNING d.id
            """,
            [
                now,
                now,
                [o.delivery_id for o in outcomes],
                [str(o.status) for o in outcomes],
                [str(o.reason) for o in outcomes],
                [o.provider_message_id for o in outcomes],
                [o.error for o in outcomes],
                [o.next_attempt_at for o in outcomes],
                [o.attempted for o in outcomes],
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
    """Deliveries stuck in `sending` past the lease belong to a worker that died mid-batch:
    they become `unknown` (reason interrupted), listed for an operator, never resent.
    Returns how many."""
    lease = older_than or timedelta(seconds=settings.SEND_LEASE_SECONDS)
    stale = Delivery.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lt=timezone.now() - lease
    ).values_list("id", flat=True)[:10_000]
    outcomes = [
        Outcome(pk, DeliveryStatus.UNKNOWN, reason=Reason.INTERRUPTED, error=INTERRUPTED)
        for pk in stale
    ]
    deliveries_record(outcomes)
    return len(outcomes)


def deliveries_release_due(*, now: datetime | None = None, limit: int = 50_000) -> int:
    """Deferred deliveries whose next attempt is due go back to `queued` (one statement);
    the caller nudges their senders. Returns how many were released."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH due AS (
                SELECT id FROM channels_delivery
                 WHERE status = 'deferred' AND next_attempt_at <= %s
                 ORDER BY next_attempt_at
                 LIMIT %s
                   FOR UPDATE SKIP LOCKED
            ), released AS (
                UPDATE channels_delivery AS d
                   SET status = 'queued', next_attempt_at = NULL, updated_at = %s
                  FROM due WHERE d.id = due.id AND d.status = 'deferred'
             RETURNING d.id
            )
            INSERT INTO channels_deliveryevent (delivery_id, status, occurred_at, detail)
            SELECT id, 'queued', %s, 'Due again after a deferral.' FROM released
            """,
            [now, limit, now, now],
        )
        return cursor.rowcount
