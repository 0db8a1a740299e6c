"""The designer's step operations and the flow layout, on a graph's JSON form.

Every operation takes the JSON form of a version's graph (campaigns.graph) and returns a new
one; the view saves it with campaigns.versions.graph_save. No database here, so the
operations are tested as plain data. They keep the graph acyclic and never leave an exit
pointing at a removed step; what they do not judge (a missing template, a wait too long,
a step nobody reaches) is campaigns.validation's to report on the step.

The layout turns the graph into a tree of boxes for the page: a step's exits are drawn side
by side under it, and a step reached a second time (branches re-joining) is drawn once, where
the walk from the start first meets it; every other arrow to it becomes a "go to" box.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from campaigns.graph import exit_names


class DesignError(ValueError):
    """An operation the graph does not allow (a cycle, a step with branches to delete…)."""


# --- reading the JSON form ---------------------------------------------------------------------


def _steps(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in data.get("steps", [])}


def _step(data: dict[str, Any], key: str) -> dict[str, Any]:
    step = _steps(data).get(key)
    if step is None:
        raise DesignError(f"There is no step {key!r}.")
    return step


def new_key(data: dict[str, Any]) -> str:
    """The next free key s1, s2, …; keys are never reused within a graph."""
    return free_key({s["key"] for s in data.get("steps", [])})


def free_key(used: set[str]) -> str:
    """The first of s{len+1}, s{len+2}, … not in `used`."""
    n = len(used) + 1
    while f"s{n}" in used:
        n += 1
    return f"s{n}"


def reaches(data: dict[str, Any], source: str | None, target: str) -> bool:
    """Whether the walk from `source` can arrive at `target`."""
    steps, seen, todo = _steps(data), set(), [source]
    while todo:
        key = todo.pop()
        if key is None or key in seen:
            continue
        if key == target:
            return True
        seen.add(key)
        todo.extend((steps.get(key) or {}).get("exits", {}).values())
    return False


def _targets(step: dict[str, Any]) -> list[str]:
    return [t for t in step.get("exits", {}).values() if t]


def _predecessor_slots(data: dict[str, Any], key: str) -> list[tuple[dict[str, Any], str]]:
    return [(s, name) for s in data.get("steps", []) for name, t in s.get("exits", {}).items()
            if t == key]


# --- operations --------------------------------------------------------------------------------


def insert_step(
    data: dict[str, Any], *, after: str = "", exit: str = "", kind: str, name: str = "",
    config: dict[str, Any] | None = None, template: int | None = None, channel: str = "",
) -> tuple[dict[str, Any], str]:
    """Insert a step on `after`'s exit (or at the start when `after` is empty). What the
    exit led to now follows the new step's first exit. Returns (new graph, new key)."""
    data = copy.deepcopy(data) if data else {"start": "", "steps": []}
    config = dict(config or {})
    if after:
        previous = _step(data, after)
        if exit not in exit_names(previous["kind"], previous.get("config", {})):
            raise DesignError(f"Step {after} has no exit {exit!r}.")
        follower = previous.get("exits", {}).get(exit)
    else:
        follower = data.get("start") or None
    names = exit_names(kind, config)
    if follower and not names:
        raise DesignError("An exit step ends the journey: add it where the path is open.")
    key = new_key(data)
    step = {"key": key, "kind": kind, "name": name, "config": config, "template": template,
            "exits": {n: (follower if i == 0 else None) for i, n in enumerate(names)},
            "position": max((s.get("position", 0) for s in data["steps"]), default=0) + 1}
    if channel:
        step["channel"] = channel
    data["steps"].append(step)
    if after:
        previous["exits"][exit] = key
    else:
        data["start"] = key
    return data, key


def edit_step(
    data: dict[str, Any], key: str, *, name: str, config: dict[str, Any],
    template: int | None = None, channel: str = "",
) -> dict[str, Any]:
    """Change a step's settings. When its exits change (a split's branches, a wait that now
    waits for an event) the exits that keep their name keep their target; a removed exit's
    target moves to the first new exit if that one is open, so no path is lost silently."""
    data = copy.deepcopy(data)
    step = _step(data, key)
    old_exits = dict(step.get("exits", {}))
    names = exit_names(step["kind"], config)
    exits = {n: old_exits.get(n) for n in names}
    orphans = [t for n, t in old_exits.items() if n not in exits and t]
    if orphans and names and exits[names[0]] is None:
        exits[names[0]] = orphans[0]
    step.update(name=name, config=config, template=template, exits=exits)
    if channel:
        step["channel"] = channel
    return data


