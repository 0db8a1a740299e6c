"""The builder's live count and sample, bounded in time.

A marketer's half-finished rules can be slow to count (an event count over years of events);
the page must answer anyway, so both statements run under a statement_timeout and a timeout
is an answer ("still counting"), not an error page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg.errors
from django.db import OperationalError, connection, transaction
from django.db.models import QuerySet

from profiles.audiences import audience_queryset
from profiles.models import Profile

PREVIEW_TIMEOUT_MS = 3000
SAMPLE_SIZE = 10


@dataclass(frozen=True)
class Preview:
    count: int | None = None
    sample: list[Profile] = field(default_factory=list)
    timed_out: bool = False
    timeout_seconds: float = PREVIEW_TIMEOUT_MS / 1000


def audience_preview(tree: dict, *, timeout_ms: int = PREVIEW_TIMEOUT_MS,
                     sample_size: int = SAMPLE_SIZE) -> Preview:
    """Count and sample the profiles a validated tree matches, or report a timeout."""
    return members_preview(audience_queryset(tree), timeout_ms=timeout_ms, sample_size=sample_size)


def members_preview(members: QuerySet[Profile], *, timeout_ms: int = PREVIEW_TIMEOUT_MS,
                    sample_size: int = SAMPLE_SIZE) -> Preview:
    """Count and sample a queryset of profiles (a segment's audience), or report a timeout."""
    members = members.order_by()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)",
                               [f"{timeout_ms}ms"])
            count = members.count()
            sample = list(members.only("id", "external_id", "email", "first_name", "last_name")
                          [:sample_size]) if count else []
            # Only reads happened: rolling back ends the local timeout with this block even
            # inside a caller's transaction (a savepoint), where SET LOCAL would outlive it.
            transaction.set_rollback(True)
    except OperationalError as exc:
        if isinstance(exc.__cause__, psycopg.errors.QueryCanceled):
            return Preview(timed_out=True, timeout_seconds=timeout_ms / 1000)
        raise
    return Preview(count=count, sample=sample, timeout_seconds=timeout_ms / 1000)
