from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.utils import timezone

from campaigns.step_forms import WEEKDAYS
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


FREQUENCIES = [("once", "Once"), ("daily", "Every day"), ("weekly", "Every week"),
               ("cron", "Cron expression")]


def _json_field(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label, required=False, help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "json"}),
    )


class CampaignSettingsForm(forms.Form):
    """A campaign's entry and campaign-wide rules. The friendly schedule (once / daily /
    weekly at a time) becomes `scheduled_at` and a cron `recurrence` (UTC) in clean()."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    priority = forms.IntegerField(initial=0, help_text="Higher first when several are due.")
    entry_kind = forms.ChoiceField(choices=[], widget=forms.RadioSelect, label="Who enters")
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name"), required=False, label="Segment",
        empty_label="— none —",
        help_text="Audience: the main segment. Segment entry: the segment to come to match. "
                  "Event: optional, the profile must be in it at the event.",
    )
    extra_segments = forms.ModelMultipleChoiceField(
        queryset=Segment.objects.order_by("name"), required=False, label="Also include",
        widget=forms.SelectMultiple(attrs={"size": 3}),
    )
    excluded_segments = forms.ModelMultipleChoiceField(
        queryset=Segment.objects.order_by("name"), required=False, label="Exclude",
        widget=forms.SelectMultiple(attrs={"size": 3}),
    )
    frequency = forms.ChoiceField(choices=FREQUENCIES, initial="once", label="Read the audience")
    scheduled_at = forms.DateTimeField(
        required=False, label="Starting at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        help_text=f"Time zone {settings.TIME_ZONE}. Empty: when published.",
    )
    run_time = forms.TimeField(required=False, label="At (UTC)",
                               widget=forms.TimeInput(attrs={"type": "time"}))
    run_days = forms.TypedMultipleChoiceField(choices=WEEKDAYS, coerce=int,
                                              required=False, label="On",
                                              widget=forms.CheckboxSelectMultiple)
    cron = forms.CharField(max_length=100, required=False, label="Cron (UTC)",
                           help_text="minute hour day month weekday, e.g. 0 9 * * 1")
    entry_event = forms.CharField(max_length=200, required=False, label="Event name")
    entry_event_filter = _json_field(
        "Event property filter", 'A JSON list, e.g. [{"property": "total", "op": "gt", '
        '"value": 50}]; empty: any such event.')
    reentry = forms.ChoiceField(choices=[], label="Re-entry")
    reentry_days = forms.IntegerField(min_value=0, initial=0, required=False,
                                      label="Re-entry after (days)")
    exit_event = forms.CharField(max_length=200, required=False, label="Exit on event",
                                 help_text="The profile leaves at any step when this happens.")
    exit_rules = _json_field("Exit rules", "A rules tree (JSON); the profile leaves when it "
                                           "comes to match. Empty: none.")
    goal_event = forms.CharField(max_length=200, required=False, label="Conversion goal event")
    goal_days = forms.IntegerField(min_value=1, initial=7, label="Within (days of entry)")
    holdout_percent = forms.IntegerField(min_value=0, max_value=100, initial=0,
                                         label="Control group (%)",
                                         help_text="Enters, receives no messages.")
    send_window_start = forms.TimeField(required=False, label="Send between",
                                        widget=forms.TimeInput(attrs={"type": "time"}))
    send_window_end = forms.TimeField(required=False, label="and",
                                      widget=forms.TimeInput(attrs={"type": "time"}))
    send_window_days = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, required=False, label="On",
        widget=forms.CheckboxSelectMultiple, help_text="In the profile's time zone; no day "
                                                       "ticked: every day.")

    def __init__(self, *args, **kwargs):
        from campaigns.models import EntryKind, Reentry

        super().__init__(*args, **kwargs)
        self.fields["entry_kind"].choices = EntryKind.choices
        self.fields["reentry"].choices = Reentry.choices

    def clean_scheduled_at(self):
        at = self.cleaned_data["scheduled_at"]
        if at and timezone.is_naive(at):
            at = timezone.make_aware(at, ZoneInfo(settings.TIME_ZONE))
        return at

    def clean_entry_event_filter(self):
        return self._json("entry_event_filter", list, [])

    def clean_exit_rules(self):
        return self._json("exit_rules", dict, {})

    def _json(self, name: str, kind: type, empty):
        raw = self.cleaned_data[name].strip()
        if not raw:
            return empty
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from exc
        if not isinstance(value, kind):
            raise forms.ValidationError(f"Expected a JSON {'list' if kind is list else 'object'}.")
        return value

    def clean(self):
        d = super().clean()
        kind = d.get("entry_kind")
        if kind == "event" and not d.get("entry_event"):
            self.add_error("entry_event", "An event entry needs the event's name.")
        if kind in ("audience", "segment_entry") and not d.get("segment"):
            self.add_error("segment", "Choose the segment.")
        if kind == "audience":
            d["recurrence"] = self._recurrence(d)
        else:
            d["recurrence"], d["scheduled_at"] = "", None
        if bool(d.get("send_window_start")) != bool(d.get("send_window_end")):
            self.add_error("send_window_end", "Give both ends of the send window, or neither.")
        return d

    def _recurrence(self, d) -> str:
        frequency = d.get("frequency")
        if frequency == "once":
            return ""
        if frequency == "cron":
            return self._valid_cron(d.get("cron", "").strip())
        if not d.get("run_time"):
            self.add_error("run_time", "At what time?")
            return ""
        at = d["run_time"]
        if frequency == "weekly":
            if not d.get("run_days"):
                self.add_error("run_days", "Tick at least one day.")
                return ""
            # cron counts Sunday as 0
            days = ",".join(str(day) for day in sorted(day % 7 for day in d["run_days"]))
            return f"{at.minute} {at.hour} * * {days}"
        return f"{at.minute} {at.hour} * * *"

    def _valid_cron(self, expression: str) -> str:
        from croniter import croniter

        if not expression or not croniter.is_valid(expression):
            self.add_error("cron", "Not a valid cron expression.")
        return expression

    def settings(self) -> dict:
        """The cleaned values as Campaign fields (for campaigns.campaign_settings)."""
        d = self.cleaned_data
        fields = [n for n in self.fields if n not in ("frequency", "run_time", "run_days", "cron")]
        values = {n: d.get(n) for n in fields}
        values["recurrence"] = d.get("recurrence", "")
        values["reentry_days"] = d.get("reentry_days") or 0
        values["send_window_days"] = sorted(d.get("send_window_days") or [])
        return values


def settings_initial(campaign) -> dict:
    """The form's initial values from a campaign, reading its cron back into the friendly
    daily/weekly form when it has that shape."""
    if not campaign.pk:
        return {"segment": campaign.segment_id, "frequency": "once", "entry_kind": "audience",
                "reentry": "never"}
    initial = {n: getattr(campaign, n) for n in (
        "name", "description", "priority", "entry_kind", "segment", "entry_event",
        "reentry", "reentry_days", "exit_event", "goal_event", "goal_days", "holdout_percent",
        "send_window_start", "send_window_end", "send_window_days")}
    initial["extra_segments"] = list(campaign.extra_segments.all())
    initial["excluded_segments"] = list(campaign.excluded_segments.all())
    initial["scheduled_at"] = (timezone.localtime(campaign.scheduled_at)
                               if campaign.scheduled_at else None)
    initial["entry_event_filter"] = (json.dumps(campaign.entry_event_filter)
                                     if campaign.entry_event_filter else "")
    initial["exit_rules"] = json.dumps(campaign.exit_rules) if campaign.exit_rules else ""
    initial.update(_friendly_schedule(campaign.recurrence))
    return initial


def _friendly_schedule(cron: str) -> dict:
    parts = cron.split()
    if not cron:
        return {"frequency": "once"}
    if (len(parts) == 5 and parts[0].isdigit() and parts[1].isdigit()
            and parts[2] == parts[3] == "*"):
        at = f"{int(parts[1]):02d}:{int(parts[0]):02d}"
        if parts[4] == "*":
            return {"frequency": "daily", "run_time": at}
        days = parts[4].split(",")
        if all(d.isdigit() and int(d) <= 7 for d in days):
            return {"frequency": "weekly", "run_time": at,
                    "run_days": sorted({int(d) or 7 for d in days})}
    return {"frequency": "cron", "cron": cron}
