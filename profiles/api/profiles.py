"""Integrator API for profiles: serializers and thin views over services/selectors.

Segments are in profiles.api.segments."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from profiles.api.privacy import ProfilePrivacyMixin
from profiles.consent import ConsentError, ConsentUpdate, consent_set, consent_summary
from profiles.models import ConsentChannel, ConsentState, Profile, Topic
from profiles.search import (
    FilterValueError,
    ProfileFilters,
    attribute_filter_value,
    filtered_profiles,
)
from profiles.segments import ATTRIBUTE_KEY
from profiles.selectors import AmbiguousReference, profile_by_reference
from profiles.services import ProfileDataError, attribute_specs, profile_update, profile_upsert


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describes `Authorization: Bearer itn_…` in the OpenAPI document."""

    target_class = "profiles.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "itn_<prefix>_<secret>"}


class IdCursorPagination(CursorPagination):
    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 1000


class AmbiguousProfile(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "ambiguous_profile"


class ProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = Profile
        fields = [
            "id", "external_id", "email", "phone", "first_name", "last_name", "timezone",
            "locale", "attributes", "created_at", "updated_at", "last_seen_at",
        ]
        read_only_fields = fields


class ProfileChangeSerializer(serializers.Serializer):
    """Fields left out are kept as they are; `attributes` is merged key by key (null removes a
    key). Values are checked by profiles.services: email (domain lower-cased), phone (stored
    E.164; a national number is read with the locale's country), IANA time zone, BCP 47 locale,
    attributes against the attribute schema."""

    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=64, required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    timezone = serializers.CharField(max_length=64, required=False, help_text="IANA name.")
    locale = serializers.CharField(max_length=35, required=False, allow_blank=True)
    attributes = serializers.JSONField(required=False, help_text="A JSON object, merged.")

    def validate_attributes(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Attributes must be a JSON object.")
        return value

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        # A misspelt key ("Email", "attribute") would otherwise be dropped without a word.
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({key: self.unknown_message(key) for key in unknown})
        return data

    def unknown_message(self, key: str) -> str:
        return "Unknown field."


class ProfileUpsertSerializer(ProfileChangeSerializer):
    external_id = serializers.CharField(max_length=255)


class ProfileReplaceSerializer(ProfileUpsertSerializer):
    """For PUT the URL names the profile; a different external_id in the body is an error."""

    external_id = serializers.CharField(max_length=255, required=False)

    def validate_external_id(self, value: str) -> str:
        if value != self.context["external_id"]:
            raise serializers.ValidationError("Does not match the external_id in the URL.")
        return value


class ProfilePatchSerializer(ProfileChangeSerializer):
    def unknown_message(self, key: str) -> str:
        if key in ("id", "external_id"):
            return "A profile's id and external_id cannot change."
        return "Unknown field."


class ConsentChangeSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=ConsentChannel.choices)
    topic = serializers.SlugField(required=False, allow_null=True, help_text="A topic's key.")
    state = serializers.ChoiceField(choices=ConsentState.choices)
    source = serializers.CharField(
        max_length=100, required=False, help_text="Where the person said so; the token's name "
        "when left out.",
    )
    occurred_at = serializers.DateTimeField(required=False, help_text="When; now if left out.")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("topic"):
            topic = Topic.objects.filter(key=data["topic"]).first()
            if topic is None:
                raise serializers.ValidationError({"topic": f"Unknown topic {data['topic']!r}."})
            if topic.channel != data["channel"]:
                raise serializers.ValidationError(
                    {"topic": f"Topic {topic.key!r} is on the {topic.channel} channel."}
                )
        return data


class ConsentStatusSerializer(serializers.Serializer):
    channel = serializers.CharField()
    topic = serializers.CharField(allow_null=True)
    topic_name = serializers.CharField(allow_null=True)
    state = serializers.CharField()
    source = serializers.CharField()
    updated_at = serializers.DateTimeField(allow_null=True)
    allowed = serializers.BooleanField(help_text="Whether the channel (and topic) may send now.")


PROFILE_PATH = OpenApiParameter(
    "ref", str, OpenApiParameter.PATH, description="The profile's id or its external_id."
)
PROFILE_REF = OpenApiParameter(
    "by", str, enum=["id", "external_id"],
    description="Read the path as an id or an external_id. Without it a number is tried as an "
    "id, then as an external_id; a number that is both (one profile's id, another's "
    "external_id) is refused with 409.",
)


def profile_data_error(exc: ProfileDataError) -> ValidationError:
    return ValidationError(exc.errors)


@extend_schema(tags=["profiles"])
@extend_schema_view(
    list=extend_schema(parameters=[
        OpenApiParameter("q", str, description="An email prefix, words of the name, or an "
                         "exact external_id."),
        OpenApiParameter("email", str, description="Exact email, case-insensitive."),
        OpenApiParameter("external_id", str, description="Exact external_id."),
        OpenApiParameter("attribute", str, many=True, description="key:value, e.g. plan:pro "
                         "(repeat for several; a number or true/false also matches its type)."),
    ]),
    retrieve=extend_schema(parameters=[PROFILE_PATH, PROFILE_REF]),
    create=extend_schema(
        request=ProfileUpsertSerializer,
        responses={200: ProfileSerializer, 201: ProfileSerializer},
        description="Upsert by external_id: 201 when created, 200 when updated.",
    ),
    update=extend_schema(
        request=ProfileReplaceSerializer,
        responses={200: ProfileSerializer, 201: ProfileSerializer},
        description="Upsert the profile whose external_id is in the URL: 201 when created, 200 "
        "when updated.",
        parameters=[OpenApiParameter("ref", str, OpenApiParameter.PATH,
                                     description="The external_id (PUT never reads it as an id).")],
    ),
    partial_update=extend_schema(
        request=ProfilePatchSerializer, responses={200: ProfileSerializer},
        parameters=[PROFILE_PATH, PROFILE_REF],
        description="Change some fields of the profile named by its id or external_id.",
    ),
    destroy=extend_schema(parameters=[PROFILE_PATH, PROFILE_REF]),
    export=extend_schema(parameters=[PROFILE_PATH, PROFILE_REF]),
)
class ProfileViewSet(
    ProfilePrivacyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    required_scopes = {
        "GET": "profiles:read", "POST": "profiles:write", "PUT": "profiles:write",
        "PATCH": "profiles:write", "DELETE": "profiles:write",
    }
    parser_classes = [JSONParser]
    serializer_class = ProfileSerializer
    pagination_class = IdCursorPagination
    lookup_field = "external_id"
    lookup_url_kwarg = "ref"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        params = self.request.query_params
        attributes = self._attribute_filters(params.getlist("attribute"))
        profiles = filtered_profiles(
            ProfileFilters(query=params.get("q", ""), attributes=attributes)
        )
        email = params.get("email", "").strip()
        if email:
            profiles = profiles.filter(email_search=email.lower())
        if params.get("external_id"):
            profiles = profiles.filter(external_id=params["external_id"])
        return profiles

    def _attribute_filters(self, pairs: list[str]) -> dict[str, Any]:
        specs, attributes = attribute_specs(), {}
        for pair in pairs:
            key, _, value = (part.strip() for part in pair.partition(":"))
            if not ATTRIBUTE_KEY.match(key) or not value:
                raise ValidationError({"attribute": [f"{pair!r}: use key:value, e.g. plan:pro."]})
            try:
                attributes[key] = attribute_filter_value(value, specs.get(key))
            except FilterValueError as exc:
                raise ValidationError({"attribute": [f"{key}: {exc}"]}) from None
        return attributes

    def get_object(self) -> Profile:
        reference = self.kwargs[self.lookup_url_kwarg]
        try:
            return profile_by_reference(
                reference=reference, by=self.request.query_params.get("by", "")
            )
        except Profile.DoesNotExist:
            raise NotFound("No such profile.") from None
        except AmbiguousReference:
            raise AmbiguousProfile(
                f"{reference} is one profile's id and another's external_id: add ?by=id or "
                "?by=external_id."
            ) from None

    def create(self, request) -> Response:
        payload = ProfileUpsertSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        return self._upsert(data.pop("external_id"), data)

    def update(self, request, ref: str) -> Response:
        payload = ProfileReplaceSerializer(data=request.data, context={"external_id": ref})
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        data.pop("external_id", None)
        return self._upsert(ref, data)

    def _upsert(self, external_id: str, data: dict[str, Any]) -> Response:
        try:
            profile, created = profile_upsert(external_id=external_id, data=data)
        except ProfileDataError as exc:
            raise profile_data_error(exc) from None
        return Response(
            ProfileSerializer(profile).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def partial_update(self, request, ref: str) -> Response:
        profile = self.get_object()
        payload = ProfilePatchSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            profile = profile_update(profile=profile, data=dict(payload.validated_data))
        except ProfileDataError as exc:
            raise profile_data_error(exc) from None
        return Response(ProfileSerializer(profile).data)

    @extend_schema(
        methods=["GET"], parameters=[PROFILE_PATH, PROFILE_REF],
        responses={200: ConsentStatusSerializer(many=True)},
        description="Consent per channel and per topic, and whether each may send now.",
    )
    @extend_schema(
        methods=["POST"], parameters=[PROFILE_PATH, PROFILE_REF],
        request=ConsentChangeSerializer(many=True),
        responses={200: ConsentStatusSerializer(many=True)},
        description="Apply consent changes (all or none); each change is kept in the history.",
    )
    @action(detail=True, methods=["get", "post"], url_path="consent", pagination_class=None,
            required_scopes={"GET": "profiles:read", "POST": "profiles:write"})
    def consent(self, request, ref: str) -> Response:
        profile = self.get_object()
        if request.method == "POST":
            changes = request.data if isinstance(request.data, list) else [request.data]
            payload = ConsentChangeSerializer(data=changes, many=True)
            payload.is_valid(raise_exception=True)
            source = request.auth.name[:100]
            try:
                # All or none: a refused change leaves the others unapplied.
                with transaction.atomic():
                    for change in payload.validated_data:
                        consent_set(profile=profile, update=ConsentUpdate(
                            channel=change["channel"], topic=change.get("topic") or None,
                            state=change["state"], source=change.get("source", source),
                            occurred_at=change.get("occurred_at"),
                        ))
            except ConsentError as exc:
                raise ValidationError({"consent": [str(exc)]}) from None
        rows = consent_summary(profile=profile)
        return Response(ConsentStatusSerializer(rows, many=True).data)

