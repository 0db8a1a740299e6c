"""Message engagement as an audience condition, contributed to the rule engine by channels.

    {"type": "engagement", "action": "opened", "campaign": 12, "within_days": 30}

reads "opened a message of campaign 12 at least once in the last 30 days". `campaign` null
(or left out) means any message, a campaign's or not; `within_days` left out means ever.
Actions are read from the delivery status log (DeliveryEvent), on its occurred_at:

    received  a 'sent' or 'delivered' entry
    opened    an 'opened' entry      clicked  a 'clicked' entry      bounced  a 'bounced' entry

Each action is exactly what the log says: a click is not also counted as an open (a
provider that infers opens from clicks logs both). Registered in ChannelsConfig.ready(), so
profiles never imports channels; channels never imports campaigns either, so the campaign is
reached through the campaigns_step table by name and checked through the app registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps

from channels.models import DeliveryEvent
from profiles.rules.schema import MAX_DAYS

ACTIONS: dict[str, tuple[str, ...]] = {
    "received": ("sent", "delivered"),
    "opened": ("opened",),
    "clicked": ("clicked",),
    "bounced": ("bounced",),
}
ACTION_LABELS = {"received": "received", "opened": "opened", "clicked": "clicked in",
                 "bounced": "bounced on"}
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Engagement:
    """What one profile did with its messages: (status, campaign id or None, occurred_at)."""

    rows: tuple[tuple[str, int | None, datetime], ...]


def _low(node: dict, now: datetime) -> datetime | None:
    days = node.get("within_days")
    return None if days is None else now - timedelta(days=days)


class EngagementCondition:
    label = "Message engagement"

    def validate(self, node: dict) -> tuple[list[tuple[str, str]], dict]:
        problems: list[tuple[str, str]] = []
        action, campaign = node.get("action"), node.get("campaign")
        if action not in ACTIONS:
            problems.append((".action", f"{action!r} is not one of {', '.join(ACTIONS)}."))
        campaign_name = None
        if campaign is not None:
            campaign_name = self._campaign_name(campaign)
            if campaign_name is None:
                problems.append((".campaign", f"Unknown campaign {campaign!r}."))
        clean = {"action": action, "campaign": campaign}
        if node.get("within_days") is not None:
            days = node["within_days"]
            if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DAYS:
                problems.append(
                    (".within_days", f"A whole number of days from 0 to {MAX_DAYS} is needed.")
                )
            clean["within_days"] = days
        if not problems:
            clean["label"] = self._describe(clean, campaign_name)
        return problems, clean

    @staticmethod
    def _campaign_name(campaign) -> str | None:
        if isinstance(campaign, bool) or not isinstance(campaign, int):
            return None
        if not 0 < campaign <= MAX_ID:
            return None
        model = apps.get_model("campaigns", "Campaign")
        return model.objects.filter(pk=campaign).values_list("name", flat=True).first()

    @staticmethod
    def _describe(node: dict, campaign_name: str | None) -> str:
        what = f"campaign “{campaign_name}”" if node["campaign"] is not None else "any campaign"
        text = f"{ACTION_LABELS[node['action']]} a message of {what}"
        if "within_days" in node:
            text += f" in the last {node['within_days']} days"
        return text

    def sql(self, node: dict, now: datetime) -> tuple[str, list]:
        # Correlated on the profile id only, so PostgreSQL may run it per profile (index on
        # channels_delivery.profile_id) or hash the matching profile ids once, as it sees fit.
        parts = ["d.profile_id = «id»", "e.status = ANY(%s::text[])"]
        params: list = [list(ACTIONS[node["action"]])]
        joins = ""
        if node.get("campaign") is not None:
            joins = " JOIN campaigns_step s ON s.id = d.campaign_step_id"
            parts.append("s.campaign_id = %s")
            params.append(node["campaign"])
        low = _low(node, now)
        if low is not None:
            parts.append("e.occurred_at >= %s")
            params.append(low)
        # Only fixed SQL text is joined here; every value is a parameter.
        return (
            "EXISTS (SELECT 1 FROM channels_delivery d "  # noqa: S608
            "JOIN channels_deliveryevent e ON e.delivery_id = d.id"
            f"{joins} WHERE {' AND '.join(parts)})",
            params,
        )

    def facts(self, profile_id: int, nodes: list[dict], now: datetime) -> Engagement:
        statuses = {status for node in nodes for status in ACTIONS[node["action"]]}
        rows = DeliveryEvent.objects.filter(delivery__profile_id=profile_id, status__in=statuses)
        lows = [_low(node, now) for node in nodes]
        if all(low is not None for low in lows):
            rows = rows.filter(occurred_at__gte=min(lows))
        return Engagement(tuple(
            rows.order_by().values_list("status", "delivery__campaign_step__campaign_id",
                                        "occurred_at")
        ))

    def match(self, node: dict, facts: Engagement | None, now: datetime) -> bool:
        statuses, campaign, low = ACTIONS[node["action"]], node.get("campaign"), _low(node, now)
        return any(
            status in statuses
            and (campaign is None or campaign_id == campaign)
            and (low is None or occurred_at >= low)
            for status, campaign_id, occurred_at in (facts.rows if facts else ())
        )


def register() -> None:
    from profiles.rules.registry import register_condition_type

    register_condition_type("engagement", EngagementCondition())
