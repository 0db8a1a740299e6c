"""Segment pages: list, detail (count, history, static list members), and the builder.

The builder page posts its whole form on every change (see profiles.builder.form): to
segment_builder, which answers the rows drawn again, and to segment_preview, which answers
the live count and each row's errors. Saving posts the same form to the page itself.
"""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from profiles.audiences import segment_audience, validate_audience_rules
from profiles.builder.form import Builder
from profiles.builder.options import builder_options
from profiles.builder.preview import audience_preview, members_preview
from profiles.forms import MembersCsvForm, SegmentForm
from profiles.lists import (
    ListError,
    references,
    static_list_add_from_csv,
    static_list_create,
    static_list_remove,
    static_list_save,
)
from profiles.models import Segment
from profiles.segment_actions import segment_duplicate
from profiles.segment_history import count_history, segments_with_last_count
from profiles.segments import RuleError, describe_rules
from profiles.services import segment_save

MEMBERS_SHOWN = 100
# The segment page may take longer than the builder's live count, but never hang.
DETAIL_COUNT_TIMEOUT_MS = 15_000


@permission_required("profiles.view_segment", raise_exception=True)
def segment_list(request):
    segments = segments_with_last_count()
    rows = [(s, "a static list" if s.is_static else describe_rules(s.rules)) for s in segments]
    return render(request, "profiles/segment_list.html", {"rows": rows})


@permission_required("profiles.view_segment", raise_exception=True)
def segment_detail(request, pk: int):
    segment = get_object_or_404(Segment, pk=pk)
    return render(request, "profiles/segment_detail.html", _detail_context(segment))


def _detail_context(segment: Segment, **extra) -> dict:
    try:
        preview, problem = members_preview(
            segment_audience(segment), timeout_ms=DETAIL_COUNT_TIMEOUT_MS), None
    except RuleError as exc:
        preview, problem = None, str(exc)
    members = None
    if segment.is_static:
        members = segment.members.select_related("profile").order_by("-added_at", "-pk")
        members = members[:MEMBERS_SHOWN]
    return {
        "segment": segment, "description": describe_rules(segment.rules), "preview": preview,
        "problem": problem, "history": count_history(segment=segment),
        "campaigns": segment.campaigns.order_by("name")[:20], "members": members,
        "csv_form": MembersCsvForm(), **extra,
    }


@permission_required("profiles.add_segment", raise_exception=True)
def segment_create(request):
    return _segment_page(request, None)


@permission_required("profiles.change_segment", raise_exception=True)
def segment_edit(request, pk: int):
    return _segment_page(request, get_object_or_404(Segment, pk=pk))


def _segment_page(request, segment: Segment | None):
    options = builder_options(editing=segment)
    form = SegmentForm(request.POST or None, instance=segment)
    if request.method != "POST":
        builder = Builder.from_rules(segment.rules if segment else {}, options)
        if segment is None:
            builder.apply("add_condition:r")  # a blank page starts with one condition
    else:
        builder = Builder.from_post(request.POST, options)
        if request.POST.get("do"):  # a builder button, without JavaScript
            builder.apply(request.POST["do"])
        elif form.is_valid():
            saved = _save(request, form, builder, segment)
            if saved is not None:
                messages.success(request, f"Segment “{saved.name}” saved.")
                return redirect("segment_detail", pk=saved.pk)
    context = {"form": form, "segment": segment, "builder": builder,
               "static": segment.is_static if segment else False, **_builder_urls(segment)}
    return render(request, "profiles/segment_form.html", context)


def _save(request, form: SegmentForm, builder: Builder, segment: Segment | None):
    data = form.cleaned_data
    if segment is None and data.get("kind") == Segment.Kind.STATIC:
        return static_list_create(name=data["name"], description=data["description"],
                                  user=request.user)
    if segment is not None and segment.is_static:
        return static_list_save(segment=segment, name=data["name"],
                                description=data["description"])
    try:
        rules = builder.validated(
            partial(validate_audience_rules, segment_id=segment.pk if segment else None)
        )
        return segment_save(segment=segment, name=data["name"], description=data["description"],
                            rules=rules, user=request.user)
    except RuleError as exc:
        builder.show_errors(exc.errors)
        form.add_error(None, "The rules are incomplete: see the marked conditions.")
        return None


def _builder_urls(segment: Segment | None) -> dict[str, str]:
    if segment is None:
        return {"builder_url": reverse("segment_builder"),
                "preview_url": reverse("segment_preview")}
    return {"builder_url": reverse("segment_builder_edit", args=[segment.pk]),
            "preview_url": reverse("segment_preview_edit", args=[segment.pk])}


@require_POST
@permission_required("profiles.view_segment", raise_exception=True)
def segment_builder(request, pk: int | None = None):
    """The rows drawn again after a button or a picker changed them (htmx)."""
    segment = get_object_or_404(Segment, pk=pk) if pk else None
    builder = Builder.from_post(request.POST, builder_options(editing=segment))
    builder.apply(request.POST.get("do", ""))
    response = render(request, "profiles/builder/builder.html",
                      {"builder": builder, **_builder_urls(segment)})
    # The live count follows, once the new rows are in the page (it posts them).
    response["HX-Trigger-After-Settle"] = "rules-changed"
    return response


@require_POST
@permission_required("profiles.view_segment", raise_exception=True)
def segment_preview(request, pk: int | None = None):
    """The live count and sample of the posted rows, or their errors (htmx)."""
    segment = get_object_or_404(Segment, pk=pk) if pk else None
    builder = Builder.from_post(request.POST, builder_options(editing=segment))
    preview = None
    try:
        preview = audience_preview(builder.validated(partial(validate_audience_rules,
                                                             segment_id=pk)))
    except RuleError as exc:
        builder.show_errors(exc.errors)
    return render(request, "profiles/builder/count.html", {"builder": builder, "preview": preview})


@require_POST
@permission_required("profiles.add_segment", raise_exception=True)
def segment_copy(request, pk: int):
    copy = segment_duplicate(segment=get_object_or_404(Segment, pk=pk), user=request.user)
    messages.success(request, f"Copied as “{copy.name}”.")
    return redirect("segment_detail", pk=copy.pk)


@require_POST
@permission_required("profiles.change_segment", raise_exception=True)
def segment_member_remove(request, pk: int, profile_pk: int):
    segment = get_object_or_404(Segment, pk=pk, kind=Segment.Kind.STATIC)
    if static_list_remove(segment=segment, refs=references(ids=[profile_pk])).changed:
        messages.success(request, "Removed from the list.")
    return redirect("segment_detail", pk=segment.pk)


@require_POST
@permission_required("profiles.change_segment", raise_exception=True)
def segment_members_csv(request, pk: int):
    segment = get_object_or_404(Segment, pk=pk, kind=Segment.Kind.STATIC)
    form = MembersCsvForm(request.POST, request.FILES)
    result = None
    if form.is_valid():
        try:
            result = static_list_add_from_csv(segment=segment, file=form.cleaned_data["file"])
        except ListError as exc:
            form.add_error("file", str(exc))
    context = _detail_context(segment, csv_form=form, csv_result=result)
    return render(request, "profiles/segment_detail.html", context, status=200 if result else 400)
