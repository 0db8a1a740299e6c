"""Dry run of a campaign version: the same engine over today's audience, nothing sent,
nothing written.

    simulate(campaign=c)                 the current audience (a random sample past a cap)
    simulate(campaign=c, sample=500)     a random sample of 500, counts scaled to the audience
    simulate(campaign=c, profile=p)      one profile, with the path it would take

Each profile is walked through the whole graph by calling campaigns.engine.advance again
and again, jumping the clock to each WaitUntil. What a dry run cannot know it assumes, and
says so in the result ("assumptions"). Every message is put to the delivery policy
(channels.policy.evaluate, on unsaved deliveries that are never saved).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from campaigns import engine
from campaigns.errors import CampaignError
from campaigns.graph import Graph, StepSpec, graph_from_version
from campaigns.journeys.entry import audience_members
from campaigns.journeys.facts import profile_facts, rules_ready
from campaigns.journeys.holdout import in_control_group
from campaigns.journeys.walk import campaign_rules
from campaigns.models import Campaign, CampaignVersion, EntryKind
from channels import policy
from channels.models import (
    Channel,
    Delivery,
    MessageKind,
    MessageTemplate,
    Reason,
    TemplateRevision,
)
from profiles.audiences import audience_queryset
from profiles.models import Profile, PushSubscription
from profiles.rules.schema import PROFILE_FIELDS, RuleError

SAMPLE_CAP = 2_000  # profiles walked when no sample size is asked for
MAX_SAMPLE = 20_000  # the most a caller may ask for
BATCH = 500
RECENT_EVENT_DAYS = 30  # an event entry without a segment: who had the event lately
MAX_CALLS = 200  # advance() calls per profile (each but the last ends at a wait)
ASSUMPTIONS = [
    "Events after now do not happen: a wait until event takes its timeout; no conversion "
    "and no exit event are simulated.",
    "Messages are checked against the delivery policy as of now (consent, suppression, "
    "address, frequency caps); quiet hours only delay a message, so it counts as sent.",
    "Re-entry rules are not applied: every audience member enters once, now.",
]


def simulate(*, campaign: Campaign, version: CampaignVersion | None = None,
             profile: Profile | None = None, sample: int | None = None,
             now: datetime | None = None) -> dict[str, Any]:
    """{"audience": n, "simulated": n, "sampled": bool, "scale": audience / simulated,
    "version": number, "steps": {key: {"entered", "exits": {exit: n}, "waiting", "sent",
    "skipped": {reason: n}, "holdout", "exited", "failed"}}, "messages": {"would_send",
    "would_skip": {reason: n}, "holdout"}, "outcomes": {"completed"|"exited"|"failed": n},
    "assumptions": [...], and for one profile "path": [{"step", "outcome", "detail", "at",
    "message" (send steps)}]}. Counts of a sample are scaled to the audience. The version
    defaults to the newest (the draft being edited, if any)."""
    now = now or timezone.now()
    version = version or campaign.versions.order_by("-number").first()
    graph = graph_from_version(version) if version else Graph(start="", steps={})
    ids, audience = _chosen(campaign, profile, sample, now)
    run = _Run(campaign, graph, now)
    for start in range(0, len(ids), BATCH):
        run.batch(ids[start:start + BATCH])
    result = run.tally.result(audience, len(ids))
    result.update(version=version.number if version else None, assumptions=ASSUMPTIONS)
    if profile is not None:
        result["path"] = run.tally.paths.get(profile.pk, [])
    return result


# --- who -----------------------------------------------------------------------------------


def _chosen(campaign: Campaign, profile: Profile | None, sample: int | None,
            now: datetime) -> tuple[list[int], int]:
    """The profile ids to walk, and the size of the audience they stand for."""
    if profile is not None:
        return [profile.pk], 1
    try:
        members = campaign_audience(campaign, now=now)
        audience = members.count()
    except RuleError as exc:  # a segment or the entry filter that no longer validates
        problems = "; ".join(e["message"] for e in exc.errors)
        raise CampaignError({"entry": f"The audience cannot be read: {problems}"}) from exc
    size = min(SAMPLE_CAP if sample is None else max(sample, 0), MAX_SAMPLE, audience)
    # ORDER BY random() for a fair sample; the whole audience in id order otherwise.
    ordered = members.order_by("?") if size < audience else members.order_by("id")
    return list(ordered.values_list("id", flat=True)[:size]), audience


def campaign_audience(campaign: Campaign, *, now: datetime) -> QuerySet[Profile]:
    """Who would enter now: an audience campaign's segments (∪ extra − excluded); an event
    or segment-entry campaign's segment, or, for an event entry without one, who had the
    entry event (matching its filter) in the last RECENT_EVENT_DAYS days."""
    if campaign.segment_id:
        return audience_members(campaign, now=now)
    if campaign.entry_kind == EntryKind.EVENT and campaign.entry_event:
        return audience_queryset({"all": [{
            "type": "event", "name": campaign.entry_event, "op": "at_least", "count": 1,
            "within_days": RECENT_EVENT_DAYS, "where": list(campaign.entry_event_filter or []),
        }]}, now=now)
    return Profile.objects.none()


# --- walking -------------------------------------------------------------------------------


@dataclass
class _Journey:
    """One profile's simulated walk."""

    path: list[dict] = field(default_factory=list)
    sends: list[tuple[str, datetime]] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)  # steps reached, in order
    waited: set[str] = field(default_factory=set)
    outcome: str = "completed"

    def reach(self, key: str) -> None:
        if key not in self.steps:
            self.steps.append(key)


