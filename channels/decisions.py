"""Decisions: which offer a placement shows a profile now, and the placements and offers
marketers and integrators define.

The best offer is the first, by priority (highest first, then lowest id), that is active,
inside its start/end dates, under its per-profile cap (counted in OfferImpression) and whose
eligibility holds: its rules and, when it names one, its segment (both when both are set).
What a decision returns is recorded as an impression. When no offer applies the placement's
fallback is returned (if it is active and inside its dates; its rules, segment and cap are
not checked) and *not* recorded: it is the placement's default content, not a targeted offer,
and recording it would make every anonymous page view a write. An unknown profile gets the
fallback too, as a visitor the product knows nothing about yet.

Speed (the decision API's p95 target is 50 ms): a placement's offers are read and their
trees validated once per process and kept PLAN_TTL seconds (a change made in this process is
seen at once; in the other processes within the TTL); a request then reads the profile, one
count of impressions for the capped offers, the facts all candidate trees need in one pass
(events, consents, lists, engagement, each one query and only when a tree asks), and writes
one impression (committed asynchronously, see _record).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from channels.models import Offer, OfferImpression, Placement
from profiles.audiences import rules_catalog, segment_tree_resolver, validate_audience_rules
from profiles.models import Profile, Segment
from profiles.rules.compiler import CycleError
from profiles.rules.facts import load_facts
from profiles.rules.matcher import matches
from profiles.rules.schema import RuleError, validate, walk
from profiles.selectors import AmbiguousReference, profile_by_reference

logger = logging.getLogger(__name__)

PLAN_TTL = 10.0  # seconds a process keeps a placement's validated offers
EVERYONE: dict = {"all": []}


class OfferError(ValueError):
    """Refused placement or offer data: `errors` maps a field to its message."""

    def __init__(self, errors: dict[str, Any]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


# --- placements and offers ------------------------------------------------------------------


def placement_save(*, placement: Placement | None = None, key: str, name: str,
                   description: str = "", fallback: Offer | None = None) -> Placement:
    if fallback is not None and (placement is None or fallback.placement_id != placement.pk):
        raise OfferError({"fallback": "The fallback must be one of this placement's offers."})
    if Placement.objects.filter(key=key).exclude(pk=placement.pk if placement else None).exists():
        raise OfferError({"key": f"A placement with the key {key!r} exists."})
    placement = placement or Placement()
    placement.key, placement.name, placement.description = key, name, description
    placement.fallback = fallback
    placement.save()
    forget_plans()
    return placement


def placement_delete(*, placement: Placement) -> None:
    placement.delete()
    forget_plans()


@dataclass
class OfferData:
    name: str
    content: dict = field(default_factory=dict)
    html: str = ""
    rules: Any = None
    segment: Segment | None = None
    priority: int = 0
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    cap_per_profile: int | None = None
    is_active: bool = True


def offer_save(*, offer: Offer | None = None, placement: Placement, data: OfferData) -> Offer:
    """Create or change an offer; raises RuleError (rules, with JSON paths) or OfferError."""
    rules = validate_audience_rules(data.rules) if data.rules not in (None, "", {}) else {}
    if not isinstance(data.content, dict):
        raise OfferError({"content": "Content is a JSON object."})
    if data.starts_at and data.ends_at and data.ends_at <= data.starts_at:
        raise OfferError({"ends_at": "The end comes after the start."})
    if data.cap_per_profile is not None and data.cap_per_profile < 1:
        raise OfferError({"cap_per_profile": "A cap is at least 1 (leave it empty for none)."})
    offer = offer or Offer(placement=placement)
    offer.placement = placement
    for name in ("name", "content", "html", "segment", "priority", "starts_at", "ends_at",
                 "cap_per_profile", "is_active"):
        setattr(offer, name, getattr(data, name))
    offer.rules = rules
    with transaction.atomic():
        if offer.pk and placement.pk != Offer.objects.get(pk=offer.pk).placement_id:
            # Moved away: it can no longer be its former placement's fallback.
            Placement.objects.filter(fallback=offer).update(fallback=None)
        offer.save()
    forget_plans()
    return offer


def offer_delete(*, offer: Offer) -> None:
    offer.delete()  # a placement whose fallback it was keeps no fallback (SET_NULL)
    forget_plans()


# --- the per-process plan of a placement ------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    offer: Offer
    tree: dict  # its rules and its segment's membership, validated

    def live(self, now: datetime) -> bool:
        return _live(self.offer, now)


@dataclass(frozen=True)
class Plan:
    placement: Placement
    candidates: tuple[Candidate, ...]  # active offers, best first
    fallback: Offer | None
    segment_tree: Callable[[int], dict]
    expires: float
    skipped: frozenset[int] = frozenset()  # active offers whose rules no longer validate


_plans: dict[str, Plan] = {}
_plans_lock = threading.Lock()


def forget_plans() -> None:
    """Drop this process's plans (after a change; other processes wait for PLAN_TTL)."""
    with _plans_lock:
        _plans.clear()


