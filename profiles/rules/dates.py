"""Time windows of conditions, computed once so SQL and the matcher use the same bounds.

Every window is half-open, [low, high): `before D` ends where D starts, `after D` starts the
day after D, `between [A, B]` includes both days. Dates are UTC days. Text bounds compare
ISO strings, which sort like the moments they spell.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"
MAX_ANNIVERSARY_DAYS = 366


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _day(value: str) -> date:
    return date.fromisoformat(value)


def datetime_bounds(op: str, value, now: datetime) -> tuple[datetime | None, datetime | None]:
    """Bounds on a real timestamp column."""
    if op == "before":
        return None, day_start(_day(value))
    if op == "after":
        return day_start(_day(value) + timedelta(days=1)), None
    if op == "between":
        return day_start(_day(value[0])), day_start(_day(value[1]) + timedelta(days=1))
    if op == "within_last_days":
        return now - timedelta(days=value), now
    if op == "within_next_days":
        return now, now + timedelta(days=value)
    raise ValueError(op)


def date_text_bounds(op: str, value, now: datetime) -> tuple[str | None, str | None]:
    """Bounds on 'YYYY-MM-DD' text."""
    today = now.astimezone(UTC).date()
    if op == "before":
        return None, value
    if op == "after":
        return (_day(value) + timedelta(days=1)).isoformat(), None
    if op == "between":
        return value[0], (_day(value[1]) + timedelta(days=1)).isoformat()
    if op == "within_last_days":
        return (today - timedelta(days=value)).isoformat(), (today + timedelta(days=1)).isoformat()
    if op == "within_next_days":
        return today.isoformat(), (today + timedelta(days=value + 1)).isoformat()
    raise ValueError(op)


def datetime_text_bounds(op: str, value, now: datetime) -> tuple[str | None, str | None]:
    """Bounds on 'YYYY-MM-DDTHH:MM:SS' text (UTC), the first 19 characters of a stored value."""
    low, high = datetime_bounds(op, value, now)
    return _text(low), _text(high)


def _text(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime(ISO_SECONDS) if moment else None


def month_days_ahead(today: date, days: int) -> list[str]:
    """'MM-DD' of today and the next `days` days: anniversaries falling in the window."""
    span = min(days, MAX_ANNIVERSARY_DAYS)
    return sorted({(today + timedelta(days=i)).strftime("%m-%d") for i in range(span + 1)})


def event_window(node: dict, now: datetime) -> tuple[datetime | None, datetime | None]:
    if "within_days" in node:
        return now - timedelta(days=node["within_days"]), None
    if "between" in node:
        first, last = node["between"]
        return day_start(_day(first)), day_start(_day(last) + timedelta(days=1))
    return None, None
