"""The campaign report's figures: funnel per step, time series, links, skips, splits, holdout.

Message figures come from the hourly rollups (channels.models.DeliveryRollup), never from
the raw delivery log; "entered" and branch counts from StepVisit (its (step, outcome) index,
read index-only); conversions and the control group from the campaign's enrollments. Proof
sends are not in the rollups, so they are excluded everywhere.

Rates: delivered / sent; opened, clicked and unsubscribed per delivered message when the
provider reports deliveries, else per sent (`base`); click-to-open = clicked / opened;
conversion = converted / entered. Opens and clicks are unique (distinct deliveries: the
rollup's `firsts`); `clicks` is every logged click.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

from campaigns.models import Campaign, Enrollment, Step, StepKind, StepVisit
from campaigns.reports import statistics as stats
from campaigns.reports.series import buckets
from channels.models import Delivery, DeliveryRollup, Reason
from channels.rollups import UNIQUE_CHECKED

# Statuses counted as distinct deliveries (firsts) vs log rows (count): the ones the rollup
# trigger checks for an earlier row.
UNIQUE = UNIQUE_CHECKED
SENT = ("sent", "exported")
FUNNEL = ("entered", "sent", "delivered", "opened", "clicked", "clicks", "converted",
          "unsubscribed", "bounced", "complained", "failed", "skipped")
SERIES = ("sent", "opened", "clicked", "converted")


def rates(row: dict[str, Any]) -> dict[str, float]:
    """The funnel's rates for one row of counts (a step, or the campaign's totals)."""
    sent, delivered = row.get("sent", 0), row.get("delivered", 0)
    base = delivered or sent
    return {
        "delivery": stats.rate(delivered, sent),
        "open": stats.rate(row.get("opened", 0), base),
        "click": stats.rate(row.get("clicked", 0), base),
        "click_to_open": stats.rate(row.get("clicked", 0), row.get("opened", 0)),
        "unsubscribe": stats.rate(row.get("unsubscribed", 0), base),
        "bounce": stats.rate(row.get("bounced", 0), sent),
        "complaint": stats.rate(row.get("complained", 0), sent),
        "conversion": stats.rate(row.get("converted", 0), row.get("entered", 0)),
    }


def add_message_counts(row: dict[str, Any], status: str, count: int, firsts: int) -> None:
    """Fold one rollup (status, count, firsts) into a row of funnel counts."""
    if status in SENT:
        row["sent"] = row.get("sent", 0) + count
    elif status in UNIQUE:
        row[status] = row.get(status, 0) + firsts
        if status == "clicked":
            row["clicks"] = row.get("clicks", 0) + count
    elif status in ("failed", "skipped", "unknown"):
        row[status] = row.get(status, 0) + count


def campaign_report(*, campaign: Campaign, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    steps, by_id = _steps(campaign)
    funnel: dict[str, dict[str, Any]] = {key: dict.fromkeys(FUNNEL, 0) for key in steps}
    totals: dict[str, Any] = dict.fromkeys(FUNNEL, 0)
    skips: dict[str, int] = defaultdict(int)
    links: dict[tuple[str, str], int] = defaultdict(int)
    for row in (DeliveryRollup.objects.filter(campaign=campaign).order_by()
                .values("step_id", "status", "reason", "url")
                .annotate(count=Sum("count"), firsts=Sum("firsts"))):
        key = by_id.get(row["step_id"], "")
        step_row = funnel.setdefault(key, dict.fromkeys(FUNNEL, 0))
        for target in (step_row, totals):
            add_message_counts(target, row["status"], row["count"], row["firsts"])
        if row["status"] == "skipped":
            skips[row["reason"]] += row["count"]
            by_reason = step_row.setdefault("skipped_by_reason", {})
            by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + row["count"]
        if row["status"] == "clicked" and row["url"]:
            links[(key, row["url"])] += row["count"]
    visits = _visits(campaign, by_id)
    for (key, _outcome), counts in visits.items():
        step_row = funnel.setdefault(key, dict.fromkeys(FUNNEL, 0))
        step_row["entered"] += counts["entered"]
        step_row["converted"] += counts["converted"]
    if not visits:
        _legacy_entered(funnel, by_id)
    enrollment, conversions = _enrollments(campaign)
    totals.update(entered=enrollment["entered"] or max(
        (row["entered"] for row in funnel.values()), default=0), converted=enrollment["converted"])
    return {
        "campaign": {"id": campaign.pk, "name": campaign.name, "status": campaign.status},
        "totals": {**totals, "control": enrollment["control"], "rates": rates(totals)},
        "steps": [
            {"key": key, "name": _step_name(steps.get(key), key),
             "kind": steps.get(key, {}).get("kind", ""), **counts, "rates": rates(counts),
             "skipped_by_reason": counts.get("skipped_by_reason", {})}
            for key, counts in funnel.items()
        ],
        "series": _series(campaign, conversions, now),
        "links": [{"step": key, "url": url, "clicks": n}
                  for (key, url), n in sorted(links.items(), key=lambda item: -item[1])],
        "skip_reasons": [{"reason": reason, "label": _reason_label(reason), "count": n}
                         for reason, n in sorted(skips.items(), key=lambda item: -item[1])],
        "splits": _splits(campaign, steps, visits),
        "holdout": _holdout(campaign, enrollment),
    }


def _step_name(step: dict[str, Any] | None, key: str) -> str:
    if step is None:
        return key or "(no step)"
    if step["name"]:
        return step["name"]
    return StepKind(step["kind"]).label if step["kind"] in StepKind.values else key


def _reason_label(reason: str) -> str:
    return Reason(reason).label if reason in Reason.values else (reason or "No reason given")


def _steps(campaign: Campaign) -> tuple[dict[str, dict[str, Any]], dict[int, str]]:
    """Step keys in display order: the current version's steps, then keys only older
    versions had (reports follow a step by its key across versions); and every version's
    step id → key."""
    rows = list(Step.objects.filter(campaign=campaign)
                .order_by("-version__number", "position", "id")
                .values("id", "key", "name", "kind", "config", "version_id", "position"))
    current = campaign.current_version_id
    ordered = sorted(rows, key=lambda r: (r["version_id"] != current, r["position"]))
    steps: dict[str, dict[str, Any]] = {}
    for row in ordered:
        steps.setdefault(row["key"], row)
    return steps, {row["id"]: row["key"] for row in rows}


def _visits(campaign: Campaign, by_id: dict[int, str]) -> dict[tuple[str, str], dict]:
    """(step key, outcome) → entered, converted. Read through the (step, outcome) index."""
    counts: dict[tuple[str, str], dict] = defaultdict(lambda: {"entered": 0, "converted": 0})
    if not by_id:
        return counts
    for row in (StepVisit.objects.filter(step_id__in=list(by_id)).order_by()
                .values("step_id", "outcome").annotate(n=Count("*"))):
        counts[(by_id[row["step_id"]], row["outcome"])]["entered"] += row["n"]
    converted = (StepVisit.objects.filter(
        step_id__in=list(by_id), enrollment__in=Enrollment.objects.filter(
            campaign=campaign, converted_at__isnull=False).values("id"))
        .order_by().values("step_id", "outcome").annotate(n=Count("*")))
    for row in converted:
        counts[(by_id[row["step_id"]], row["outcome"])]["converted"] += row["n"]
    return counts


def _legacy_entered(funnel: dict[str, dict], by_id: dict[int, str]) -> None:
    """Campaigns sent before journeys (no enrollments, no visits): a step's entrants are its
    deliveries, counted through the (campaign_step, status) index."""
    for row in (Delivery.objects.filter(campaign_step_id__in=list(by_id)).order_by()
                .values("campaign_step_id").annotate(n=Count("*"))):
        funnel[by_id[row["campaign_step_id"]]]["entered"] = row["n"]


def _enrollments(campaign: Campaign) -> tuple[dict[str, int], dict[datetime, int]]:
    """Entrants, conversions and the control group's, with conversions per UTC hour: one
    pass over the campaign's enrollments."""
    totals = dict.fromkeys(("entered", "converted", "control", "control_converted"), 0)
    hourly: dict[datetime, int] = defaultdict(int)
    rows = (Enrollment.objects.filter(campaign=campaign).order_by()
            .annotate(hour=Trunc("converted_at", "hour", tzinfo=UTC))
            .values("is_control", "hour").annotate(n=Count("*")))
    for row in rows:
        totals["entered"] += row["n"]
        if row["is_control"]:
            totals["control"] += row["n"]
        if row["hour"] is not None:
            totals["converted"] += row["n"]
            hourly[row["hour"]] += row["n"]
            if row["is_control"]:
                totals["control_converted"] += row["n"]
    return totals, hourly