def walk(graph: Graph, rules: engine.CampaignRules, state: engine.EnrollmentState,
         facts: engine.ProfileFacts, now: datetime) -> _Journey:
    """Call the engine until the walk ends, jumping the clock to each wait's end."""
    journey, at = _Journey(), now
    for _ in range(MAX_CALLS):
        decision = engine.advance(graph, state, facts, at, rules=rules)
        for action in decision.actions:
            facts = _record(journey, action, facts, at)
        last = decision.actions[-1]
        if not isinstance(last, engine.WaitUntil):
            return journey
        arrived = state.step_entered_at if decision.step_key == state.step_key else at
        state = replace(state, step_key=decision.step_key, step_entered_at=arrived,
                        data=dict(last.data))
        at = max(last.at, at)
    journey.outcome = "failed"
    journey.path.append({"step": state.step_key, "outcome": "failed",
                         "detail": "The walk did not end.", "at": at.isoformat()})
    return journey


def _record(journey: _Journey, action, facts: engine.ProfileFacts,
            at: datetime) -> engine.ProfileFacts:
    step_key = getattr(action, "step_key", "")
    if isinstance(action, engine.Visit):
        journey.reach(step_key)
        journey.path.append({"step": step_key, "outcome": action.outcome,
                             "detail": action.detail, "at": at.isoformat()})
    elif isinstance(action, engine.Send):
        journey.sends.append((step_key, at))
    elif isinstance(action, engine.UpdateAttribute):
        attributes = {**facts.rules.attributes, action.attribute: action.value}
        return replace(facts, rules=replace(facts.rules, attributes=attributes))
    elif isinstance(action, engine.WaitUntil):
        journey.reach(step_key)
        journey.waited.add(step_key)
    elif isinstance(action, engine.Exit | engine.Fail):
        journey.reach(step_key)
        journey.outcome = "exited" if isinstance(action, engine.Exit) else "failed"
        journey.path.append({"step": step_key, "outcome": journey.outcome,
                             "detail": action.reason, "at": at.isoformat()})
    return facts


class _Run:
    """One simulation: walks batches of profiles, then asks the policy about their messages."""

    def __init__(self, campaign: Campaign, graph: Graph, now: datetime):
        self.graph, self.rules = rules_ready(graph, campaign_rules(campaign))
        self.campaign, self.now = campaign, now
        self.messages = {key: _MessageSpec.of(step) for key, step in graph.steps.items()
                         if step.kind in engine.SEND_KINDS}
        self.tally = _Tally(graph)

    def batch(self, ids: list[int]) -> None:
        profiles = Profile.objects.filter(pk__in=ids).only("id", "attributes", *PROFILE_FIELDS)
        profiles = {p.pk: p for p in profiles}
        facts = profile_facts(list(profiles.values()), self.graph, self.rules, self.now)
        journeys: dict[int, _Journey] = {}
        for pid in ids:
            if pid not in facts or not self.graph.steps:
                continue
            state = engine.EnrollmentState(
                profile_id=pid, step_key=self.graph.start, entered_at=self.now,
                step_entered_at=self.now,
                is_control=in_control_group(self.campaign.pk, pid, self.campaign.holdout_percent),
            )
            journeys[pid] = walk(self.graph, self.rules, state, facts[pid], self.now)
        verdicts = self._verdicts(journeys, profiles)
        for pid, journey in journeys.items():
            self.tally.add(pid, journey, verdicts.get(pid, {}))

    def _verdicts(self, journeys: dict[int, _Journey],
                  profiles: dict[int, Profile]) -> dict[int, dict[str, str]]:
        """profile id → {step key: "" (would send) or the skip reason}."""
        found: dict[int, dict[str, str]] = defaultdict(dict)
        wanted = [(pid, key, at) for pid, j in journeys.items() for key, at in j.sends]
        # In send order, so the frequency caps count the journey's own earlier messages.
        wanted.sort(key=lambda item: item[2])
        tokens = _push_tokens([pid for pid, key, _ in wanted
                               if self.messages[key].channel == Channel.PUSH])
        deliveries: dict[int, tuple[int, str]] = {}
        batch = []
        for number, (pid, key, _) in enumerate(wanted, start=1):
            spec = self.messages[key]
            if spec.problem:
                found[pid][key] = spec.problem
                continue
            batch.append(spec.delivery(-number, profiles[pid], tokens.get(pid, "")))
            deliveries[-number] = (pid, key)
        for delivery_id, verdict in policy.evaluate(batch, self.now).items():
            pid, key = deliveries[delivery_id]
            found[pid][key] = str(verdict.reason) if verdict.action == policy.SKIP else ""
        return found


