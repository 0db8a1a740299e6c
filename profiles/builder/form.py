"""The rule tree as the builder page's form fields.

The page holds the tree as plain inputs named by the position of their row: the root group is
`r`, its children `r.0`, `r.1`, a child of `r.1` is `r.1.0`, and every input of a row is
`<path>.<name>` (`r.1.0.kind`, `r.1.0.op`, `r.1.0.value`, `r.1.0.where.2.property`). Each
change posts the whole form; the server rebuilds the rows from the names alone, applies the
button pressed (`do=add_condition:r.1`) and renders the rows again with fresh paths. So the
server is the only source of truth, no JSON is kept in sync on the page, and the same form
works without JavaScript (every button is a plain submit button).

Rows turn into the engine's rule tree (`Builder.rules()`), remembering which JSON path each
row became, so an engine error such as `$.all[1].any[0].value[1]` lands on row `r.1.0`, input
`value_high`. Values are converted by the type their row reads (a number input becomes a
number) and anything that does not convert is passed on as typed, for the engine to name the
problem: the builder has no validation rules of its own beyond its inputs' shapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
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
    RuleError,
    _upgrade,
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
_NODE_NAME = re.compile(r"^r(?:\.\d{1,3})*$")
_WHERE_NAME = re.compile(r"^(r(?:\.\d{1,3})*)\.where\.(\d{1,2})\.(property|op|value|as)$")
_ERROR_TAIL = re.compile(r"^\.(\w+)(?:\[(\d+)\])?(.*)$")
_INTEGER = re.compile(r"^[+-]?\d{1,15}$")


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
        return [(_input_label(name), message)
                for name, messages in self.errors.items() for message in messages]

    @property
    def invalid_inputs(self) -> list[str]:
        return [f"{self.path}.{name}" for name in self.errors if name]

    def input_invalid(self, name: str) -> bool:
        return name in self.errors


class Builder:
    """The rows of one builder form, with the options its pickers offer."""

    # The fixed pickers, for the templates.
    profile_fields = [(name, label) for name, (label, _) in PROFILE_FIELDS.items()]
    consent_channels = CONSENT_CHANNELS
    windows = list(WINDOWS.items())
    property_ops = list(PROPERTY_OP_LABELS.items())
    property_types = list(PROPERTY_TYPES.items())

    def __init__(self, root: Row, options: Options):
        self.root = root
        self.options = options
        self._paths: dict[str, Row] = {}
        self.renumber()

    # --- reading -----------------------------------------------------------------------------

    @classmethod
    def from_post(cls, data, options: Options) -> Builder:
        """Rows from posted fields (a QueryDict or a dict of lists)."""
        rows: dict[str, Row] = {}
        for name in data:
            if name.endswith(".kind") and _NODE_NAME.match(name[:-5]):
                path = name[:-5]
                negate = _first(data, f"{path}.not") == "on"
                rows[path] = Row(kind=_first(data, name), negate=negate)
        for path, row in rows.items():
            if not row.is_group:
                row.values = {key: _first(data, f"{path}.{key}") for key in _VALUE_INPUTS}
                row.values["choices"] = list(_all(data, f"{path}.choices"))
        filters: dict[str, dict[int, dict[str, str]]] = {}
        for name in data:
            match = _WHERE_NAME.match(name)
            if match:
                path, index, key = match.groups()
                filters.setdefault(path, {}).setdefault(int(index), {})[key] = _first(data, name)
        for path, by_index in filters.items():
            if path in rows:
                rows[path].where = [by_index[i] for i in sorted(by_index)]
        root = rows.get(ROOT) or Row(kind="all")
        if not root.is_group:
            root = Row(kind="all", children=[root])
        for path in sorted(rows, key=_path_key):
            parent = rows.get(path.rpartition(".")[0]) if path != ROOT else None
            if parent is not None and parent.is_group and _reachable(path, rows):
                parent.children.append(rows[path])
        builder = cls(root, options)
        builder.settle()
        return builder

    @classmethod
    def from_rules(cls, rules: Any, options: Options) -> Builder:
        """Rows that show a saved rule tree."""
        root = _row_from_node(_upgrade(rules))
        if not root.is_group:
            root = Row(kind="all", children=[root])
        builder = cls(root, options)
        builder.settle()
        return builder

    # --- the buttons -----------------------------------------------------------------------

    def apply(self, action: str) -> None:
        """`add_condition:<group>`, `add_group:<group>`, `remove:<row>`, `add_where:<row>`,
        `remove_where:<row>:<index>`; anything else (a stale page) changes nothing."""
        verb, _, target = action.partition(":")
        path, _, index = target.partition(":")
        row = self._paths.get(path)
        if row is None:
            return
        if verb == "add_condition" and row.is_group:
            row.children.append(self.new_condition())
        elif verb == "add_group" and row.is_group and row.can_nest:
            row.children.append(Row(kind="any" if row.kind == "all" else "all",
                                    children=[self.new_condition()]))
        elif verb == "remove" and path != ROOT:
            parent = self._paths[path.rpartition(".")[0]]
            parent.children.remove(row)
        elif verb == "add_where" and row.kind == "event" and len(row.where) < 20:
            row.where.append({"property": "", "op": "equals", "value": "", "as": "text"})
        elif verb == "remove_where" and index.isdigit() and int(index) < len(row.where):
            del row.where[int(index)]
        self.renumber()
        self.settle()

    def new_condition(self) -> Row:
        return Row(kind="attribute" if self.options.attributes else "field")

    # --- the rule tree -------------------------------------------------------------------------

    def rules(self) -> dict:
        """The rule tree these rows spell, for the engine to validate."""
        self._json_paths: dict[str, Row] = {}
        self._local_errors: list[dict[str, str]] = []
        return self._node(self.root, "$")

    def validated(self, validate: Callable[[dict], dict]) -> dict:
        """The tree through `validate`; RuleError lists the builder's and the engine's
        problems together, so every bad row shows at once."""
        tree = self.rules()
        errors = list(self._local_errors)
        try:
            clean = validate(tree)
        except RuleError as exc:
            errors += [e for e in exc.errors if e not in errors]
        if errors:
            raise RuleError(errors)
        return clean

    def show_errors(self, errors: list[dict[str, str]]) -> None:
        """Put each error on its row and input."""
        if not hasattr(self, "_json_paths"):
            self.rules()
        for error in errors:
            row, rest = self._row_for(error["path"])
            name = _input_for(row, rest)
            messages = row.errors.setdefault(name, [])
            if error["message"] not in messages:
                messages.append(error["message"])

    @property
    def has_errors(self) -> bool:
        return any(row.errors for row in self.rows())

    def rows(self) -> list[Row]:
        return list(self._paths.values())

    # --- internals -----------------------------------------------------------------------------

    def renumber(self) -> None:
        self._paths = {}

        def visit(row: Row, path: str) -> None:
            row.path = path
            self._paths[path] = row
            for i, child in enumerate(row.children):
                visit(child, f"{path}.{i}")

        visit(self.root, ROOT)

    def settle(self) -> None:
        """Give every condition a valid kind, picker choice and operator for what it reads,
        and decide which inputs it shows."""
        for row in self.rows():
            if not row.is_group:
                _settle(row, self.options)

    def _node(self, row: Row, path: str) -> dict:
        self._json_paths[path] = row
        if row.negate:
            path = f"{path}.not"
            self._json_paths[path] = row
        if row.is_group:
            node: dict = {row.kind: [self._node(child, f"{path}.{row.kind}[{i}]")
                                     for i, child in enumerate(row.children)]}
        else:
            node = _CONDITIONS.get(row.kind, _registered)(row, path, self._local_errors)
        return {"not": node} if row.negate else node

    def _row_for(self, path: str) -> tuple[Row, str]:
        best = "$"
        for known in self._json_paths:
            if len(known) > len(best) and (
                path == known or path.startswith(known + ".") or path.startswith(known + "[")
            ):
                best = known
        return self._json_paths.get(best, self.root), path[len(best):]


_VALUE_INPUTS = ("field", "key", "op", "value", "value_low", "value_high", "value_type", "name",
                 "count", "window", "within_days", "between_from", "between_to", "channel",
                 "topic", "segment", "params")


def _first(data, name: str) -> str:
    values = _all(data, name)
    return str(values[-1]).strip() if values else ""


def _all(data, name: str) -> list:
    if hasattr(data, "getlist"):
        return data.getlist(name)
    value = data.get(name)
    return value if isinstance(value, list) else ([] if value is None else [value])


def _path_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in path.split(".")[1:])


def _reachable(path: str, rows: Mapping[str, Row]) -> bool:
    """Every ancestor of the path was posted too (a stray field cannot graft a branch)."""
    parts = path.split(".")
    return all(".".join(parts[:i]) in rows for i in range(1, len(parts)))


# --- settling a condition ----------------------------------------------------------------


def _settle(row: Row, options: Options) -> None:
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
        topics = {key for key, _, channel in options.topics if channel == values["channel"]}
        if values.get("topic") and values["topic"] not in topics:
            values["topic"] = ""
        row.ops = [(op, CONSENT_OP_LABELS[op]) for op in CONSENT_OPS]
    elif row.kind == "segment":
        _pick(values, "op", SEGMENT_OPS)
        if not values.get("segment") and options.segments:
            values["segment"] = str(options.segments[0][0])
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


# --- rows → rule tree ----------------------------------------------------------------------


def _comparison(row: Row) -> dict:
    values, widget = row.values, row.widget
    if widget == "none":
        return {"op": values["op"]}
    scalar = _number if row.value_type == NUMBER else str
    if widget == "between":
        value: Any = [scalar(values.get("value_low", "")), scalar(values.get("value_high", ""))]
    elif widget == "days":
        value = _integer(values.get("value", ""))
    elif widget == "list":
        value = [part.strip() for part in values.get("value", "").split(",") if part.strip()]
    elif widget == "choices":
        value = [str(v) for v in values.get("choices", [])]
    elif widget == "boolean":
        value = {"true": True, "false": False}.get(values.get("value", ""), values.get("value"))
    else:
        value = scalar(values.get("value", ""))
    return {"op": values["op"], "value": value}


def _field_node(row: Row, path: str, errors: list) -> dict:
    return {"type": "field", "field": row.values["field"], **_comparison(row)}


def _attribute_node(row: Row, path: str, errors: list) -> dict:
    node = {"type": "attribute", "key": row.values.get("key", "")}
    if row.values.get("value_type"):
        node["value_type"] = row.values["value_type"]
    return {**node, **_comparison(row)}


def _event_node(row: Row, path: str, errors: list) -> dict:
    values = row.values
    node: dict[str, Any] = {"type": "event", "name": values.get("name", ""), "op": values["op"]}
    if values["op"] != "none":
        node["count"] = _integer(values.get("count", ""))
    if values["window"] == "days":
        node["within_days"] = _integer(values.get("within_days", ""))
    elif values["window"] == "between":
        node["between"] = [values.get("between_from", ""), values.get("between_to", "")]
    node["where"] = []
    for i, item in enumerate(row.where):
        value: Any = item.get("value", "")
        if item["op"] in ("gt", "gte", "lt", "lte") or item["as"] == "number":
            value = _number(value)
            if isinstance(value, str) and item["op"] in ("equals", "not_equals"):
                errors.append({"path": f"{path}.where[{i}].value",
                               "message": "A number is needed."})
        elif item["as"] == "boolean" and item["op"] != "contains":
            value = {"true": True, "yes": True, "false": False, "no": False}.get(value.lower(), "")
        node["where"].append({"property": item.get("property", ""), "op": item["op"],
                              "value": value})
    return node


def _consent_node(row: Row, path: str, errors: list) -> dict:
    node = {"type": "consent", "channel": row.values["channel"], "op": row.values["op"]}
    if row.values.get("topic"):
        node["topic"] = row.values["topic"]
    return node


def _segment_node(row: Row, path: str, errors: list) -> dict:
    return {"type": "segment", "op": row.values["op"],
            "segment": _integer(row.values.get("segment", ""))}


def _registered(row: Row, path: str, errors: list) -> dict:
    try:
        params = json.loads(row.values.get("params") or "{}")
    except ValueError as exc:
        errors.append({"path": f"{path}.params", "message": f"Not valid JSON: {exc}."})
        params = {}
    if not isinstance(params, dict):
        errors.append({"path": f"{path}.params", "message": "Parameters are a JSON object."})
        params = {}
    params.pop("type", None)
    return {"type": row.kind, **params}


_CONDITIONS = {"field": _field_node, "attribute": _attribute_node, "event": _event_node,
               "consent": _consent_node, "segment": _segment_node}


def _number(raw: Any) -> Any:
    text = str(raw).strip()
    if _INTEGER.match(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text
    return number if number == number and abs(number) != float("inf") else text


def _integer(raw: Any) -> Any:
    text = str(raw).strip()
    return int(text) if _INTEGER.match(text) else text


# --- rule tree → rows -----------------------------------------------------------------------


def _row_from_node(node: Any) -> Row:
    if not isinstance(node, dict):
        return Row(kind="raw", values={"params": json.dumps(node)})
    if "not" in node and len(node) == 1:
        row = _row_from_node(node["not"])
        if row.negate:
            return Row(kind="all", negate=True, children=[row])
        row.negate = True
        return row
    for key in GROUPS:
        if key in node and len(node) == 1 and isinstance(node[key], list):
            return Row(kind=key, children=[_row_from_node(child) for child in node[key]])
    kind = node.get("type")
    reader = _READERS.get(kind)
    if reader is None:
        params = {k: v for k, v in node.items() if k not in ("type", "label")}
        return Row(kind=str(kind or "raw"), values={"params": json.dumps(params)})
    return Row(kind=kind, values=reader(node), where=_where_rows(node))


def _comparison_values(node: dict) -> dict:
    value, op = node.get("value"), node.get("op", "")
    values = {"op": op}
    if op == "between" and isinstance(value, list) and len(value) == 2:
        values["value_low"], values["value_high"] = _shown(value[0]), _shown(value[1])
    elif isinstance(value, list):
        values["value"] = ", ".join(_shown(v) for v in value)
        values["choices"] = [_shown(v) for v in value]
    elif value is not None:
        values["value"] = _shown(value)
    return values


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _event_values(node: dict) -> dict:
    values = {"name": str(node.get("name") or ""), "op": node.get("op", "at_least"),
              "count": _shown(node.get("count", 1)), "window": "ever"}
    if "within_days" in node:
        values.update(window="days", within_days=_shown(node["within_days"]))
    elif isinstance(node.get("between"), list) and len(node["between"]) == 2:
        values.update(window="between", between_from=str(node["between"][0]),
                      between_to=str(node["between"][1]))
    return values


def _where_rows(node: dict) -> list[dict[str, str]]:
    rows = []
    for item in node.get("where", []) if node.get("type") == "event" else []:
        if isinstance(item, dict):
            value = item.get("value")
            kind = ("boolean" if isinstance(value, bool)
                    else "number" if isinstance(value, int | float) else "text")
            rows.append({"property": str(item.get("property", "")), "op": item.get("op", ""),
                         "value": _shown(value) if value is not None else "", "as": kind})
    return rows


_READERS: dict[str, Callable[[dict], dict]] = {
    "field": lambda n: {"field": n.get("field"), **_comparison_values(n)},
    "attribute": lambda n: {"key": n.get("key"), "value_type": n.get("value_type") or "",
                            **_comparison_values(n)},
    "event": _event_values,
    "consent": lambda n: {"channel": n.get("channel"), "topic": n.get("topic") or "",
                          "op": n.get("op")},
    "segment": lambda n: {"op": n.get("op"), "segment": _shown(n.get("segment", ""))},
}


# --- engine errors → inputs -------------------------------------------------------------------


def _input_for(row: Row, rest: str) -> str:
    """The input an error path names, below its row's own path ('' for the row itself)."""
    match = _ERROR_TAIL.match(rest)
    if not match:
        return ""
    name, index, tail = match.groups()
    if row.is_group or name in ("all", "any", "not"):
        return ""
    if row.widget == "json":
        return "params"
    if name == "value":
        if row.widget == "between" and index is not None:
            return "value_low" if index == "0" else "value_high"
        return "choices" if row.widget == "choices" else "value"
    if name == "between":
        return ("between_from" if index == "0" else "between_to") if index else "window"
    if name == "where":
        if index is None:
            return "where"
        sub = _ERROR_TAIL.match(tail)
        return f"where.{index}.{sub.group(1)}" if sub else f"where.{index}.property"
    return name if name in FIELD_LABELS else ""


def _input_label(name: str) -> str:
    if name.startswith("where."):
        _, index, part = name.split(".")
        return f"Property filter {int(index) + 1} ({part})"
    return FIELD_LABELS.get(name, name)
