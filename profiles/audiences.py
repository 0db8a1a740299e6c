"""Audiences: segment rules validated against the world, compiled, counted and matched.

The one place the rule engine (profiles.rules) meets the database. Views, the API, campaign
launches and real-time paths call these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from profiles.models import AttributeDefinition, Profile, Segment, Topic
from profiles.rules.compiler import CompileContext, CycleError, RuleExpression, compile_tree
from profiles.rules.facts import load_facts
from profiles.rules.matcher import matches
from profiles.rules.schema import Catalog, RuleError, referenced_segments, validate, walk


def rules_catalog() -> Catalog:
    definitions = list(AttributeDefinition.objects.values_list("key", "type", "allowed_values"))
    return Catalog(
        attribute_types={key: kind for key, kind, _ in definitions},
        allowed_values={key: tuple(values or ()) for key, _, values in definitions},
        topics=frozenset(Topic.objects.values_list("key", flat=True)),
        segments=frozenset(Segment.objects.values_list("id", flat=True)),
    )


def validate_audience_rules(rules: Any, *, segment_id: int | None = None) -> dict:
    """Validate a tree for saving (as segment `segment_id`, when editing one)."""
    tree = validate(rules, rules_catalog())
    cycle = _cycle_path(tree, segment_id)
    if cycle:
        raise RuleError([{"path": cycle, "message": "This segment would refer to itself."}])
    return tree


def _cycle_path(tree: dict, segment_id: int | None) -> str | None:
    if segment_id is None:
        return None
    trees = _stored_trees()
    for path, node in _segment_nodes(tree):
        if _reaches(node["segment"], segment_id, trees, set()):
            return path
    return None


def _segment_nodes(tree: Any, path: str = "$"):
    if not isinstance(tree, dict):
        return
    for key in ("all", "any"):
        if isinstance(tree.get(key), list):
            for i, child in enumerate(tree[key]):
                yield from _segment_nodes(child, f"{path}.{key}[{i}]")
            return
    if "not" in tree:
        yield from _segment_nodes(tree["not"], f"{path}.not")
    elif tree.get("type") == "segment":
        yield f"{path}.segment", tree


def _reaches(start: int, target: int, trees: dict[int, Any], seen: set[int]) -> bool:
    if start == target:
        return True
    if start in seen:
        return False
    seen.add(start)
    return any(_reaches(n, target, trees, seen) for n in referenced_segments(trees.get(start)))


def _stored_trees() -> dict[int, Any]:
    return dict(Segment.objects.values_list("id", "rules"))


def segment_tree_resolver() -> Any:
    """segment id → validated tree, read once per use (compiles and matches share it)."""
    cache: dict[int, dict] = {}
    catalog = rules_catalog()

    def resolve(segment_id: int) -> dict:
        if segment_id not in cache:
            row = Segment.objects.filter(pk=segment_id).values_list("kind", "rules").first()
            if row is None:
                cache[segment_id] = {"any": []}  # deleted since: no one is in it
            elif row[0] == Segment.Kind.STATIC:
                cache[segment_id] = {"type": "list", "segment": segment_id}
            else:
                cache[segment_id] = validate(row[1], catalog)
        return cache[segment_id]

    return resolve


def audience_queryset(rules: Any, *, now: datetime | None = None) -> QuerySet[Profile]:
    """The profiles matching a rule tree, as one SQL query (never loaded into Python)."""
    tree = validate(rules, rules_catalog())
    context = CompileContext(now=now or timezone.now(), segment_tree=segment_tree_resolver())
    try:
        fragment = compile_tree(tree, context)
    except CycleError as exc:
        raise RuleError([{"path": "$", "message": str(exc)}]) from exc
    return Profile.objects.filter(RuleExpression(fragment))


def segment_audience(segment: Segment, *, now: datetime | None = None) -> QuerySet[Profile]:
    """A segment's members now: its rules, or its list."""
    if segment.is_static:
        return Profile.objects.filter(segment_memberships__segment=segment)
    return audience_queryset(segment.rules, now=now)


def profile_in_segment(profile: Profile, segment: Segment, *, now: datetime | None = None) -> bool:
    if segment.is_static:
        return segment.members.filter(profile=profile).exists()
    return profile_matches(profile, segment.rules, now=now)


def profile_matches(profile: Profile, rules: Any, *, now: datetime | None = None) -> bool:
    """Does this one profile match the rules now? Same answer as audience_queryset."""
    now = now or timezone.now()
    tree = validate(rules, rules_catalog())
    resolver = segment_tree_resolver()
    try:
        return matches(tree, load_facts(profile, tree, now, resolver), now)
    except CycleError as exc:
        raise RuleError([{"path": "$", "message": str(exc)}]) from exc


def uses_events(rules: Any) -> bool:
    return any(node.get("type") == "event" for node in walk(rules))
