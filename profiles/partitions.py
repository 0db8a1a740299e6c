"""Monthly partitions of the events table (PostgreSQL declarative partitioning).

`profiles_event` is `PARTITION BY RANGE (occurred_at)`, one partition per calendar month
(UTC) named profiles_event_yYYYYmMM. A daily job keeps partitions from the retention horizon
to a few months ahead and drops whole months older than EVENT_RETENTION_DAYS — dropping a
partition is instant, where DELETE of old rows would bloat the table.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection as default_connection
from django.utils import timezone

PARENT = "profiles_event"
MONTHS_AHEAD = 3
_NAME = re.compile(rf"^{PARENT}_y(\d{{4}})m(\d{{2}})$")


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_y{month:%Y}m{month:%m}"


def retention_horizon(now: datetime | None = None) -> datetime:
    """Events that occurred before this are refused and eventually dropped."""
    return (now or timezone.now()) - timedelta(days=settings.EVENT_RETENTION_DAYS)


def months_to_keep(now: datetime | None = None, months_ahead: int = MONTHS_AHEAD) -> list[date]:
    now = now or timezone.now()
    month, last = month_start(retention_horizon(now)), month_start(now)
    for _ in range(months_ahead):
        last = next_month(last)
    months = []
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def ensure_event_partitions(*, now: datetime | None = None, connection=None) -> list[str]:
    """Create any missing partition from the retention horizon to MONTHS_AHEAD; idempotent."""
    connection = connection or default_connection
    existing = set(existing_partitions(connection=connection))
    created = []
    with connection.cursor() as cursor:
        for month in months_to_keep(now):
            if month in existing:
                continue
            lower = datetime(month.year, month.month, 1, tzinfo=UTC)
            upper = datetime.combine(next_month(month), datetime.min.time(), tzinfo=UTC)
            cursor.execute(
                f'CREATE TABLE IF NOT EXISTS "{partition_name(month)}" PARTITION OF {PARENT} '
                "FOR VALUES FROM (%s) TO (%s)",
                [lower, upper],
            )
            created.append(partition_name(month))
    return created


def drop_expired_event_partitions(*, now: datetime | None = None, connection=None) -> list[str]:
    """Drop every partition whose whole month lies before the retention horizon."""
    connection = connection or default_connection
    horizon = month_start(retention_horizon(now))
    dropped = []
    with connection.cursor() as cursor:
        for month in existing_partitions(connection=connection):
            if next_month(month) <= horizon:
                name = partition_name(month)
                if connection.get_autocommit():
                    # Detaching first takes no lock that blocks ingestion into the other
                    # partitions (it cannot run inside a transaction, hence the check).
                    cursor.execute(f'ALTER TABLE {PARENT} DETACH PARTITION "{name}" CONCURRENTLY')
                cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
                dropped.append(name)
    return dropped


def existing_partitions(*, connection=None) -> list[date]:
    connection = connection or default_connection
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname FROM pg_inherits
              JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
              JOIN pg_class child ON child.oid = pg_inherits.inhrelid
             WHERE parent.relname = %s
            """,
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    months = []
    for name in names:
        match = _NAME.match(name)
        if match:
            months.append(date(int(match[1]), int(match[2]), 1))
    return sorted(months)
