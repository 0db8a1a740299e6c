"""The rule tree: node types, operators by value type, limits, and validation.

A tree is a group or a condition:

    {"all": [node, …]}  {"any": [node, …]}  {"not": node}
    {"type": "field", "field": "email", "op": "contains", "value": "@example.org"}
    {"type": "attribute", "key": "plan", "op": "in", "value": ["pro", "enterprise"]}
    {"type": "event", "name": "order_completed", "op": "at_least", "count": 2,
     "within_days": 30, "where": [{"property": "total", "op": "gt", "value": 50}]}
    {"type": "consent", "channel": "email", "topic": "newsletter", "op": "subscribed"}
    {"type": "segment", "op": "in", "segment": 12}
    {"type": "<registered by another app>", …}          (profiles.rules.registry)

Attributes are typed by the attribute schema (AttributeDefinition); an attribute that is not
declared may still be used when the node says how to read it ("value_type"). Validation
returns a normalized copy and reports every problem with its JSON path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

MAX_DEPTH = 8
MAX_NODES = 100
MAX_LIST_VALUES = 1000
MAX_TEXT = 1000
MAX_DAYS = 36_500
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
PROPERTY_KEY = re.compile(r"^[^\x00-\x1f]{1,100}$")
EVENT_NAME = re.compile(r"^[^\x00-\x1f]{1,200}$")

STRING, NUMBER, BOOLEAN, DATE, DATETIME, LIST = (
    "string", "number", "boolean", "date", "datetime", "list"
)
SET_OPS = ("is_set", "not_set")
OPERATORS: dict[str, tuple[str, ...]] = {
    STRING: ("equals", "not_equals", "contains", "starts_with", "in", *SET_OPS),
    NUMBER: ("equals", "not_equals", "lt", "lte", "gt", "gte", "between", *SET_OPS),
    BOOLEAN: ("equals", *SET_OPS),
    DATE: ("before", "after", "between", "within_last_days", "within_next_days",
           "anniversary_in_days", *SET_OPS),
    DATETIME: ("before", "after", "between", "within_last_days", "within_next_days", *SET_OPS),
    LIST: ("contains_any", "contains_all", *SET_OPS),
}
OPERATOR_LABELS = {
    "equals": "is", "not_equals": "is not", "contains": "contains", "starts_with": "starts with",
    "in": "is one of", "is_set": "is set", "not_set": "is not set", "lt": "<", "lte": "≤",
    "gt": ">", "gte": "≥", "between": "is between", "before": "is before", "after": "is after",
    "within_last_days": "is within the last … days",
    "within_next_days": "is within the next … days",
    "anniversary_in_days": "has its anniversary within … days",
    "contains_any": "contains any of", "contains_all": "contains all of",
}
# Profile columns a condition may read, with their value type.
PROFILE_FIELDS: dict[str, tuple[str, str]] = {
    "external_id": ("External id", STRING),
    "email": ("Email", STRING),
    "phone": ("Phone", STRING),
    "first_name": ("First name", STRING),
    "last_name": ("Last name", STRING),
    "timezone": ("Time zone", STRING),
    "locale": ("Locale", STRING),
    "created_at": ("Created", DATETIME),
    "last_seen_at": ("Last seen", DATETIME),
}
EVENT_OPS = ("at_least", "at_most", "exactly", "none")
PROPERTY_OPS = ("equals", "not_equals", "gt", "gte", "lt", "lte", "contains")
CONSENT_OPS = ("subscribed", "unsubscribed")
CONSENT_CHANNELS = ("email", "sms", "push", "mail")
SEGMENT_OPS = ("in", "not_in")


class RuleError(ValueError):
    """Every problem of a rule tree: `errors` is a list of {"path": "$.all[1].value", …}."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))

    def as_dict(self) -> dict[str, str]:
        return {e["path"]: e["message"] for e in self.errors}


