"""Profile facts for a batch of enrollments: what campaigns.engine.advance reads.

The bulk counterpart of profiles.rules.facts.load_facts: a handful of queries for the whole
batch (profiles, events, consents, list memberships, message engagement), never one per
profile. Only what the graph and the campaign rules ask for is read:

- events named by condition rules (with their time windows), wait-until-event steps, the
  exit event and the goal event (since the oldest entry of the batch);
- consents and static-list memberships only when a rules tree has such conditions;
- engagement with earlier steps' messages (Delivery/DeliveryEvent of each enrollment) only
  for condition steps in engagement mode, and only when the enrollments are given.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q

from campaigns.engine import CampaignRules, ProfileFacts
from campaigns.graph import Graph
from campaigns.journeys.actions import binary_cursor
from channels.engagement import ACTIONS, Engagement
from channels.models import DeliveryEvent
from profiles.audiences import rules_catalog, segment_tree_resolver
from profiles.models import Consent, Event, Profile, SegmentMember
from profiles.rules import dates
from profiles.rules.matcher import Facts
from profiles.rules.schema import DATETIME, PROFILE_FIELDS, RuleError, validate, walk

# The journey's own events (wait until, exit, goal) are read since entry; None = unbounded.
Bounds = dict[str, datetime | None]
ENGAGEMENT_ACTIONS = ("received", "opened", "clicked")


def profile_facts(
    profiles: Iterable[Profile | int], graph: Graph, rules: CampaignRules, now: datetime,
    *, enrollments: Iterable[Any] | None = None,
) -> dict[int, ProfileFacts]:
    """profile id → ProfileFacts. `profiles` are Profile rows or ids; `enrollments` (rows
    with id, profile_id, entered_at) bound the journey events and give engagement."""
    rows = _profiles(profiles)
    if not rows:
        return {}
    ids = list(rows)
    enrollments = list(enrollments or [])
    resolver = segment_tree_resolver()
    nodes = list(_conditions(rule_trees(graph, rules), resolver))
    since = min((e.entered_at for e in enrollments), default=now)
    events = _events(ids, _event_bounds(nodes, graph, rules, since, now), now)
    consents = _consents(ids) if _uses(nodes, "consent") else {}
    lists = _lists(ids) if _uses(nodes, "list") else {}
    registered = _registered(ids, nodes, now)
    engagement = _step_engagement(enrollments) if _engagement_steps(graph) else {}
    return {
        pid: ProfileFacts(
            rules=Facts(
                fields={name: profile[name] for name in PROFILE_FIELDS},
                attributes=dict(profile["attributes"] or {}),
                events=events.get(pid, []),
                consents=consents.get(pid, {}),
                segment_tree=resolver,
                registered=registered.get(pid, {}),
                lists=lists.get(pid, frozenset()),
            ),
            timezone=profile["timezone"] or "UTC",
            engagement=engagement.get(pid, {}),
        )
        for pid, profile in rows.items()
    }


def rule_trees(graph: Graph, rules: CampaignRules) -> list[dict]:
    """Every rules tree the engine may match: condition steps' and the exit rules."""
    trees = [s.config["rules"] for s in graph.steps.values()
             if s.kind == "condition" and isinstance(s.config.get("rules"), dict)]
    if rules.exit_rules:
        trees.append(rules.exit_rules)
    return trees


def rules_ready(graph: Graph, rules: CampaignRules) -> tuple[Graph, CampaignRules]:
    """The graph and campaign rules with every rules tree validated, i.e. normalized as the
    matcher expects (attribute value types from the schema, the legacy form upgraded). The
    designer stores trees as typed; a tree that no longer validates is left as it is, and
    the engine fails the step that reads it with the reason."""
    catalog = rules_catalog()

    def ready(tree: dict) -> dict:
        try:
            return validate(tree, catalog)
        except RuleError:
            return tree

    steps = {
        key: replace(step, config={**step.config, "rules": ready(step.config["rules"])})
        if step.kind == "condition" and isinstance(step.config.get("rules"), dict) else step
        for key, step in graph.steps.items()
    }
    exit_rules = ready(rules.exit_rules) if rules.exit_rules else rules.exit_rules
    return replace(graph, steps=steps), replace(rules, exit_rules=exit_rules)


