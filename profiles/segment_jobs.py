"""The daily count snapshot of every segment (its count history), run by config/cron.py."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from django.db import DatabaseError, transaction
from django.utils import timezone

from profiles.audiences import segment_audience
from profiles.models import Segment, SegmentCountSnapshot
from profiles.rules.schema import RuleError

logger = logging.getLogger(__name__)


def snapshot_segment_counts(now: datetime | None = None) -> dict[str, int]:
    """One snapshot per segment per (UTC) day: a second run the same day updates the count."""
    now = now or timezone.now()
    day = now.astimezone(UTC).date()
    taken = failed = 0
    for segment in Segment.objects.order_by("pk").iterator():
        if _snapshot(segment, day, now):
            taken += 1
        else:
            failed += 1
    return {"taken": taken, "failed": failed}


def _snapshot(segment: Segment, day: date, now: datetime) -> bool:
    try:
        # One segment's rules gone stale (an attribute undeclared since) must not cost the
        # others their snapshot; the savepoint keeps the connection usable after a failure.
        with transaction.atomic():
            count = segment_audience(segment, now=now).count()
            SegmentCountSnapshot.objects.update_or_create(
                segment=segment, day=day, defaults={"count": count}
            )
    except (RuleError, DatabaseError):
        logger.exception("No count snapshot for segment %s", segment.pk)
        return False
    return True
