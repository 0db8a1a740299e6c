"""Admin for deliveries and their status log (a read-only record of what was sent), and for
placements, offers and their impressions."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from channels.decisions import forget_plans, offer_delete, placement_delete
from channels.models import (
    AddressHealth,
    Delivery,
    DeliveryEvent,
    MessageTemplate,
    Offer,
    OfferImpression,
    Placement,
    SeedList,
    SenderIdentity,
    Suppression,
)
from profiles.audiences import validate_audience_rules
from profiles.rules import RuleError


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


class OfferAdminForm(forms.ModelForm):
    class Meta:
        model = Offer
        fields = ["placement", "name", "content", "html", "rules", "segment", "priority",
                  "starts_at", "ends_at", "cap_per_profile", "is_active"]

    def clean_rules(self):
        rules = self.cleaned_data.get("rules")
        if rules in (None, "", {}):
            return {}
        try:
            return validate_audience_rules(rules)
        except RuleError as exc:
            messages = [f"{e['path']}: {e['message']}" for e in exc.errors]
            raise forms.ValidationError(messages) from None


class OfferInline(admin.TabularInline):
    model = Offer
    form = OfferAdminForm
    fields = ["name", "priority", "segment", "is_active", "starts_at", "ends_at",
              "cap_per_profile"]
    raw_id_fields = ["segment"]
    extra = 0
    show_change_link = True


class PlacementAdminForm(forms.ModelForm):
    class Meta:
        model = Placement
        fields = ["key", "name", "description", "fallback"]

    def clean_fallback(self):
        fallback = self.cleaned_data.get("fallback")
        if fallback is not None and fallback.placement_id != self.instance.pk:
            raise forms.ValidationError("The fallback must be one of this placement's offers.")
        return fallback


@admin.register(Placement)
class PlacementAdmin(admin.ModelAdmin):
    form = PlacementAdminForm
    list_display = ["key", "name", "fallback", "updated_at"]
    search_fields = ["key", "name"]
    raw_id_fields = ["fallback"]
    inlines = [OfferInline]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        forget_plans()  # this process decides with the change at once; others within the TTL

    def delete_model(self, request, obj) -> None:
        placement_delete(placement=obj)


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    form = OfferAdminForm
    list_display = ["name", "placement", "priority", "is_active", "starts_at", "ends_at",
                    "cap_per_profile"]
    list_filter = ["is_active", "placement"]
    list_select_related = ["placement"]
    search_fields = ["name", "placement__key"]
    raw_id_fields = ["segment"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        forget_plans()

    def delete_model(self, request, obj) -> None:
        offer_delete(offer=obj)


@admin.register(OfferImpression)
class OfferImpressionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written by decisions only."""

    list_display = ["offer", "profile", "shown_at"]
    list_select_related = ["offer"]
    raw_id_fields = ["offer", "profile"]
    show_full_result_count = False
    ordering = ["-id"]


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Adds and removals here skip address normalization: the suppression page and import
    normalize; admins fixing a row by hand see exactly what is stored."""

    list_display = ["address", "kind", "cause", "created_at"]
    list_filter = ["kind", "cause"]
    search_fields = ["address"]
    readonly_fields = ["created_at"]
    show_full_result_count = False
    ordering = ["-created_at"]


@admin.register(AddressHealth)
class AddressHealthAdmin(admin.ModelAdmin):
    list_display = ["address", "kind", "soft_bounces", "last_bounce_at"]
    list_filter = ["kind"]
    search_fields = ["address"]
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # counted from provider feedback only


@admin.register(SeedList)
class SeedListAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(SenderIdentity)
class SenderIdentityAdmin(admin.ModelAdmin):
    list_display = ["name", "from_name", "from_email", "reply_to", "is_default"]
    search_fields = ["name", "from_email"]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    """Read-mostly: templates are edited in the marketer UI, which validates the Liquid and
    makes a revision per save."""

    list_display = ["name", "channel", "kind", "topic", "version", "updated_at"]
    list_filter = ["channel", "kind"]
    search_fields = ["name"]
    readonly_fields = ["channel", "content", "version", "created_at", "updated_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False
