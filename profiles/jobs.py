"""RQ jobs of the profiles app: thin callers of services, registered in config/cron.py."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from profiles.partitions import (
    drop_expired_event_partitions,
    ensure_event_partitions,
    retention_horizon,
)

RECEIPT_DELETE_CHUNK = 50_000


def maintain_event_partitions(now: datetime | None = None) -> dict[str, object]:
    """Daily: partitions from the retention horizon to a few months ahead exist, whole
    months past the horizon are dropped, and receipts that can no longer match go."""
    now = now or timezone.now()
    with transaction.atomic():
        created = ensure_event_partitions(now=now)
    with transaction.atomic():
        dropped = drop_expired_event_partitions(now=now)
    receipts = event_receipts_delete_expired(now=now)
    return {"created": created, "dropped": dropped, "receipts_deleted": receipts}


def event_receipts_delete_expired(*, now: datetime | None = None) -> int:
    """Delete receipts of events older than the retention horizon, in chunks.

    By received_at (indexed): an event is received at most EVENT_MAX_FUTURE_SECONDS before it
    occurs, so a receipt received that long before the horizon is of an event past it — one a
    resend could not bring back, since ingestion refuses it.
    """
    cutoff = retention_horizon(now) - timedelta(seconds=settings.EVENT_MAX_FUTURE_SECONDS)
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                DELETE FROM profiles_eventreceipt WHERE id IN (
                    SELECT id FROM profiles_eventreceipt WHERE received_at < %s LIMIT %s
                )
                """,
                [cutoff, RECEIPT_DELETE_CHUNK],
            )
            deleted = cursor.rowcount
        total += deleted
        if deleted < RECEIPT_DELETE_CHUNK:
            return total