def delete_step(data: dict[str, Any], key: str) -> dict[str, Any]:
    """Remove a step; whatever led to it now leads to where its single exit led."""
    data = copy.deepcopy(data)
    step = _step(data, key)
    targets = _targets(step)
    if len(set(targets)) > 1:
        raise DesignError("This step has several branches: delete the steps on all but one "
                          "of them first.")
    follower = targets[0] if targets else None
    for previous, exit in _predecessor_slots(data, key):
        previous["exits"][exit] = follower
    if data.get("start") == key:
        data["start"] = follower or ""
    data["steps"] = [s for s in data["steps"] if s["key"] != key]
    if not data["start"] and data["steps"]:
        data["start"] = data["steps"][0]["key"]
    return data


def move_step(data: dict[str, Any], key: str, *, after: str = "", exit: str = "") -> dict[str, Any]:
    """Take a step out of its place (its predecessors then lead to its follower) and insert
    it on `after`'s exit (or at the start). Steps with branches move by their branches'
    steps, not as a whole."""
    step = _step(data, key)
    if len(set(_targets(step))) > 1:
        raise DesignError("A step with branches cannot be moved; move the steps around it.")
    if after == key:
        raise DesignError("A step cannot follow itself.")
    detached = delete_step(data, key)
    if after:
        _step(detached, after)  # raises when `after` is not a step
    moved, new = insert_step(detached, after=after, exit=exit, kind=step["kind"],
                             name=step.get("name", ""), config=step.get("config", {}),
                             template=step.get("template"), channel=step.get("channel", ""))
    return rename_step(moved, new, key, position=step.get("position", 0))


def rename_step(data: dict[str, Any], old: str, new: str, *, position: int = 0) -> dict[str, Any]:
    """Give a step back its key (a moved step keeps its key: reports and in-flight
    enrollments follow keys)."""
    for s in data["steps"]:
        if s["key"] == old:
            s["key"] = new
            s["position"] = position or s.get("position", 0)
        s["exits"] = {n: (new if t == old else t) for n, t in s.get("exits", {}).items()}
    if data.get("start") == old:
        data["start"] = new
    return data


def link_exit(data: dict[str, Any], key: str, exit: str, target: str = "") -> dict[str, Any]:
    """Point an exit at an existing step (branches re-joining) or at the end (empty)."""
    data = copy.deepcopy(data)
    step = _step(data, key)
    if exit not in step.get("exits", {}):
        raise DesignError(f"Step {key} has no exit {exit!r}.")
    if target:
        _step(data, target)
        if target == key or reaches(data, target, key):
            raise DesignError("That would make a loop: a journey only goes forward.")
    step["exits"][exit] = target or None
    return data


def set_start(data: dict[str, Any], key: str) -> dict[str, Any]:
    data = copy.deepcopy(data)
    _step(data, key)
    data["start"] = key
    return data


def places(data: dict[str, Any], *, moving: str = "") -> list[tuple[str, str, str]]:
    """Where a step can go: (after, exit, label) for the start and every step's exit, minus
    the moving step's own exits."""
    options = [("", "", "At the start")]
    for s in sorted(data.get("steps", []), key=lambda s: s.get("position", 0)):
        if s["key"] == moving:
            continue
        for name in s.get("exits", {}):
            label = f"After {s['key']} {s.get('name') or s['kind']}"
            options.append((s["key"], name, label if name == "next" else f"{label} → {name}"))
    return options


# --- layout ------------------------------------------------------------------------------------


@dataclass
class Branch:
    """One exit under a box: a chain of boxes, a "go to" an already drawn step, or the end."""

    exit: str
    node: Node | None = None
    goto: str = ""
    dangling: bool = False  # the exit names a step that does not exist


