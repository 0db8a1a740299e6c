"""The builder's rows (groups and conditions), what their pickers offer, and how each
condition row settles on valid choices and the inputs they need."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from profiles.rules.schema import (
    BOOLEAN,
    CONSENT_CHANNELS,
    CONSENT_OPS,
    DATE,
    DATETIME,
    EVENT_OPS,
    MAX_DEPTH,
    NUMBER,
    OPERATOR_LABELS,
    OPERATORS,
    PROFILE_FIELDS,
    PROPERTY_OPS,
    SEGMENT_OPS,
    SET_OPS,
    STRING,
)

ROOT = "r"
GROUPS = ("all", "any")
BUILTIN_KINDS = {"field": "Profile field", "attribute": "Attribute", "event": "Event",
                 "consent": "Consent", "segment": "Segment membership"}
DAYS_OPS = ("within_last_days", "within_next_days", "anniversary_in_days")
LIST_OPS = ("in", "contains_any", "contains_all")
EVENT_OP_LABELS = {"at_least": "at least", "at_most": "at most", "exactly": "exactly",
                   "none": "never (did not do it)"}
PROPERTY_OP_LABELS = {"equals": "=", "not_equals": "≠", "gt": ">", "gte": "≥", "lt": "<",
                      "lte": "≤", "contains": "contains"}
PROPERTY_TYPES = {"text": "text", "number": "number", "boolean": "yes/no"}
WINDOWS = {"ever": "ever", "days": "in the last … days", "between": "between dates"}
CONSENT_OP_LABELS = {"subscribed": "is subscribed to", "unsubscribed": "is not subscribed to"}
SEGMENT_OP_LABELS = {"in": "is in", "not_in": "is not in"}
# What each input is called when an error names it.
FIELD_LABELS = {
    "": "", "kind": "Kind", "field": "Field", "key": "Attribute", "op": "Operator",
    "value": "Value", "choices": "Values", "value_low": "From", "value_high": "To",
    "value_type": "Type", "name": "Event", "count": "Times", "window": "When",
    "within_days": "Days", "between_from": "From", "between_to": "To", "where": "Properties",
    "channel": "Channel", "topic": "Topic", "segment": "Segment", "params": "Parameters",
}

@dataclass(frozen=True)
class Options:
    """What the pickers offer (profiles.builder.options reads it from the database)."""

    attributes: Mapping[str, tuple[str, str, tuple]] = field(default_factory=dict)
    event_names: tuple[str, ...] = ()
    topics: tuple[tuple[str, str, str], ...] = ()  # (key, name, channel)
    segments: tuple[tuple[int, str], ...] = ()  # never the segment being edited
    registered: Mapping[str, str] = field(default_factory=dict)  # condition type → label

    def kinds(self) -> list[tuple[str, str]]:
        return [*BUILTIN_KINDS.items(), *self.registered.items()]


@dataclass
class Row:
    """A group (kind all/any, with children) or a condition (kind = its condition type)."""

    kind: str
    negate: bool = False
    children: list[Row] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    where: list[dict[str, str]] = field(default_factory=list)
    path: str = ROOT
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Set by settle(): what the row's inputs look like.
    value_type: str = ""
    widget: str = ""
    ops: list[tuple[str, str]] = field(default_factory=list)
    allowed: tuple = ()

    @property
    def is_group(self) -> bool:
        return self.kind in GROUPS

    @property
    def dom_id(self) -> str:
        return "b-" + self.path.replace(".", "-")

    @property
    def depth(self) -> int:
        return self.path.count(".") + 1

    @property
    def can_nest(self) -> bool:
        # A group inside this one must still hold a condition within the depth limit.
        return self.depth + 2 <= MAX_DEPTH

    @property
    def error_list(self) -> list[tuple[str, str]]:
        return [(input_label(name), message)
                for name, messages in self.errors.items() for message in messages]

    @property
    def invalid_inputs(self) -> list[str]:
        return [f"{self.path}.{name}" for name in self.errors if name]


# --- settling a condition ----------------------------------------------------------------


def settle_row(row: Row, options: Options) -> None:
    values = row.values
    if row.kind not in BUILTIN_KINDS and row.kind not in options.registered:
        if not row.kind:
            row.kind = "attribute" if options.attributes else "field"
        else:
            row.widget = "json"  # a type this page cannot draw: kept as its JSON
            return
    if row.kind == "field":
        if values.get("field") not in PROFILE_FIELDS:
            values["field"] = next(iter(PROFILE_FIELDS))
        _settle_comparison(row, PROFILE_FIELDS[values["field"]][1], ())
    elif row.kind == "attribute":
        key = values.get("key") or ""
        if not key and options.attributes:
            key = values["key"] = next(iter(options.attributes))
        declared = options.attributes.get(key)
        if declared:
            values["value_type"] = ""  # the schema says; only an undeclared key carries its own
        value_type = declared[1] if declared else (values.get("value_type") or STRING)
        if value_type not in OPERATORS:
            value_type = STRING
        _settle_comparison(row, value_type, tuple(declared[2]) if declared else ())
    elif row.kind == "event":
        _pick(values, "op", EVENT_OPS)
        _pick(values, "window", tuple(WINDOWS))
        values["count"] = values.get("count") or "1"
        row.ops = [(op, EVENT_OP_LABELS[op]) for op in EVENT_OPS]
        for item in row.where:
            item["op"] = item.get("op") if item.get("op") in PROPERTY_OPS else "equals"
            item["as"] = item.get("as") if item.get("as") in PROPERTY_TYPES else "text"
    elif row.kind == "consent":
        _pick(values, "channel", CONSENT_CHANNELS)
        _pick(values, "op", CONSENT_OPS)
        channels = {key: channel for key, _, channel in options.topics}
        # A topic of another channel goes with a change of channel; an unknown one (deleted
        # since) stays, shown as such, for validation to name rather than silently widen.
        if channels.get(values.get("topic")) not in (None, values["channel"]):
            values["topic"] = ""
        row.allowed = tuple(key for key, channel in channels.items()
                            if channel == values["channel"])
        row.ops = [(op, CONSENT_OP_LABELS[op]) for op in CONSENT_OPS]
    elif row.kind == "segment":
        _pick(values, "op", SEGMENT_OPS)
        if not values.get("segment") and options.segments:
            values["segment"] = str(options.segments[0][0])
        row.allowed = tuple(str(pk) for pk, _ in options.segments)
        row.ops = [(op, SEGMENT_OP_LABELS[op]) for op in SEGMENT_OPS]
    else:
        row.widget = "json"
        values["params"] = values.get("params") or "{}"


def _pick(values: dict, name: str, choices: tuple[str, ...]) -> None:
    if values.get(name) not in choices:
        values[name] = choices[0]


def _settle_comparison(row: Row, value_type: str, allowed: tuple) -> None:
    row.value_type, row.allowed = value_type, tuple(str(v) for v in allowed)
    _pick(row.values, "op", OPERATORS[value_type])
    row.ops = [(op, OPERATOR_LABELS[op]) for op in OPERATORS[value_type]]
    row.widget = _widget(value_type, row.values["op"], bool(allowed))


def _widget(value_type: str, op: str, has_allowed: bool) -> str:
    if op in SET_OPS:
        return "none"
    if op == "between":
        return "between"
    if op in DAYS_OPS:
        return "days"
    if op in LIST_OPS:
        return "choices" if has_allowed else "list"
    if value_type == BOOLEAN:
        return "boolean"
    if has_allowed:
        return "select"
    return {NUMBER: "number", DATE: "date", DATETIME: "date"}.get(value_type, "text")


def input_label(name: str) -> str:
    if name.startswith("where."):
        _, index, part = name.split(".")
        return f"Property filter {int(index) + 1} ({part})"
    return FIELD_LABELS.get(name, name)
