"""The control rules a campaign passes before it is published.

    problems = validate(campaign, graph)   # [] when it may be published

Each Problem names the step it is on (`step_key`, "" for the campaign's own settings), the
field (e.g. "segment", "config.seconds", "exits.yes") and a message for the marketer. Checks
read the database only to look up templates, segments and the attribute schema, once each.
The graph's shape and meaning follow campaigns.graph.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from croniter import croniter
from django.conf import settings

from campaigns.graph import KINDS, SEND_KINDS, Graph, StepSpec, exit_names
from campaigns.models import Campaign, EntryKind, Reentry
from campaigns.rendering import step_content_errors
from channels.message_templates import template_errors
from channels.models import Channel, MessageKind, MessageTemplate
from profiles.attributes import coerce_value
from profiles.audiences import rules_catalog
from profiles.rules.schema import EVENT_NAME, Catalog, RuleError
from profiles.rules.schema import validate as validate_rules
from profiles.segments import ATTRIBUTE_KEY
from profiles.services import attribute_specs

HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
MAX_BRANCH_NAME = 32  # StepVisit.outcome holds the branch taken
ENGAGEMENT_ACTIONS = ("received", "opened", "clicked")


class Problem(NamedTuple):
    step_key: str  # "" = the campaign's entry and settings
    field: str
    message: str


def validate(campaign: Campaign, graph: Graph) -> list[Problem]:
    catalog = rules_catalog()
    problems = _entry_problems(campaign, catalog) + _settings_problems(campaign, catalog)
    problems += _graph_problems(graph, _Lookups(graph, catalog))
    return problems


def problems_as_errors(problems: list[Problem]) -> dict[str, Any]:
    """The CampaignError form: {"steps": {key: [messages]}, field or "__all__": message}."""
    errors: dict[str, Any] = {}
    for problem in problems:
        if problem.step_key:
            errors.setdefault("steps", {}).setdefault(problem.step_key, []).append(
                problem.message
            )
        else:
            # errors["steps"] holds the problems by step key: the graph's own go on "graph".
            field = {"": "__all__", "steps": "graph"}.get(problem.field, problem.field)
            errors[field] = f"{errors[field]} {problem.message}" if field in errors else (
                problem.message
            )
    return errors


class _Lookups:
    """What the step checks read from the database, read once."""

    def __init__(self, graph: Graph, catalog: Catalog):
        ids = {s.template for s in graph.steps.values() if _is_id(s.template)}
        self.templates: dict[int, MessageTemplate] = MessageTemplate.objects.in_bulk(ids)
        self.catalog = catalog
        self._specs = None

    @property
    def attribute_specs(self):
        if self._specs is None:
            self._specs = attribute_specs()
        return self._specs


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- the campaign's entry and settings -------------------------------------------------------


def _entry_problems(campaign: Campaign, catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    kind = campaign.entry_kind
    if kind not in EntryKind.values:
        return [Problem("", "entry_kind", f"Unknown entry {kind!r}.")]
    if kind in (EntryKind.AUDIENCE, EntryKind.SEGMENT_ENTRY) and campaign.segment_id is None:
        problems.append(Problem("", "segment", "Choose an audience segment."))
    # No time and no recurrence: the audience is read when the campaign is published.
    if kind == EntryKind.AUDIENCE and campaign.recurrence and not croniter.is_valid(
        campaign.recurrence
    ):
        problems.append(Problem("", "recurrence", (
            f"{campaign.recurrence!r} is not a cron expression "
            "(minute hour day month weekday, e.g. 0 9 * * 1)."
        )))
    if kind == EntryKind.EVENT:
        if not campaign.entry_event:
            problems.append(Problem("", "entry_event", "Name the event that starts the journey."))
        problems += _where_problems(campaign.entry_event_filter, catalog, "", "entry_event_filter")
    return problems


def _settings_problems(campaign: Campaign, catalog: Catalog) -> list[Problem]:
    problems = _rules_problems(campaign.exit_rules, catalog, "", "exit_rules", optional=True)
    for field in ("entry_event", "exit_event", "goal_event"):
        name = getattr(campaign, field)
        if name and not EVENT_NAME.match(name):
            problems.append(Problem("", field, "An event name has 1 to 200 characters."))
    if campaign.goal_event and campaign.goal_days < 1:
        problems.append(Problem("", "goal_days", "A conversion goal needs at least one day."))
    if campaign.reentry == Reentry.AFTER and campaign.reentry_days < 1:
        problems.append(Problem("", "reentry_days", "Re-entry after N days needs N ≥ 1."))
    if campaign.holdout_percent > 99:
        problems.append(Problem("", "holdout_percent", "A control group is 0 to 99 percent."))
    start, end = campaign.send_window_start, campaign.send_window_end
    if (start is None) != (end is None):
        problems.append(Problem("", "send_window", "A send window needs a start and an end."))
    elif start is not None and start == end:
        problems.append(Problem("", "send_window", "A send window cannot start as it ends."))
    problems += _weekday_problems(campaign.send_window_days, "", "send_window_days")
    return problems


def _rules_problems(rules: Any, catalog: Catalog, key: str, field: str, *,
                    optional: bool = False) -> list[Problem]:
    if optional and rules in (None, {}, ""):
        return []
    try:
        validate_rules(rules, catalog)
    except RuleError as exc:
        return [Problem(key, field, f"{e['path']}: {e['message']}") for e in exc.errors]
    return []


def _where_problems(where: Any, catalog: Catalog, key: str, field: str) -> list[Problem]:
    """Event property filters, checked as the `where` of an event condition."""
    if where in (None, []):
        return []
    node = {"type": "event", "name": "x", "op": "at_least", "count": 1, "where": where}
    try:
        validate_rules(node, catalog)
    except RuleError as exc:
        return [Problem(key, field, f"{e['path'].replace('$.where', '$')}: {e['message']}")
                for e in exc.errors]
    return []


def _weekday_problems(days: Any, key: str, field: str) -> list[Problem]:
    if not isinstance(days, list) or any(
        not _is_id(d) or not 1 <= d <= 7 for d in days
    ) or len(set(days)) != len(days):
        return [Problem(key, field, "Weekdays are distinct numbers 1 (Monday) to 7 (Sunday).")]
    return []


def _window_problems(window: Any, key: str) -> list[Problem]:
    if window in (None, {}):
        return []
    if not isinstance(window, dict):
        return [Problem(key, "config.window", "A send window is {start, end, days}.")]
    problems = []
    for end in ("start", "end"):
        if not isinstance(window.get(end), str) or not HH_MM.match(window[end]):
            problems.append(Problem(key, f"config.window.{end}", "A time is HH:MM (24 h)."))
    if not problems and window["start"] == window["end"]:
        problems.append(Problem(key, "config.window", "A send window cannot start as it ends."))
    return problems + _weekday_problems(window.get("days", []), key, "config.window.days")


# --- the graph -------------------------------------------------------------------------------


def _graph_problems(graph: Graph, lookups: _Lookups) -> list[Problem]:
    if not graph.steps:
        return [Problem("", "steps", "Add at least one step.")]
    problems: list[Problem] = []
    limit = settings.JOURNEY_MAX_STEPS
    if len(graph.steps) > limit:
        problems.append(Problem("", "steps", (
            f"A journey has at most {limit} steps; this one has {len(graph.steps)}."
        )))
    if graph.start not in graph.steps:
        problems.append(Problem("", "start", f"The start step {graph.start!r} is not a step."))
    for spec in graph.ordered():
        problems += _step_problems(spec, graph, lookups)
    if graph.start in graph.steps:
        shape, order = _shape_problems(graph)
        problems += shape or _engagement_problems(graph, order, lookups)
    return problems


def _step_problems(spec: StepSpec, graph: Graph, lookups: _Lookups) -> list[Problem]:
    if spec.kind not in KINDS:
        return [Problem(spec.key, "kind", f"Unknown step kind {spec.kind!r}.")]
    problems = _exit_problems(spec, graph)
    check = _KIND_CHECKS.get(spec.kind)
    if check is not None:
        problems += check(spec, lookups)
    return problems


def _exit_problems(spec: StepSpec, graph: Graph) -> list[Problem]:
    problems = []
    allowed = exit_names(spec.kind, spec.config)
    for name, target in spec.exits.items():
        if name not in allowed:
            problems.append(Problem(spec.key, f"exits.{name}", (
                f"A {spec.kind} step has no exit {name!r}"
                + (f" (its exits: {', '.join(allowed)})." if allowed else ".")
            )))
        elif target is not None and (not isinstance(target, str) or target not in graph.steps):
            problems.append(Problem(spec.key, f"exits.{name}",
                                    f"The exit {name!r} leads to {target!r}, which is not a step."))
    return problems


def _shape_problems(graph: Graph) -> tuple[list[Problem], list[str]]:
    """Acyclic (the engine visits a step once per walk) and every step reachable; and the
    steps in topological order."""
    problems: list[Problem] = []
    state: dict[str, str] = {}  # key → "open" while on the DFS stack, "done" after
    order: list[str] = []

    def visit(key: str) -> None:
        state[key] = "open"
        for name, target in _targets(graph, graph.steps[key]):
            if state.get(target) == "open":
                problems.append(Problem(key, f"exits.{name}", (
                    f"The exit {name!r} leads back to {target!r}: a journey cannot loop."
                )))
            elif target not in state:
                visit(target)
        state[key] = "done"
        order.append(key)

    visit(graph.start)
    for spec in graph.ordered():
        if spec.key not in state:
            problems.append(Problem(spec.key, "", "No path from the start step reaches this step."))
    return problems, list(reversed(order))


def _targets(graph: Graph, spec: StepSpec):
    for name in exit_names(spec.kind, spec.config):
        target = spec.exits.get(name)
        if isinstance(target, str) and target in graph.steps:
            yield name, target


def _engagement_problems(graph: Graph, topological: list[str],
                         lookups: _Lookups) -> list[Problem]:
    """An engagement condition reads an earlier message: its step must be on every path."""
    always_before: dict[str, set[str] | None] = {key: None for key in topological}
    always_before[graph.start] = set()
    for key in topological:
        for _, target in _targets(graph, graph.steps[key]):
            passed = always_before[key] | {key}
            known = always_before[target]
            always_before[target] = passed if known is None else known & passed
    problems = []
    for key in topological:
        engagement = graph.steps[key].config.get("engagement")
        if graph.steps[key].kind != "condition" or not isinstance(engagement, dict):
            continue
        source = engagement.get("step")
        sender = graph.steps.get(source) if isinstance(source, str) else None
        if sender is None or sender.kind not in SEND_KINDS or source not in always_before[key]:
            problems.append(Problem(key, "config.engagement.step", (
                f"{source!r} is not a message step every profile passes before this one."
            )))
        elif engagement.get("action") != "received" and not _tracked(sender, lookups):
            problems.append(Problem(key, "config.engagement.action", (
                "Opens and clicks are tracked for emails only; test “received”."
            )))
    return problems


def _tracked(spec: StepSpec, lookups: _Lookups) -> bool:
    template = lookups.templates.get(spec.template) if _is_id(spec.template) else None
    # A missing template is reported on its own step.
    return spec.kind == "send_email" or template is None or template.channel == Channel.EMAIL


# --- each kind's config ----------------------------------------------------------------------


def _max_wait_seconds() -> int:
    return settings.JOURNEY_MAX_WAIT_DAYS * 86_400


def _seconds_problem(value: Any, key: str, field: str) -> list[Problem]:
    days = settings.JOURNEY_MAX_WAIT_DAYS
    if not _is_id(value) or not 0 < value <= _max_wait_seconds():
        return [Problem(key, field, f"A wait is 1 second to {days} days (in seconds).")]
    return []


def _wait(spec: StepSpec, lookups: _Lookups) -> list[Problem]:
    config, key = spec.config, spec.key
    mode = config.get("mode")
    if mode == "duration":
        return _seconds_problem(config.get("seconds"), key, "config.seconds")
    if mode == "until":
        problems = []
        if not isinstance(config.get("time"), str) or not HH_MM.match(config["time"]):
            problems.append(Problem(key, "config.time", "A time is HH:MM (24 h)."))
        return problems + _weekday_problems(config.get("weekdays", []), key, "config.weekdays")
    if mode == "event":
        problems = _seconds_problem(config.get("timeout_seconds"), key, "config.timeout_seconds")
        event = config.get("event")
        if not isinstance(event, str) or not EVENT_NAME.match(event):
            problems.append(Problem(key, "config.event", "Name the event to wait for."))
        return problems + _where_problems(config.get("where"), lookups.catalog, key,
                                          "config.where")
    return [Problem(key, "config.mode", "A wait is a duration, until a time, or until an event.")]


def _condition(spec: StepSpec, lookups: _Lookups) -> list[Problem]:
    config, key = spec.config, spec.key
    if ("rules" in config) == ("engagement" in config):
        return [Problem(key, "config", "A condition has rules or an engagement test (one).")]
    if "rules" in config:
        return _rules_problems(config["rules"], lookups.catalog, key, "config.rules")
    engagement = config["engagement"]
    if not isinstance(engagement, dict) or engagement.get("action") not in ENGAGEMENT_ACTIONS:
        return [Problem(key, "config.engagement.action",
                        f"The engagement is one of {', '.join(ENGAGEMENT_ACTIONS)}.")]
    return []  # the step it names is checked against the paths (_engagement_problems)


def _split(spec: StepSpec, lookups: _Lookups) -> list[Problem]:
    branches, key = spec.config.get("branches"), spec.key
    if not isinstance(branches, list) or len(branches) < 2:
        return [Problem(key, "config.branches", "A split has at least two branches.")]
    problems, names = [], set()
    for i, branch in enumerate(branches):
        name = branch.get("name") if isinstance(branch, dict) else None
        weight = branch.get("weight") if isinstance(branch, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_BRANCH_NAME:
            problems.append(Problem(key, f"config.branches[{i}].name",
                                    f"A branch name has 1 to {MAX_BRANCH_NAME} characters."))
        elif name in names:
            problems.append(Problem(key, f"config.branches[{i}].name",
                                    f"Two branches are named {name!r}."))
        names.add(name)
        if not _is_id(weight) or weight < 1:
            problems.append(Problem(key, f"config.branches[{i}].weight",
                                    "A weight is a whole number ≥ 1."))
    return problems


def _update_attribute(spec: StepSpec, lookups: _Lookups) -> list[Problem]:
    attribute, key = spec.config.get("attribute"), spec.key
    if not isinstance(attribute, str) or not ATTRIBUTE_KEY.match(attribute):
        return [Problem(key, "config.attribute", "Choose the attribute to update.")]
    if "value" not in spec.config:
        return [Problem(key, "config.value", "Give the value to set.")]
    spec_of = lookups.attribute_specs.get(attribute)
    if spec_of is None:
        if settings.PROFILE_UNKNOWN_ATTRIBUTES == "reject":
            return [Problem(key, "config.attribute",
                            f"Unknown attribute {attribute!r}: declare it in the schema first.")]
        return []
    value = spec.config["value"]
    try:
        if value is not None:
            coerce_value(value, spec_of)
    except ValueError as exc:
        return [Problem(key, "config.value", f"{attribute} is a {spec_of.type}: {exc}")]
    return []


def _template_problems(spec: StepSpec, lookups: _Lookups, *, webhook: bool) -> list[Problem]:
    key = spec.key
    if spec.template is None:
        return [Problem(key, "template", "Choose a template.")]
    template = lookups.templates.get(spec.template) if _is_id(spec.template) else None
    if template is None:
        return [Problem(key, "template", f"Template {spec.template!r} does not exist.")]
    if webhook != (template.channel == Channel.WEBHOOK):
        wanted = "a webhook" if webhook else "a message (not webhook)"
        return [Problem(key, "template", (
            f"“{template.name}” is a {template.get_channel_display()} template; "
            f"this step needs {wanted} template."
        ))]
    errors = template_errors(channel=template.channel, kind=template.kind,
                             content=template.content or {})
    return [Problem(key, "template", f"“{template.name}” {field}: {message}")
            for field, message in errors.items()]


def _send_message(spec: StepSpec, lookups: _Lookups) -> list[Problem]:
    return (_template_problems(spec, lookups, webhook=False)
            + _window_problems(spec.config.get("window"), spec.key))


def _webhook(spec: StepSpec, lookups: _Lookups) -> list[Problem]:
    return _template_problems(spec, lookups, webhook=True)


def _send_email(spec: StepSpec, lookups: _Lookups) -> list[Problem]:
    config, key = spec.config, spec.key
    content = {f: config.get(f) or "" for f in ("subject", "html_body", "text_body")}
    if not all(isinstance(v, str) for v in content.values()):
        return [Problem(key, "config", "Subject and bodies are text.")]
    errors = step_content_errors(**content)
    if "html_body" not in errors:
        # An inline email is a marketing email: the same rule as a marketing template's.
        marketing = template_errors(channel=Channel.EMAIL, kind=MessageKind.MARKETING,
                                    content={"subject": "-", "html": content["html_body"]})
        if "html" in marketing:
            errors["html_body"] = marketing["html"]
    problems = [Problem(key, f"config.{field}", message) for field, message in errors.items()]
    return problems + _window_problems(config.get("window"), key)


def _exit(spec: StepSpec, lookups: _Lookups) -> list[Problem]:
    return []


_KIND_CHECKS = {
    "send_email": _send_email, "send_message": _send_message, "wait": _wait,
    "condition": _condition, "split": _split, "update_attribute": _update_attribute,
    "webhook": _webhook, "exit": _exit,
}