@dataclass(frozen=True)
class Catalog:
    """What validation needs to know about the world: declared attribute types, topics,
    segments (for references), and condition types other apps registered."""

    attribute_types: Mapping[str, str] = field(default_factory=dict)
    allowed_values: Mapping[str, tuple] = field(default_factory=dict)
    topics: frozenset[str] = frozenset()
    segments: frozenset[int] = frozenset()


def validate(rules: Any, catalog: Catalog) -> dict[str, Any]:
    """Return the normalized tree or raise RuleError listing every bad node by path."""
    from profiles.rules.registry import condition_types

    checker = _Checker(catalog, condition_types())
    tree = checker.node(_upgrade(rules), "$", depth=1)
    if checker.nodes > MAX_NODES:
        checker.fail(
            "$", f"A rule tree has at most {MAX_NODES} nodes; this one has {checker.nodes}."
        )
    if checker.errors:
        raise RuleError(checker.errors)
    return tree


def _upgrade(rules: Any) -> Any:
    """Read the first format ({"field": "attributes.plan", "op": "equals", …}) as today's."""
    if rules in (None, "", {}):
        return {"all": []}
    if isinstance(rules, dict) and len(rules) == 1 and next(iter(rules)) in ("all", "any"):
        joiner, items = next(iter(rules.items()))
        if isinstance(items, list):
            return {joiner: [_upgrade_condition(item) for item in items]}
    return rules


def _upgrade_condition(item: Any) -> Any:
    if not isinstance(item, dict) or "type" in item or "field" not in item:
        return _upgrade(item) if isinstance(item, dict) else item
    name, value = item.get("field"), item.get("value")
    if isinstance(name, str) and name.startswith("attributes."):
        value_type = BOOLEAN if isinstance(value, bool) else (
            NUMBER if isinstance(value, int | float) else STRING
        )
        op = item.get("op")
        if value_type == BOOLEAN and op == "not_equals":
            return {"not": {"type": "attribute", "key": name[11:], "op": "equals",
                            "value": value, "value_type": BOOLEAN}}
        return {"type": "attribute", "key": name[11:], "op": op, "value": value,
                "value_type": value_type}
    return {"type": "field", **item}


