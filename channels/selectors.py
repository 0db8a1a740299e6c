"""Reads of deliveries and their logs."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from channels.models import DeliveryStatus


def delivery_counts(*, deliveries: QuerySet) -> dict[str, int]:
    """Counts by status (every status present, zero when none), plus the total."""
    rows = deliveries.order_by().values("status").annotate(n=Count("id"))
    counts = {status: 0 for status in DeliveryStatus.values}
    for row in rows:
        counts[row["status"]] = row["n"]
    counts["total"] = sum(counts[s] for s in DeliveryStatus.values)
    return counts
