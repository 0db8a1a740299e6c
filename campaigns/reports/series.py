"""Time buckets for report charts: hourly for the first days of a campaign, daily after.

Pure: takes hourly counts and returns the points to draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

HOURLY_FOR = timedelta(days=3)
MAX_DAYS = 120  # a chart of a long-running journey shows its last 120 days


def buckets(
    hourly: Mapping[datetime, Mapping[str, int]], *, metrics: tuple[str, ...],
    start: datetime | None, end: datetime,
) -> list[dict]:
    """Points from `start` (the campaign's first hour) to `end`: one per hour while within
    HOURLY_FOR of the start, then one per UTC day. Empty buckets are zeros (a chart with
    gaps reads as "no data", not "nothing happened")."""
    if start is None:
        return []
    start = start.replace(minute=0, second=0, microsecond=0)
    end = end.replace(minute=0, second=0, microsecond=0)
    switch = start + HOURLY_FOR
    points: dict[datetime, dict] = {}
    at = start
    while at <= min(end, switch - timedelta(hours=1)):
        points[at] = _empty(at, "hour", metrics)
        at += timedelta(hours=1)
    if end >= switch:
        # The first daily bucket starts at the switch (the rest of that day), so the points
        # stay in time order.
        day = max(switch, _day(end) - timedelta(days=MAX_DAYS))
        while day <= end:
            points[day] = _empty(day, "day", metrics)
            day = _day(day) + timedelta(days=1)
    for hour, counts in hourly.items():
        key = hour if hour < switch else max(_day(hour), switch)
        point = points.get(key)
        if point is None:
            continue
        for metric in metrics:
            point[metric] += counts.get(metric, 0)
    return [points[key] for key in sorted(points)]


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _empty(at: datetime, unit: str, metrics: tuple[str, ...]) -> dict:
    return {"at": at, "unit": unit, **dict.fromkeys(metrics, 0)}
