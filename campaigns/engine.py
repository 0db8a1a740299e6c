"""The journey engine: a pure function from (graph, enrollment state, profile facts, now) to
the actions that move one enrollment on. No database, no clock, no randomness: the runtime
(campaigns.journeys) loads the inputs and executes the actions; simulation runs the same
function without sending.

    decision = advance(graph, state, facts, now, rules=campaign_rules)

The engine walks from `state.step_key` through as many steps as it can at `now`, emitting
for every step it leaves a Visit (step key, outcome = the exit taken, detail), and stops at:
- a wait that is not over: WaitUntil(at, event=name-or-None)  (enrollment stays there);
- a send step outside its (or the campaign's) send window: WaitUntil(window opening);
- the end of the graph (a null exit or an exit step): Complete();
- exit criteria matched (rules or the exit event since entry): Exit(reason="exit_criteria");
- a step key not in the graph: Fail(reason).
A send step emits Send(step_key) — or, for a control-group enrollment, no Send and a Visit
with detail "holdout" — and goes on to its next step in the same call.
A conversion goal met (goal event within goal_days of entry, not yet recorded) emits
Convert(at) in addition, whatever else happens.

Stable hashes (split branches, control group) use hashlib over "campaign:profile[:salt]",
never Python's hash(): the same profile gets the same branch in every process.

Details the contract leaves open, as implemented:
- Visit outcomes: the exit taken; an exit step's visit has outcome "end". A split decided
  by a declared winner (config "winner": branch name) has detail "winner".
- A wait keeps its deadline in WaitUntil.data = {"step": key, "until": iso}; the next call
  uses it (so a later config edit does not move a running wait), else it is computed from
  the arrival at the step (state.step_entered_at for the current step, `now` for a step
  reached in this call).
- A wait until event takes the "event" exit for a matching event with arrival ≤ occurred_at
  ≤ deadline, else "timeout" once now ≥ deadline.
- Exit criteria are checked before each step: the exit event with occurred_at ≥ entered_at,
  or the exit rules matching now. An UpdateAttribute is visible to the steps after it in
  the same call (conditions, exit rules).
- A control-group enrollment passes send steps at once (no message, so no window wait).
- The campaign send window applies to send_email/send_message; a step's own window to any
  send step (webhooks included).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from campaigns import engine_time
from campaigns.graph import Graph, StepSpec
from profiles.rules.matcher import Facts, matches

# A walk longer than this in one call is a cycle the validator missed: fail, don't spin.
MAX_STEPS_PER_CALL = 60
# The campaign-wide send window applies to messages to people, not to webhooks.
MESSAGE_KINDS = frozenset({"send_email", "send_message"})
SEND_KINDS = frozenset({"send_email", "send_message", "webhook"})


@dataclass(frozen=True)
class CampaignRules:
    """The campaign-wide settings the engine needs (not versioned)."""

    campaign_id: int
    exit_rules: dict[str, Any] = field(default_factory=dict)  # rules tree; {} = none
    exit_event: str = ""
    goal_event: str = ""
    goal_days: int = 7
    send_window: dict[str, Any] | None = None  # {"start","end","days"} in the profile's zone


@dataclass(frozen=True)
class EnrollmentState:
    profile_id: int
    step_key: str
    entered_at: datetime  # entry into the campaign
    step_entered_at: datetime  # arrival at the current step
    is_control: bool = False
    converted_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)  # engine scratch (e.g. wait deadline)


@dataclass(frozen=True)
class ProfileFacts:
    """What the engine may know about the profile. `rules` is what the rules matcher reads
    (fields, attributes, events, consents…); `timezone` is an IANA name; `engagement` maps an
    earlier step key to the actions its message got ({"received", "opened", "clicked"})."""

    rules: Facts
    timezone: str = "UTC"
    engagement: dict[str, frozenset[str]] = field(default_factory=dict)


# --- actions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    step_key: str
    outcome: str  # the exit taken: "next", "yes", "no", a branch name, "event", "timeout"
    detail: str = ""  # e.g. "holdout"


@dataclass(frozen=True)
class Send:
    step_key: str


@dataclass(frozen=True)
class UpdateAttribute:
    step_key: str
    attribute: str
    value: Any


@dataclass(frozen=True)
class WaitUntil:
    step_key: str
    at: datetime
    event: str = ""  # a "wait until event" step: the event that wakes it early
    data: dict[str, Any] = field(default_factory=dict)  # the state.data to keep


@dataclass(frozen=True)
class Complete:
    step_key: str  # the last step (exit step, or the one whose exit was null)


@dataclass(frozen=True)
class Exit:
    step_key: str
    reason: str


@dataclass(frozen=True)
class Fail:
    step_key: str
    reason: str


@dataclass(frozen=True)
class Convert:
    at: datetime


Action = Visit | Send | UpdateAttribute | WaitUntil | Complete | Exit | Fail | Convert


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...]
    step_key: str  # where the enrollment is afterwards


def stable_fraction(campaign_id: int, profile_id: int, salt: str = "") -> float:
    """A number in [0, 1) fixed for (campaign, profile, salt): the first 15 hex digits of
    sha256("campaign:profile[:salt]") over 16**15. In SQL the same number is
    ('x' || substr(encode(sha256(convert_to(text, 'UTF8')), 'hex'), 1, 15))::bit(60)::bigint
    / 16^15."""
    text = f"{campaign_id}:{profile_id}" + (f":{salt}" if salt else "")
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16) / 16**15


def advance(
    graph: Graph, state: EnrollmentState, facts: ProfileFacts, now: datetime,
    *, rules: CampaignRules,
) -> Decision:
    """Move one enrollment on as far as it can go at `now` (see the module docstring)."""
    return _Walk(graph, state, facts, now, rules).run()


@dataclass(frozen=True)
class _Go:
    exit: str
    detail: str = ""


class _Walk:
    def __init__(self, graph: Graph, state: EnrollmentState, facts: ProfileFacts,
                 now: datetime, rules: CampaignRules):
        self.graph, self.state, self.facts, self.now, self.rules = graph, state, facts, now, rules
        self.tz = engine_time.zone(facts.timezone)
        self.actions: list[Action] = []

    def run(self) -> Decision:
        converted = self._conversion()
        if converted:
            self.actions.append(converted)
        key, arrived, seen = self.state.step_key, self.state.step_entered_at, set()
        for _ in range(MAX_STEPS_PER_CALL):
            step = self.graph.step(key)
            if step is None:
                return self._end(Fail(key, f"Step {key!r} is not in the graph."))
            if key in seen:
                return self._end(Fail(key, f"The walk came back to step {key!r} (a cycle)."))
            seen.add(key)
            try:
                if self._exit_criteria():
                    return self._end(Exit(key, "exit_criteria"))
                result = self._step(step, arrived)
            except (KeyError, TypeError, ValueError) as exc:
                return self._end(Fail(key, f"Step {key!r} ({step.kind}): {exc!r}"[:300]))
            if not isinstance(result, _Go):
                return self._end(result)
            self.actions.append(Visit(key, result.exit, result.detail))
            following = step.exits.get(result.exit) if step.kind != "exit" else None
            if not following:
                return self._end(Complete(key))
            key, arrived = following, self.now
        return self._end(Fail(key, f"More than {MAX_STEPS_PER_CALL} steps in one go."))

    def _end(self, action: Action) -> Decision:
        self.actions.append(action)
        return Decision(actions=tuple(self.actions), step_key=action.step_key)

    # --- campaign-wide rules -----------------------------------------------------------

    def _events(self, name: str):
        return ((at, props) for n, at, props in self.facts.rules.events if n == name)

    def _conversion(self) -> Convert | None:
        goal, entered = self.rules.goal_event, self.state.entered_at
        if not goal or self.state.converted_at is not None:
            return None
        end = entered + timedelta(days=self.rules.goal_days)
        times = [at for at, _ in self._events(goal) if entered <= at <= end]
        return Convert(min(times)) if times else None

    def _exit_criteria(self) -> bool:
        if self.rules.exit_event and any(
            at >= self.state.entered_at for at, _ in self._events(self.rules.exit_event)
        ):
            return True
        return bool(self.rules.exit_rules) and matches(self.rules.exit_rules, self.facts.rules,
                                                       self.now)

    # --- steps ---------------------------------------------------------------------------

    def _step(self, step: StepSpec, arrived: datetime) -> _Go | Action:
        if step.kind in SEND_KINDS:
            return self._send(step)
        handler = {
            "wait": self._wait, "condition": self._condition, "split": self._split,
            "update_attribute": self._update_attribute, "exit": lambda s, a: _Go("end"),
        }.get(step.kind)
        if handler is None:
            return Fail(step.key, f"Unknown step kind {step.kind!r}.")
        return handler(step, arrived)

    def _send(self, step: StepSpec) -> _Go | Action:
        if self.state.is_control:
            return _Go("next", "holdout")
        windows = [w for w in (self.rules.send_window if step.kind in MESSAGE_KINDS else None,
                               step.config.get("window")) if engine_time.is_window(w)]
        if windows:
            opening = engine_time.windows_next_open(windows, self.now, self.tz)
            if opening is None:
                return Fail(step.key, "The send windows never open together.")
            if opening > self.now:
                return WaitUntil(step.key, opening)
        self.actions.append(Send(step.key))
        return _Go("next")

    def _deadline(self, step: StepSpec, computed) -> datetime:
        data = self.state.data if step.key == self.state.step_key else {}
        if data.get("step") == step.key and data.get("until"):
            return datetime.fromisoformat(data["until"])
        return computed()

    def _waiting(self, step: StepSpec, until: datetime, event: str = "") -> WaitUntil:
        return WaitUntil(step.key, until, event=event,
                         data={"step": step.key, "until": until.isoformat()})

    def _wait(self, step: StepSpec, arrived: datetime) -> _Go | Action:
        config = step.config
        mode = config.get("mode", "duration")
        if mode == "event":
            return self._wait_event(step, arrived)
        if mode == "duration":
            until = self._deadline(step, lambda: arrived + timedelta(seconds=config["seconds"]))
        elif mode == "until":
            until = self._deadline(step, lambda: engine_time.next_time_of_day(
                arrived, config["time"], config.get("weekdays") or [], self.tz))
        else:
            return Fail(step.key, f"Unknown wait mode {mode!r}.")
        return _Go("next") if self.now >= until else self._waiting(step, until)

    def _wait_event(self, step: StepSpec, arrived: datetime) -> _Go | Action:
        config, name = step.config, step.config["event"]
        deadline = self._deadline(
            step, lambda: arrived + timedelta(seconds=config.get("timeout_seconds") or 0))
        # The matcher's own event filter, over the events between arrival and deadline.
        node = {"type": "event", "name": name, "op": "at_least", "count": 1,
                "where": config.get("where") or []}
        since = [(n, at, p) for n, at, p in self.facts.rules.events
                 if n == name and arrived <= at <= deadline]
        if since and matches(node, Facts(fields={}, attributes={}, events=since), self.now):
            return _Go("event")
        if self.now >= deadline:
            return _Go("timeout")
        return self._waiting(step, deadline, event=name)

    def _condition(self, step: StepSpec, arrived: datetime) -> _Go | Action:
        config = step.config
        if isinstance(config.get("engagement"), dict):
            wanted = config["engagement"]
            got = self.facts.engagement.get(str(wanted.get("step")), frozenset())
            return _Go("yes" if wanted.get("action") in got else "no")
        if isinstance(config.get("rules"), dict):
            return _Go("yes" if matches(config["rules"], self.facts.rules, self.now) else "no")
        return Fail(step.key, "A condition needs rules or an engagement test.")

    def _split(self, step: StepSpec, arrived: datetime) -> _Go | Action:
        branches = step.config.get("branches") or []
        names = [str(b.get("name", "")) for b in branches]
        winner = step.config.get("winner")
        if winner and winner in names:
            return _Go(winner, "winner")
        weights = [max(float(b.get("weight") or 0), 0.0) for b in branches]
        total = sum(weights)
        if total <= 0:
            return Fail(step.key, "A split needs branches with a positive weight.")
        point = stable_fraction(self.rules.campaign_id, self.state.profile_id, step.key) * total
        reached = 0.0
        for name, weight in zip(names, weights, strict=True):
            reached += weight
            if point < reached and weight > 0:
                return _Go(name)
        return _Go([n for n, w in zip(names, weights, strict=True) if w > 0][-1])  # rounding

    def _update_attribute(self, step: StepSpec, arrived: datetime) -> _Go | Action:
        attribute, value = step.config["attribute"], step.config.get("value")
        self.actions.append(UpdateAttribute(step.key, attribute, value))
        # The steps after it in this call see the new value.
        attributes = {**self.facts.rules.attributes, attribute: value}
        self.facts = replace(self.facts, rules=replace(self.facts.rules, attributes=attributes))
        return _Go("next")
