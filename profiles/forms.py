from __future__ import annotations

from typing import Any

from django import forms

from profiles.models import Segment
from profiles.segments import OPERATORS, PROFILE_FIELDS, RuleError, validate_rules

VALUE_TYPES = [("text", "Text"), ("number", "Number"), ("boolean", "Yes / no")]


class SegmentForm(forms.ModelForm):
    match = forms.ChoiceField(
        choices=[("all", "all conditions"), ("any", "any condition")], initial="all",
        label="Profiles match",
    )

    class Meta:
        model = Segment
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}


class ConditionForm(forms.Form):
    field = forms.CharField(
        max_length=80,
        widget=forms.TextInput(attrs={"list": "segment-fields", "placeholder": "attributes.plan"}),
        help_text="A profile field or attributes.<key>",
    )
    op = forms.ChoiceField(choices=list(OPERATORS.items()), label="Operator")
    value = forms.CharField(max_length=500)
    value_type = forms.ChoiceField(choices=VALUE_TYPES, initial="text", label="Type")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            data["typed_value"] = _typed(data["value"], data["value_type"])
        except ValueError as exc:
            self.add_error("value", str(exc))
            return data
        try:
            validate_rules({"all": [self.condition(data)]})
        except RuleError as exc:
            for messages in exc.errors.values():
                for message in messages:
                    self.add_error("field" if "field" in message else None, message)
        return data

    @staticmethod
    def condition(data: dict[str, Any]) -> dict[str, Any]:
        return {"field": data["field"].strip(), "op": data["op"], "value": data["typed_value"]}


ConditionFormSet = forms.formset_factory(ConditionForm, extra=1, can_delete=True, max_num=50)


def _typed(raw: str, value_type: str):
    raw = raw.strip()
    if value_type == "number":
        try:
            number = float(raw)
        except ValueError:
            raise ValueError("Enter a number.") from None
        return int(number) if number.is_integer() else number
    if value_type == "boolean":
        if raw.lower() in ("true", "yes", "1"):
            return True
        if raw.lower() in ("false", "no", "0"):
            return False
        raise ValueError("Enter yes or no.")
    return raw


def rules_from_forms(match: str, formset) -> dict[str, Any]:
    conditions = [
        ConditionForm.condition(form.cleaned_data)
        for form in formset.forms
        if form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]
    return {match: conditions}


def initial_from_rules(rules: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The match word and condition rows that reproduce a saved rule tree in the form."""
    match, conditions = next(iter((rules or {"all": []}).items()))
    rows = []
    for c in conditions:
        value = c["value"]
        value_type = "boolean" if isinstance(value, bool) else (
            "number" if isinstance(value, int | float) else "text"
        )
        shown = ("yes" if value else "no") if value_type == "boolean" else str(value)
        rows.append({"field": c["field"], "op": c["op"], "value": shown, "value_type": value_type})
    return match, rows


FIELD_SUGGESTIONS = list(PROFILE_FIELDS)
