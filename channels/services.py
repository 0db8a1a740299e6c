"""Delivery writes: claim queued deliveries, materialize a campaign step's audience, and the
email-only entry point kept for its callers. Sending itself is channels.sending (policy,
render, backend, set-based recording), re-exported here under its historical names.

Claims are conditional updates under SKIP LOCKED, so two workers never send the same delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import connection, models, transaction
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
from profiles.models import Profile

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


ANALYZE_AFTER_ROWS = 50_000


def deliveries_create_for_audience(
    *, campaign_step_id: int, members, chunk_size: int | None = None,
    channel: str = Channel.EMAIL, template_revision_id: int | None = None,
    fixed_address: str = "", kind: str = MessageKind.MARKETING,
) -> int:
    """Materialize one delivery per member, set-based, with its first log row.

    `members` is a Profile queryset (e.g. a compiled segment); it runs inside PostgreSQL as
    INSERT … SELECT in profile-id ranges, so memory stays flat however large the audience.
    The address is the channel's (email, phone, the newest push token, the postal name;
    `fixed_address` for a webhook's URL). Members without one are recorded as skipped
    (missing_address). `kind` is the template's (a transactional template stays exempt from
    marketing rules in a journey). Re-running is a no-op (unique step + profile). Returns the
    number of deliveries created.
    """
    chunk = chunk_size or settings.LAUNCH_CHUNK_SIZE
    bounds = Profile.objects.aggregate(lo=models.Min("id"), hi=models.Max("id"))
    if bounds["lo"] is None:
        return 0
    address = _address_expression(channel, fixed_address)
    created = 0
    for start in range(bounds["lo"], bounds["hi"] + 1, chunk):
        window = (
            members.filter(id__gte=start, id__lt=start + chunk)
            .annotate(delivery_address=address).values_list("id", "delivery_address")
        )
        created += _insert_deliveries(campaign_step_id, window, channel, template_revision_id,
                                      kind)
    if created >= ANALYZE_AFTER_ROWS:
        # Fresh statistics, or the planner believes the step has a handful of queued rows
        # and the claims scan them all.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE channels_delivery")
    return created


def _address_expression(channel: str, fixed_address: str):
    from django.db.models import CharField, F, OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce, Concat, Trim

    from profiles.models import PushSubscription

    if channel == Channel.EMAIL:
        return F("email")
    if channel == Channel.SMS:
        return F("phone")
    if channel == Channel.PUSH:
        newest = PushSubscription.objects.filter(profile=OuterRef("pk")).order_by("-id")
        return Coalesce(Subquery(newest.values("token")[:1]), Value(""),
                        output_field=CharField())
    if channel == Channel.MAIL:
        return Trim(Concat("first_name", Value(" "), "last_name", output_field=CharField()))
    return Value(fixed_address, output_field=CharField())


def _insert_deliveries(campaign_step_id: int, window, channel: str,
                       template_revision_id: int | None, kind: str) -> int:
    select_sql, select_params = window.query.sql_with_params()
    now = timezone.now()
    missing = NO_EMAIL if channel == Channel.EMAIL else NO_ADDRESS
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH member(id, address) AS ({select_sql}),
            inserted AS (
                INSERT INTO channels_delivery
                       (profile_id, campaign_step_id, channel, kind, address, status, reason,
                        template_revision_id, provider_message_id, error, created_at,
                        updated_at)
                SELECT id, %s, %s, %s, address,
                       CASE WHEN address = '' THEN 'skipped' ELSE 'queued' END,
                       CASE WHEN address = '' THEN %s ELSE '' END, %s,
                       '', CASE WHEN address = '' THEN %s ELSE '' END, %s, %s
                  FROM member
                ON CONFLICT DO NOTHING
                RETURNING id, status, error
            )
            INSERT INTO channels_deliveryevent (delivery_id, status, occurred_at, detail)
            SELECT id, status, %s, error FROM inserted
            """,  # noqa: S608 — the only interpolated text is SQL Django compiled, values are bound
            [*select_params, campaign_step_id, channel, kind, Reason.MISSING_ADDRESS.value,
             template_revision_id, missing, now, now, now],
        )
        return cursor.rowcount
