"""Time arithmetic of the journey engine: send windows and "wait until" moments in the
profile's time zone. Pure (zoneinfo only).

All comparisons are made in UTC: Python compares two datetimes of the same tzinfo by their
wall clocks, which is wrong across a DST change. A local time that does not exist (the
spring-forward gap) is read with the offset before the change, so 02:30 on that night is
03:30 summer time; a local time that happens twice (fall back) is its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# A window must open within this many days of a moment, or it never opens.
_HORIZON_DAYS = 8


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def clock(value: Any) -> time:
    """'HH:MM' (or 'HH:MM:SS', or a time) → time."""
    return value if isinstance(value, time) else time.fromisoformat(str(value))


def _at(day: date, moment: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=tz).astimezone(UTC)


def _day_ok(day: date, weekdays) -> bool:
    return not weekdays or day.isoweekday() in weekdays


def next_time_of_day(after: datetime, at: Any, weekdays, tz: ZoneInfo) -> datetime:
    """The first moment ≥ `after` that reads `at` on the local clock, on one of the ISO
    `weekdays` (empty: any day)."""
    moment = clock(at)
    local_day = after.astimezone(tz).date()
    for offset in range(-1, _HORIZON_DAYS + 1):
        day = local_day + timedelta(days=offset)
        candidate = _at(day, moment, tz)
        if _day_ok(day, weekdays) and candidate >= after:
            return candidate
    raise ValueError("No such weekday.")


def is_window(window: Any) -> bool:
    return isinstance(window, dict) and bool(window.get("start")) and bool(window.get("end"))


def window_open(window: dict, now: datetime, tz: ZoneInfo) -> bool:
    """Is `now` inside the window? A window whose end is before its start spans midnight and
    belongs to the day it opens; start == end is open 24 hours from start."""
    start, end, days = clock(window["start"]), clock(window["end"]), window.get("days") or []
    local = now.astimezone(tz)
    today = local.date()
    for day in (today - timedelta(days=1), today):
        if not _day_ok(day, days):
            continue
        opens = _at(day, start, tz)
        closes = _at(day + timedelta(days=1) if end <= start else day, end, tz)
        if opens <= now.astimezone(UTC) < closes:
            return True
    return False


def window_next_opening(window: dict, now: datetime, tz: ZoneInfo) -> datetime | None:
    """The first opening strictly after `now` (None if the window never opens)."""
    start, days = clock(window["start"]), window.get("days") or []
    local_day = now.astimezone(tz).date()
    for offset in range(0, _HORIZON_DAYS + 1):
        day = local_day + timedelta(days=offset)
        opening = _at(day, start, tz)
        if _day_ok(day, days) and opening > now.astimezone(UTC):
            return opening
    return None


def windows_next_open(windows: list[dict], now: datetime, tz: ZoneInfo) -> datetime | None:
    """`now` if every window is open, else the first moment they all are (None: never within
    a few weeks, e.g. two windows that do not overlap)."""
    moment = now
    for _ in range(4 * _HORIZON_DAYS):
        closed = [w for w in windows if not window_open(w, moment, tz)]
        if not closed:
            return moment
        openings = [window_next_opening(w, moment, tz) for w in closed]
        if any(o is None for o in openings):
            return None
        moment = max(openings)
    return None
