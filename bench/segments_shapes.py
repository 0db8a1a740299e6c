"""The five audience shapes of bench/segments.py, and each one's count written by hand in SQL."""

from __future__ import annotations

from datetime import datetime, timedelta

SHAPES = ("a", "b", "c", "d", "e")
SHAPE_NAMES = {
    "a": "two attributes",
    "b": "event count in 30 days",
    "c": "nested any/all of a and b",
    "d": "in segment, not in list",
    "e": "consent and engagement",
}


def _attribute(key, op, value, value_type="string"):
    return {"type": "attribute", "key": key, "op": op, "value": value, "value_type": value_type}


def _rules(shape: str, world: dict) -> dict:
    a = [_attribute("plan", "equals", "pro"), _attribute("ltv", "gt", 500, "number")]
    b = {"type": "event", "name": "order_completed", "op": "at_least", "count": 2,
         "within_days": 30}
    if shape == "a":
        return {"all": a}
    if shape == "b":
        return {"all": [b]}
    if shape == "c":
        return {"any": [{"all": a}, {"all": [b, _attribute("country", "in", ["FR", "DE"])]}]}
    if shape == "d":
        return {"all": [{"type": "segment", "segment": world["segment"], "op": "in"},
                        {"type": "segment", "segment": world["list"], "op": "not_in"}]}
    return {"all": [
        {"type": "consent", "channel": "email", "topic": world["topic"], "op": "subscribed"},
        {"type": "engagement", "action": "opened", "campaign": world["campaign"],
         "within_days": 30},
    ]}


def _floor_sql(shape: str, world: dict, now: datetime) -> tuple[str, list]:
    """The count as one would write it by hand for this data."""
    a = "p.attributes ->> 'plan' = 'pro' AND (p.attributes ->> 'ltv')::numeric > 500"
    b = ("p.id IN (SELECT profile_id FROM profiles_event WHERE name = 'order_completed' AND "
         "occurred_at >= %s GROUP BY profile_id HAVING count(*) >= 2)")
    month = now - timedelta(days=30)
    if shape == "a":
        return f"SELECT count(*) FROM profiles_profile p WHERE {a}", []  # noqa: S608
    if shape == "b":
        return ("SELECT count(*) FROM (SELECT profile_id FROM profiles_event WHERE "
                "name = 'order_completed' AND occurred_at >= %s GROUP BY profile_id "
                "HAVING count(*) >= 2) t", [month])
    if shape == "c":
        return (f"SELECT count(*) FROM profiles_profile p WHERE ({a}) OR ({b} AND "  # noqa: S608
                "p.attributes ->> 'country' IN ('FR', 'DE'))", [month])
    if shape == "d":
        return ("SELECT count(*) FROM profiles_profile p WHERE p.id IN (SELECT profile_id "
                "FROM profiles_event WHERE name = 'order_completed' AND occurred_at >= %s) "
                "AND p.id NOT IN (SELECT profile_id FROM profiles_segmentmember "
                "WHERE segment_id = %s)", [now - timedelta(days=90), world["list"]])
    return ("SELECT count(*) FROM profiles_profile p WHERE p.id IN ("
            "SELECT d.profile_id FROM channels_delivery d JOIN channels_deliveryevent e "
            "ON e.delivery_id = d.id JOIN campaigns_step s ON s.id = d.campaign_step_id "
            "WHERE s.campaign_id = %s AND e.status = 'opened' AND e.occurred_at >= %s) "
            "AND p.id NOT IN (SELECT c.profile_id FROM profiles_consent c JOIN profiles_topic t "
            "ON t.id = c.topic_id WHERE t.key = %s AND c.state = 'opted_out') "
            "AND p.id NOT IN (SELECT profile_id FROM profiles_consent WHERE channel = 'email' "
            "AND topic_id IS NULL AND state = 'opted_out')",
            [world["campaign"], month, world["topic"]])

