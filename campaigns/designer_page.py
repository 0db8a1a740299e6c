"""What the designer page shows for one campaign version: the flow's boxes annotated with
their summary, validation problems, live counts and simulation figures, the versions and
the lifecycle buttons the campaign's status allows. Reads only; the views write."""

from __future__ import annotations

from typing import Any

from campaigns import designer
from campaigns.graph import graph_from_version, graph_to_json
from campaigns.models import Campaign, CampaignStatus, CampaignVersion, StepKind
from campaigns.selectors import ZERO_COUNTS, campaign_versions, step_live_counts
from campaigns.step_forms import NEW_KINDS
from campaigns.validation import validate
from campaigns.versions import FINISHED, draft_of
from channels.models import MessageTemplate

KIND_LABELS = dict(StepKind.choices)
# Which lifecycle buttons a status offers (the lifecycle service has the last word).
ACTIONS = {
    CampaignStatus.DRAFT: ["publish", "archive"],
    CampaignStatus.SCHEDULED: ["unschedule", "pause"],
    CampaignStatus.RUNNING: ["pause"],
    CampaignStatus.PAUSED: ["resume", "archive"],
    CampaignStatus.COMPLETED: ["archive"],
    CampaignStatus.ARCHIVED: [],
}
ACTION_LABELS = {"publish": "Publish", "pause": "Pause", "resume": "Resume",
                 "archive": "Archive", "unschedule": "Unschedule"}


def shown_version(campaign: Campaign, number: str | int | None = None) -> CampaignVersion | None:
    """The version asked for, else the draft being edited, else the current one."""
    if number:
        return campaign.versions.filter(number=number).first()
    return (draft_of(campaign) or campaign.current_version
            or campaign.versions.order_by("-number").first())


def graph_data(version: CampaignVersion | None) -> dict[str, Any]:
    if version is None:
        return {"start": "", "steps": []}
    return graph_to_json(graph_from_version(version))


def problems_by_step(problems) -> dict[str, list[str]]:
    """validate()'s problems (step_key, field, message) keyed by step ("" = campaign)."""
    grouped: dict[str, list[str]] = {}
    for problem in problems:
        key, field, message = _parts(problem)
        grouped.setdefault(key or "", []).append(message)
    return grouped


def _parts(problem) -> tuple[str, str, str]:
    if isinstance(problem, tuple | list):
        return tuple(problem)  # type: ignore[return-value]
    return (getattr(problem, "step_key", ""), getattr(problem, "field", ""),
            getattr(problem, "message", str(problem)))


def errors_by_step(errors: dict[str, Any]) -> dict[str, list[str]]:
    """A CampaignError's errors as problems_by_step (steps under errors["steps"])."""
    grouped = {key: list(messages) for key, messages in (errors.get("steps") or {}).items()}
    for field, message in errors.items():
        if field != "steps":
            grouped.setdefault("", []).extend(message if isinstance(message, list) else [message])
    return grouped


def designer_context(
    campaign: Campaign, version: CampaignVersion | None, *,
    problems: dict[str, list[str]] | None = None, sim: dict[str, Any] | None = None,
    panel: str = "", panel_context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    graph = graph_from_version(version) if version is not None else None
    data = graph_to_json(graph) if graph is not None else graph_data(None)
    editable = bool(version and not version.is_published and campaign.status not in FINISHED)
    if problems is None:
        problems = problems_by_step(validate(campaign, graph)) if editable else {}
    live = bool(version and version.is_published
                and campaign.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED))
    tree = designer.layout(data)
    _annotate(tree, data, problems, step_live_counts(version=version) if live else None, sim)
    versions = list(campaign_versions(campaign=campaign))
    return {
        "campaign": campaign, "version": version, "graph": data, "layout": tree,
        "editable": editable, "live": live, "problems": problems,
        "campaign_problems": problems.get("", []), "sim": sim, "panel": panel,
        **(panel_context or {}),
        "versions": versions, "new_kinds": NEW_KINDS,
        "actions": [(a, ACTION_LABELS[a]) for a in _actions(campaign, versions)],
        "can_new_version": _can_new_version(campaign, versions),
    }


def _annotate(tree, data, problems, live_counts, sim) -> None:
    ids = [s.get("template") for s in data.get("steps", []) if s.get("template")]
    names = dict(MessageTemplate.objects.filter(pk__in=ids).values_list("pk", "name"))
    sim_steps = (sim or {}).get("steps", {})
    on_path = {p.get("step") for p in (sim or {}).get("path") or []}
    for node in designer.nodes(tree):
        key = node.key
        node.info = {
            "label": KIND_LABELS.get(node.step["kind"], node.step["kind"]),
            "summary": designer.summary(node.step, names),
            "problems": problems.get(key, []),
            "live": None if live_counts is None else live_counts.get(key, dict(ZERO_COUNTS)),
            "sim": sim_steps.get(key), "on_path": key in on_path,
            "is_start": key == data.get("start"),
        }


def _actions(campaign: Campaign, versions) -> list[str]:
    actions = list(ACTIONS.get(campaign.status, []))
    has_draft = any(v.published_at is None for v in versions)
    if campaign.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED) and has_draft:
        actions.insert(0, "publish")  # publishing the draft makes it version N+1
    return actions


def _can_new_version(campaign: Campaign, versions) -> bool:
    return (campaign.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED,
                                CampaignStatus.SCHEDULED)
            and not any(v.published_at is None for v in versions))
