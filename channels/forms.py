"""Marketer forms for placements and offers (saved through channels.decisions)."""

from __future__ import annotations

from typing import Any

from django import forms

from channels.decisions import OfferData, OfferError
from channels.models import Offer, Placement
from profiles.models import Segment
from profiles.rules import RuleError

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class PlacementForm(forms.ModelForm):
    class Meta:
        model = Placement
        fields = ["key", "name", "description", "fallback"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        help_texts = {"key": "What apps ask for: /api/v1/decisions/<key>?profile=…"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["fallback"].queryset = self.instance.offers.order_by("-priority", "id")
        else:
            del self.fields["fallback"]  # a new placement has no offers yet

    def apply_error(self, exc: OfferError) -> None:
        for name, message in exc.errors.items():
            self.add_error(name if name in self.fields else None, message)


class OfferForm(forms.ModelForm):
    segment = forms.ModelChoiceField(
        Segment.objects.order_by("name"), required=False, empty_label="— anyone —",
        help_text="Only the segment's members are eligible.",
    )
    rules = forms.JSONField(
        required=False, widget=forms.Textarea(attrs={"rows": 5, "class": "mono"}),
        help_text='A rule tree, as for segments, e.g. {"all": [{"type": "attribute", "key": '
                  '"plan", "op": "equals", "value": "pro"}]}. Empty: everyone (or the segment).',
    )
    content = forms.JSONField(
        required=False, widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
        help_text="A JSON object handed to the app as is (title, image, link…).",
    )

    class Meta:
        model = Offer
        fields = ["name", "priority", "segment", "rules", "content", "html", "starts_at",
                  "ends_at", "cap_per_profile", "is_active"]
        widgets = {"html": forms.Textarea(attrs={"rows": 4}), "starts_at": DATETIME_WIDGET,
                   "ends_at": DATETIME_WIDGET}
        labels = {"html": "HTML", "cap_per_profile": "Cap per profile",
                  "is_active": "Active"}

    def clean_content(self) -> dict:
        content = self.cleaned_data.get("content")
        if content in (None, ""):
            return {}
        if not isinstance(content, dict):
            raise forms.ValidationError("Content is a JSON object, e.g. {\"title\": \"Hi\"}.")
        return content

    def offer_data(self) -> OfferData:
        data: dict[str, Any] = dict(self.cleaned_data)
        data["rules"] = data.get("rules") or {}
        return OfferData(**data)

    def apply_error(self, exc: RuleError | OfferError) -> None:
        if isinstance(exc, RuleError):
            for error in exc.errors:
                self.add_error("rules", f"{error['path']}: {error['message']}")
            return
        for name, message in exc.errors.items():
            self.add_error(name if name in self.fields else None, message)


class PreviewForm(forms.Form):
    profile = forms.CharField(
        max_length=320, label="Which offer would this profile get?",
        widget=forms.TextInput(attrs={"placeholder": "id, external id or email"}),
    )
