from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render

from profiles.forms import (
    FIELD_SUGGESTIONS,
    ConditionFormSet,
    SegmentForm,
    initial_from_rules,
    rules_from_forms,
)
from profiles.models import Segment
from profiles.segments import RuleError, describe_rules
from profiles.selectors import attribute_keys, segment_count, segment_members
from profiles.services import segment_save


@permission_required("profiles.view_segment", raise_exception=True)
def segment_list(request):
    segments = Segment.objects.all()
    rows = [(s, describe_rules(s.rules)) for s in segments]
    return render(request, "profiles/segment_list.html", {"rows": rows})


@permission_required("profiles.view_segment", raise_exception=True)
def segment_detail(request, pk: int):
    segment = get_object_or_404(Segment, pk=pk)
    context = {
        "segment": segment,
        "description": describe_rules(segment.rules),
        "count": segment_count(segment=segment),
        "sample": segment_members(segment=segment)[:20],
        "campaigns": segment.campaigns.all()[:20],
    }
    return render(request, "profiles/segment_detail.html", context)


@permission_required("profiles.add_segment", raise_exception=True)
def segment_create(request):
    return _segment_form(request, None)


@permission_required("profiles.change_segment", raise_exception=True)
def segment_edit(request, pk: int):
    return _segment_form(request, get_object_or_404(Segment, pk=pk))


def _segment_form(request, segment: Segment | None):
    match, rows = initial_from_rules(segment.rules if segment else {})
    form = SegmentForm(request.POST or None, instance=segment, initial={"match": match})
    conditions = ConditionFormSet(request.POST or None, initial=rows, prefix="c")
    preview = None
    if request.method == "POST" and form.is_valid() and conditions.is_valid():
        rules = rules_from_forms(form.cleaned_data["match"], conditions)
        if request.POST.get("action") == "count":
            preview = _preview(rules)
        else:
            try:
                saved = segment_save(
                    segment=segment, name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"], rules=rules, user=request.user,
                )
            except RuleError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Segment “{saved.name}” saved.")
                return redirect("segment_detail", pk=saved.pk)
    context = {
        "form": form, "conditions": conditions, "segment": segment, "preview": preview,
        "field_suggestions": FIELD_SUGGESTIONS + [f"attributes.{k}" for k in attribute_keys()],
    }
    return render(request, "profiles/segment_form.html", context)


def _preview(rules) -> dict:
    probe = Segment(rules=rules)
    return {"count": segment_count(segment=probe), "sample": segment_members(segment=probe)[:10]}