def _push_tokens(profile_ids: list[int]) -> dict[int, str]:
    """Each profile's newest push token (what a push delivery is addressed to)."""
    tokens: dict[int, str] = {}
    for pid, token in PushSubscription.objects.filter(profile_id__in=set(profile_ids)).order_by(
        "id"
    ).values_list("profile_id", "token"):
        tokens[pid] = token
    return tokens


@dataclass(frozen=True)
class _MessageSpec:
    """What a send step's deliveries would carry."""

    channel: str
    kind: str = MessageKind.MARKETING
    revision_id: int | None = None
    fixed_address: str = ""
    problem: str = ""  # a reason every message of the step would be skipped for

    @classmethod
    def of(cls, step: StepSpec) -> _MessageSpec:
        if step.kind == "send_email":
            return cls(channel=Channel.EMAIL)
        template = MessageTemplate.objects.filter(pk=step.template).first() if step.template \
            else None
        if template is None:
            return cls(channel=step.channel, problem=str(Reason.TEMPLATE_ERROR))
        # Any revision of the template names its topic for the consent check; none is
        # created here (a dry run writes nothing).
        revision = TemplateRevision.objects.filter(template=template).order_by("-version") \
            .values_list("id", flat=True).first()
        return cls(channel=template.channel, kind=template.kind, revision_id=revision,
                   fixed_address=str((template.content or {}).get("url", ""))
                   if template.channel == Channel.WEBHOOK else "")

    def delivery(self, number: int, profile: Profile, push_token: str) -> Delivery:
        address = {
            Channel.EMAIL: profile.email, Channel.SMS: profile.phone, Channel.PUSH: push_token,
            Channel.MAIL: profile.full_name, Channel.WEBHOOK: self.fixed_address,
        }.get(self.channel, "")
        return Delivery(id=number, profile=profile, channel=self.channel, kind=self.kind,
                        address=address or "", template_revision_id=self.revision_id)


# --- counting ------------------------------------------------------------------------------


class _Tally:
    def __init__(self, graph: Graph):
        self.order = [s.key for s in graph.ordered()]
        self.steps: dict[str, dict[str, Any]] = {}
        self.outcomes: Counter = Counter()
        self.paths: dict[int, list[dict]] = {}

    def _step(self, key: str) -> dict[str, Any]:
        return self.steps.setdefault(key, {
            "entered": 0, "exits": Counter(), "waiting": 0, "sent": 0, "skipped": Counter(),
            "holdout": 0, "exited": 0, "failed": 0,
        })

    def add(self, pid: int, journey: _Journey, verdicts: dict[str, str]) -> None:
        for key in journey.steps:
            self._step(key)["entered"] += 1
        for key in journey.waited:
            self._step(key)["waiting"] += 1
        for entry in journey.path:
            counts = self._step(entry["step"])
            if entry["outcome"] in ("exited", "failed"):
                counts[entry["outcome"]] += 1
                continue
            counts["exits"][entry["outcome"]] += 1
            if entry["detail"] == "holdout":
                counts["holdout"] += 1
            elif entry["step"] in verdicts:
                reason = verdicts[entry["step"]]
                entry["message"] = f"would skip: {reason}" if reason else "would send"
                if reason:
                    counts["skipped"][reason] += 1
                else:
                    counts["sent"] += 1
        self.outcomes[journey.outcome] += 1
        self.paths[pid] = journey.path

    def result(self, audience: int, simulated: int) -> dict[str, Any]:
        scale = audience / simulated if simulated else 1.0

        def scaled(value):
            if isinstance(value, dict):
                return {k: scaled(v) for k, v in value.items()}
            return round(value * scale)

        keys = self.order + [k for k in self.steps if k not in self.order]
        steps = {key: scaled(dict(self._step(key))) for key in keys}
        would_skip: Counter = Counter()
        for counts in steps.values():
            would_skip.update(counts["skipped"])
        return {
            "audience": audience, "simulated": simulated, "sampled": simulated < audience,
            "scale": round(scale, 4), "steps": steps,
            "messages": {"would_send": sum(c["sent"] for c in steps.values()),
                         "would_skip": dict(would_skip),
                         "holdout": sum(c["holdout"] for c in steps.values())},
            "outcomes": scaled(dict(self.outcomes)),
        }
