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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from campaigns.graph import Graph  # noqa: F401 — part of this module's interface
from profiles.rules.matcher import Facts


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


def advance(
    graph: Graph, state: EnrollmentState, facts: ProfileFacts, now: datetime,
    *, rules: CampaignRules,
) -> Decision:
    raise NotImplementedError  # implemented by the engine work (see module docstring)