class _Checker:
    def __init__(self, catalog: Catalog, registered: Mapping[str, Any]):
        self.catalog = catalog
        self.registered = registered
        self.errors: list[dict[str, str]] = []
        self.nodes = 0

    def fail(self, path: str, message: str) -> None:
        self.errors.append({"path": path, "message": message})

    def node(self, node: Any, path: str, depth: int) -> Any:
        self.nodes += 1
        if depth > MAX_DEPTH:
            self.fail(path, f"Groups nest at most {MAX_DEPTH} deep.")
            return node
        if not isinstance(node, dict):
            self.fail(path, "A node is an object: a group (all/any/not) or a condition.")
            return node
        groups = [k for k in ("all", "any", "not") if k in node]
        if groups:
            return self.group(node, groups, path, depth)
        kind = node.get("type")
        checker = getattr(self, f"_{kind}", None) if kind in _BUILTIN else None
        if checker is not None:
            return checker(node, path)
        if kind in self.registered:
            return self.registered_condition(kind, node, path)
        self.fail(f"{path}.type", f"Unknown condition type {kind!r}.")
        return node

    def group(self, node: dict, groups: list[str], path: str, depth: int) -> Any:
        if len(groups) != 1 or len(node) != 1:
            self.fail(path, "A group has exactly one key: all, any or not.")
            return node
        key = groups[0]
        if key == "not":
            return {"not": self.node(node["not"], f"{path}.not", depth + 1)}
        items = node[key]
        if not isinstance(items, list):
            self.fail(f"{path}.{key}", "A group holds a list of nodes.")
            return node
        return {key: [self.node(n, f"{path}.{key}[{i}]", depth + 1) for i, n in enumerate(items)]}

    # --- conditions -----------------------------------------------------------------------

    def _field(self, node: dict, path: str) -> dict:
        name = node.get("field")
        if name not in PROFILE_FIELDS:
            self.fail(f"{path}.field", f"Unknown profile field {name!r}.")
            return node
        value_type = PROFILE_FIELDS[name][1]
        return {"type": "field", "field": name, **self.comparison(node, value_type, path)}

    def _attribute(self, node: dict, path: str) -> dict:
        key = node.get("key")
        if not isinstance(key, str) or not ATTRIBUTE_KEY.match(key):
            self.fail(f"{path}.key", f"{key!r} is not an attribute key.")
            return node
        declared = self.catalog.attribute_types.get(key)
        value_type = node.get("value_type") or declared
        if value_type is None:
            self.fail(f"{path}.key", f"Unknown attribute {key!r}: declare it in the schema.")
            return node
        if value_type not in OPERATORS:
            self.fail(f"{path}.value_type", f"Unknown value type {value_type!r}.")
            return node
        if declared and node.get("value_type") and node["value_type"] != declared:
            self.fail(f"{path}.value_type", f"{key!r} is declared as {declared}.")
            return node
        return {"type": "attribute", "key": key, "value_type": value_type,
                **self.comparison(node, value_type, path)}

    def comparison(self, node: dict, value_type: str, path: str) -> dict:
        op = node.get("op")
        if op not in OPERATORS[value_type]:
            allowed = ", ".join(OPERATORS[value_type])
            self.fail(f"{path}.op", f"{op!r} is not an operator for {value_type} ({allowed}).")
            return {"op": op, "value": node.get("value")}
        if op in SET_OPS:
            return {"op": op}
        return {"op": op, "value": self.operand(node.get("value"), value_type, op, f"{path}.value")}

    def operand(self, value: Any, value_type: str, op: str, path: str) -> Any:
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                self.fail(path, "between takes [low, high].")
                return value
            return [self.scalar(v, value_type, f"{path}[{i}]") for i, v in enumerate(value)]
        if op in ("within_last_days", "within_next_days", "anniversary_in_days"):
            return self.days(value, path)
        if op in ("in", "contains_any", "contains_all"):
            if not isinstance(value, list) or not value or len(value) > MAX_LIST_VALUES:
                self.fail(path, f"A list of 1 to {MAX_LIST_VALUES} values is needed.")
                return value
            return [self.scalar(v, STRING, f"{path}[{i}]") for i, v in enumerate(value)]
        return self.scalar(value, value_type, path)

    def scalar(self, value: Any, value_type: str, path: str) -> Any:
        if value_type == NUMBER:
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if not numeric or not math.isfinite(value):
                self.fail(path, "A number is needed.")
            return value
        if value_type == BOOLEAN:
            if not isinstance(value, bool):
                self.fail(path, "true or false is needed.")
            return value
        if value_type in (DATE, DATETIME):
            return self.a_date(value, value_type, path)
        if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
            self.fail(path, f"Text of 1 to {MAX_TEXT} characters is needed.")
        return value

    def a_date(self, value: Any, value_type: str, path: str) -> Any:
        try:
            parsed = date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail(path, "A date (YYYY-MM-DD) is needed.")
            return value
        return parsed.isoformat()

    def days(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
            self.fail(path, f"A whole number of days from 0 to {MAX_DAYS} is needed.")
        return value

    def _event(self, node: dict, path: str) -> dict:
        name, op = node.get("name"), node.get("op", "at_least")
        if not isinstance(name, str) or not EVENT_NAME.match(name):
            self.fail(f"{path}.name", "An event name (1 to 200 characters) is needed.")
        if op not in EVENT_OPS:
            self.fail(f"{path}.op", f"{op!r} is not one of {', '.join(EVENT_OPS)}.")
        count = 0 if op == "none" else node.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1_000_000:
            self.fail(f"{path}.count", "A whole number of times from 0 is needed.")
        clean = {"type": "event", "name": name, "op": op, "count": count}
        clean.update(self.window(node, path))
        clean["where"] = self.properties(node.get("where", []), f"{path}.where")
        return clean

    def window(self, node: dict, path: str) -> dict:
        if "within_days" in node and "between" in node:
            self.fail(path, "Use within_days or between, not both.")
        if "within_days" in node:
            return {"within_days": self.days(node["within_days"], f"{path}.within_days")}
        if "between" in node:
            span = node["between"]
            if not isinstance(span, list) or len(span) != 2:
                self.fail(f"{path}.between", "between takes [first day, last day].")
                return {"between": span}
            return {"between": [self.a_date(d, DATE, f"{path}.between[{i}]")
                                for i, d in enumerate(span)]}
        return {}

    def properties(self, filters: Any, path: str) -> list:
        if not isinstance(filters, list) or len(filters) > 20:
            self.fail(path, "where is a list of at most 20 property filters.")
            return []
        clean = []
        for i, item in enumerate(filters):
            here = f"{path}[{i}]"
            if not isinstance(item, dict):
                self.fail(here, "A property filter is an object.")
                continue
            key, op, value = item.get("property"), item.get("op"), item.get("value")
            if not isinstance(key, str) or not PROPERTY_KEY.match(key):
                self.fail(f"{here}.property", f"{key!r} is not a property name.")
            if op not in PROPERTY_OPS:
                self.fail(f"{here}.op", f"{op!r} is not one of {', '.join(PROPERTY_OPS)}.")
            numeric = op in ("gt", "gte", "lt", "lte")
            if numeric and (isinstance(value, bool) or not isinstance(value, int | float)):
                self.fail(f"{here}.value", "A number is needed.")
            elif op == "contains" and not isinstance(value, str):
                self.fail(f"{here}.value", "Text is needed.")
            elif not isinstance(value, str | int | float | bool) or value == "":
                self.fail(f"{here}.value", "A value (text, number or true/false) is needed.")
            clean.append({"property": key, "op": op, "value": value})
        return clean

    def _consent(self, node: dict, path: str) -> dict:
        channel, topic, op = node.get("channel"), node.get("topic"), node.get("op")
        if channel not in CONSENT_CHANNELS:
            choices = ", ".join(CONSENT_CHANNELS)
            self.fail(f"{path}.channel", f"{channel!r} is not one of {choices}.")
        if topic is not None and topic not in self.catalog.topics:
            self.fail(f"{path}.topic", f"Unknown topic {topic!r}.")
        if op not in CONSENT_OPS:
            self.fail(f"{path}.op", f"{op!r} is not one of {', '.join(CONSENT_OPS)}.")
        return {"type": "consent", "channel": channel, "topic": topic, "op": op}

    def _segment(self, node: dict, path: str) -> dict:
        segment, op = node.get("segment"), node.get("op")
        if isinstance(segment, bool) or not isinstance(segment, int) or (
            segment not in self.catalog.segments
        ):
            self.fail(f"{path}.segment", f"Unknown segment {segment!r}.")
        if op not in SEGMENT_OPS:
            self.fail(f"{path}.op", f"{op!r} is not one of {', '.join(SEGMENT_OPS)}.")
        return {"type": "segment", "segment": segment, "op": op}

    def registered_condition(self, kind: str, node: dict, path: str) -> dict:
        problems, clean = self.registered[kind].validate(node)
        for sub_path, message in problems:
            self.fail(f"{path}{sub_path}", message)
        return {"type": kind, **clean}


_BUILTIN = ("field", "attribute", "event", "consent", "segment")


def referenced_segments(tree: Any) -> set[int]:
    """Segment ids a tree refers to directly (for cycle detection)."""
    found: set[int] = set()
    for node in walk(tree):
        if node.get("type") == "segment" and isinstance(node.get("segment"), int):
            found.add(node["segment"])
    return found


def walk(tree: Any):
    """Every condition node of a tree."""
    if not isinstance(tree, dict):
        return
    for key in ("all", "any"):
        if key in tree and isinstance(tree[key], list):
            for child in tree[key]:
                yield from walk(child)
            return
    if "not" in tree:
        yield from walk(tree["not"])
        return
    yield tree
