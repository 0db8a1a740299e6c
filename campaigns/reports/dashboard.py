"""The dashboard's figures (the marketer's home page and GET /api/v1/stats).

Message counts come from the daily rollups; nothing here reads the raw delivery log.

Deliverability thresholds: Gmail's and Yahoo's bulk-sender rules (2024) ask senders to keep
the spam-complaint rate under 0.3% and recommend under 0.1%: a sending domain at 0.1% or
more is "warn", at 0.3% or more "alarm". Bounces have no published limit; we flag 2% (warn)
and 5% (alarm), the levels ESPs commonly review accounts at. Rates are per message sent over
the last 30 days (providers do not always report deliveries, sends are always known).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, F
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus
from campaigns.reports.figures import SENT, add_message_counts, rates
from channels.models import Channel, DeliveryRollupDaily
from profiles.models import Profile, ProfileImport

COMPLAINT_WARN, COMPLAINT_ALARM = 0.001, 0.003
BOUNCE_WARN, BOUNCE_ALARM = 0.02, 0.05
DAYS = 30
DASHBOARD_STATUSES = (*SENT, "delivered", "opened", "clicked", "bounced", "complained",
                      "unsubscribed")


def dashboard_figures(*, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    window = _last_30_days(now)
    return {
        "generated_at": now,
        "profiles": _profile_estimate(),
        "campaigns_by_status": _campaigns_by_status(),
        "messages_by_channel": messages_by_channel(window, now=now),
        "campaigns": active_campaigns(window),
        "imports": recent_imports(),
        "deliverability": deliverability(window),
    }


def _profile_estimate() -> int:
    """Exact up to 100,000 profiles; above, PostgreSQL's own estimate (kept by ANALYZE and
    autovacuum): an exact count(*) of millions of rows on every home page is not worth it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                       [Profile._meta.db_table])
        row = cursor.fetchone()
    estimate = row[0] if row else -1
    return estimate if estimate >= 100_000 else Profile.objects.count()


def _campaigns_by_status() -> dict[str, int]:
    counts = dict.fromkeys(CampaignStatus.values, 0)
    for row in Campaign.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def _last_30_days(now: datetime) -> list[dict[str, Any]]:
    """The daily rollups of the last 30 UTC days, one row per (day, channel, sending domain,
    campaign, status): one read serves the channel chart, the campaigns' rates and
    deliverability."""
    first = _today(now) - timedelta(days=DAYS - 1)
    return list(
        DeliveryRollupDaily.objects.filter(day__gte=first, status__in=DASHBOARD_STATUSES)
        .values("day", "channel", "domain", "campaign_id", "status", "count", "firsts")
    )


def _today(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def messages_by_channel(window: list[dict], *, now: datetime) -> dict[str, Any]:
    """Messages sent per channel per UTC day over 30 days, and totals for 7 and 30 days."""
    today = _today(now)
    dates = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    per_day: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for row in window:
        if row["status"] in SENT:
            per_day[row["channel"]][row["day"]] += row["count"]
    channels = []
    for channel, label in Channel.choices:
        series = [per_day[channel].get(day, 0) for day in dates]
        channels.append({"channel": channel, "label": label, "daily": series,
                         "last_7_days": sum(series[-7:]), "last_30_days": sum(series)})
    return {"days": [d.date().isoformat() for d in dates], "channels": channels}


def active_campaigns(window: list[dict], *, limit: int = 20) -> list[dict[str, Any]]:
    """Running and scheduled campaigns, soonest next run first, with their rates over the
    last 30 days."""
    campaigns = list(
        Campaign.objects.filter(status__in=[CampaignStatus.RUNNING, CampaignStatus.SCHEDULED])
        .annotate(next_run=Coalesce(F("next_run_at"), F("scheduled_at")))
        .order_by(F("next_run").asc(nulls_last=True), "-id")
        .only("id", "name", "status", "next_run_at", "scheduled_at")[:limit]
    )
    counts: dict[int, dict[str, int]] = {c.pk: {} for c in campaigns}
    for row in window:
        if row["campaign_id"] in counts:
            add_message_counts(counts[row["campaign_id"]], row["status"], row["count"],
                               row["firsts"])
    return [
        {"id": c.pk, "name": c.name, "status": c.status, "next_run": c.next_run,
         "sent": counts[c.pk].get("sent", 0), "rates": rates(counts[c.pk])}
        for c in campaigns
    ]


def recent_imports(*, limit: int = 5) -> list[dict[str, Any]]:
    return list(ProfileImport.objects.order_by("-created_at").values(
        "id", "original_name", "status", "total_rows", "imported_rows", "error_rows",
        "created_at", "finished_at")[:limit])


def deliverability(window: list[dict]) -> list[dict[str, Any]]:
    """Email bounce and complaint rates per sending domain over 30 days, flagged."""
    domains: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in window:
        if row["channel"] == Channel.EMAIL and row["status"] in ("sent", "bounced", "complained"):
            domain = row["domain"] or default_domain()
            domains[domain][row["status"]] += (row["count"] if row["status"] == "sent"
                                               else row["firsts"])
    health = []
    for domain, counts in sorted(domains.items(), key=lambda item: -item[1]["sent"]):
        sent = counts["sent"]
        bounce = counts["bounced"] / sent if sent else 0.0
        complaint = counts["complained"] / sent if sent else 0.0
        health.append({
            "domain": domain, "sent": sent, "bounced": counts["bounced"],
            "complained": counts["complained"], "bounce_rate": bounce,
            "complaint_rate": complaint,
            "bounce_flag": flag(bounce, BOUNCE_WARN, BOUNCE_ALARM),
            "complaint_flag": flag(complaint, COMPLAINT_WARN, COMPLAINT_ALARM),
        })
    return health


def flag(value: float, warn: float, alarm: float) -> str:
    if value >= alarm:
        return "alarm"
    return "warn" if value >= warn else "ok"


def default_domain() -> str:
    """The domain of DEFAULT_FROM_EMAIL: what inline steps and sender-less templates use."""
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2].lower() or "(default)"
