"""Admin for profiles, events, segments and API tokens (the profile table holds millions)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Q
from django.db.models.functions import Lower
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html

from profiles.attribute_indexes import (
    attribute_index_set,
    attribute_index_state,
    attribute_indexes_request_sync,
)
from profiles.models import (
    ApiToken,
    AttributeDefinition,
    AuditLog,
    Consent,
    ConsentChange,
    Event,
    Profile,
    ProfileAlias,
    ProfileMerge,
    PushSubscription,
    Segment,
    SegmentCountSnapshot,
    SegmentMember,
    Topic,
)
from profiles.privacy import export_json, profile_erase, profile_export
from profiles.schema import SchemaError, format_allowed_values, parse_allowed_values
from profiles.segments import RuleError, validate_rules
from profiles.selectors import segment_count
from profiles.services import api_token_create, api_token_revoke

ERASE_AT_ONCE = 100


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ProfileAliasInline(admin.TabularInline):
    model = ProfileAlias
    extra = 0
    fields = ["kind", "value", "created_at"]
    readonly_fields = ["created_at"]


class PushSubscriptionInline(admin.TabularInline):
    model = PushSubscription
    extra = 0
    fields = ["kind", "platform", "token", "created_at", "last_used_at"]
    readonly_fields = ["created_at", "last_used_at"]


class ConsentInline(ReadOnlyInline):
    """Current consent. Changed only through profiles.consent, which keeps the history."""

    model = Consent
    fields = ["channel", "topic", "state", "source", "updated_at"]
    readonly_fields = fields


class ConsentChangeInline(ReadOnlyInline):
    model = ConsentChange
    verbose_name_plural = "consent history"
    fields = ["occurred_at", "channel", "topic", "previous_state", "state", "source"]
    readonly_fields = fields
    ordering = ["-occurred_at", "-id"]


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["external_id", "email", "first_name", "last_name", "timezone", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["external_id", "email"]
    search_help_text = "An exact external id or email."
    readonly_fields = ["created_at", "updated_at", "last_seen_at"]
    show_full_result_count = False
    inlines = [ProfileAliasInline, PushSubscriptionInline, ConsentInline, ConsentChangeInline]
    actions = ["export_data", "erase"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting goes through the erase action: other apps' erase handlers run (deliveries
        # keep their status, not the address) and the audit log records it.
        return False

    def has_erase_permission(self, request) -> bool:
        return request.user.has_perm("profiles.delete_profile")

    @admin.action(description="Export all data of the selected profile (GDPR, JSON)")
    def export_data(self, request, queryset):
        profiles = list(queryset[:2])
        if len(profiles) != 1:
            self.message_user(request, "Select exactly one profile to export.", messages.ERROR)
            return None
        export = profile_export(profile=profiles[0], actor=request.user)
        response = StreamingHttpResponse(export_json(export), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="profile-{profiles[0].pk}.json"'
        return response

    @admin.action(description="Erase the selected profiles (GDPR)…", permissions=["erase"])
    def erase(self, request, queryset):
        profiles = list(queryset[: ERASE_AT_ONCE + 1])
        if len(profiles) > ERASE_AT_ONCE:
            self.message_user(
                request, f"Erase at most {ERASE_AT_ONCE} profiles at a time.", messages.ERROR
            )
            return None
        if request.POST.get("confirm") == "yes":
            for profile in profiles:
                profile_erase(profile=profile, actor=request.user)
            self.message_user(request, f"{len(profiles)} profile(s) erased.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request), "title": "Erase profiles?",
            "opts": self.model._meta, "profiles": profiles,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/profiles/profile/erase_confirmation.html", context)

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
        fields = ["name", "description", "kind", "rules"]

    def clean_rules(self):
        if self.cleaned_data.get("kind", self.instance.kind) == Segment.Kind.STATIC:
            return {"all": []}  # a static list's members are its SegmentMember rows
        try:
            return validate_rules(self.cleaned_data["rules"], segment_id=self.instance.pk)
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentAdminForm
    list_display = ["name", "kind", "description", "created_by", "updated_at"]
    list_filter = ["kind"]
    list_select_related = ["created_by"]
    search_fields = ["name"]
    date_hierarchy = "created_at"
    readonly_fields = ["member_count", "created_by", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        # A list's members or a segment's rules would not survive a change of kind.
        return [*self.readonly_fields, "kind"] if obj else self.readonly_fields

    @admin.display(description="Members")
    def member_count(self, segment: Segment) -> str:
        return "—" if segment.pk is None else f"{segment_count(segment=segment):,}"

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(SegmentMember)
class SegmentMemberAdmin(admin.ModelAdmin):
    """Static list members (added through the API, a CSV or the profile list page)."""

    list_display = ["segment", "profile", "external_id", "source", "added_at"]
    list_filter = ["source", "segment"]
    list_select_related = ["segment", "profile"]
    raw_id_fields = ["segment", "profile"]
    search_fields = ["=profile__external_id"]
    search_help_text = "An exact external id."
    readonly_fields = ["added_at"]
    show_full_result_count = False
    ordering = ["-id"]

    @admin.display(description="External id")
    def external_id(self, member: SegmentMember) -> str:
        return member.profile.external_id or "—"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "segment":
            kwargs["queryset"] = Segment.objects.filter(kind=Segment.Kind.STATIC)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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


class AttributeDefinitionForm(forms.ModelForm):
    allowed_values = forms.CharField(
        required=False, help_text="Optional, separated by commas: the only values accepted."
    )

    class Meta:
        model = AttributeDefinition
        fields = ["key", "label", "type", "allowed_values", "description", "indexed"]
        help_texts = {"indexed": "Build an expression index for segment conditions on this "
                      "attribute (a background job; the table stays writable)."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["allowed_values"] = format_allowed_values(self.instance.allowed_values)

    def clean(self):
        data = super().clean()
        try:
            data["allowed_values"] = parse_allowed_values(
                type=data.get("type") or "", text=data.get("allowed_values") or ""
            )
        except SchemaError as exc:
            self.add_error("allowed_values", exc.errors["allowed_values"])
        return data


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(admin.ModelAdmin):
    form = AttributeDefinitionForm
    list_display = ["key", "label", "type", "allowed", "indexed", "index_status", "updated_at"]
    list_filter = ["type", "indexed"]
    search_fields = ["key", "label"]
    actions = ["build_index", "drop_index"]

    def get_readonly_fields(self, request, obj=None):
        return ["key"] if obj else []  # stored values, rules and integrations name it

    @admin.display(description="Allowed values")
    def allowed(self, definition: AttributeDefinition) -> str:
        return format_allowed_values(definition.allowed_values) or "any"

    @admin.display(description="Index")
    def index_status(self, definition: AttributeDefinition) -> str:
        state = attribute_index_state(definition=definition)
        if not definition.indexed:
            return "built (being dropped)" if state.built else "—"
        if not state.wanted:
            return "not needed (the attributes GIN index serves it)"
        return {"built": "built", "building": "building (or failed: run Build index)",
                "missing": "queued"}[state.status]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if {"indexed", "type"} & set(form.changed_data) and (obj.indexed or change):
            attribute_indexes_request_sync()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        attribute_indexes_request_sync()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        attribute_indexes_request_sync()

    @admin.action(description="Build index on the selected attributes")
    def build_index(self, request, queryset) -> None:
        changed = attribute_index_set(definitions=list(queryset), indexed=True)
        self.message_user(request, f"{changed} attribute(s) marked indexed; a background job "
                          "builds the indexes (missing or failed ones are built again).",
                          messages.SUCCESS)

    @admin.action(description="Drop index of the selected attributes")
    def drop_index(self, request, queryset) -> None:
        changed = attribute_index_set(definitions=list(queryset), indexed=False)
        self.message_user(request, f"{changed} attribute(s) no longer indexed; a background "
                          "job drops their indexes.", messages.SUCCESS)


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "channel", "created_at"]
    list_filter = ["channel"]
    search_fields = ["name", "key"]

    def get_readonly_fields(self, request, obj=None):
        return ["key"] if obj else []


class ReadOnlyAdmin(admin.ModelAdmin):
    """History and records: looked at, never edited here."""

    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ConsentChange)
class ConsentChangeAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "profile", "channel", "topic", "previous_state", "state",
                    "source"]
    list_filter = ["channel", "state"]
    list_select_related = ["profile", "topic"]
    search_fields = ["=profile__external_id"]
    search_help_text = "An exact external id."


@admin.register(ProfileMerge)
class ProfileMergeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "survivor", "merged_profile_id", "merged_external_id",
                    "reason"]
    list_select_related = ["survivor"]
    search_fields = ["=merged_external_id", "=survivor__external_id"]


@admin.register(SegmentCountSnapshot)
class SegmentCountSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["day", "segment", "count", "taken_at"]
    list_filter = ["segment"]
    list_select_related = ["segment"]
    date_hierarchy = "day"


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "target_type", "target_id"]
    list_filter = ["action", "target_type"]
    search_fields = ["=target_id", "actor"]
    date_hierarchy = "created_at"


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["profile", "kind", "platform", "created_at", "last_used_at"]
    list_filter = ["kind", "platform"]
    list_select_related = ["profile"]
    raw_id_fields = ["profile"]
    search_fields = ["=profile__external_id"]
    readonly_fields = ["created_at", "last_used_at"]
    show_full_result_count = False
