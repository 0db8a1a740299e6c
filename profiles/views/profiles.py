"""Marketer pages for profiles: the list and its search, the detail with its timeline, editing,
consent, and the GDPR export and erasure."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from profiles.consent import ConsentError, ConsentUpdate, consent_set, consent_summary
from profiles.forms import ConsentForm, EraseForm, ProfileFilterForm, ProfileForm
from profiles.models import AttributeDefinition, ConsentChannel, ConsentState, Profile
from profiles.privacy import export_json, profile_erase, profile_export
from profiles.search import ProfileFilters, profile_page
from profiles.services import ProfileDataError, attribute_specs, profile_update
from profiles.timeline import DEFAULT_LIMIT, profile_timeline


@permission_required("profiles.view_profile", raise_exception=True)
def profile_list(request):
    specs = attribute_specs()
    form = ProfileFilterForm(request.GET, specs=specs)
    valid = form.is_valid()
    data = form.cleaned_data if valid else {}
    page = profile_page(
        filters=form.filters() if valid else ProfileFilters(),
        after=data.get("after"), before=data.get("before"),
    )
    context = {
        "form": form, "page": page, "filtered": valid and form.filters().active,
        "attribute_keys": sorted(specs),
    }
    return render(request, "profiles/profile_list.html", context)


@permission_required("profiles.view_profile", raise_exception=True)
def profile_detail(request, pk: int):
    profile = get_object_or_404(Profile, pk=pk)
    form = ProfileForm(profile=profile, definitions=list(AttributeDefinition.objects.all()))
    return _detail(request, profile, form)


@permission_required("profiles.change_profile", raise_exception=True)
@require_POST
def profile_edit(request, pk: int):
    profile = get_object_or_404(Profile, pk=pk)
    form = ProfileForm(
        request.POST, profile=profile, definitions=list(AttributeDefinition.objects.all())
    )
    if form.is_valid():
        try:
            profile_update(profile=profile, data=form.changes())
        except ProfileDataError as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, "Profile saved.")
            return redirect("profile_detail", pk=profile.pk)
    return _detail(request, profile, form, status=400)


def _detail(request, profile: Profile, form: ProfileForm, status: int = 200):
    limit = _int(request.GET.get("timeline"), DEFAULT_LIMIT)
    entries, older = profile_timeline(profile=profile, limit=limit)
    context = {
        "profile": profile, "form": form, "timeline": entries, "timeline_more": older,
        "timeline_next": limit * 2, "consents": _consent_rows(profile),
        "timezones": _zone_names(),
        "aliases": profile.aliases.order_by("created_at"),
        "push_subscriptions": profile.push_subscriptions.order_by("-created_at"),
    }
    return render(request, "profiles/profile_detail.html", context, status=status)


def _consent_rows(profile: Profile) -> list[dict]:
    """consent_summary with the labels the page shows: the state, the channel's regime."""
    states, channels = dict(ConsentState.choices), dict(ConsentChannel.choices)
    return [
        {**row, "state_label": states[row["state"]], "channel_label": channels[row["channel"]],
         "regime": settings.CONSENT_REGIMES.get(row["channel"], "opt_in").replace("_", "-")}
        for row in consent_summary(profile=profile)
    ]


@cache
def _zone_names() -> list[str]:
    return sorted(available_timezones())


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


@permission_required("profiles.change_consent", raise_exception=True)
@require_POST
def profile_consent(request, pk: int):
    profile = get_object_or_404(Profile, pk=pk)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That consent change was not understood.")
        return redirect("profile_detail", pk=profile.pk)
    update = ConsentUpdate(
        channel=form.cleaned_data["channel"], topic=form.cleaned_data["topic"] or None,
        state=form.cleaned_data["state"], source=f"ui:{request.user.get_username()}",
    )
    try:
        changed = consent_set(profile=profile, update=update)
    except ConsentError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Consent updated." if changed else "Consent unchanged.")
    return redirect(reverse("profile_detail", args=[profile.pk]) + "#consent")


@permission_required("profiles.view_profile", raise_exception=True)
@require_POST
def profile_export_download(request, pk: int):
    profile = get_object_or_404(Profile, pk=pk)
    export = profile_export(profile=profile, actor=request.user)
    response = StreamingHttpResponse(export_json(export), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="profile-{profile.pk}.json"'
    return response


@permission_required("profiles.delete_profile", raise_exception=True)
def profile_erase_confirm(request, pk: int):
    profile = get_object_or_404(Profile, pk=pk)
    form = EraseForm(request.POST or None, profile=profile)
    if request.method == "POST" and form.is_valid():
        profile_erase(profile=profile, actor=request.user)
        messages.success(request, f"Profile #{pk} and everything about it was erased.")
        return redirect("profile_list")
    return render(request, "profiles/profile_erase.html", {"profile": profile, "form": form})
