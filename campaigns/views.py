from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from campaigns.campaign_settings import campaign_settings_save
from campaigns.forms import CampaignForm, CampaignSettingsForm, ScheduleForm, settings_initial
from campaigns.models import Campaign, CampaignStatus
from campaigns.selectors import (
    campaign_deliveries,
    campaign_delivery_counts,
    campaign_preview_profile,
    campaign_rows,
)
from campaigns.services import (
    CampaignError,
    campaign_data,
    campaign_preview,
    campaign_save,
    campaign_schedule,
    campaign_unschedule,
)

PAGE_SIZE = 50


@permission_required("campaigns.view_campaign", raise_exception=True)
def campaign_index(request):
    status = request.GET.get("status", "")
    page = Paginator(campaign_rows(status=status), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "status": status, "statuses": CampaignStatus.choices}
    return render(request, "campaigns/campaign_list.html", context)


@permission_required("campaigns.view_campaign", raise_exception=True)
def campaign_detail(request, pk: int):
    campaign = get_object_or_404(Campaign.objects.select_related("segment"), pk=pk)
    deliveries = campaign_deliveries(campaign=campaign).select_related("profile")
    context = {
        "campaign": campaign,
        "step": campaign.steps.filter(position=1).first(),
        "counts": campaign_delivery_counts(campaign=campaign),
        "page": Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page")),
        "schedule_form": ScheduleForm(),
    }
    return render(request, "campaigns/campaign_detail.html", context)


@permission_required("campaigns.view_campaign", raise_exception=True)
def campaign_progress(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    counts = campaign_delivery_counts(campaign=campaign)
    return JsonResponse({"status": campaign.status, "counts": counts})


@permission_required("campaigns.add_campaign", raise_exception=True)
def campaign_create(request):
    return _campaign_form(request, None)


@permission_required("campaigns.change_campaign", raise_exception=True)
def campaign_edit(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    if not campaign.is_editable:
        messages.error(request, "Only a draft campaign can be edited.")
        return redirect("campaign_detail", pk=pk)
    return _campaign_form(request, campaign)


def _campaign_form(request, campaign: Campaign | None):
    initial = campaign_data(campaign) if campaign else {"segment": request.GET.get("segment")}
    form = CampaignForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = campaign_save(campaign=campaign, user=request.user, **form.cleaned_data)
        except CampaignError as exc:
            for field, message in exc.errors.items():
                form.add_error(None if field == "__all__" else field, message)
        else:
            messages.success(request, f"Campaign “{saved.name}” saved as a draft.")
            return redirect("campaign_detail", pk=saved.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form, "campaign": campaign})


@permission_required("campaigns.view_campaign", raise_exception=True)
def campaign_preview_page(request, pk: int):
    campaign = get_object_or_404(Campaign.objects.select_related("segment"), pk=pk)
    profile_key = request.GET.get("profile", "").strip()
    profile = campaign_preview_profile(campaign=campaign, profile_key=profile_key)
    content, error = None, None
    if profile is None:
        error = (
            f"No profile matches “{profile_key}”." if profile_key else "There are no profiles yet."
        )
    else:
        try:
            content = campaign_preview(campaign=campaign, profile=profile)
        except Exception as exc:  # a template that fails for this profile is shown, not raised
            error = f"This profile's data does not render: {exc}"
    context = {"campaign": campaign, "profile": profile, "content": content,
               "error": error, "profile_key": profile_key}
    return render(request, "campaigns/campaign_preview.html", context)


@require_POST
@permission_required("campaigns.change_campaign", raise_exception=True)
def campaign_schedule_view(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("send_at", []):
            messages.error(request, error)
        return redirect("campaign_detail", pk=pk)
    try:
        campaign_schedule(campaign=campaign, at=form.cleaned_data["send_at"])
    except CampaignError as exc:
        for message in _error_messages(exc):
            messages.error(request, message)
    else:
        messages.success(request, "Campaign scheduled.")
    return redirect("campaign_detail", pk=pk)


def _error_messages(exc: CampaignError) -> list[str]:
    """A CampaignError's messages, those of steps (errors["steps"]) named by their step."""
    found = []
    for field, message in exc.errors.items():
        if field == "steps":
            found += [f"Step {key}: {' '.join(m)}" for key, m in message.items()]
        else:
            found.append(str(message))
    return found


@require_POST
@permission_required("campaigns.change_campaign", raise_exception=True)
def campaign_unschedule_view(request, pk: int):
    try:
        campaign_unschedule(campaign=get_object_or_404(Campaign, pk=pk))
    except CampaignError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Campaign unscheduled: it is a draft again.")
    return redirect("campaign_detail", pk=pk)


@permission_required("campaigns.add_campaign", raise_exception=True)
def campaign_settings_new(request):
    """A new journey: its entry and rules first, then the designer for its steps."""
    return _settings_form(request, Campaign(segment_id=request.GET.get("segment") or None))


@permission_required("campaigns.change_campaign", raise_exception=True)
def campaign_settings(request, pk: int):
    return _settings_form(request, get_object_or_404(Campaign, pk=pk))


def _settings_form(request, campaign: Campaign):
    form = CampaignSettingsForm(request.POST or None, initial=settings_initial(campaign))
    if request.method == "POST" and form.is_valid():
        try:
            saved = campaign_settings_save(campaign=campaign if campaign.pk else None,
                                           user=request.user, values=form.settings())
        except CampaignError as exc:
            for field, message in exc.errors.items():
                form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, f"Settings of “{saved.name}” saved.")
            return redirect("campaign_designer", pk=saved.pk)
    return render(request, "campaigns/campaign_settings.html",
                  {"form": form, "campaign": campaign if campaign.pk else None})
