"""CSV exports of a campaign report and of the delivery log, streamed row by row.

Cells are neutralized against formula injection (OWASP "CSV injection"): a text cell that
a spreadsheet would read as a formula — starting with = + - @, a tab or a carriage return —
is prefixed with a single quote. Numbers are written as numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from campaigns.reports.figures import FUNNEL
from channels.delivery_log import DeliveryFilters, deliveries_filtered

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
RATE_COLUMNS = ("delivery", "open", "click", "click_to_open", "conversion", "unsubscribe",
                "bounce", "complaint")
LOG_COLUMNS = ("id", "created_at", "campaign", "step", "channel", "address", "status",
               "reason", "error", "sent_at", "profile")


def neutralized(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


class _Echo:
    """A file-like whose write returns the line: csv.writer then yields what to stream."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([neutralized(cell) for cell in row])


def report_rows(report: dict[str, Any]) -> Iterator[list[Any]]:
    """The report as CSV rows: the funnel per step, then links, then skip reasons."""
    yield ["step", "name", "kind", *FUNNEL, *(f"{r}_rate" for r in RATE_COLUMNS)]
    for step in [*report["steps"], {"key": "total", "name": "All steps", "kind": "",
                                     **report["totals"]}]:
        yield [step["key"], step["name"], step["kind"],
               *(step.get(c, 0) for c in FUNNEL),
               *(round(step["rates"][r], 6) for r in RATE_COLUMNS)]
    yield []
    yield ["step", "link", "clicks"]
    for link in report["links"]:
        yield [link["step"], link["url"], link["clicks"]]
    yield []
    yield ["skip reason", "label", "count"]
    for skip in report["skip_reasons"]:
        yield [skip["reason"], skip["label"], skip["count"]]


def delivery_log_rows(filters: DeliveryFilters) -> Iterator[list[Any]]:
    """The delivery log under the log page's filters, newest first, read in chunks."""
    yield list(LOG_COLUMNS)
    rows = (deliveries_filtered(filters=filters).order_by("-id").values_list(
        "id", "created_at", "campaign_step__campaign__name", "campaign_step__key", "channel",
        "address", "status", "reason", "error", "sent_at", "profile__external_id"))
    for row in rows.iterator(chunk_size=2000):
        yield [cell.isoformat() if hasattr(cell, "isoformat") else cell for cell in row]
