"""Integrator API for profiles and segments: serializers and thin views over services/selectors."""

from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import available_timezones

from django.core.validators import RegexValidator
from django.db.models.functions import Lower
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from profiles.models import Profile, Segment
from profiles.selectors import profile_search, segment_count
from profiles.services import profile_upsert

E164 = RegexValidator(r"^\+[1-9]\d{1,14}$", "Use the E.164 format, e.g. +33612345678.")


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


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


class ProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = Profile
        fields = [
            "external_id", "email", "phone", "first_name", "last_name", "timezone", "locale",
            "attributes", "created_at", "updated_at",
        ]
        read_only_fields = fields


class ProfileUpsertSerializer(serializers.Serializer):
    """Fields left out are kept as they are; `attributes` is merged key by key."""

    external_id = serializers.CharField(max_length=255)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(
        max_length=32, required=False, allow_blank=True, validators=[E164]
    )
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    timezone = serializers.CharField(max_length=64, required=False, help_text="IANA name.")
    locale = serializers.CharField(max_length=35, required=False, allow_blank=True)
    attributes = serializers.JSONField(required=False, help_text="A JSON object, merged.")

    def validate_timezone(self, value: str) -> str:
        if value not in _timezones():
            raise serializers.ValidationError(f"Unknown time zone {value!r}: use an IANA name.")
        return value

    def validate_attributes(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Attributes must be a JSON object.")
        return value

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        # A misspelt key ("Email", "attribute") would otherwise be dropped without a word.
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({key: "Unknown field." for key in unknown})
        return data


class ProfileReplaceSerializer(ProfileUpsertSerializer):
    """For PUT the URL names the profile; a different external_id in the body is an error."""

    external_id = serializers.CharField(max_length=255, required=False)

    def validate_external_id(self, value: str) -> str:
        if value != self.context["external_id"]:
            raise serializers.ValidationError("Does not match the external_id in the URL.")
        return value


@extend_schema(tags=["profiles"])
@extend_schema_view(
    list=extend_schema(parameters=[
        OpenApiParameter("email", str, description="Exact email, case-insensitive."),
        OpenApiParameter("q", str, description="Search email, names, or an exact external_id."),
    ]),
    create=extend_schema(
        request=ProfileUpsertSerializer,
        responses={200: ProfileSerializer, 201: ProfileSerializer},
        description="Upsert by external_id: 201 when created, 200 when updated.",
    ),
    update=extend_schema(
        request=ProfileReplaceSerializer,
        responses={200: ProfileSerializer, 201: ProfileSerializer},
        description="Upsert the profile named in the URL: 201 when created, 200 when updated.",
    ),
)
class ProfileViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    required_scopes = {"GET": "profiles:read", "POST": "profiles:write", "PUT": "profiles:write"}
    parser_classes = [JSONParser]
    serializer_class = ProfileSerializer
    pagination_class = IdCursorPagination
    lookup_field = "external_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        profiles = profile_search(query=self.request.query_params.get("q", ""))
        email = self.request.query_params.get("email", "").strip()
        if email:
            # Lower(email) is what the profile_email_lower index covers.
            profiles = profiles.alias(email_lower=Lower("email")).filter(email_lower=email.lower())
        return profiles

    def create(self, request) -> Response:
        payload = ProfileUpsertSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        return self._upsert(data.pop("external_id"), data)

    def update(self, request, external_id: str) -> Response:
        payload = ProfileReplaceSerializer(data=request.data, context={"external_id": external_id})
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        data.pop("external_id", None)
        return self._upsert(external_id, data)

    def _upsert(self, external_id: str, data: dict[str, Any]) -> Response:
        profile, created = profile_upsert(external_id=external_id, data=data)
        return Response(
            ProfileSerializer(profile).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SegmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = ["id", "name", "description", "rules", "created_at", "updated_at"]
        read_only_fields = fields


class SegmentDetailSerializer(SegmentSerializer):
    count = serializers.SerializerMethodField(help_text="Profiles in the segment right now.")

    class Meta(SegmentSerializer.Meta):
        fields = [*SegmentSerializer.Meta.fields, "count"]
        read_only_fields = fields

    def get_count(self, segment: Segment) -> int:
        return segment_count(segment=segment)


@extend_schema(tags=["segments"])
class SegmentViewSet(viewsets.ReadOnlyModelViewSet):
    """The member count is on the detail only: each count is a query over every profile."""

    required_scopes = {"GET": "segments:read"}
    queryset = Segment.objects.all()
    pagination_class = IdCursorPagination

    def get_serializer_class(self):
        return SegmentDetailSerializer if self.action == "retrieve" else SegmentSerializer