@dataclass
class Node:
    step: dict[str, Any]
    branches: list[Branch] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # what the page adds: problems, counts

    @property
    def key(self) -> str:
        return self.step["key"]

    @property
    def forks(self) -> bool:
        return len(self.branches) > 1


@dataclass
class Layout:
    root: Node | None
    detached: list[Node]  # steps nobody reaches from the start, each with what follows it
    order: list[str]  # step keys in drawing order


def _ordered_exits(step: dict[str, Any]) -> list[tuple[str, str | None]]:
    """A step's exits in display order (yes before no, branches as configured): the JSON
    column does not keep key order."""
    exits = step.get("exits", {})
    names = exit_names(step["kind"], step.get("config") or {})
    return [(n, exits[n]) for n in names if n in exits] + [
        (n, t) for n, t in exits.items() if n not in names]


def layout(data: dict[str, Any]) -> Layout:
    """The flow as nested boxes, depth first: a step reached by several branches is drawn
    under the first of them (the leftmost), the others show "go to"."""
    steps = _steps(data)
    drawn: list[str] = []

    def grow(key: str) -> Node:
        node = Node(steps[key])
        drawn.append(key)
        for exit, target in _ordered_exits(node.step):
            if not target or target not in steps:
                node.branches.append(Branch(exit=exit, goto=target or "",
                                            dangling=bool(target)))
            elif target in drawn:
                node.branches.append(Branch(exit=exit, goto=target))
            else:
                node.branches.append(Branch(exit=exit, node=grow(target)))
        return node

    start = data.get("start")
    root = grow(start) if start in steps else None
    ordered = sorted(steps.values(), key=lambda s: (s.get("position", 0), s["key"]))
    detached = [grow(s["key"]) for s in ordered if s["key"] not in drawn]
    return Layout(root=root, detached=detached, order=drawn)


def nodes(tree: Layout) -> list[Node]:
    """Every drawn node, for the page to annotate."""
    found, todo = [], [n for n in [tree.root, *tree.detached] if n]
    while todo:
        node = todo.pop()
        found.append(node)
        todo.extend(b.node for b in node.branches if b.node)
    return found


# --- what a box says ---------------------------------------------------------------------------

_DAYS = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}


def duration_text(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{seconds} seconds"


def _days_text(days: list[int]) -> str:
    return ", ".join(_DAYS.get(int(d), str(d)) for d in days) if days else "any day"


def summary(step: dict[str, Any], template_names: dict[int, str]) -> str:
    """One line saying what the step does, for its box."""
    kind, config = step["kind"], step.get("config") or {}
    template = template_names.get(step.get("template") or 0, "no template chosen")
    if kind == "send_message":
        window = config.get("window")
        extra = f" · {window['start']}–{window['end']}" if window else ""
        return f"{template} ({step.get('channel') or 'email'}){extra}"
    if kind == "send_email":
        return f"Email: {config.get('subject') or 'no subject'}"
    if kind == "webhook":
        return template
    if kind == "wait":
        mode = config.get("mode")
        if mode == "until":
            return f"Until {config.get('time', '?')} · {_days_text(config.get('weekdays', []))}"
        if mode == "event":
            timeout = duration_text(int(config.get("timeout_seconds") or 0))
            return f"Until “{config.get('event', '?')}”, at most {timeout}"
        return duration_text(int(config.get("seconds") or 0))
    if kind == "condition":
        return _condition_text(config)
    if kind == "split":
        return " / ".join(f"{b.get('name')} {b.get('weight')}%" for b in config.get("branches", []))
    if kind == "update_attribute":
        return f"{config.get('attribute', '?')} = {json.dumps(config.get('value'))}"
    return "End of the journey" if kind == "exit" else ""


def _condition_text(config: dict[str, Any]) -> str:
    engagement = config.get("engagement")
    if engagement:
        return f"{engagement.get('action', 'received')} the message of {engagement.get('step')}"
    nodes_ = (config.get("rules") or {}).get("all", [])
    if len(nodes_) == 1 and nodes_[0].get("type") == "event":
        node = nodes_[0]
        return f"“{node.get('name')}” in the last {node.get('within_days', '?')} days"
    return "Rules match" if config.get("rules") else "No rule set"
