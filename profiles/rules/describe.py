"""A rule tree in words, for lists and detail pages."""

from __future__ import annotations

from typing import Any

from profiles.rules.schema import OPERATOR_LABELS, PROFILE_FIELDS

EVENT_OPS = {"at_least": "at least", "at_most": "at most", "exactly": "exactly"}


def describe(tree: Any, segment_name=lambda pk: f"segment #{pk}") -> str:
    if not isinstance(tree, dict):
        return "invalid rules"
    for key, word in (("all", " and "), ("any", " or ")):
        if key in tree:
            parts = [describe(n, segment_name) for n in tree[key]]
            if not parts:
                return "everyone" if key == "all" else "no one"
            joined = word.join(parts)
            return joined if len(parts) == 1 else f"({joined})"
    if "not" in tree:
        return f"not {describe(tree['not'], segment_name)}"
    return _condition(tree, segment_name)


def _condition(node: dict, segment_name) -> str:
    kind = node.get("type")
    if kind in ("field", "attribute"):
        name = PROFILE_FIELDS[node["field"]][0] if kind == "field" else node["key"]
        label = OPERATOR_LABELS.get(node["op"], node["op"]).replace("…", str(node.get("value")))
        if "…" in OPERATOR_LABELS.get(node["op"], "") or "value" not in node:
            return f"{name} {label}"
        return f"{name} {label} {_value(node['value'])}"
    if kind == "event":
        return _event(node)
    if kind == "consent":
        scope = f"{node['topic']} ({node['channel']})" if node.get("topic") else node["channel"]
        return f"{node['op']} to {scope}"
    if kind == "segment":
        inside = "in" if node["op"] == "in" else "not in"
        return f"{inside} {segment_name(node['segment'])}"
    return str(node.get("label") or kind)


def _event(node: dict) -> str:
    if node["op"] == "none" or (node["op"] == "exactly" and node["count"] == 0):
        text = f"did not do {node['name']}"
    else:
        times = "time" if node["count"] == 1 else "times"
        text = f"did {node['name']} {EVENT_OPS[node['op']]} {node['count']} {times}"
    if "within_days" in node:
        text += f" in the last {node['within_days']} days"
    elif "between" in node:
        text += f" between {node['between'][0]} and {node['between'][1]}"
    for item in node.get("where", []):
        text += f" where {item['property']} {item['op']} {_value(item['value'])}"
    return text


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return repr(value) if isinstance(value, str) else str(value)
