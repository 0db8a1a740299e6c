"""The delivery log as marketers read it: filters, and keyset pages over a large table.

Pages are keyset, newest first (`id < before` / `id > after`), so page 5,000 costs what page 1
does, and no view runs an exact COUNT(*) over millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from channels.models import Channel, Delivery, DeliveryStatus, Reason

PAGE_SIZE = 50


@dataclass(frozen=True)
class DeliveryFilters:
    campaign_id: int | None = None
    channel: str = ""
    status: str = ""
    reason: str = ""
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    address: str = ""

    @classmethod
    def from_query(cls, params) -> DeliveryFilters:
        """Read the page's GET parameters; anything unusable is ignored, not an error."""
        def choice(name, choices):
            value = params.get(name, "")
            return value if value in choices else ""

        campaign = params.get("campaign", "")
        return cls(
            campaign_id=int(campaign) if campaign.isdigit() else None,
            channel=choice("channel", Channel.values),
            status=choice("status", DeliveryStatus.values),
            reason=choice("reason", Reason.values),
            date_from=_date(params.get("from", "")),
            date_to=_date(params.get("to", "")),
            address=params.get("q", "").strip()[:320],
        )

    @property
    def any(self) -> bool:
        return any(v not in (None, "") for v in self.__dict__.values())


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def deliveries_filtered(*, filters: DeliveryFilters) -> QuerySet:
    rows = Delivery.objects.all()
    if filters.campaign_id:
        rows = rows.filter(campaign_step__campaign_id=filters.campaign_id)
    if filters.channel:
        rows = rows.filter(channel=filters.channel)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.reason:
        rows = rows.filter(reason=filters.reason)
    if filters.date_from:
        rows = rows.filter(created_at__gte=_start_of(filters.date_from))
    if filters.date_to:
        rows = rows.filter(created_at__lt=_start_of(filters.date_to + timedelta(days=1)))
    if filters.address:
        # Exact match: a substring search cannot use an index on a table this size. Emails are
        # stored with a lower-case domain; try the address as typed and fully lower-cased.
        rows = rows.filter(address__in={filters.address, filters.address.lower()})
    return rows


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


@dataclass(frozen=True)
class LogPage:
    rows: list[Delivery]
    newer: int | None  # pass as ?after= to see newer rows
    older: int | None  # pass as ?before= to see older rows


def delivery_log_page(
    *, filters: DeliveryFilters, before: int | None = None, after: int | None = None,
    size: int = PAGE_SIZE,
) -> LogPage:
    rows = deliveries_filtered(filters=filters).select_related(
        "profile", "campaign_step__campaign"
    )
    if after is not None:
        chunk = list(rows.filter(id__gt=after).order_by("id")[: size + 1])
        more_newer = len(chunk) > size
        chunk = list(reversed(chunk[:size]))
        older = chunk[-1].id if chunk else None
        return LogPage(chunk, newer=chunk[0].id if chunk and more_newer else None, older=older)
    if before is not None:
        rows = rows.filter(id__lt=before)
    chunk = list(rows.order_by("-id")[: size + 1])
    more_older = len(chunk) > size
    chunk = chunk[:size]
    return LogPage(
        chunk,
        newer=chunk[0].id if chunk and before is not None else None,
        older=chunk[-1].id if chunk and more_older else None,
    )
