"""A campaign as a JSON document, for review and version control, and back.

    data = export_campaign(campaign)       # entry settings, referenced segments and
                                           # templates (id and name), the graph JSON
    copy = import_campaign(data, user)     # a new draft

Segments and templates are named by id and by name: an import into the same instance finds
them by id, one into another instance by name (a template also by channel). Segment ids
inside rules (conditions, exit rules) are translated the same way.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.db import transaction
from django.utils import timezone

from campaigns.errors import CampaignError
from campaigns.graph import graph_to_json
from campaigns.models import Campaign, CampaignVersion, EntryKind, Reentry
from campaigns.versions import draft_of, draft_version, graph_of, graph_save
from channels.models import MessageTemplate
from profiles.models import Segment
from profiles.rules.schema import referenced_segments

FORMAT = "itinera.campaign"
FORMAT_VERSION = 1
_NUMBERS = ("priority", "reentry_days", "goal_days", "holdout_percent")
_TEXTS = ("description", "recurrence", "entry_event", "exit_event", "goal_event")
_SETTINGS = ("description", "priority", "recurrence", "entry_event", "entry_event_filter",
             "reentry", "reentry_days", "exit_rules", "exit_event", "goal_event", "goal_days",
             "holdout_percent", "send_window_days")


# --- export ----------------------------------------------------------------------------------


def export_campaign(campaign: Campaign, version: CampaignVersion | None = None) -> dict:
    version = version or campaign.current_version or draft_of(campaign)
    graph = graph_to_json(graph_of(campaign, version)) if version else {"start": "", "steps": []}
    rules = [campaign.exit_rules] + [s["config"].get("rules") for s in graph["steps"]]
    segment_ids = {pk for tree in rules for pk in referenced_segments(tree)}
    template_ids = {s["template"] for s in graph["steps"] if s.get("template") is not None}
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "campaign": {
            "name": campaign.name, "entry_kind": campaign.entry_kind,
            **{field: getattr(campaign, field) for field in _SETTINGS},
            "segment": _segment_ref(campaign.segment),
            "extra_segments": [_segment_ref(s) for s in campaign.extra_segments.all()],
            "excluded_segments": [_segment_ref(s) for s in campaign.excluded_segments.all()],
            "scheduled_at": campaign.scheduled_at.isoformat() if campaign.scheduled_at else None,
            "send_window_start": _clock(campaign.send_window_start),
            "send_window_end": _clock(campaign.send_window_end),
        },
        "version": {"number": version.number if version else None,
                    "published_at": version.published_at.isoformat()
                    if version and version.published_at else None},
        "segments": [_segment_ref(s) for s in Segment.objects.filter(pk__in=segment_ids)],
        "templates": [
            {"id": t.pk, "name": t.name, "channel": t.channel, "kind": t.kind}
            for t in MessageTemplate.objects.filter(pk__in=template_ids).order_by("pk")
        ],
        "graph": graph,
    }


def _segment_ref(segment: Segment | None) -> dict | None:
    return {"id": segment.pk, "name": segment.name} if segment else None


def _clock(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value else None


# --- import ----------------------------------------------------------------------------------


def import_campaign(data: dict[str, Any], user=None) -> Campaign:
    """A new draft campaign from an export; CampaignError names what cannot be resolved."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CampaignError("This is not an exported Itinera campaign.")
    if data.get("format_version") != FORMAT_VERSION:
        raise CampaignError(f"Unsupported format version {data.get('format_version')!r}.")
    source = data.get("campaign") if isinstance(data.get("campaign"), dict) else {}
    resolver = _Resolver(data)
    fields = _campaign_fields(source, resolver)
    graph = resolver.graph(data.get("graph") or {})
    if resolver.missing:
        raise CampaignError(resolver.missing)
    with transaction.atomic():
        extra, excluded = fields.pop("extra_segments"), fields.pop("excluded_segments")
        campaign = Campaign.objects.create(owner=user, created_by=user, **fields)
        campaign.extra_segments.set(extra)
        campaign.excluded_segments.set(excluded)
        graph_save(draft_version(campaign, user), graph)
    return campaign


