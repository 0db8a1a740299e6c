"""Which segments is one profile in now? For other channels' decision engines (the API).

Every dynamic segment is matched in Python by the one-profile path (profiles.rules.matcher,
the semantics profiles.audiences.profile_in_segment has), never counted in SQL. With N
segments the cost is a constant number of queries — the segments, the catalog, and the
profile's facts once for all of them: its events (only the names the segments ask about,
back to the widest window), consents, lists and registered facts (engagement) — plus
O(total rule nodes) of Python to validate and match each tree once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from profiles.audiences import rules_catalog
from profiles.models import Profile, Segment
from profiles.rules.compiler import CycleError
from profiles.rules.facts import load_facts
from profiles.rules.matcher import matches
from profiles.rules.schema import RuleError, validate

logger = logging.getLogger(__name__)
NOBODY: dict = {"any": []}


@dataclass(frozen=True)
class Membership:
    segment_id: int
    name: str
    kind: str


def profile_segments(*, profile: Profile, now: datetime | None = None) -> list[Membership]:
    """The segments (dynamic and static) the profile is in at `now`, by name."""
    now = now or timezone.now()
    segments = list(Segment.objects.order_by("name").values_list("id", "name", "kind", "rules"))
    trees = _trees(segments)
    resolve = trees.get
    facts = load_facts(
        profile, {"all": list(trees.values())}, now, lambda pk: resolve(pk) or NOBODY
    )
    members = []
    for pk, name, kind, _ in segments:
        try:
            inside = matches(trees[pk], facts, now)
        except CycleError:
            logger.warning("Segment %s refers to itself; nobody is in it.", pk)
            inside = False
        if inside:
            members.append(Membership(pk, name, kind))
    return members


def _trees(segments: list[tuple]) -> dict[int, dict]:
    """Each segment's tree, validated once: a static list reads as its membership."""
    catalog = rules_catalog()
    trees = {}
    for pk, _, kind, rules in segments:
        if kind == Segment.Kind.STATIC:
            trees[pk] = {"type": "list", "segment": pk}
            continue
        try:
            trees[pk] = validate(rules, catalog)
        except RuleError as exc:
            # Saved rules the schema no longer allows (an attribute deleted since): the
            # segment's count fails the same way, and no one is in it here.
            logger.warning("Segment %s has rules that no longer validate: %s", pk, exc)
            trees[pk] = NOBODY
    return trees
