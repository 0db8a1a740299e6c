from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.utils import timezone

from profiles.attributes import AttributeSpec
from profiles.models import (
    AttributeDefinition,
    AttributeType,
    ConsentChannel,
    ConsentState,
    Profile,
    Segment,
    Topic,
)
from profiles.schema import SchemaError, format_allowed_values, parse_allowed_values
from profiles.search import FilterValueError, ProfileFilters, SearchMode, attribute_filter_value
from profiles.segments import ATTRIBUTE_KEY


class SegmentForm(forms.ModelForm):
    """A segment's name and notes; its rules come from the builder (profiles.builder)."""

    kind = forms.ChoiceField(
        choices=Segment.Kind.choices, initial=Segment.Kind.DYNAMIC, widget=forms.RadioSelect,
        label="Profiles are chosen by",
    )

    class Meta:
        model = Segment
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["kind"]  # a list does not turn into rules, nor back


class MembersCsvForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="A first row naming an external_id, email or id column.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


# --- Profile list filters, profile edit, consent, erasure, attribute schema and topics --------


class ProfileFilterForm(forms.Form):
    """The profile list's search box and attribute filter (see profiles.search)."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    mode = forms.ChoiceField(choices=SearchMode.choices, required=False, label="Search in")
    attr = forms.CharField(required=False, max_length=64, label="Attribute")
    value = forms.CharField(required=False, max_length=500, label="is")
    after = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, specs: dict[str, AttributeSpec], **kwargs):
        super().__init__(*args, **kwargs)
        self.specs = specs

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        key, raw = (data.get("attr") or "").strip(), (data.get("value") or "").strip()
        data["attributes"] = {}
        if key and not ATTRIBUTE_KEY.match(key):
            self.add_error("attr", "Letters, digits and _; not starting with a digit.")
        elif key and not raw:
            self.add_error("value", "Enter the value to look for.")
        elif key:
            try:
                data["attributes"] = {key: attribute_filter_value(raw, self.specs.get(key))}
            except FilterValueError as exc:
                self.add_error("value", str(exc))
        return data

    def filters(self) -> ProfileFilters:
        data = self.cleaned_data
        return ProfileFilters(
            query=data.get("q") or "", mode=data.get("mode") or SearchMode.AUTO,
            attributes=data.get("attributes") or {},
        )


class ProfileForm(forms.Form):
    """A profile's own fields and its attributes, each declared attribute with a typed input.

    Validation is profiles.services' (clean_profile_data), so the page, the API and imports
    agree; its errors come back through add_service_errors, next to their field. Only what
    changed is sent, so a value stored before its attribute's type changed does not block
    editing the rest.
    """

    email = forms.CharField(required=False, max_length=254)
    phone = forms.CharField(required=False, max_length=32,
                            help_text="International (+33…) or national with the locale's country.")
    first_name = forms.CharField(required=False, max_length=150)
    last_name = forms.CharField(required=False, max_length=150)
    timezone = forms.CharField(max_length=64, label="Time zone",
                               widget=forms.TextInput(attrs={"list": "timezones"}))
    locale = forms.CharField(required=False, max_length=35, help_text="BCP 47, e.g. fr-FR")
    new_key = forms.CharField(required=False, max_length=64, label="New attribute")
    new_value = forms.CharField(required=False, max_length=2000, label="Value")

    def __init__(self, *args, profile: Profile, definitions: list[AttributeDefinition], **kwargs):
        self.profile = profile
        self.definitions = {d.key: d for d in definitions}
        attributes = profile.attributes or {}
        initial = {name: getattr(profile, name) for name in PROFILE_EDIT_FIELDS}
        for key, definition in self.definitions.items():
            initial[f"attr_{key}"] = _attribute_initial(definition, attributes.get(key))
        super().__init__(*args, initial=initial, **kwargs)
        for key, definition in self.definitions.items():
            self.fields[f"attr_{key}"] = _attribute_field(definition)
        self.other_attributes = {k: v for k, v in attributes.items() if k not in self.definitions}
        for key in self.other_attributes:
            self.fields[f"drop_{key}"] = forms.BooleanField(required=False, label="Remove")

    def attribute_fields(self):
        return [self[f"attr_{key}"] for key in self.definitions]

    def other_attribute_rows(self):
        return [(key, value, self[f"drop_{key}"]) for key, value in self.other_attributes.items()]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("new_key") and not ATTRIBUTE_KEY.match(data["new_key"]):
            self.add_error("new_key", "Letters, digits and _; not starting with a digit.")
        elif data.get("new_key") and data["new_key"] in self.definitions:
            self.add_error("new_key", "This attribute is declared: use its field above.")
        return data

    def changes(self) -> dict[str, Any]:
        """The data for profile_update: changed fields, changed or removed attributes."""
        changed = set(self.changed_data)
        data = {name: self.cleaned_data[name] for name in PROFILE_EDIT_FIELDS if name in changed}
        if "phone" in data:
            # A national number is read with the locale's country (services.clean_profile_data).
            data["locale"] = self.cleaned_data["locale"]
        attributes = {}
        for key, definition in self.definitions.items():
            if f"attr_{key}" in changed:
                attributes[key] = _attribute_submitted(definition, self.cleaned_data[f"attr_{key}"])
        for key in self.other_attributes:
            if self.cleaned_data.get(f"drop_{key}"):
                attributes[key] = None
        if self.cleaned_data.get("new_key"):
            attributes[self.cleaned_data["new_key"]] = self.cleaned_data["new_value"]
        if attributes:
            data["attributes"] = attributes
        return data

    def add_service_errors(self, errors: dict[str, Any]) -> None:
        """Put each ProfileDataError message next to its field."""
        for name, message in errors.items():
            if name != "attributes":
                self.add_error(name if name in self.fields else None, message)
                continue
            for key, text in message.items():
                if f"attr_{key}" in self.fields:
                    self.add_error(f"attr_{key}", text)
                elif key == self.cleaned_data.get("new_key"):
                    self.add_error("new_value", text)
                else:
                    self.add_error(None, f"{key}: {text}")


PROFILE_EDIT_FIELDS = ("email", "phone", "first_name", "last_name", "timezone", "locale")
BOOLEAN_CHOICES = [("", "—"), ("true", "Yes"), ("false", "No")]


def _attribute_field(definition: AttributeDefinition) -> forms.Field:
    label, allowed = definition.label, [(str(v), str(v)) for v in definition.allowed_values or []]
    help_text = definition.description
    kind = definition.type
    if kind == AttributeType.BOOLEAN:
        return forms.ChoiceField(choices=BOOLEAN_CHOICES, required=False, label=label,
                                 help_text=help_text)
    if kind == AttributeType.LIST and allowed:
        return forms.MultipleChoiceField(choices=allowed, required=False, label=label,
                                         help_text=help_text, widget=forms.CheckboxSelectMultiple)
    if allowed:
        return forms.ChoiceField(choices=[("", "—"), *allowed], required=False, label=label,
                                 help_text=help_text)
    widgets = {
        AttributeType.NUMBER: forms.TextInput(attrs={"type": "number", "step": "any"}),
        AttributeType.DATE: forms.TextInput(attrs={"type": "date"}),
        AttributeType.DATETIME: forms.TextInput(attrs={"type": "datetime-local", "step": "1"}),
        AttributeType.LIST: forms.TextInput(attrs={"placeholder": "comma, separated, values"}),
    }
    if kind == AttributeType.DATETIME:
        zone = timezone.get_current_timezone_name()
        help_text = f"{help_text} (time in {zone})".strip()
    return forms.CharField(required=False, label=label, help_text=help_text, max_length=2000,
                           widget=widgets.get(kind, forms.TextInput))


def _attribute_initial(definition: AttributeDefinition, value: Any) -> Any:
    """A stored value as its input shows it."""
    if value is None:
        return [] if definition.type == AttributeType.LIST and definition.allowed_values else ""
    kind = definition.type
    if kind == AttributeType.BOOLEAN:
        return "true" if value is True else "false" if value is False else str(value)
    if kind == AttributeType.LIST:
        items = value if isinstance(value, list) else [value]
        return [str(v) for v in items] if definition.allowed_values else ", ".join(map(str, items))
    if kind == AttributeType.DATETIME and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return timezone.localtime(moment).replace(tzinfo=None).isoformat()
    return str(value)


def _attribute_submitted(definition: AttributeDefinition, raw: Any) -> Any:
    """An input's value for the service to coerce; empty removes the attribute."""
    if raw in ("", [], None):
        return None
    if definition.type == AttributeType.DATETIME and isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            return raw  # the service names the problem
        if moment.tzinfo is None:
            # datetime-local has no offset: it is the time shown on the page.
            moment = timezone.make_aware(moment)
        return moment.isoformat()
    if definition.type == AttributeType.NUMBER and isinstance(raw, str):
        return raw.strip()
    return raw


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(choices=ConsentChannel.choices)
    topic = forms.SlugField(required=False, max_length=64)
    state = forms.ChoiceField(choices=ConsentState.choices)


