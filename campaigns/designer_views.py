"""The journey designer: the flow page and its in-place (htmx) step operations.

Every operation posts to the server, which changes the draft version's graph through
campaigns.designer, saves it with campaigns.versions.graph_save and answers with the whole
designer body again (flow, problems, side panel), like the segment builder: the server is
the only source of truth. Without htmx the same posts redirect to the page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from campaigns import designer, lifecycle, versions
from campaigns.designer_page import (
    designer_context,
    errors_by_step,
    graph_data,
    shown_version,
)
from campaigns.models import Campaign, CampaignStatus, CampaignVersion
from campaigns.selectors import profile_by_reference
from campaigns.services import CampaignError
from campaigns.simulation import simulate
from campaigns.step_forms import NEW_KINDS, step_form

VIEW = "campaigns.view_campaign"
CHANGE = "campaigns.change_campaign"
BODY = "campaigns/designer/_body.html"


def _campaign(pk: int) -> Campaign:
    return get_object_or_404(Campaign.objects.select_related("segment", "current_version"), pk=pk)


def _answer(request, campaign: Campaign, version: CampaignVersion | None, **extra: Any):
    """The designer body for htmx, else the page (a plain post redirects to it)."""
    context = designer_context(campaign, version, **extra)
    if request.headers.get("HX-Request"):
        return render(request, BODY, context)
    if request.method == "POST":
        return redirect("campaign_designer", pk=campaign.pk)
    return render(request, "campaigns/designer.html", context)


@permission_required(VIEW, raise_exception=True)
def designer_page(request, pk: int):
    campaign = _campaign(pk)
    version = shown_version(campaign, request.GET.get("v"))
    if version is None and request.GET.get("v"):
        raise Http404("No such version.")
    if version is None and campaign.status == CampaignStatus.DRAFT:
        version = _draft(request, campaign)  # a new campaign: its empty version 1
    return render(request, "campaigns/designer.html", designer_context(campaign, version))


@permission_required(VIEW, raise_exception=True)
def designer_flow(request, pk: int):
    """The flow alone, for the live counts' polling."""
    campaign = _campaign(pk)
    context = designer_context(campaign, shown_version(campaign, request.GET.get("v")))
    return render(request, "campaigns/designer/_flow.html", context)


def _draft(request, campaign: Campaign) -> CampaignVersion:
    return versions.draft_version(campaign, request.user)


def _save(request, campaign: Campaign, draft: CampaignVersion, change) -> HttpResponse | None:
    """Apply a designer operation to the draft's graph; a refused one is shown in the panel."""
    try:
        versions.graph_save(draft, change(graph_data(draft)))
    except (designer.DesignError, CampaignError, ValueError) as exc:
        return _answer(request, campaign, draft, panel="campaigns/designer/_refused.html",
                       panel_context={"refusal": _message(exc)})
    return None


def _operate(request, pk: int, change) -> HttpResponse:
    """A one-post operation on the draft's graph, answered with the designer body."""
    campaign = _campaign(pk)
    draft = _draft(request, campaign)
    return _save(request, campaign, draft, change) or _answer(request, campaign, draft)


def _message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    return "; ".join(str(m) for m in errors.values()) if isinstance(errors, dict) else str(exc)


@permission_required(CHANGE, raise_exception=True)
def step_new(request, pk: int):
    """GET: the kind picker, or the chosen kind's form; POST: insert the step."""
    campaign = _campaign(pk)
    draft = _draft(request, campaign)
    source = request.POST if request.method == "POST" else request.GET
    after, exit, kind = source.get("after", ""), source.get("exit", ""), source.get("kind", "")
    place = {"after": after, "exit": exit, "kind": kind}
    if kind not in dict(NEW_KINDS):
        return _answer(request, campaign, draft, panel="campaigns/designer/_kinds.html",
                       panel_context={"place": place})
    form = step_form(kind, request.POST or None, graph=graph_data(draft))
    if request.method == "POST" and form.is_valid():
        values = form.values()
        refused = _save(request, campaign, draft, lambda data: designer.insert_step(
            data, after=after, exit=exit, kind=kind, **values)[0])
        return refused or _answer(request, campaign, draft)
    return _answer(request, campaign, draft, panel="campaigns/designer/_step_form.html",
                   panel_context={"form": form, "place": place, "kind": kind})


