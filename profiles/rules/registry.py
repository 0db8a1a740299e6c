"""Condition types contributed by other apps (message engagement comes from channels).

A type registers an object with three methods, so validation, SQL and the one-profile path
stay in agreement:

    validate(node) -> (problems: list[(sub_path, message)], clean: dict)
    sql(node, now) -> (sql, params)   # a boolean over the profile row, «id» for its id
    facts(profile_id, nodes, now) -> object   # loaded once per profile for `match`
    match(node, facts, now) -> bool
"""

from __future__ import annotations

from typing import Any, Protocol


class ConditionType(Protocol):
    label: str

    def validate(self, node: dict) -> tuple[list[tuple[str, str]], dict]: ...
    def sql(self, node: dict, now) -> tuple[str, list]: ...
    def facts(self, profile_id: int, nodes: list[dict], now) -> Any: ...
    def match(self, node: dict, facts: Any, now) -> bool: ...


_types: dict[str, ConditionType] = {}


def register_condition_type(name: str, condition_type: ConditionType) -> None:
    _types[name] = condition_type


def condition_types() -> dict[str, ConditionType]:
    return dict(_types)
