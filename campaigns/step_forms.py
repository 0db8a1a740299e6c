"""The designer's side-panel forms, one per step kind: each reads a step's JSON form into
its fields (`initial_for`) and turns its cleaned fields back into the step's name, config
and template (`values`). Shapes only; campaigns.validation judges meaning at publish."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from channels.models import Channel, MessageTemplate

WEEKDAYS = [(1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun")]
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
UNIT_CHOICES = [(u, u) for u in UNITS]
TIME_FORMAT = "%H:%M"


def _seconds(amount: int | None, unit: str) -> int:
    return int(amount or 0) * UNITS.get(unit, 1)


def _amount(seconds: int) -> tuple[int, str]:
    """The largest unit that divides the seconds: 172800 → (2, "days")."""
    for unit in ("days", "hours", "minutes"):
        if seconds and seconds % UNITS[unit] == 0:
            return seconds // UNITS[unit], unit
    return max(seconds // 60, 0), "minutes"


def _window(start, end, days) -> dict[str, Any] | None:
    if not (start and end):
        return None
    return {"start": start.strftime(TIME_FORMAT), "end": end.strftime(TIME_FORMAT),
            "days": sorted(int(d) for d in days or [])}


class StepForm(forms.Form):
    """Base: every step has a display name."""

    name = forms.CharField(max_length=200, required=False,
                           help_text="Shown on the box; the kind is shown when empty.")

    def __init__(self, *args, graph: dict[str, Any] | None = None, key: str = "", **kwargs):
        self.graph, self.key = graph or {"steps": []}, key
        super().__init__(*args, **kwargs)

    @classmethod
    def initial_for(cls, step: dict[str, Any]) -> dict[str, Any]:
        return {"name": step.get("name", "")}

    def values(self) -> dict[str, Any]:
        """{"name", "config", "template", "channel"} for campaigns.designer."""
        return {"name": self.cleaned_data["name"], "config": {}, "template": None, "channel": ""}


class SendMessageForm(StepForm):
    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.exclude(channel=Channel.WEBHOOK).order_by("name"),
        label="Message template", required=False, empty_label="— choose a template —",
    )
    window_start = forms.TimeField(required=False, label="Send between",
                                   widget=forms.TimeInput(attrs={"type": "time"}))
    window_end = forms.TimeField(required=False, label="and",
                                 widget=forms.TimeInput(attrs={"type": "time"}))
    window_days = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        label="On", help_text="No day ticked: every day. No window: the campaign's.",
    )

    @classmethod
    def initial_for(cls, step):
        window = (step.get("config") or {}).get("window") or {}
        return {**super().initial_for(step), "template": step.get("template"),
                "window_start": window.get("start"), "window_end": window.get("end"),
                "window_days": window.get("days", [])}

    def values(self):
        d, template = self.cleaned_data, self.cleaned_data["template"]
        window = _window(d["window_start"], d["window_end"], d["window_days"])
        return {"name": d["name"], "config": {"window": window} if window else {},
                "template": template.pk if template else None,
                "channel": template.channel if template else ""}


class SendEmailForm(StepForm):
    """The first campaigns' inline email, kept editable."""

    subject = forms.CharField(max_length=500, required=False)
    html_body = forms.CharField(required=False, label="Email body (HTML)",
                                widget=forms.Textarea(attrs={"rows": 8}))
    text_body = forms.CharField(required=False, label="Plain-text version",
                                widget=forms.Textarea(attrs={"rows": 3}))

    @classmethod
    def initial_for(cls, step):
        config = step.get("config") or {}
        return {**super().initial_for(step),
                **{k: config.get(k, "") for k in ("subject", "html_body", "text_body")}}

    def values(self):
        d = self.cleaned_data
        config = {k: d[k] for k in ("subject", "html_body", "text_body")}
        return {"name": d["name"], "config": config, "template": None, "channel": "email"}