def placement_plan(key: str) -> Plan:
    """Raises Placement.DoesNotExist."""
    plan = _plans.get(key)
    if plan is not None and plan.expires > time.monotonic():
        return plan
    plan = _build_plan(key)
    with _plans_lock:
        _plans[key] = plan
    return plan


def _build_plan(key: str) -> Plan:
    placement = Placement.objects.select_related("fallback").get(key=key)
    catalog, resolver = rules_catalog(), segment_tree_resolver()
    candidates, skipped = [], set()
    for offer in placement.offers.filter(is_active=True).order_by("-priority", "id"):
        try:
            tree = offer_tree(offer, catalog)
            _warm(tree, resolver, set())
        except (RuleError, CycleError) as exc:
            # Rules saved valid can go stale (an attribute undeclared since): the offer is
            # skipped rather than the placement failing.
            logger.warning("Offer %s skipped: its rules no longer validate (%s)", offer.pk, exc)
            skipped.add(offer.pk)
            continue
        candidates.append(Candidate(offer, tree))
    return Plan(placement, _through_first_unconditional(candidates), placement.fallback,
                resolver, time.monotonic() + PLAN_TTL, frozenset(skipped))


def offer_tree(offer: Offer, catalog=None) -> dict:
    tree = validate(offer.rules, catalog or rules_catalog()) if offer.rules else EVERYONE
    if offer.segment_id is None:
        return tree
    membership = {"type": "segment", "segment": offer.segment_id, "op": "in"}
    return membership if tree == EVERYONE else {"all": [tree, membership]}


def _warm(tree: dict, resolver: Callable[[int], dict], seen: set[int]) -> None:
    """Resolve every segment a tree reaches now, so requests never read segment rows."""
    for node in walk(tree):
        if node.get("type") == "segment" and node["segment"] not in seen:
            seen.add(node["segment"])
            _warm(resolver(node["segment"]), resolver, seen)


def _through_first_unconditional(candidates: list[Candidate]) -> tuple[Candidate, ...]:
    """Offers after one that holds for everyone, always and uncapped, can never win."""
    for i, candidate in enumerate(candidates):
        offer = candidate.offer
        if candidate.tree == EVERYONE and not (offer.starts_at or offer.ends_at
                                               or offer.cap_per_profile):
            return tuple(candidates[: i + 1])
    return tuple(candidates)


def _live(offer: Offer, now: datetime) -> bool:
    return (offer.is_active and (offer.starts_at is None or offer.starts_at <= now)
            and (offer.ends_at is None or now < offer.ends_at))


# --- deciding -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    placement: Placement
    offer: Offer | None  # None: nothing to show (204)
    is_fallback: bool = False
    profile_id: int | None = None


def decide(*, placement_key: str, profile: Profile | None, now: datetime | None = None,
           record: bool = True) -> Decision:
    """The offer to show; records the impression unless `record` is false (previews).

    Raises Placement.DoesNotExist. `profile` None is a visitor not (yet) known: fallback.
    """
    return _decide(placement_plan(placement_key), profile, now or timezone.now(), record)[0]


def _decide(plan: Plan, profile: Profile | None, now: datetime, record: bool,
            explain: bool = False) -> tuple[Decision, dict[int, str]]:
    chosen, verdicts = (_rank(plan, profile, now, explain) if profile is not None
                        else (None, {}))
    if chosen is not None:
        if record:
            _record(chosen, profile, now)
        return Decision(plan.placement, chosen, False, profile.pk), verdicts
    fallback = plan.fallback if plan.fallback and _live(plan.fallback, now) else None
    decision = Decision(plan.placement, fallback, fallback is not None,
                        profile.pk if profile else None)
    return decision, verdicts


def _record(offer: Offer, profile: Profile, now: datetime) -> None:
    """One impression, committed without waiting for the WAL flush (~2-5 ms per page view).

    A crash may lose the last fraction of a second of impressions: at worst an offer is
    shown once more than its cap. Outside a transaction the INSERT is its own transaction,
    and set_config(…, true) in the same statement turns synchronous_commit off for that
    transaction alone: one round trip, nothing left set on the connection. Inside a
    caller's transaction, that transaction decides.
    """
    if connection.in_atomic_block:
        OfferImpression.objects.create(offer=offer, profile=profile, shown_at=now)
        return
    with connection.cursor() as cursor:
        cursor.execute(RECORD_ASYNC, [offer.pk, profile.pk, now])