def _campaign_fields(source: dict[str, Any], resolver: _Resolver) -> dict[str, Any]:
    fields = {f: source[f] for f in _SETTINGS if f in source and source[f] is not None}
    name = source.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CampaignError({"name": "The campaign has no name."})
    if source.get("entry_kind", EntryKind.AUDIENCE) not in EntryKind.values:
        raise CampaignError({"entry_kind": f"Unknown entry {source.get('entry_kind')!r}."})
    if fields.get("reentry", Reentry.NEVER) not in Reentry.values:
        raise CampaignError({"reentry": f"Unknown re-entry rule {fields['reentry']!r}."})
    fields.update(
        name=name[:200], entry_kind=source.get("entry_kind", EntryKind.AUDIENCE),
        segment=resolver.segment(source.get("segment")),
        extra_segments=[resolver.segment(s) for s in source.get("extra_segments") or []],
        excluded_segments=[resolver.segment(s) for s in source.get("excluded_segments") or []],
        scheduled_at=_parse(source.get("scheduled_at"), datetime.fromisoformat, "scheduled_at"),
        send_window_start=_parse(source.get("send_window_start"), time.fromisoformat,
                                 "send_window_start"),
        send_window_end=_parse(source.get("send_window_end"), time.fromisoformat,
                               "send_window_end"),
    )
    for field, value in fields.items():
        wrong = (field in _NUMBERS and (not isinstance(value, int) or isinstance(value, bool)
                                        or not 0 <= value <= 32_767)) or (
            field in _TEXTS and not isinstance(value, str))
        if wrong:
            raise CampaignError({field: f"{value!r} is not a valid {field}."})
    if "exit_rules" in fields:
        fields["exit_rules"] = resolver.rules(fields["exit_rules"])
    return fields


def _parse(value: Any, parse, field: str):
    if value in (None, ""):
        return None
    try:
        return parse(value)
    except (TypeError, ValueError) as exc:
        raise CampaignError({field: f"{value!r} is not a valid {field}."}) from exc


class _Resolver:
    """Finds the export's segments and templates here: by id, else by name."""

    def __init__(self, data: dict[str, Any]):
        refs = [r for r in data.get("segments") or [] if isinstance(r, dict)]
        self.templates = {t.get("id"): t for t in data.get("templates") or []
                          if isinstance(t, dict)}
        self.missing: dict[str, str] = {}
        self._unresolved: dict[str, list[str]] = {"segments": [], "templates": []}
        self._segment_ids = {r.get("id"): self.segment(r) for r in refs}

    def _miss(self, kind: str, ref: Any) -> None:
        name = ref.get("name") if isinstance(ref, dict) else None
        label = f"“{name}” (#{ref.get('id')})" if name else f"#{_id_of(ref)}"
        if label not in self._unresolved[kind]:
            self._unresolved[kind].append(label)
        self.missing[kind] = f"Not found here: {', '.join(self._unresolved[kind])}."

    def segment(self, ref: Any) -> Segment | None:
        if ref is None:
            return None
        found = Segment.objects.filter(pk=_id_of(ref)).first() if _id_of(ref) else None
        if found is None and isinstance(ref, dict) and ref.get("name"):
            found = Segment.objects.filter(name=ref["name"]).order_by("pk").first()
        if found is None:
            self._miss("segments", ref)
        return found

    def template(self, pk: Any) -> int | None:
        ref = self.templates.get(pk, {"id": pk})
        found = MessageTemplate.objects.filter(pk=pk).first() if _id_of(pk) else None
        if found is not None and ref.get("channel") not in (None, found.channel):
            found = None  # the same id here is another channel's template
        if found is None and ref.get("name"):
            found = MessageTemplate.objects.filter(
                name=ref["name"], **({"channel": ref["channel"]} if ref.get("channel") else {})
            ).order_by("pk").first()
        if found is None:
            self._miss("templates", ref)
            return None
        return found.pk

    def rules(self, tree: Any) -> Any:
        """The rules tree with exported segment ids replaced by the ids found here."""
        if isinstance(tree, list):
            return [self.rules(item) for item in tree]
        if not isinstance(tree, dict):
            return tree
        copy = {key: self.rules(value) for key, value in tree.items()}
        if tree.get("type") == "segment" and "segment" in tree:
            found = self._segment_ids.get(tree["segment"]) or self.segment({"id": tree["segment"]})
            copy["segment"] = found.pk if found else tree["segment"]
        return copy

    def graph(self, graph: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(graph, dict) or not isinstance(graph.get("steps", []), list):
            raise CampaignError({"graph": "The graph is not an object with a list of steps."})
        steps = []
        for step in graph.get("steps", []):
            if not isinstance(step, dict):
                raise CampaignError({"graph": "Each step is an object."})
            step = dict(step)
            if step.get("template") is not None:
                step["template"] = self.template(step["template"])
            if isinstance(step.get("config"), dict) and "rules" in step["config"]:
                step["config"] = {**step["config"], "rules": self.rules(step["config"]["rules"])}
            steps.append(step)
        return {**graph, "steps": steps}


def _id_of(ref: Any) -> int | None:
    value = ref.get("id") if isinstance(ref, dict) else ref
    return value if isinstance(value, int) and not isinstance(value, bool) else None