@permission_required(CHANGE, raise_exception=True)
def step_edit(request, pk: int, key: str):
    campaign = _campaign(pk)
    draft = _draft(request, campaign)
    data = graph_data(draft)
    step = next((s for s in data["steps"] if s["key"] == key), None)
    if step is None:
        raise Http404("No such step.")
    form = step_form(step["kind"], request.POST or None, step=step, graph=data, key=key)
    if request.method == "POST" and form.is_valid():
        values = form.values()
        refused = _save(request, campaign, draft,
                        lambda d: designer.edit_step(d, key, **values))
        return refused or _answer(request, campaign, draft)
    links = [(s["key"], f"{s['key']} {s.get('name') or s['kind']}") for s in data["steps"]
             if s["key"] != key and not designer.reaches(data, s["key"], key)]
    return _answer(request, campaign, draft, panel="campaigns/designer/_step_form.html",
                   panel_context={"form": form, "step": step, "kind": step["kind"],
                                  "links": links,
                                  "places": designer.places(data, moving=key)})


@require_POST
@permission_required(CHANGE, raise_exception=True)
def step_delete(request, pk: int, key: str):
    return _operate(request, pk, lambda data: designer.delete_step(data, key))


@require_POST
@permission_required(CHANGE, raise_exception=True)
def step_move(request, pk: int, key: str):
    after, _, exit = request.POST.get("place", "").partition("|")
    return _operate(request, pk, lambda data: designer.move_step(data, key, after=after, exit=exit))


@require_POST
@permission_required(CHANGE, raise_exception=True)
def step_link(request, pk: int, key: str):
    exit, target = request.POST.get("exit", ""), request.POST.get("target", "")
    return _operate(request, pk, lambda data: designer.link_exit(data, key, exit, target))


@require_POST
@permission_required(CHANGE, raise_exception=True)
def step_start(request, pk: int, key: str):
    return _operate(request, pk, lambda data: designer.set_start(data, key))


@require_POST
@permission_required(VIEW, raise_exception=True)
def campaign_simulate(request, pk: int):
    """A dry run of the shown version over the audience, a sample, or one profile."""
    campaign = _campaign(pk)
    version = shown_version(campaign, request.POST.get("v"))
    reference = request.POST.get("profile", "").strip()
    profile = profile_by_reference(reference) if reference else None
    if reference and profile is None:
        return _answer(request, campaign, version, panel="campaigns/designer/_refused.html",
                       panel_context={"refusal": f"No profile matches “{reference}”."})
    sample = request.POST.get("sample", "")
    sim = simulate(campaign=campaign, version=version, profile=profile,
                   sample=int(sample) if sample.isdigit() else None)
    return _answer(request, campaign, version, sim=sim, panel="campaigns/designer/_sim.html",
                   panel_context={"sim_profile": profile})


@require_POST
@permission_required(CHANGE, raise_exception=True)
def campaign_lifecycle(request, pk: int, action: str):
    """Publish, pause, resume, archive or unschedule; a refused publish shows the problems
    on the steps."""
    campaign = _campaign(pk)
    operation = {"publish": lambda c: lifecycle.publish(c, request.user),
                 "pause": lifecycle.pause, "resume": lifecycle.resume,
                 "archive": lifecycle.archive, "unschedule": lifecycle.unschedule}.get(action)
    if operation is None:
        raise Http404("No such action.")
    try:
        campaign = operation(campaign)
    except CampaignError as exc:
        version = shown_version(campaign)
        messages.error(request, f"Cannot {action}: {_message_without_steps(exc)}")
        return render(request, "campaigns/designer.html", designer_context(
            campaign, version, problems=errors_by_step(exc.errors)), status=400)
    messages.success(request, f"{campaign.name}: {campaign.get_status_display().lower()}.")
    return redirect("campaign_designer", pk=pk)


def _message_without_steps(exc: CampaignError) -> str:
    other = [str(m) for f, m in exc.errors.items() if f != "steps"]
    steps = exc.errors.get("steps") or {}
    if steps:
        other.append(f"{len(steps)} step(s) need attention (marked in red).")
    return " ".join(other)


@require_POST
@permission_required(CHANGE, raise_exception=True)
def version_new(request, pk: int):
    """Start editing version N+1 of a published campaign (a copy of the current one)."""
    campaign = _campaign(pk)
    draft = versions.draft_version(campaign, request.user)
    messages.success(request, f"Editing version {draft.number}: publish it to make new "
                              "entries take it.")
    return redirect(f"{reverse('campaign_designer', args=[pk])}?v={draft.number}")


@require_POST
@permission_required(CHANGE, raise_exception=True)
def version_move(request, pk: int, number: int):
    """Move the in-flight enrollments of version `number` to the current version."""
    campaign = _campaign(pk)
    source = get_object_or_404(CampaignVersion, campaign=campaign, number=number)
    if campaign.current_version is None or campaign.current_version_id == source.pk:
        messages.error(request, "Those enrollments are already on the current version.")
        return redirect("campaign_designer", pk=pk)
    try:
        moved = versions.move_enrollments(campaign, source, campaign.current_version)
    except CampaignError as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, f"Moved {moved} enrollment(s) from version {source.number} "
                                  f"to version {campaign.current_version.number}.")
    return redirect("campaign_designer", pk=pk)
