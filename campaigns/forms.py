from __future__ import annotations

from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.utils import timezone

from channels.models import MessageTemplate
from profiles.models import Segment


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.all(), required=False, empty_label="— choose later —",
        label="Audience segment",
    )
    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.all(), required=False,
        empty_label="— write an email below —", label="Message",
        help_text="A saved template of any channel (email, SMS, push, direct mail, webhook), "
                  "or an email written here.",
    )
    subject = forms.CharField(
        max_length=500, required=False,
        help_text='Liquid works here too, e.g. {{ profile.first_name }}.',
    )
    html_body = forms.CharField(
        label="Email body (HTML)", required=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        help_text='Liquid: {{ profile.first_name | default: "there" }}, '
                  "{{ profile.attributes.plan }}, {{ campaign.name }}.",
    )
    text_body = forms.CharField(
        label="Plain-text version", required=False,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text="Leave empty to generate it from the HTML.",
    )


class ScheduleForm(forms.Form):
    send_at = forms.DateTimeField(
        label="Send at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        help_text=f"Time zone: {settings.TIME_ZONE}",
    )

    def clean_send_at(self):
        send_at = self.cleaned_data["send_at"]
        if timezone.is_naive(send_at):
            send_at = timezone.make_aware(send_at, ZoneInfo(settings.TIME_ZONE))
        if send_at < timezone.now() - timezone.timedelta(minutes=1):
            raise forms.ValidationError("Choose a time in the future (or now).")
        return send_at
