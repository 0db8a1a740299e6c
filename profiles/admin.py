"""Admin for profiles, events, segments and API tokens (the profile table holds millions)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.html import format_html

from profiles.models import ApiToken, Event, Profile, Segment
from profiles.segments import RuleError, validate_rules
from profiles.selectors import segment_count
from profiles.services import api_token_create, api_token_revoke


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["external_id", "email", "first_name", "last_name", "timezone", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["external_id", "email"]
    search_help_text = "An exact external id or email."
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        # Both lookups hit an index; a substring search would scan a million rows.
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = queryset.alias(email_lower=Lower("email")).filter(
            Q(external_id=term) | Q(email_lower=term.lower())
        )
        return matches, False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["name", "profile", "occurred_at", "source", "received_at"]
    list_filter = ["occurred_at"]
    list_select_related = ["profile"]
    search_fields = ["=name", "=profile__external_id"]
    raw_id_fields = ["profile"]
    readonly_fields = ["received_at"]
    show_full_result_count = False
    # The primary key is indexed on its own, occurred_at is not: a page stays an index scan.
    ordering = ["-id"]


class SegmentAdminForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "description", "rules"]

    def clean_rules(self):
        try:
            return validate_rules(self.cleaned_data["rules"])
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentAdminForm
    list_display = ["name", "description", "created_by", "updated_at"]
    list_select_related = ["created_by"]
    search_fields = ["name"]
    date_hierarchy = "created_at"
    readonly_fields = ["member_count", "created_by", "created_at", "updated_at"]

    @admin.display(description="Members")
    def member_count(self, segment: Segment) -> str:
        return "—" if segment.pk is None else f"{segment_count(segment=segment):,}"

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.SCOPES, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiToken
        fields = ["name", "scopes"]


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = [
        "name", "prefix", "scope_list", "is_active", "last_used_at", "created_by", "created_at",
    ]
    list_filter = [TokenStatusFilter]
    list_select_related = ["created_by"]
    search_fields = ["name", "=prefix"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["prefix", "key_hash", "created_by", "created_at", "last_used_at", "revoked_at"]

    @admin.display(description="Scopes")
    def scope_list(self, token: ApiToken) -> str:
        return ", ".join(token.scopes)

    @admin.display(boolean=True, description="Active")
    def is_active(self, token: ApiToken) -> bool:
        return token.is_active

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, secret = api_token_create(
            name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"], user=request.user
        )
        # The admin goes on with `obj` (log entry, redirect): make it the token just created.
        for field in ApiToken._meta.concrete_fields:
            setattr(obj, field.attname, getattr(token, field.attname))
        obj._state.adding = False
        messages.success(request, format_html(
            "Copy the secret of this token now, it is not stored and will not be shown again: "
            "<code>{}</code>", secret,
        ))

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset) -> None:
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            api_token_revoke(token=token)
        self.message_user(request, f"{len(tokens)} token(s) revoked.", messages.SUCCESS)
