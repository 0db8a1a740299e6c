"""A segment's count history (its daily snapshots), drawn as a small server-side SVG chart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from profiles.models import Segment, SegmentCountSnapshot

WIDTH, HEIGHT, GAP = 600, 120, 2


@dataclass(frozen=True)
class Bar:
    day: date
    count: int | None
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class History:
    bars: list[Bar]
    highest: int
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def has_data(self) -> bool:
        return any(bar.count is not None for bar in self.bars)

    @property
    def snapshots(self) -> list[Bar]:
        """Days with a snapshot, newest first (the table under the chart)."""
        return [bar for bar in reversed(self.bars) if bar.count is not None]


def count_history(*, segment: Segment, days: int = 30, now: datetime | None = None) -> History:
    today = (now or timezone.now()).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    counts = dict(
        SegmentCountSnapshot.objects.filter(segment=segment, day__gte=first, day__lte=today)
        .values_list("day", "count")
    )
    highest = max(counts.values(), default=0)
    step = WIDTH / days
    bars = []
    for i in range(days):
        day = first + timedelta(days=i)
        count = counts.get(day)
        # A day without a snapshot draws no bar; a zero count draws a hairline.
        height = 0.0 if count is None else max(HEIGHT * count / highest if highest else 0, 1)
        bars.append(Bar(day=day, count=count, x=round(i * step + GAP / 2, 2),
                        y=round(HEIGHT - height, 2), width=round(step - GAP, 2),
                        height=round(height, 2)))
    return History(bars=bars, highest=highest)


def segments_with_last_count() -> QuerySet[Segment]:
    """Every segment with its latest snapshot (last_count, last_day), for the list page: a
    live count per row would run every segment's query on each visit."""
    latest = SegmentCountSnapshot.objects.filter(segment=OuterRef("pk")).order_by("-day")
    return Segment.objects.annotate(
        last_count=Subquery(latest.values("count")[:1]),
        last_day=Subquery(latest.values("day")[:1]),
    ).order_by("name")
