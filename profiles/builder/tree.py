"""Rows → the engine's rule tree, the tree → rows, and an engine error → the input it names."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from profiles.builder.rows import FIELD_LABELS, GROUPS, Row
from profiles.rules.schema import NUMBER

_ERROR_TAIL = re.compile(r"^\.(\w+)(?:\[(\d+)\])?(.*)$")
_INTEGER = re.compile(r"^[+-]?\d{1,15}$")


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


def registered_node(row: Row, path: str, errors: list) -> dict:
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


CONDITIONS = {"field": _field_node, "attribute": _attribute_node, "event": _event_node,
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


def row_from_node(node: Any) -> Row:
    if not isinstance(node, dict):
        return Row(kind="raw", values={"params": json.dumps(node)})
    if "not" in node and len(node) == 1:
        row = row_from_node(node["not"])
        if row.negate:
            return Row(kind="all", negate=True, children=[row])
        row.negate = True
        return row
    for key in GROUPS:
        if key in node and len(node) == 1 and isinstance(node[key], list):
            return Row(kind=key, children=[row_from_node(child) for child in node[key]])
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


def input_for(row: Row, rest: str) -> str:
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
