"""A campaign version's step graph as plain data: what the engine walks, the validator
checks, the designer draws and the API reads and writes.

JSON form (API, export/import, simulation):

    {"start": "s1",
     "steps": [
       {"key": "s1", "kind": "send_message", "name": "Welcome", "template": 12,
        "config": {"window": {"start": "09:00", "end": "18:00", "days": [1, 2, 3, 4, 5]}},
        "exits": {"next": "s2"}},
       {"key": "s2", "kind": "wait", "config": {"mode": "duration", "seconds": 86400},
        "exits": {"next": "s3"}},
       {"key": "s3", "kind": "condition",
        "config": {"rules": {"all": [{"type": "event", "name": "purchase", "op": "at_least",
                                      "count": 1, "within_days": 7}]}},
        "exits": {"yes": "s4", "no": null}},
       ...]}

A null (or missing) exit ends the journey there (the enrollment completes). An exit naming a
key that is not a step is a dangling exit (a validation error).

Kinds, their `config` and their exits:

    send_email        inline email: config {"subject", "html_body", "text_body"}     next
                      (the first campaigns; new steps use send_message)
    send_message      "template": a channels MessageTemplate id (its channel is the
                      step's); config {"window": {...}} optional step send window    next
    wait              {"mode": "duration", "seconds": N}                            next
                      {"mode": "until", "time": "HH:MM", "weekdays": [1..7] or []}  next
                        (the next such moment in the profile's time zone)
                      {"mode": "event", "event": name, "where": [...filters],
                       "timeout_seconds": N}                               event, timeout
    condition         {"rules": rules tree (profiles.rules schema)}                yes, no
                      or {"engagement": {"step": key, "action": "received" | "opened"
                          | "clicked"}} — the profile's message from that earlier step
    split             {"branches": [{"name": "A", "weight": 50}, ...]}    one per branch
    update_attribute  {"attribute": key, "value": any JSON value}                   next
    webhook           "template": a webhook MessageTemplate id                      next
    exit              {}                                                  (none: the end)

A send window (campaign-wide, or a step's) is {"start": "HH:MM", "end": "HH:MM",
"days": [ISO weekdays] or []} in the profile's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEND_KINDS = frozenset({"send_email", "send_message", "webhook"})
KINDS = ("send_email", "send_message", "wait", "condition", "split", "update_attribute",
         "webhook", "exit")


@dataclass(frozen=True)
class StepSpec:
    key: str
    kind: str
    name: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    exits: dict[str, str | None] = field(default_factory=dict)
    template: int | None = None  # MessageTemplate id (send_message, webhook)
    channel: str = "email"  # the template's channel (email for send_email)
    step_id: int | None = None  # the Step row, when read from the database
    position: int = 0


@dataclass(frozen=True)
class Graph:
    start: str
    steps: dict[str, StepSpec]

    def step(self, key: str) -> StepSpec | None:
        return self.steps.get(key)

    def ordered(self) -> list[StepSpec]:
        return sorted(self.steps.values(), key=lambda s: (s.position, s.key))


def exit_names(kind: str, config: dict[str, Any]) -> list[str]:
    """The exits a step of this kind and config has, in display order."""
    if kind == "exit":
        return []
    if kind == "condition":
        return ["yes", "no"]
    if kind == "split":
        return [str(b.get("name", "")) for b in config.get("branches", [])]
    if kind == "wait" and config.get("mode") == "event":
        return ["event", "timeout"]
    return ["next"]


def graph_from_json(data: dict[str, Any]) -> Graph:
    """Parse the JSON form, shape only (campaigns.validation checks meaning). Raises
    ValueError on a shape that is not a graph at all."""
    if not isinstance(data, dict) or not isinstance(data.get("steps", []), list):
        raise ValueError("A graph is an object with a list of steps.")
    steps: dict[str, StepSpec] = {}
    for position, raw in enumerate(data.get("steps", []), start=1):
        if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not raw["key"]:
            raise ValueError(f"Step {position} needs a key.")
        if raw["key"] in steps:
            raise ValueError(f"Two steps have the key {raw['key']!r}.")
        steps[raw["key"]] = StepSpec(
            key=raw["key"], kind=str(raw.get("kind", "")), name=str(raw.get("name", "")),
            config=dict(raw.get("config") or {}), exits=dict(raw.get("exits") or {}),
            template=raw.get("template"), channel=str(raw.get("channel") or "email"),
            position=int(raw.get("position") or position),
        )
    start = data.get("start") or (next(iter(steps)) if steps else "")
    return Graph(start=str(start), steps=steps)


def graph_to_json(graph: Graph) -> dict[str, Any]:
    return {
        "start": graph.start,
        "steps": [
            {"key": s.key, "kind": s.kind, "name": s.name, "template": s.template,
             "channel": s.channel, "config": s.config, "exits": s.exits, "position": s.position}
            for s in graph.ordered()
        ],
    }


def graph_from_version(version) -> Graph:
    """Read a CampaignVersion's steps (one query)."""
    steps = {}
    for step in version.steps.select_related("template").order_by("position", "id"):
        config = dict(step.config or {})
        if step.kind == "send_email":
            config.update(subject=step.subject, html_body=step.html_body,
                          text_body=step.text_body)
        steps[step.key] = StepSpec(
            key=step.key, kind=step.kind, name=step.name, config=config,
            exits=dict(step.exits or {}), template=step.template_id,
            channel=step.template.channel if step.template else step.channel,
            step_id=step.pk, position=step.position,
        )
    return Graph(start=version.start_key or (next(iter(steps)) if steps else ""), steps=steps)
