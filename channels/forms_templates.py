"""Forms of the template pages: one field per content field of the template's channel."""

from __future__ import annotations

from django import forms

from channels.message_templates import CHANNEL_FIELDS, UTM_KEYS
from channels.models import Channel, MessageKind, SeedList, SenderIdentity, Snippet
from profiles.models import Topic


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=MessageKind.choices, initial=MessageKind.MARKETING)
    topic = forms.ModelChoiceField(queryset=Topic.objects.none(), required=False,
                                   help_text="The subscription group it belongs to.")
    sender = forms.ModelChoiceField(queryset=SenderIdentity.objects.all(), required=False,
                                    help_text="Empty: the default sender.")
    preview_profile = forms.CharField(
        max_length=320, required=False, label="Preview for",
        widget=forms.TextInput(attrs={"placeholder": "id, external id or email"}),
    )

    def __init__(self, *args, channel: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel = channel
        self.fields["topic"].queryset = Topic.objects.filter(channel=channel)
        if channel != Channel.EMAIL:
            del self.fields["sender"]
        for field in CHANNEL_FIELDS[channel]:
            widget = (forms.Textarea(attrs={"rows": 14 if field.html else 5, "spellcheck": "false"})
                      if field.multiline else forms.TextInput())
            self.fields[f"content_{field.name}"] = forms.CharField(
                label=field.label, required=False, widget=widget, strip=False
            )
        if channel == Channel.EMAIL:
            for key in UTM_KEYS:
                self.fields[f"utm_{key}"] = forms.CharField(
                    label=key, required=False, max_length=200
                )
        if channel == Channel.SMS:
            self.fields["content_body"].widget.attrs["data-sms-counter"] = "sms-counter"

    def content(self) -> dict:
        data = self.cleaned_data
        content = {f.name: data.get(f"content_{f.name}", "") for f in CHANNEL_FIELDS[self.channel]}
        if self.channel == Channel.EMAIL:
            content["utm"] = {k: data.get(f"utm_{k}", "") for k in UTM_KEYS}
        return content

    def content_fields(self):
        return [self[f"content_{f.name}"] for f in CHANNEL_FIELDS[self.channel]]

    def utm_fields(self):
        return [self[f"utm_{k}"] for k in UTM_KEYS] if self.channel == Channel.EMAIL else []

    @staticmethod
    def initial_for(template) -> dict:
        initial = {"name": template.name, "kind": template.kind, "topic": template.topic_id,
                   "sender": template.sender_id}
        for key, value in (template.content or {}).items():
            if key == "utm" and isinstance(value, dict):
                initial.update({f"utm_{k}": v for k, v in value.items()})
            else:
                initial[f"content_{key}"] = value
        return initial

    def apply_errors(self, errors: dict[str, str]) -> None:
        for field, message in errors.items():
            name = field if field in self.fields else f"content_{field}"
            if field == "utm":
                name = None
            self.add_error(name if name in self.fields else None, message)


class PreviewProfileForm(forms.Form):
    profile = forms.CharField(
        max_length=320, label="Preview for",
        widget=forms.TextInput(attrs={"placeholder": "id, external id or email"}),
    )


class ProofForm(forms.Form):
    seed_list = forms.ModelChoiceField(queryset=SeedList.objects.all())
    profile = forms.CharField(max_length=320, required=False,
                              help_text="Whose data to render with (empty: no profile).")


class SnippetForm(forms.Form):
    key = forms.CharField(max_length=64, help_text="Used as {% render 'key' %}.")
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
                              strip=False)

    def __init__(self, *args, snippet: Snippet | None = None, **kwargs):
        if snippet is not None:
            kwargs.setdefault("initial", {"key": snippet.key, "content": snippet.content})
        super().__init__(*args, **kwargs)


class SeedListForm(forms.Form):
    name = forms.CharField(max_length=200)
    addresses = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}),
                                help_text="One email address a line; at most 100.")

    def address_list(self) -> list[str]:
        return self.cleaned_data["addresses"].replace(",", "\n").splitlines()
