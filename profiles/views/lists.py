"""Marketer actions on static lists: add the profiles ticked on the profile list page."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from profiles.lists import references, static_list_add, static_list_create
from profiles.models import Segment

MAX_SELECTED = 1000


class ProfileIdsField(forms.Field):
    """The ticked checkboxes: any ids (the list service reports those naming no profile)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        values = value or []
        if not all(str(v).isdigit() and 0 < int(v) < 2**63 for v in values):
            raise forms.ValidationError("Profiles are named by their ids.")
        return [int(v) for v in values]


class ListAddForm(forms.Form):
    profile = ProfileIdsField(error_messages={"required": "Tick the profiles to add first."})
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.filter(kind=Segment.Kind.STATIC), required=False
    )
    new_list = forms.CharField(max_length=200, required=False, strip=True)

    def clean_profile(self) -> list[int]:
        ids = self.cleaned_data["profile"]
        if len(ids) > MAX_SELECTED:
            raise forms.ValidationError(f"Select at most {MAX_SELECTED} profiles at a time.")
        return ids

    def clean(self):
        data = super().clean()
        if not data.get("segment") and not data.get("new_list"):
            raise forms.ValidationError("Pick a list, or name a new one.")
        if data.get("new_list") and Segment.objects.filter(name=data["new_list"]).exists():
            self.add_error("new_list", "A segment with this name exists.")
        return data


@permission_required("profiles.change_segment", raise_exception=True)
@require_POST
def profile_list_add(request):
    back = _back(request)
    form = ListAddForm(request.POST)
    if not form.is_valid():
        for error in [*form.non_field_errors(), *form.errors.get("profile", []),
                      *form.errors.get("new_list", []), *form.errors.get("segment", [])]:
            messages.error(request, error)
        return redirect(back)
    segment = form.cleaned_data["segment"]
    if segment is None:
        if not request.user.has_perm("profiles.add_segment"):
            messages.error(request, "You may not create lists.")
            return redirect(back)
        segment = static_list_create(name=form.cleaned_data["new_list"], user=request.user)
    change = static_list_add(
        segment=segment, refs=references(ids=form.cleaned_data["profile"]), source="selection"
    )
    already = f", {change.unchanged} already on it" if change.unchanged else ""
    messages.success(
        request, f"{change.changed} profile{'s' if change.changed != 1 else ''} added to "
        f"“{segment.name}”{already}.",
    )
    return redirect(back)


def _back(request) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("profile_list")
