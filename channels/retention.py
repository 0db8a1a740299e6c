"""Delivery log retention: deliveries older than DELIVERY_RETENTION_DAYS go, with their
status log (DeliveryEvent rows); 0 keeps everything.

    deliveries_purge()   # the daily job (channels.jobs.purge_expired_deliveries)

Only deliveries whose sending is over are deleted: one still queued, deferred or being sent
is work in progress, whatever its age. The purge walks the table in id order, CHUNK ids per
statement, each chunk its own short transaction (events and deliveries deleted together), so
it never holds many locks for long and a crash loses nothing but the chunk in flight. Rows a
worker holds locked are skipped (SKIP LOCKED): the next day's run takes them. Reports read
their hourly rollups, which deleting old rows does not change.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from channels.models import DeliveryStatus

CHUNK = 10_000
IN_PROGRESS = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING)


def retention_cutoff(now: datetime | None = None) -> datetime | None:
    """Deliveries created before this are expired; None when retention is off."""
    days = settings.DELIVERY_RETENTION_DAYS
    if days <= 0:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def deliveries_purge(*, now: datetime | None = None, chunk: int = CHUNK) -> int:
    """Delete expired deliveries and their status logs; return how many deliveries went."""
    cutoff = retention_cutoff(now)
    if cutoff is None:
        return 0
    with connection.cursor() as cursor:
        # The newest expired id bounds the walk: past it, no row is old enough (ids grow with
        # created_at), so the last chunk never scans the young part of the table.
        cursor.execute(
            "SELECT max(id) FROM channels_delivery WHERE created_at < %s", [cutoff]
        )
        last = cursor.fetchone()[0]
    if last is None:
        return 0
    deleted, after = 0, 0
    while True:
        ids = _purge_chunk(after=after, last=last, cutoff=cutoff, chunk=chunk)
        deleted += len(ids)
        if len(ids) < chunk:
            return deleted
        after = ids[-1]


def _purge_chunk(*, after: int, last: int, cutoff: datetime, chunk: int) -> list[int]:
    """Delete the next `chunk` expired, finished deliveries after id `after` (and their
    status logs), in one transaction; return their ids in order."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id FROM channels_delivery
             WHERE id > %s AND id <= %s AND created_at < %s AND status <> ALL(%s)
             ORDER BY id LIMIT %s
               FOR UPDATE SKIP LOCKED
            """,
            [after, last, cutoff, [str(s) for s in IN_PROGRESS], chunk],
        )
        ids = [row[0] for row in cursor.fetchall()]
        if ids:
            cursor.execute("DELETE FROM channels_deliveryevent WHERE delivery_id = ANY(%s)",
                           [ids])
            cursor.execute("DELETE FROM channels_delivery WHERE id = ANY(%s)", [ids])
        return ids
