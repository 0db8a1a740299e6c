"""Chart.js configurations (plain data, rendered with json_script) for the report pages."""

from __future__ import annotations

from typing import Any

COLOURS = {"sent": "#4f46e5", "opened": "#0891b2", "clicked": "#16a34a", "converted": "#d97706",
           "email": "#4f46e5", "sms": "#0891b2", "push": "#16a34a", "mail": "#d97706",
           "webhook": "#9333ea"}


def report_chart(series: list[dict]) -> dict[str, Any]:
    labels = [p["at"].strftime("%b %d %H:00" if p["unit"] == "hour" else "%b %d")
              for p in series]
    datasets = [{"label": metric.capitalize(), "data": [p[metric] for p in series],
                 "borderColor": COLOURS[metric], "backgroundColor": COLOURS[metric],
                 "tension": 0.2, "pointRadius": 2}
                for metric in ("sent", "opened", "clicked", "converted")]
    return {"type": "line", "data": {"labels": labels, "datasets": datasets},
            "options": {"responsive": True, "maintainAspectRatio": False, "animation": False,
                        "interaction": {"mode": "index", "intersect": False}}}


def dashboard_chart(messages: dict[str, Any]) -> dict[str, Any]:
    datasets = [{"label": c["label"], "data": c["daily"], "backgroundColor": COLOURS[c["channel"]]}
                for c in messages["channels"] if c["last_30_days"]]
    return {"type": "bar", "data": {"labels": messages["days"], "datasets": datasets},
            "options": {"responsive": True, "maintainAspectRatio": False, "animation": False,
                        "scales": {"x": {"stacked": True}, "y": {"stacked": True}}}}
