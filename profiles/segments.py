"""Segment rules → SQL. The one seam the full rule engine (issue #4) replaces.

A rule tree is JSON:

    {"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"},
             {"field": "timezone", "op": "not_equals", "value": "UTC"}]}

`all` joins conditions with AND, `any` with OR; an empty tree matches everyone.
Fields are profile columns or `attributes.<key>`; values are always bound parameters.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Q

PROFILE_FIELDS = {
    "external_id": "External id",
    "email": "Email",
    "phone": "Phone",
    "first_name": "First name",
    "last_name": "Last name",
    "timezone": "Time zone",
    "locale": "Locale",
}
OPERATORS = {"equals": "equals", "not_equals": "does not equal"}
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_CONDITIONS = 50


class RuleError(ValueError):
    """A rule tree that cannot be compiled; `errors` maps a condition index to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))


def validate_rules(rules: Any) -> dict[str, Any]:
    """Return a normalized rule tree or raise RuleError."""
    if rules in (None, ""):
        return {"all": []}
    if not isinstance(rules, dict) or len(rules) != 1 or next(iter(rules)) not in ("all", "any"):
        raise RuleError({"rules": ['A rule tree is {"all": [...]} or {"any": [...]}.']})
    joiner, conditions = next(iter(rules.items()))
    if not isinstance(conditions, list):
        raise RuleError({"rules": [f'"{joiner}" must hold a list of conditions.']})
    if len(conditions) > MAX_CONDITIONS:
        raise RuleError({"rules": [f"At most {MAX_CONDITIONS} conditions."]})
    errors: dict[str, list[str]] = {}
    for index, condition in enumerate(conditions):
        problems = _condition_problems(condition)
        if problems:
            errors[str(index)] = problems
    if errors:
        raise RuleError(errors)
    return {joiner: [dict(c) for c in conditions]}


def _condition_problems(condition: Any) -> list[str]:
    if not isinstance(condition, dict):
        return ["A condition is an object with field, op and value."]
    problems = []
    field = condition.get("field")
    if not isinstance(field, str) or not _known_field(field):
        problems.append(f"Unknown field {field!r}: use a profile field or attributes.<key>.")
    if condition.get("op") not in OPERATORS:
        problems.append(f"Unknown operator {condition.get('op')!r}.")
    value = condition.get("value")
    if not isinstance(value, str | int | float | bool) or value == "":
        problems.append("A value is required (text, number or true/false).")
    return problems


def _known_field(field: str) -> bool:
    if field.startswith("attributes."):
        return bool(ATTRIBUTE_KEY.match(field.removeprefix("attributes.")))
    return field in PROFILE_FIELDS


def compile_rules(rules: Any) -> Q:
    """Compile a rule tree to a Q over Profile (validating it first)."""
    tree = validate_rules(rules)
    joiner, conditions = next(iter(tree.items()))
    compiled = Q()
    for condition in conditions:
        q = _condition_q(condition)
        compiled = (compiled & q) if joiner == "all" or not compiled else (compiled | q)
    return compiled


def _condition_q(condition: dict[str, Any]) -> Q:
    field, value = condition["field"], condition["value"]
    if field.startswith("attributes."):
        # jsonb containment uses the GIN (jsonb_path_ops) index on attributes.
        q = Q(attributes__contains={field.removeprefix("attributes."): value})
    elif field == "email":
        q = Q(email__iexact=str(value))
    else:
        q = Q(**{field: str(value)})
    return ~q if condition["op"] == "not_equals" else q


def describe_rules(rules: Any) -> str:
    """A human sentence for lists and detail pages."""
    try:
        tree = validate_rules(rules)
    except RuleError:
        return "invalid rules"
    joiner, conditions = next(iter(tree.items()))
    if not conditions:
        return "everyone"
    parts = [
        f"{_field_label(c['field'])} {OPERATORS[c['op']]} {c['value']!r}" for c in conditions
    ]
    return (" and " if joiner == "all" else " or ").join(parts)


def _field_label(field: str) -> str:
    return PROFILE_FIELDS.get(field) or field.removeprefix("attributes.")
