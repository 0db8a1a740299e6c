"""Admin for deliveries and their status log: a read-only record of what was sent."""

from __future__ import annotations

from django.contrib import admin

from channels.models import Delivery, DeliveryEvent


class ReadOnlyAdminMixin:
    """The delivery log is written by the send pipeline only, never by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class DeliveryEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryEvent
    fields = ["status", "occurred_at", "detail"]
    readonly_fields = fields
    extra = 0


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "address", "channel", "status", "campaign_step", "created_at", "sent_at"]
    list_filter = ["status", "channel", "created_at"]
    list_select_related = ["campaign_step__campaign"]
    search_fields = ["=address", "=provider_message_id", "=profile__external_id"]
    search_help_text = "An exact address, provider message id or profile external id."
    raw_id_fields = ["profile", "campaign_step"]
    inlines = [DeliveryEventInline]
    show_full_result_count = False


@admin.register(DeliveryEvent)
class DeliveryEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["delivery", "status", "occurred_at", "detail"]
    list_filter = ["status", "occurred_at"]
    list_select_related = ["delivery"]
    raw_id_fields = ["delivery"]
    show_full_result_count = False
    ordering = ["-id"]