def _profiles(profiles: Iterable[Profile | int]) -> dict[int, dict[str, Any]]:
    """profile id → its attributes and rule fields, as plain values: a batch's profiles are
    read as binary rows (building model instances, then Django's per-value converters, cost
    more than the query), with the values Django would give (JSON parsed, datetimes in the
    connection's time zone), in the model's order (newest first)."""
    given = list(profiles)
    columns = ["attributes", *PROFILE_FIELDS]
    loaded = {p.pk: {name: getattr(p, name) for name in columns}
              for p in given if isinstance(p, Profile)}
    missing = [p for p in given if not isinstance(p, Profile)]
    if missing:
        loaded.update(_profile_rows(missing, columns))
    return loaded


def _profile_rows(ids: list[int], columns: list[str]) -> Iterable[tuple[int, dict[str, Any]]]:
    dated = {name for name in columns if name in PROFILE_FIELDS
             and PROFILE_FIELDS[name][1] == DATETIME}
    select = ", ".join(f"{name}::text" if name == "attributes" else name for name in columns)
    with binary_cursor() as cursor:
        cursor.execute(
            f"SELECT id, {select} FROM profiles_profile"  # noqa: S608 — fixed column names
            " WHERE id = ANY(%b::bigint[]) ORDER BY id DESC", [ids], binary=True)
        rows = cursor.fetchall()
    tz = connection.timezone
    for pid, *values in rows:
        row = dict(zip(columns, values, strict=True))
        row["attributes"] = None if row["attributes"] is None else json.loads(row["attributes"])
        for name in dated:
            if row[name] is not None:
                row[name] = row[name].replace(tzinfo=tz)
        yield pid, row


def _conditions(trees: list[dict], resolver: Callable[[int], dict]):
    """Every condition node of the trees, through the segments they refer to."""
    seen: set[int] = set()
    pending = list(trees)
    while pending:
        for node in walk(pending.pop()):
            yield node
            segment = node.get("segment") if node.get("type") == "segment" else None
            if segment is not None and segment not in seen:
                seen.add(segment)
                pending.append(resolver(segment))


def _uses(nodes: list[dict], kind: str) -> bool:
    return any(n.get("type") == kind for n in nodes)


def _event_bounds(nodes: list[dict], graph: Graph, rules: CampaignRules, since: datetime,
                  now: datetime) -> Bounds:
    """Event name → the oldest occurred_at any reader needs (None: the whole history)."""
    bounds: Bounds = {}

    def need(name: str, low: datetime | None) -> None:
        if not name:
            return
        if name in bounds:
            current = bounds[name]
            bounds[name] = None if current is None or low is None else min(current, low)
        else:
            bounds[name] = low

    for node in nodes:
        if node.get("type") == "event":
            need(node["name"], dates.event_window(node, now)[0])
    for step in graph.steps.values():
        if step.kind == "wait" and step.config.get("mode") == "event":
            need(str(step.config.get("event") or ""), since)
    need(rules.exit_event, since)
    need(rules.goal_event, since)
    return bounds


def _events(ids: list[int], bounds: Bounds, now: datetime) -> dict[int, list]:
    if not bounds:
        return {}
    # One query, every name bounded on occurred_at (partition pruning): "ever" reaches back
    # to the retention horizon, past which events are refused and their partitions dropped.
    horizon = now - timedelta(days=settings.EVENT_RETENTION_DAYS)
    lows: dict[datetime, list[str]] = defaultdict(list)
    for name, low in bounds.items():
        lows[horizon if low is None else max(low, horizon)].append(name)
    where = Q()
    for low, names in lows.items():
        where |= Q(name__in=names, occurred_at__gte=low)
    found: dict[int, list] = defaultdict(list)
    rows = Event.objects.filter(where, profile_id__in=ids).order_by("occurred_at", "id")
    for pid, name, occurred_at, properties in rows.values_list(
        "profile_id", "name", "occurred_at", "properties"
    ):
        found[pid].append((name, occurred_at, properties))
    return found


