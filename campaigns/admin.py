"""Admin for campaigns and their steps. Status moves only through campaigns.services."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from campaigns.models import Campaign, Step
from campaigns.rendering import step_content_errors
from campaigns.selectors import campaign_delivery_counts


class StepForm(forms.ModelForm):
    class Meta:
        model = Step
        fields = ["position", "kind", "subject", "html_body", "text_body"]

    def clean(self):
        cleaned = super().clean()
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
    list_display = [
        "name", "status", "segment", "scheduled_at", "launched_at", "completed_at", "created_by",
    ]
    list_filter = ["status", "scheduled_at", "launched_at"]
    list_select_related = ["segment", "created_by"]
    search_fields = ["name"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["segment"]
    readonly_fields = [
        "status", "scheduled_at", "launched_at", "completed_at", "delivery_counts",
        "created_by", "created_at", "updated_at",
    ]
    inlines = [StepInline]

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
