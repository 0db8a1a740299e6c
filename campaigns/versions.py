"""Campaign versions: the draft being edited, its graph written from JSON, and moving
in-flight enrollments to a newer version.

A published version is frozen (its enrollments finish it). Editing a campaign that has one
edits a draft N+1, created as a copy of the current version with the same step keys, so
reports follow a step across versions and enrollments can move to the new graph.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from campaigns.errors import CampaignError
from campaigns.graph import Graph, StepSpec, graph_from_json, graph_from_version
from campaigns.models import (
    Campaign,
    CampaignStatus,
    CampaignVersion,
    Enrollment,
    EnrollmentState,
    Step,
    StepKind,
)
from channels.models import Channel, MessageTemplate

INLINE_FIELDS = ("subject", "html_body", "text_body")  # a send_email step's columns
FINISHED = (CampaignStatus.COMPLETED, CampaignStatus.ARCHIVED)  # never edited again
_COPIED = ("key", "name", "position", "kind", "config", "exits", "channel", "template_id",
           *INLINE_FIELDS)
MAX_KEY = Step._meta.get_field("key").max_length
MAX_NAME = Step._meta.get_field("name").max_length


def draft_of(campaign: Campaign) -> CampaignVersion | None:
    """The unpublished version, if one is being edited (never creates one)."""
    return campaign.versions.filter(published_at__isnull=True).order_by("-number").first()


def draft_version(campaign: Campaign, user=None) -> CampaignVersion:
    """The version being edited, created when there is none: version 1, empty, for a new
    campaign; otherwise N+1 as a copy of the current version."""
    draft = draft_of(campaign)
    if draft is not None:
        return draft
    if campaign.status in FINISHED:
        raise CampaignError(f"A {campaign.get_status_display().lower()} campaign cannot be edited.")
    with transaction.atomic():
        # The campaign row serializes two editors opening the draft at once.
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        draft = draft_of(locked)
        if draft is not None:
            return draft
        source = locked.current_version or locked.versions.order_by("-number").first()
        number = (locked.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        draft = CampaignVersion.objects.create(
            campaign=locked, number=number, created_by=user,
            start_key=source.start_key if source else "",
        )
        if source is not None:
            Step.objects.bulk_create(
                Step(campaign=locked, version=draft, **{f: getattr(s, f) for f in _COPIED})
                for s in source.steps.all()
            )
        else:
            _adopt_loose_steps(locked, draft)
    return draft


def _adopt_loose_steps(campaign: Campaign, version: CampaignVersion) -> None:
    """Steps made without a version (the admin's, old fixtures) become version 1's, keyed
    s1…sN and chained in position order, as migration 0005 did for the first campaigns."""
    steps = list(Step.objects.filter(campaign=campaign, version__isnull=True)
                 .order_by("position", "id"))
    for index, step in enumerate(steps, start=1):
        step.version, step.key = version, f"s{index}"
        step.exits = step.exits or {"next": f"s{index + 1}" if index < len(steps) else None}
    Step.objects.bulk_update(steps, ["version", "key", "exits"])
    if steps:
        version.start_key = "s1"
        version.save(update_fields=["start_key"])


def graph_of(campaign: Campaign, version: CampaignVersion | None = None) -> Graph:
    """The graph of `version`; by default the current version's, else the draft's."""
    version = version or campaign.current_version or draft_of(campaign)
    return graph_from_version(version) if version else Graph(start="", steps={})


def graph_save(version: CampaignVersion, data: dict[str, Any]) -> Graph:
    """Replace the draft version's steps with the graph in JSON form (campaigns.graph).

    Only the shape is checked here (a draft may be incomplete; campaigns.validation runs at
    publish). Steps keep their row (and id) when their key stays.
    """
    try:
        graph = graph_from_json(data)
    except (TypeError, ValueError) as exc:
        raise CampaignError(str(exc)) from exc
    templates = _templates(graph)
    with transaction.atomic():
        locked = CampaignVersion.objects.select_for_update().get(pk=version.pk)
        if locked.is_published:
            raise CampaignError("A published version cannot change: edit the draft.")
        _write_steps(locked, graph, templates)
        locked.start_key = graph.start
        locked.save(update_fields=["start_key"])
    return graph_from_version(locked)


def _templates(graph: Graph) -> dict[int, MessageTemplate]:
    problems: dict[str, list[str]] = {}
    for spec in graph.steps.values():
        if len(spec.key) > MAX_KEY:
            problems.setdefault(spec.key, []).append(f"A step key has at most {MAX_KEY} "
                                                     "characters.")
        if len(spec.name) > MAX_NAME:
            problems.setdefault(spec.key, []).append(f"A name has at most {MAX_NAME} characters.")
    wanted = {s.key: s.template for s in graph.steps.values() if s.template is not None}
    ids = {t for t in wanted.values() if isinstance(t, int) and not isinstance(t, bool)}
    templates = MessageTemplate.objects.in_bulk(ids)
    for key, template in wanted.items():
        if template not in templates:
            problems.setdefault(key, []).append(f"Template {template!r} does not exist.")
    if problems:
        raise CampaignError({"steps": problems})
    return templates


def _write_steps(version: CampaignVersion, graph: Graph,
                 templates: dict[int, MessageTemplate]) -> None:
    existing = {step.key: step for step in version.steps.all()}
    version.steps.exclude(key__in=list(graph.steps)).delete()
    changed, created = [], []
    for spec in graph.steps.values():
        step = existing.get(spec.key) or Step(campaign_id=version.campaign_id, version=version,
                                              key=spec.key)
        for name, value in _step_fields(spec, templates).items():
            setattr(step, name, value)
        (changed if step.pk else created).append(step)
    Step.objects.bulk_update(changed, [f for f in _COPIED if f != "key"])
    Step.objects.bulk_create(created)


def _step_fields(spec: StepSpec, templates: dict[int, MessageTemplate]) -> dict[str, Any]:
    template = templates.get(spec.template) if spec.template is not None else None
    config = dict(spec.config)
    inline = {f: "" for f in INLINE_FIELDS}
    if spec.kind == StepKind.SEND_EMAIL:
        inline = {f: str(config.pop(f, "") or "") for f in INLINE_FIELDS}
    channel = template.channel if template else (
        spec.channel if spec.channel in Channel.values else Channel.EMAIL
    )
    return {"name": spec.name, "position": spec.position, "kind": spec.kind, "config": config,
            "exits": spec.exits, "channel": channel, "template_id": template.pk if template
            else None, **inline}


def move_enrollments(campaign: Campaign, from_version: CampaignVersion,
                     to_version: CampaignVersion) -> int:
    """Move the active enrollments of `from_version` whose current step still exists in
    `to_version` (same key) to it, in one UPDATE; the others finish where they are."""
    if {from_version.campaign_id, to_version.campaign_id} != {campaign.pk}:
        raise CampaignError("Both versions must belong to this campaign.")
    if not to_version.is_published:
        raise CampaignError("Enrollments can move only to a published version.")
    if from_version.pk == to_version.pk:
        return 0
    keys = to_version.steps.values("key")
    return Enrollment.objects.filter(
        campaign=campaign, version=from_version, state=EnrollmentState.ACTIVE,
        step_key__in=keys,
    ).update(version=to_version, updated_at=timezone.now())