def _consents(ids: list[int]) -> dict[int, dict]:
    found: dict[int, dict] = defaultdict(dict)
    for pid, channel, topic, state in Consent.objects.filter(profile_id__in=ids).values_list(
        "profile_id", "channel", "topic__key", "state"
    ):
        found[pid][(channel, topic)] = state
    return found


def _lists(ids: list[int]) -> dict[int, frozenset[int]]:
    found: dict[int, set[int]] = defaultdict(set)
    for pid, segment in SegmentMember.objects.filter(profile_id__in=ids).values_list(
        "profile_id", "segment_id"
    ):
        found[pid].add(segment)
    return {pid: frozenset(segments) for pid, segments in found.items()}


def _registered(ids: list[int], nodes: list[dict], now: datetime) -> dict[int, dict]:
    """Facts of condition types other apps registered (profiles.rules.registry). Message
    engagement is read for the whole batch; another type only offers a per-profile read."""
    from profiles.rules.registry import condition_types

    types = condition_types()
    by_type: dict[str, list[dict]] = defaultdict(list)
    for node in nodes:
        if node.get("type") in types:
            by_type[node["type"]].append(node)
    found: dict[int, dict] = defaultdict(dict)
    for kind, kind_nodes in by_type.items():
        if kind == "engagement":
            for pid, facts in _engagement_rows(ids, kind_nodes, now).items():
                found[pid][kind] = facts
        else:
            for pid in ids:
                found[pid][kind] = types[kind].facts(pid, kind_nodes, now)
    return found


def _engagement_rows(ids: list[int], nodes: list[dict], now: datetime) -> dict[int, Engagement]:
    """channels.engagement.EngagementCondition.facts, for many profiles in one query."""
    statuses = {status for node in nodes for status in ACTIONS[node["action"]]}
    rows = DeliveryEvent.objects.filter(delivery__profile_id__in=ids, status__in=statuses)
    days = [node.get("within_days") for node in nodes]
    if all(d is not None for d in days):
        rows = rows.filter(occurred_at__gte=now - timedelta(days=max(days)))
    found: dict[int, list] = {pid: [] for pid in ids}
    for pid, status, campaign_id, occurred_at in rows.order_by().values_list(
        "delivery__profile_id", "status", "delivery__campaign_step__campaign_id", "occurred_at"
    ):
        found[pid].append((status, campaign_id, occurred_at))
    return {pid: Engagement(tuple(items)) for pid, items in found.items()}


def _engagement_steps(graph: Graph) -> set[str]:
    return {
        str(s.config["engagement"].get("step"))
        for s in graph.steps.values()
        if s.kind == "condition" and isinstance(s.config.get("engagement"), dict)
    }


def _step_engagement(enrollments: list[Any]) -> dict[int, dict[str, frozenset[str]]]:
    """profile id → {step key: actions its message from this enrollment got}."""
    if not enrollments:
        return {}
    profile_of = {e.id: e.profile_id for e in enrollments}
    action_of = {status: action for action in ENGAGEMENT_ACTIONS for status in ACTIONS[action]}
    found: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for enrollment_id, step_key, status in DeliveryEvent.objects.filter(
        delivery__enrollment_id__in=list(profile_of), status__in=list(action_of),
    ).order_by().values_list("delivery__enrollment_id", "delivery__campaign_step__key", "status"):
        found[profile_of[enrollment_id]][step_key].add(action_of[status])
    return {pid: {key: frozenset(actions) for key, actions in steps.items()}
            for pid, steps in found.items()}