class WaitForm(StepForm):
    mode = forms.ChoiceField(choices=[("duration", "For a time"),
                                      ("until", "Until a weekday and time"),
                                      ("event", "Until an event (or a timeout)")],
                             widget=forms.RadioSelect, initial="duration", label="Wait")
    amount = forms.IntegerField(min_value=0, required=False, label="Duration")
    unit = forms.ChoiceField(choices=UNIT_CHOICES, initial="days", required=False, label="Unit")
    time = forms.TimeField(required=False, label="At",
                           widget=forms.TimeInput(attrs={"type": "time"}),
                           help_text="In the profile's time zone.")
    weekdays = forms.TypedMultipleChoiceField(choices=WEEKDAYS, coerce=int, required=False,
                                              widget=forms.CheckboxSelectMultiple, label="On",
                                              help_text="No day ticked: the next such time.")
    event = forms.CharField(max_length=200, required=False, label="Event name")
    timeout_amount = forms.IntegerField(min_value=1, required=False, label="Give up after")
    timeout_unit = forms.ChoiceField(choices=UNIT_CHOICES, initial="days", required=False,
                                     label="Unit")

    @classmethod
    def initial_for(cls, step):
        config = step.get("config") or {}
        initial = {**super().initial_for(step), "mode": config.get("mode", "duration")}
        if config.get("seconds"):
            initial["amount"], initial["unit"] = _amount(int(config["seconds"]))
        if config.get("timeout_seconds"):
            initial["timeout_amount"], initial["timeout_unit"] = _amount(
                int(config["timeout_seconds"]))
        initial.update(time=config.get("time"), weekdays=config.get("weekdays", []),
                       event=config.get("event", ""))
        return initial

    def clean(self):
        d = super().clean()
        needs = {"duration": ["amount"], "until": ["time"],
                 "event": ["event", "timeout_amount"]}.get(d.get("mode"), [])
        for name in needs:
            if d.get(name) in (None, ""):
                self.add_error(name, "Required for this kind of wait.")
        return d

    def values(self):
        d = self.cleaned_data
        mode = d["mode"]
        if mode == "duration":
            config = {"mode": mode, "seconds": _seconds(d["amount"], d["unit"])}
        elif mode == "until":
            config = {"mode": mode, "time": d["time"].strftime(TIME_FORMAT),
                      "weekdays": sorted(d["weekdays"])}
        else:
            config = {"mode": mode, "event": d["event"].strip(), "where": [],
                      "timeout_seconds": _seconds(d["timeout_amount"], d["timeout_unit"])}
        return {"name": d["name"], "config": config, "template": None, "channel": ""}


class ConditionForm(StepForm):
    mode = forms.ChoiceField(choices=[("event", "An event happened recently"),
                                      ("engagement", "Engaged with an earlier message"),
                                      ("rules", "Rules (JSON)")],
                             widget=forms.RadioSelect, initial="event", label="Yes when")
    event = forms.CharField(max_length=200, required=False, label="Event name")
    within_days = forms.IntegerField(min_value=1, required=False, initial=7,
                                     label="Within the last (days)")
    engagement_step = forms.ChoiceField(choices=[], required=False, label="Message of step")
    engagement_action = forms.ChoiceField(
        choices=[("received", "received it"), ("opened", "opened it"),
                 ("clicked", "clicked in it")], required=False, label="The profile")
    rules = forms.CharField(required=False, label="Rules tree",
                            widget=forms.Textarea(attrs={"rows": 6, "class": "json",
                                                         "spellcheck": "false"}),
                            help_text='e.g. {"all": [{"type": "attribute", "key": "plan", '
                                      '"op": "eq", "value": "pro"}]}')

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engagement_step"].choices = [
            (s["key"], f"{s['key']} {s.get('name') or s['kind']}")
            for s in self.graph.get("steps", [])
            if s["kind"] in ("send_message", "send_email") and s["key"] != self.key
        ]

    @classmethod
    def initial_for(cls, step):
        config = step.get("config") or {}
        initial = super().initial_for(step)
        engagement = config.get("engagement")
        rules = config.get("rules") or {}
        nodes = rules.get("all", []) if isinstance(rules, dict) else []
        simple = (len(nodes) == 1 and set(rules) == {"all"} and nodes[0].get("type") == "event"
                  and set(nodes[0]) <= {"type", "name", "op", "count", "within_days"})
        if engagement:
            initial.update(mode="engagement", engagement_step=engagement.get("step"),
                           engagement_action=engagement.get("action"))
        elif simple:
            initial.update(mode="event", event=nodes[0].get("name", ""),
                           within_days=nodes[0].get("within_days"))
        elif rules:
            initial.update(mode="rules", rules=json.dumps(rules, indent=2))
        return initial

    def clean(self):
        d = super().clean()
        mode = d.get("mode")
        if mode == "event" and not d.get("event"):
            self.add_error("event", "Name the event.")
        if mode == "event" and not d.get("within_days"):
            self.add_error("within_days", "How many days back?")
        if mode == "engagement" and not d.get("engagement_step"):
            self.add_error("engagement_step", "Choose a message step.")
        if mode == "rules":
            try:
                d["rules_tree"] = json.loads(d.get("rules") or "")
            except ValueError as exc:
                self.add_error("rules", f"Not JSON: {exc}")
            else:
                if not isinstance(d["rules_tree"], dict):
                    self.add_error("rules", "A rules tree is a JSON object.")
        return d

    def values(self):
        d = self.cleaned_data
        if d["mode"] == "engagement":
            config = {"engagement": {"step": d["engagement_step"],
                                     "action": d["engagement_action"] or "received"}}
        elif d["mode"] == "event":
            config = {"rules": {"all": [{"type": "event", "name": d["event"].strip(),
                                         "op": "at_least", "count": 1,
                                         "within_days": d["within_days"]}]}}
        else:
            config = {"rules": d["rules_tree"]}
        return {"name": d["name"], "config": config, "template": None, "channel": ""}


