"""Admin for campaigns and their steps. Status moves only through campaigns.lifecycle
(the list's actions); the graph is edited in the designer, a draft's steps also here."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from campaigns import lifecycle
from campaigns.designer import free_key
from campaigns.errors import CampaignError
from campaigns.models import Campaign, Step
from campaigns.rendering import step_content_errors
from campaigns.selectors import campaign_delivery_counts
from campaigns.versions import draft_version


class CampaignForm(forms.ModelForm):
    """Settings with a default may be left out (they get the default), as before they
    existed."""

    DEFAULTED = ("priority", "entry_kind", "reentry", "reentry_days", "goal_days",
                 "holdout_percent")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.DEFAULTED:
            if name in self.fields:
                self.fields[name].required = False

    def clean(self):
        cleaned = super().clean()
        for name in self.DEFAULTED:
            if name in self.fields and cleaned.get(name) in (None, ""):
                cleaned[name] = Campaign._meta.get_field(name).default
        return cleaned


class StepForm(forms.ModelForm):
    class Meta:
        model = Step
        fields = ["position", "kind", "subject", "html_body", "text_body"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") != "send_email":
            return cleaned  # other kinds are edited in the designer, checked at publish
        return self._clean_email(cleaned)

    def _clean_email(self, cleaned):
        errors = step_content_errors(
            subject=cleaned.get("subject", ""),
            html_body=cleaned.get("html_body", ""),
            text_body=cleaned.get("text_body", ""),
        )
        for field, message in errors.items():
            self.add_error(None if field == "__all__" else field, message)
        return cleaned


class StepInline(admin.StackedInline):
    model = Step
    form = StepForm
    extra = 0
    readonly_fields = ["version", "key", "exits"]

    def _editable(self, obj) -> bool:
        # Only a draft's content may change: deliveries of a launched step render from it.
        return obj is None or obj.is_editable

    def has_add_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = [
        "name", "status", "entry_kind", "segment", "current_version", "next_run_at",
        "launched_at", "completed_at", "created_by",
    ]
    list_filter = ["status", "entry_kind", "scheduled_at", "launched_at"]
    list_select_related = ["segment", "created_by", "current_version"]
    search_fields = ["name"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["segment"]
    readonly_fields = [
        "status", "current_version", "scheduled_at", "next_run_at", "launched_at", "paused_at",
        "pause_reason", "completed_at", "archived_at", "delivery_counts", "created_by",
        "created_at", "updated_at",
    ]
    inlines = [StepInline]
    actions = ["pause_campaigns", "resume_campaigns", "archive_campaigns"]

    @admin.display(description="Deliveries")
    def delivery_counts(self, campaign: Campaign) -> str:
        if campaign.pk is None:
            return "—"
        counts = campaign_delivery_counts(campaign=campaign)
        return ", ".join(f"{status}: {n:,}" for status, n in counts.items())

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change) -> None:
        """Steps added here join the draft version, keyed s1, s2… in order."""
        steps = formset.save(commit=False)
        for step in formset.deleted_objects:
            step.delete()
        new = [step for step in steps if step.pk is None]
        version = draft_version(form.instance, request.user) if new else None
        taken = set(version.steps.values_list("key", flat=True)) if version else set()
        for step in steps:
            if step.pk is None:
                step.version, step.key = version, free_key(taken)
                taken.add(step.key)
                step.exits = step.exits or {"next": None}
            step.save()
        if version is not None and not version.start_key:
            version.start_key = version.steps.order_by("position", "id").first().key
            version.save(update_fields=["start_key"])
        formset.save_m2m()

    @admin.action(description="Pause the selected campaigns")
    def pause_campaigns(self, request, queryset) -> None:
        self._apply(request, queryset, lifecycle.pause, "paused")

    @admin.action(description="Resume the selected campaigns")
    def resume_campaigns(self, request, queryset) -> None:
        self._apply(request, queryset, lifecycle.resume, "resumed")

    @admin.action(description="Archive the selected campaigns")
    def archive_campaigns(self, request, queryset) -> None:
        self._apply(request, queryset, lifecycle.archive, "archived")

    def _apply(self, request, queryset, transition, done: str) -> None:
        count = 0
        for campaign in queryset:
            try:
                transition(campaign)
                count += 1
            except CampaignError as exc:
                self.message_user(request, f"{campaign}: {exc}", messages.WARNING)
        self.message_user(request, f"{count} campaign(s) {done}.")