RECORD_ASYNC = (
    "WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) "
    "INSERT INTO channels_offerimpression (offer_id, profile_id, shown_at) "
    "SELECT %s, %s, %s FROM async"
)


NOT_ACTIVE, NOT_YET, ENDED, CAPPED, NOT_ELIGIBLE, CHOSEN, OUTRANKED, STALE = (
    "inactive", "not started", "ended", "cap reached", "not eligible", "chosen", "outranked",
    "rules no longer valid",
)


def _rank(plan: Plan, profile: Profile, now: datetime,
          explain: bool) -> tuple[Offer | None, dict[int, str]]:
    """The best offer for the profile and, when explaining, a verdict per candidate."""
    verdicts: dict[int, str] = {}
    live = []
    for candidate in plan.candidates:
        offer = candidate.offer
        if candidate.live(now):
            live.append(candidate)
        else:
            verdicts[offer.pk] = NOT_YET if offer.starts_at and now < offer.starts_at else ENDED
    shown = _impressions(profile, [c.offer.pk for c in live if c.offer.cap_per_profile])
    eligible = []
    for candidate in live:
        cap = candidate.offer.cap_per_profile
        if cap is not None and shown.get(candidate.offer.pk, 0) >= cap:
            verdicts[candidate.offer.pk] = CAPPED
        else:
            eligible.append(candidate)
    chosen = None
    if eligible:
        # One read of the facts every remaining tree needs, then a pure match per offer.
        facts = load_facts(profile, {"all": [c.tree for c in eligible]}, now, plan.segment_tree)
        for candidate in eligible:
            if chosen is not None:
                verdicts[candidate.offer.pk] = OUTRANKED
                continue
            if _matches(candidate, facts, now):
                chosen = candidate.offer
                verdicts[chosen.pk] = CHOSEN
                if not explain:
                    break
            else:
                verdicts[candidate.offer.pk] = NOT_ELIGIBLE
    return chosen, verdicts


def _matches(candidate: Candidate, facts, now: datetime) -> bool:
    try:
        return matches(candidate.tree, facts, now)
    except CycleError:
        return False


def _impressions(profile: Profile, offer_ids: list[int]) -> dict[int, int]:
    if not offer_ids:
        return {}
    rows = (OfferImpression.objects.filter(profile=profile, offer_id__in=offer_ids)
            .values("offer_id").annotate(n=Count("id")).values_list("offer_id", "n"))
    return dict(rows)


@dataclass(frozen=True)
class Preview:
    decision: Decision
    verdicts: list[tuple[Offer, str]]  # every offer of the placement, best first


def decision_preview(*, placement: Placement, profile: Profile,
                     now: datetime | None = None) -> Preview:
    """What `decide` would answer now, without recording it, and why for each offer."""
    plan = _build_plan(placement.key)  # uncached: the marketer sees the offers as saved
    decision, verdicts = _decide(plan, profile, now or timezone.now(), record=False,
                                 explain=True)
    rows = []
    for offer in placement.offers.order_by("-priority", "id"):
        if not offer.is_active:
            rows.append((offer, NOT_ACTIVE))
        elif offer.pk in plan.skipped:
            rows.append((offer, STALE))
        else:
            rows.append((offer, verdicts.get(offer.pk, OUTRANKED)))
    return Preview(decision, rows)


def preview_profile(*, reference: str) -> Profile | None:
    """The profile a marketer names for a preview: its id, external id or email."""
    reference = reference.strip()
    if "@" in reference:
        return (Profile.objects.alias(email_lower=Lower("email"))
                .filter(email_lower=reference.lower()).order_by("id").first())
    try:
        return profile_by_reference(reference=reference)
    except (Profile.DoesNotExist, AmbiguousReference):
        return None


def placement_summaries() -> QuerySet[Placement]:
    """Placements with their offers counted (the marketer's list)."""
    return Placement.objects.select_related("fallback").annotate(
        offer_count=Count("offers", distinct=True),
        live_count=Count("offers", filter=Q(offers__is_active=True), distinct=True),
    ).order_by("key")


def placement_offers(*, placement: Placement) -> QuerySet[Offer]:
    """A placement's offers, best first, with their impressions counted."""
    return placement.offers.select_related("segment").annotate(
        impression_count=Count("impressions")
    ).order_by("-priority", "id")


def offer_payload(offer: Offer) -> dict[str, Any]:
    return {"id": offer.pk, "name": offer.name, "content": offer.content, "html": offer.html}
