"""Read what the matcher needs about one profile: only the events and consents a tree asks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from profiles.models import Consent, Event, Profile, SegmentMember
from profiles.rules import dates
from profiles.rules.matcher import Facts
from profiles.rules.schema import PROFILE_FIELDS, walk


def load_facts(
    profile: Profile, tree: dict, now: datetime, segment_tree: Callable[[int], dict]
) -> Facts:
    nodes = list(_all_conditions(tree, segment_tree))
    return Facts(
        fields={name: getattr(profile, name) for name in PROFILE_FIELDS},
        attributes=dict(profile.attributes or {}),
        events=_events(profile.pk, [n for n in nodes if n.get("type") == "event"], now),
        consents=_consents(profile.pk) if any(n.get("type") == "consent" for n in nodes) else {},
        segment_tree=segment_tree,
        registered=_registered(profile.pk, nodes, now),
        lists=_lists(profile.pk) if any(n.get("type") == "list" for n in nodes) else frozenset(),
    )


def _lists(profile_id: int) -> frozenset[int]:
    return frozenset(
        SegmentMember.objects.filter(profile_id=profile_id).values_list("segment_id", flat=True)
    )


def _all_conditions(tree: dict, segment_tree, seen: frozenset = frozenset()):
    for node in walk(tree):
        yield node
        if node.get("type") == "segment" and node["segment"] not in seen:
            yield from _all_conditions(
                segment_tree(node["segment"]), segment_tree, seen | {node["segment"]}
            )


def _events(profile_id: int, nodes: list[dict], now: datetime) -> list:
    if not nodes:
        return []
    names = {n["name"] for n in nodes}
    events = Event.objects.filter(profile_id=profile_id, name__in=names)
    # Only as far back as the widest window asks (the partitions before it are skipped).
    lows = [dates.event_window(n, now)[0] for n in nodes]
    if all(low is not None for low in lows):
        events = events.filter(occurred_at__gte=min(lows))
    return list(events.values_list("name", "occurred_at", "properties"))


def _consents(profile_id: int) -> dict:
    rows = Consent.objects.filter(profile_id=profile_id).values_list(
        "channel", "topic__key", "state"
    )
    return {(channel, topic): state for channel, topic, state in rows}


def _registered(profile_id: int, nodes: list[dict], now: datetime) -> dict:
    from profiles.rules.registry import condition_types

    types = condition_types()
    by_type: dict[str, list[dict]] = {}
    for node in nodes:
        if node.get("type") in types:
            by_type.setdefault(node["type"], []).append(node)
    return {kind: types[kind].facts(profile_id, found, now) for kind, found in by_type.items()}