def _series(campaign: Campaign, conversions: dict[datetime, int], now: datetime) -> list[dict]:
    hourly: dict[datetime, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SERIES, 0))
    rows = (DeliveryRollup.objects.filter(campaign=campaign,
                                          status__in=[*SENT, "opened", "clicked"])
            .order_by().values("hour", "status").annotate(count=Sum("count"),
                                                          firsts=Sum("firsts")))
    for row in rows:
        metric = "sent" if row["status"] in SENT else row["status"]
        hourly[row["hour"]][metric] += row["count"] if metric == "sent" else row["firsts"]
    for hour, n in conversions.items():
        hourly[hour]["converted"] += n
    # From the first message (or conversion) of the campaign, to now.
    return buckets(hourly, metrics=SERIES, start=min(hourly) if hourly else None, end=now)


def _splits(campaign: Campaign, steps: dict[str, dict], visits: dict) -> list[dict]:
    splits = []
    for key, step in steps.items():
        if step["kind"] != "split":
            continue
        config = step["config"] or {}
        branches = [b for b in config.get("branches", []) if isinstance(b, dict)]
        rows, first = [], None
        for branch in branches:
            name = str(branch.get("name", ""))
            counts = visits.get((key, name), {"entered": 0, "converted": 0})
            n, x = counts["entered"], counts["converted"]
            interval = stats.wilson_interval(x, n)
            row = {"name": name, "weight": branch.get("weight"), "entered": n, "converted": x,
                   "rate": stats.rate(x, n), "interval": [interval.low, interval.high],
                   "comparison": None}
            if first is None:
                first = (x, n)
            else:
                row["comparison"] = _comparison(stats.compare(first[0], first[1], x, n))
            rows.append(row)
        splits.append({"step": key, "name": step["name"] or key,
                       "winner": config.get("winner") or "", "branches": rows})
    return splits


def _comparison(result: stats.Comparison) -> dict[str, Any]:
    return {"difference": result.rate_b - result.rate_a,
            "interval": [result.difference.low, result.difference.high],
            "lift": result.lift, "z": result.z, "p_value": result.p_value,
            "significant": result.significant}


def _holdout(campaign: Campaign, enrollment: dict[str, int]) -> dict[str, Any] | None:
    if not campaign.holdout_percent and not enrollment["control"]:
        return None
    control_n, control_x = enrollment["control"], enrollment["control_converted"]
    treated_n = enrollment["entered"] - control_n
    treated_x = enrollment["converted"] - control_x

    def group(x: int, n: int) -> dict[str, Any]:
        interval = stats.wilson_interval(x, n)
        return {"entered": n, "converted": x, "rate": stats.rate(x, n),
                "interval": [interval.low, interval.high]}

    return {"percent": campaign.holdout_percent, "control": group(control_x, control_n),
            "treated": group(treated_x, treated_n),
            "lift": _comparison(stats.compare(control_x, control_n, treated_x, treated_n))}
