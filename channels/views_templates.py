"""Marketer pages for message templates, snippets, seed lists, previews and proofs.

Thin: forms read the request, channels.message_templates validates, saves and renders.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from channels import message_templates as mt
from channels.decisions import preview_profile
from channels.forms_templates import (
    PreviewProfileForm,
    ProofForm,
    SeedListForm,
    SnippetForm,
    TemplateForm,
)
from channels.models import Channel, MessageTemplate, SeedList, Snippet
from channels.templating import TemplateRenderError


@permission_required("channels.view_messagetemplate", raise_exception=True)
def template_list(request):
    context = {
        "templates": MessageTemplate.objects.select_related("topic").order_by("name"),
        "channels": Channel.choices,
    }
    return render(request, "channels/template_list.html", context)


@permission_required("channels.add_messagetemplate", raise_exception=True)
def template_create(request):
    channel = request.GET.get("channel") or request.POST.get("channel", "")
    if channel not in Channel.values:
        raise Http404
    return _template_form(request, None, channel)


@permission_required("channels.change_messagetemplate", raise_exception=True)
def template_edit(request, pk: int):
    template = get_object_or_404(MessageTemplate, pk=pk)
    return _template_form(request, template, template.channel)


def _template_form(request, template, channel: str):
    initial = TemplateForm.initial_for(template) if template else {}
    form = TemplateForm(request.POST or None, channel=channel, initial=initial)
    preview = None
    if request.method == "POST" and "preview" in request.POST:
        preview = _unsaved_preview(form, channel)
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            template = mt.template_save(
                template=template, name=data["name"], channel=channel, kind=data["kind"],
                topic=data["topic"], sender=data.get("sender"), content=form.content(),
            )
        except mt.TemplateError as exc:
            form.apply_errors(exc.errors)
        else:
            messages.success(request, f"Saved “{template.name}” (version {template.version}).")
            return redirect("template_preview", pk=template.pk)
    context = {"form": form, "template": template, "channel": channel,
               "channel_label": Channel(channel).label, "preview": preview,
               "fields": mt.CHANNEL_FIELDS[channel]}
    return render(request, "channels/template_form.html", context)


def _unsaved_preview(form: TemplateForm, channel: str) -> dict | None:
    """What the form's content renders to for the named profile, without saving anything."""
    if not form.is_valid():
        return None
    data = form.cleaned_data
    errors = mt.template_errors(channel=channel, kind=data["kind"], content=form.content())
    if errors:
        form.apply_errors(errors)
        return None
    reference = data["preview_profile"]
    profile = preview_profile(reference=reference) if reference else None
    try:
        rendered = mt.render_preview(channel=channel, kind=data["kind"], content=form.content(),
                                     profile=profile, sender=data.get("sender"))
    except TemplateRenderError as exc:
        return {"error": str(exc), "profile": profile}
    return {"rendered": rendered, "profile": profile}


@permission_required("channels.view_messagetemplate", raise_exception=True)
def template_preview(request, pk: int):
    template = get_object_or_404(MessageTemplate.objects.select_related("sender"), pk=pk)
    form = PreviewProfileForm(request.GET if "profile" in request.GET else None)
    profile, missing, rendered, error = None, False, None, ""
    if form.is_valid():
        profile = preview_profile(reference=form.cleaned_data["profile"])
        missing = profile is None
    try:
        rendered = mt.render_preview(channel=template.channel, kind=template.kind,
                                     content=template.content, profile=profile,
                                     sender=template.sender)
    except TemplateRenderError as exc:
        error = str(exc)
    context = {
        "template": template, "form": form, "profile": profile, "missing": missing,
        "rendered": rendered, "error": error, "proof_form": ProofForm(),
        "fields": mt.CHANNEL_FIELDS[template.channel],
    }
    return render(request, "channels/template_preview.html", context)


@require_POST
@permission_required("channels.change_messagetemplate", raise_exception=True)
def template_proof(request, pk: int):
    template = get_object_or_404(MessageTemplate, pk=pk)
    form = ProofForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a seed list.")
        return redirect("template_preview", pk=pk)
    reference = form.cleaned_data["profile"]
    profile = preview_profile(reference=reference) if reference else None
    try:
        counts = mt.proofs_send(revision=mt.template_latest_revision(template),
                                seed_list=form.cleaned_data["seed_list"], profile=profile)
    except mt.TemplateError as exc:
        messages.error(request, " ".join(exc.errors.values()))
    else:
        failed = f", {counts['failed']} failed" if counts["failed"] else ""
        messages.success(request, f"Proof sent to {counts['sent']} addresses{failed}.")
    return redirect("template_preview", pk=pk)


@permission_required("channels.view_snippet", raise_exception=True)
def snippet_list(request):
    return render(request, "channels/template_snippets.html",
                  {"snippets": Snippet.objects.order_by("key")})


@permission_required("channels.change_snippet", raise_exception=True)
def snippet_edit(request, pk: int | None = None):
    snippet = get_object_or_404(Snippet, pk=pk) if pk else None
    form = SnippetForm(request.POST or None, snippet=snippet)
    if request.method == "POST" and form.is_valid():
        try:
            mt.snippet_save(snippet=snippet, key=form.cleaned_data["key"],
                            content=form.cleaned_data["content"])
        except mt.TemplateError as exc:
            for field, message in exc.errors.items():
                form.add_error(field, message)
        else:
            messages.success(request, "Snippet saved.")
            return redirect("snippet_list")
    return render(request, "channels/template_snippet_form.html",
                  {"form": form, "snippet": snippet})


@permission_required("channels.change_seedlist", raise_exception=True)
def seed_list_index(request):
    form = SeedListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            mt.seed_list_save(name=form.cleaned_data["name"], addresses=form.address_list())
        except mt.TemplateError as exc:
            for field, message in exc.errors.items():
                form.add_error(field, message)
        else:
            messages.success(request, "Seed list saved.")
            return redirect("seed_list_index")
    return render(request, "channels/template_seed_lists.html",
                  {"form": form, "seed_lists": SeedList.objects.order_by("name")})
