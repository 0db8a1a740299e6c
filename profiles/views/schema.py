"""Settings pages: the attribute schema (AttributeDefinition) and subscription topics."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render

from profiles.forms import AttributeDefinitionForm, TopicForm, add_schema_errors
from profiles.models import AttributeDefinition, Topic
from profiles.schema import (
    SchemaError,
    attribute_definition_delete,
    attribute_definition_save,
    topic_save,
)


@permission_required("profiles.view_attributedefinition", raise_exception=True)
def attribute_list(request):
    context = {
        "definitions": AttributeDefinition.objects.all(),
        "unknown_rejected": settings.PROFILE_UNKNOWN_ATTRIBUTES == "reject",
    }
    return render(request, "profiles/attribute_list.html", context)


@permission_required("profiles.add_attributedefinition", raise_exception=True)
def attribute_create(request):
    return _attribute_form(request, None)


@permission_required("profiles.change_attributedefinition", raise_exception=True)
def attribute_edit(request, pk: int):
    return _attribute_form(request, get_object_or_404(AttributeDefinition, pk=pk))


def _attribute_form(request, definition: AttributeDefinition | None):
    form = AttributeDefinitionForm(request.POST or None, instance=definition)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = attribute_definition_save(
                definition=definition, key=data["key"], label=data["label"], type=data["type"],
                allowed_values=data["allowed_values"], description=data["description"],
            )
        except SchemaError as exc:
            add_schema_errors(form, exc.errors)
        else:
            messages.success(request, f"Attribute “{saved.label}” saved.")
            return redirect("attribute_list")
    context = {"form": form, "definition": definition}
    return render(request, "profiles/attribute_form.html", context)


@permission_required("profiles.delete_attributedefinition", raise_exception=True)
def attribute_delete(request, pk: int):
    definition = get_object_or_404(AttributeDefinition, pk=pk)
    if request.method == "POST":
        attribute_definition_delete(definition=definition)
        messages.success(request, f"“{definition.label}” is no longer declared; values are kept.")
        return redirect("attribute_list")
    return render(request, "profiles/attribute_delete.html", {"definition": definition})


@permission_required("profiles.view_topic", raise_exception=True)
def topic_list(request):
    return render(request, "profiles/topic_list.html", {"topics": Topic.objects.all()})


@permission_required("profiles.add_topic", raise_exception=True)
def topic_create(request):
    return _topic_form(request, None)


@permission_required("profiles.change_topic", raise_exception=True)
def topic_edit(request, pk: int):
    return _topic_form(request, get_object_or_404(Topic, pk=pk))


def _topic_form(request, topic: Topic | None):
    form = TopicForm(request.POST or None, instance=topic)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = topic_save(
                topic=topic, key=data["key"], name=data["name"], channel=data["channel"],
                description=data["description"],
            )
        except SchemaError as exc:
            add_schema_errors(form, exc.errors)
        else:
            messages.success(request, f"Topic “{saved.name}” saved.")
            return redirect("topic_list")
    return render(request, "profiles/topic_form.html", {"form": form, "topic": topic})
