"""Segment rules: the names the rest of the app uses, over the rule engine (profiles.rules).

Kept small on purpose: validation against the world, compilation and matching live in
profiles.audiences and profiles.rules.
"""

from __future__ import annotations

from typing import Any

from profiles.rules.describe import describe
from profiles.rules.schema import ATTRIBUTE_KEY, RuleError

__all__ = ["ATTRIBUTE_KEY", "RuleError", "describe_rules", "validate_rules"]


def validate_rules(rules: Any, *, segment_id: int | None = None) -> dict[str, Any]:
    """A normalized tree, or RuleError with the JSON path of every bad node."""
    from profiles.audiences import validate_audience_rules

    return validate_audience_rules(rules, segment_id=segment_id)


def describe_rules(rules: Any) -> str:
    from profiles.models import Segment
    from profiles.rules.schema import _upgrade

    names = {}

    def segment_name(pk):
        if pk not in names:
            names[pk] = Segment.objects.filter(pk=pk).values_list("name", flat=True).first()
        return f"“{names[pk]}”" if names[pk] else f"segment #{pk}"

    return describe(_upgrade(rules), segment_name)