class EraseForm(forms.Form):
    confirm = forms.CharField(
        max_length=320, label="Type the profile's email (or its id) to confirm"
    )

    def __init__(self, *args, profile: Profile, **kwargs):
        super().__init__(*args, **kwargs)
        self.profile = profile

    def clean_confirm(self) -> str:
        typed = self.cleaned_data["confirm"].strip()
        accepted = {str(self.profile.pk)}
        if self.profile.email:
            accepted.add(self.profile.email.lower())
        if typed.lower() not in accepted:
            raise forms.ValidationError("This is not the profile's email nor its id.")
        return typed


class AttributeDefinitionForm(forms.ModelForm):
    allowed_values = forms.CharField(
        required=False, label="Allowed values",
        help_text="Optional, separated by commas: the only values accepted.",
    )

    class Meta:
        model = AttributeDefinition
        fields = ["key", "label", "type", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        help_texts = {"key": "Used by the API and segments; cannot change once created."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["key"].disabled = True
            self.initial["allowed_values"] = format_allowed_values(self.instance.allowed_values)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("type"):
            try:
                data["allowed_values"] = parse_allowed_values(
                    type=data["type"], text=data.get("allowed_values") or ""
                )
            except SchemaError as exc:
                self.add_error("allowed_values", exc.errors["allowed_values"])
        return data


class TopicForm(forms.ModelForm):
    class Meta:
        model = Topic
        fields = ["key", "name", "channel", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        help_texts = {"key": "Used by the API and consent records; cannot change once created."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["key"].disabled = True


def add_schema_errors(form: forms.Form, errors: dict[str, str]) -> None:
    for name, message in errors.items():
        form.add_error(name if name in form.fields else None, message)
