"""Does one profile match a tree? The same semantics as compiler.py, in Python, no SQL.

Used on the real-time paths (triggered entries, journey conditions, decisions), where a
query per profile would be too slow. `facts` is what facts.load_facts read for the profile.
The property test in tests/rules proves this and the SQL agree on random trees and data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from profiles.rules import dates
from profiles.rules.compiler import DATE_PATTERN, DATETIME_PATTERN, CycleError
from profiles.rules.schema import DATE, DATETIME, LIST, NUMBER, PROFILE_FIELDS, STRING

_DATE = re.compile(DATE_PATTERN)
_DATETIME = re.compile(DATETIME_PATTERN)


@dataclass
class Facts:
    fields: dict[str, Any]
    attributes: dict[str, Any]
    events: list[tuple[str, datetime, dict]] = field(default_factory=list)
    consents: dict[tuple[str, str | None], str] = field(default_factory=dict)
    segment_tree: Callable[[int], dict] = lambda _id: {"all": []}
    registered: dict[str, Any] = field(default_factory=dict)
    lists: frozenset[int] = frozenset()  # static segments the profile is on


def matches(tree: dict, facts: Facts, now: datetime, _stack: tuple = ()) -> bool:
    if "all" in tree:
        return all(matches(n, facts, now, _stack) for n in tree["all"])
    if "any" in tree:
        return any(matches(n, facts, now, _stack) for n in tree["any"])
    if "not" in tree:
        return not matches(tree["not"], facts, now, _stack)
    kind = tree["type"]
    if kind == "segment":
        return _segment(tree, facts, now, _stack)
    if kind in _CONDITIONS:
        return _CONDITIONS[kind](tree, facts, now)
    from profiles.rules.registry import condition_types

    return condition_types()[kind].match(tree, facts.registered.get(kind), now)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_equal(stored: Any, wanted: Any) -> bool:
    """jsonb containment of a scalar: the same JSON type and the same value."""
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if _is_number(wanted):
        return _is_number(stored) and stored == wanted
    return isinstance(stored, str) and stored == wanted


def _text(text: str, op: str, value: Any) -> bool:
    if op == "equals":
        return text == value
    if op == "not_equals":
        return text != value
    if op == "contains":
        return value.lower() in text.lower()
    if op == "starts_with":
        return text.lower().startswith(value.lower())
    if op == "in":
        return text in value
    raise ValueError(op)


def _field(node: dict, facts: Facts, now: datetime) -> bool:
    name, op = node["field"], node["op"]
    value = facts.fields.get(name)
    if PROFILE_FIELDS[name][1] == DATETIME:
        if op in ("is_set", "not_set"):
            return (value is not None) == (op == "is_set")
        if value is None:
            return False
        low, high = dates.datetime_bounds(op, node["value"], now)
        return (low is None or value >= low) and (high is None or value < high)
    text = value or ""
    target = node.get("value")
    if name == "email" and op in ("equals", "not_equals", "in"):
        text = text.lower()
        target = [v.lower() for v in target] if isinstance(target, list) else target.lower()
    if op in ("is_set", "not_set"):
        return (text != "") == (op == "is_set")
    return _text(text, op, target)


def _attribute(node: dict, facts: Facts, now: datetime) -> bool:
    key, value_type, op = node["key"], node["value_type"], node["op"]
    present = key in facts.attributes and facts.attributes[key] is not None
    stored = facts.attributes.get(key)
    if op in ("is_set", "not_set"):
        return present == (op == "is_set")
    if op == "not_equals":
        return not _attribute({**node, "op": "equals"}, facts, now)
    if op == "equals" and value_type in (STRING, NUMBER, "boolean"):
        return key in facts.attributes and _json_equal(stored, node["value"])
    if value_type == STRING:
        return isinstance(stored, str) and _text(stored, op, node["value"])
    if value_type == NUMBER:
        return _is_number(stored) and _number(float(stored), op, node["value"])
    if value_type == DATE:
        return _date_attribute(stored, op, node["value"], now)
    if value_type == DATETIME:
        if not (isinstance(stored, str) and _DATETIME.match(stored)):
            return False
        low, high = dates.datetime_text_bounds(op, node["value"], now)
        return _within(stored[:19], low, high)
    if value_type == LIST:
        if not isinstance(stored, list):
            return False
        strings = {x for x in stored if isinstance(x, str)}
        wanted = node["value"]
        return any(w in strings for w in wanted) if op == "contains_any" else all(
            w in strings for w in wanted
        )
    raise ValueError(value_type)


def _number(stored: float, op: str, value: Any) -> bool:
    if op == "between":
        return float(value[0]) <= stored <= float(value[1])
    return {
        "lt": stored < float(value), "lte": stored <= float(value),
        "gt": stored > float(value), "gte": stored >= float(value),
    }[op]


def _date_attribute(stored: Any, op: str, value: Any, now: datetime) -> bool:
    if not (isinstance(stored, str) and _DATE.match(stored)):
        return False
    text = stored[:10]
    if op == "anniversary_in_days":
        return text[5:10] in dates.month_days_ahead(now.astimezone(UTC).date(), value)
    low, high = dates.date_text_bounds(op, value, now)
    return _within(text, low, high)


def _within(text: str, low: str | None, high: str | None) -> bool:
    return (low is None or text >= low) and (high is None or text < high)


def _event(node: dict, facts: Facts, now: datetime) -> bool:
    low, high = dates.event_window(node, now)
    count = sum(
        1
        for name, occurred_at, properties in facts.events
        if name == node["name"]
        and (low is None or occurred_at >= low)
        and (high is None or occurred_at < high)
        and all(_property(item, properties) for item in node.get("where", []))
    )
    op, wanted = node["op"], node["count"]
    if op == "none":
        return count == 0
    if op == "at_least":
        return count >= wanted
    if op == "at_most":
        return count <= wanted
    return count == wanted


def _property(item: dict, properties: dict) -> bool:
    key, op, value = item["property"], item["op"], item["value"]
    stored = properties.get(key) if isinstance(properties, dict) else None
    present = isinstance(properties, dict) and key in properties
    if op == "equals":
        return present and _json_equal(stored, value)
    if op == "not_equals":
        return not (present and _json_equal(stored, value))
    if op == "contains":
        return isinstance(stored, str) and value.lower() in stored.lower()
    return _is_number(stored) and _number(float(stored), op, value)


def _consent(node: dict, facts: Facts, now: datetime) -> bool:
    channel, topic = node["channel"], node.get("topic")
    channel_state = facts.consents.get((channel, None), "unknown")
    regime_open = settings.CONSENT_REGIMES.get(channel, "opt_in") == "opt_out"
    default = channel_state == "opted_in" or regime_open
    if topic:
        topic_state = facts.consents.get((channel, topic), "unknown")
        default = topic_state == "opted_in" or (topic_state != "opted_out" and default)
    allowed = channel_state != "opted_out" and default
    return allowed if node["op"] == "subscribed" else not allowed


def _segment(node: dict, facts: Facts, now: datetime, stack: tuple) -> bool:
    segment_id = node["segment"]
    if segment_id in stack:
        raise CycleError(f"Segment {segment_id} refers to itself through other segments.")
    inside = matches(facts.segment_tree(segment_id), facts, now, (*stack, segment_id))
    return inside if node["op"] == "in" else not inside


def _list(node: dict, facts: Facts, now: datetime) -> bool:
    return node["segment"] in facts.lists


_CONDITIONS = {
    "list": _list,
    "field": _field,
    "attribute": _attribute,
    "event": _event,
    "consent": _consent,
}