class SplitForm(StepForm):
    branches = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}), initial="A 50\nB 50",
        help_text="One branch a line: its name, then its weight.",
    )

    @classmethod
    def initial_for(cls, step):
        branches = (step.get("config") or {}).get("branches", [])
        lines = "\n".join(f"{b.get('name', '')} {b.get('weight', '')}" for b in branches)
        return {**super().initial_for(step), "branches": lines or "A 50\nB 50"}

    def clean_branches(self):
        branches = []
        for line in self.cleaned_data["branches"].splitlines():
            if not line.strip():
                continue
            name, _, weight = line.strip().rpartition(" ")
            if not name or not weight.isdigit():
                raise forms.ValidationError(f"“{line.strip()}”: write a name and a weight.")
            branches.append({"name": name.strip(), "weight": int(weight)})
        names = [b["name"] for b in branches]
        if len(branches) < 2 or len(set(names)) != len(names):
            raise forms.ValidationError("A split needs two or more branches, named differently.")
        return branches

    def values(self):
        return {"name": self.cleaned_data["name"], "template": None, "channel": "",
                "config": {"branches": self.cleaned_data["branches"]}}


class UpdateAttributeForm(StepForm):
    attribute = forms.CharField(max_length=100)
    value = forms.CharField(required=False, help_text="JSON (42, true, \"gold\") or plain text.")

    @classmethod
    def initial_for(cls, step):
        config = step.get("config") or {}
        value = config.get("value")
        shown = value if isinstance(value, str) else json.dumps(value) if value is not None else ""
        return {**super().initial_for(step), "attribute": config.get("attribute", ""),
                "value": shown}

    def values(self):
        raw = self.cleaned_data["value"]
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        return {"name": self.cleaned_data["name"], "template": None, "channel": "",
                "config": {"attribute": self.cleaned_data["attribute"].strip(), "value": value}}


class WebhookForm(StepForm):
    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.filter(channel=Channel.WEBHOOK).order_by("name"),
        label="Webhook template", required=False, empty_label="— choose a webhook —",
    )

    @classmethod
    def initial_for(cls, step):
        return {**super().initial_for(step), "template": step.get("template")}

    def values(self):
        template = self.cleaned_data["template"]
        return {"name": self.cleaned_data["name"], "config": {},
                "template": template.pk if template else None, "channel": "webhook"}


class ExitForm(StepForm):
    pass


STEP_FORMS: dict[str, type[StepForm]] = {
    "send_message": SendMessageForm, "send_email": SendEmailForm, "wait": WaitForm,
    "condition": ConditionForm, "split": SplitForm, "update_attribute": UpdateAttributeForm,
    "webhook": WebhookForm, "exit": ExitForm,
}
# What the "+" picker offers (send_email is only for the first campaigns' steps).
NEW_KINDS = [("send_message", "Send a message"), ("wait", "Wait"), ("condition", "Condition"),
             ("split", "Random split"), ("update_attribute", "Update attribute"),
             ("webhook", "Call webhook"), ("exit", "Exit")]


def step_form(kind: str, data=None, *, step: dict[str, Any] | None = None,
              graph: dict[str, Any] | None = None, key: str = "") -> StepForm:
    form_class = STEP_FORMS.get(kind)
    if form_class is None:
        raise KeyError(kind)
    initial = form_class.initial_for(step) if step else None
    return form_class(data, initial=initial, graph=graph, key=key, prefix="step")
