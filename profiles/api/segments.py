"""Integrator API of segments and static lists, and which segments a profile is in.

    GET    /api/v1/segments                    list (no counts: each is a query over everyone)
    POST   /api/v1/segments                    create: {name, description, kind, rules}
    GET    /api/v1/segments/{id}               one, with its member count
    PUT    /api/v1/segments/{id}               replace name, description, rules
    PATCH  /api/v1/segments/{id}               change some of them
    DELETE /api/v1/segments/{id}               409 while a campaign or a segment uses it
    POST   /api/v1/segments/preview            {rules} → count and a sample of 10
    GET    /api/v1/segments/{id}/count         members now
    GET    /api/v1/segments/{id}/members       members now, cursor-paginated by id
    POST   /api/v1/segments/{id}/members       static list: add {ids, external_ids, emails}
    DELETE /api/v1/segments/{id}/members       static list: remove the same
    GET    /api/v1/profiles/{ref}/segments     the segments a profile is in now

Rule errors answer 400 with each message under its JSON path:
{"rules": {"$.all[1].value": "A number is needed."}}.
"""

from __future__ import annotations

from typing import Any

from django.db.models import ProtectedError
from django.urls import re_path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from profiles.api.profiles import PROFILE_PATH, PROFILE_REF, AmbiguousProfile, IdCursorPagination
from profiles.audiences import audience_queryset
from profiles.lists import (
    ListError,
    references,
    static_list_add,
    static_list_create,
    static_list_remove,
    static_list_save,
)
from profiles.memberships import profile_segments
from profiles.models import Profile, Segment
from profiles.rules.schema import RuleError
from profiles.selectors import (
    AmbiguousReference,
    profile_by_reference,
    segment_count,
    segment_members,
)
from profiles.services import segment_save

READ, WRITE = "segments:read", "segments:write"
SAMPLE_SIZE = 10
MAX_REFERENCES = 10_000  # per add/remove request


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def rule_errors(exc: RuleError) -> ValidationError:
    return ValidationError({"rules": exc.as_dict()})


class SegmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = ["id", "name", "description", "kind", "rules", "created_at", "updated_at"]
        read_only_fields = fields


class SegmentDetailSerializer(SegmentSerializer):
    count = serializers.SerializerMethodField(help_text="Profiles in the segment right now.")

    class Meta(SegmentSerializer.Meta):
        fields = [*SegmentSerializer.Meta.fields, "count"]
        read_only_fields = fields

    def get_count(self, segment: Segment) -> int:
        return _count(segment)


class SegmentWriteSerializer(serializers.Serializer):
    """`rules` is a rule tree (see profiles.rules.schema); a static list has none."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=Segment.Kind.choices, required=False,
                                   default=Segment.Kind.DYNAMIC)
    rules = serializers.JSONField(required=False)

    def validate_name(self, value: str) -> str:
        others = Segment.objects.filter(name=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError("A segment with this name exists.")
        return value

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields) - {"id"})
        if unknown:
            raise serializers.ValidationError({key: "Unknown field." for key in unknown})
        kind = self.instance.kind if self.instance is not None else data.get("kind")
        if data.setdefault("kind", kind) != kind:
            raise serializers.ValidationError({"kind": "A segment's kind cannot change."})
        if kind == Segment.Kind.STATIC and data.get("rules") not in (None, {}, {"all": []}):
            raise serializers.ValidationError(
                {"rules": "A static list has no rules: add members to it instead."})
        if kind == Segment.Kind.DYNAMIC and self.instance is None and "rules" not in data:
            raise serializers.ValidationError({"rules": "A segment needs rules."})
        return data


class PreviewSerializer(serializers.Serializer):
    rules = serializers.JSONField()


class MemberSerializer(serializers.ModelSerializer):
    """Who is in: ids only. Personal data is read from /profiles (profiles:read)."""

    class Meta:
        model = Profile
        fields = ["id", "external_id"]
        read_only_fields = fields


class PreviewResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sample = MemberSerializer(many=True, help_text=f"The newest {SAMPLE_SIZE} members.")


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    counted_at = serializers.DateTimeField()


class MembersChangeSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
                                required=False, default=list)
    external_ids = serializers.ListField(child=serializers.CharField(max_length=255),
                                         required=False, default=list)
    emails = serializers.ListField(child=serializers.CharField(max_length=254), required=False,
                                   default=list)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        total = sum(len(data[key]) for key in ("ids", "external_ids", "emails"))
        if total == 0:
            raise serializers.ValidationError("Name profiles in ids, external_ids or emails.")
        if total > MAX_REFERENCES:
            raise serializers.ValidationError(f"At most {MAX_REFERENCES:,} profiles a request.")
        return data


class MembersChangeResultSerializer(serializers.Serializer):
    changed = serializers.IntegerField(help_text="Profiles added (or removed).")
    unchanged = serializers.IntegerField(
        help_text="Profiles named that were already on the list (or not on it).")
    unknown = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="References that name no profile, by kind: ids, external_ids, emails.")


@extend_schema(tags=["segments"])
@extend_schema_view(
    create=extend_schema(request=SegmentWriteSerializer, responses={201: SegmentSerializer}),
    update=extend_schema(request=SegmentWriteSerializer, responses={200: SegmentSerializer}),
    partial_update=extend_schema(request=SegmentWriteSerializer,
                                 responses={200: SegmentSerializer}),
)
class SegmentViewSet(viewsets.ModelViewSet):
    """The member count is on the detail only: each count is a query over every profile."""

    required_scopes = {"GET": READ, "POST": WRITE, "PUT": WRITE, "PATCH": WRITE, "DELETE": WRITE}
    queryset = Segment.objects.all()
    pagination_class = IdCursorPagination
    parser_classes = [JSONParser]
    lookup_value_regex = r"\d+"

    def get_serializer_class(self):
        return SegmentDetailSerializer if self.action == "retrieve" else SegmentSerializer

    def create(self, request) -> Response:
        return self._save(None, request.data, partial=False)

    def update(self, request, pk: str, partial: bool = False) -> Response:
        return self._save(self.get_object(), request.data, partial=partial)

    def _save(self, segment: Segment | None, data: Any, *, partial: bool) -> Response:
        payload = SegmentWriteSerializer(segment, data=data, partial=partial)
        payload.is_valid(raise_exception=True)
        fields = payload.validated_data
        name = fields.get("name", segment.name if segment else "")
        description = fields.get("description", segment.description if segment else "")
        if fields["kind"] == Segment.Kind.STATIC:
            saved = static_list_save(segment=segment, name=name, description=description) \
                if segment else static_list_create(name=name, description=description)
        else:
            try:
                saved = segment_save(segment=segment, name=name, description=description,
                                     rules=fields.get("rules", segment.rules if segment else {}))
            except RuleError as exc:
                raise rule_errors(exc) from None
        return Response(SegmentSerializer(saved).data,
                        status=status.HTTP_200_OK if segment else status.HTTP_201_CREATED)

    def destroy(self, request, pk: str) -> Response:
        segment = self.get_object()
        users = _referring_segments(segment)
        if users:
            raise Conflict(f"Segments refer to this one: {', '.join(users)}.")
        try:
            segment.delete()
        except ProtectedError as exc:
            names = sorted({str(obj) for obj in exc.protected_objects})
            raise Conflict(f"Campaigns use this segment: {', '.join(names)}.") from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=PreviewSerializer, responses={200: PreviewResultSerializer},
                   description=f"Count the profiles rules select now, with the newest "
                   f"{SAMPLE_SIZE}. Nothing is saved.")
    @action(detail=False, methods=["post"], required_scopes={"POST": READ})
    def preview(self, request) -> Response:
        payload = PreviewSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            audience = audience_queryset(payload.validated_data["rules"])
        except RuleError as exc:
            raise rule_errors(exc) from None
        sample = audience.order_by("-id").only("id", "external_id")[:SAMPLE_SIZE]
        return Response({"count": audience.count(),
                         "sample": MemberSerializer(sample, many=True).data})

    @extend_schema(responses={200: CountSerializer})
    @action(detail=True, methods=["get"])
    def count(self, request, pk: str) -> Response:
        segment = self.get_object()
        counted_at = timezone.now()
        return Response({"count": _count(segment), "counted_at": counted_at})

    @extend_schema(methods=["GET"], responses={200: MemberSerializer(many=True)},
                   parameters=[OpenApiParameter("page_size", int)],
                   description="Members now, newest first, by cursor.")
    @extend_schema(methods=["POST"], request=MembersChangeSerializer,
                   responses={200: MembersChangeResultSerializer},
                   description="Add profiles to a static list (400 on a dynamic segment).")
    @extend_schema(methods=["DELETE"], request=MembersChangeSerializer,
                   responses={200: MembersChangeResultSerializer},
                   description="Remove profiles from a static list.")
    @action(detail=True, methods=["get", "post", "delete"],
            required_scopes={"GET": READ, "POST": WRITE, "DELETE": WRITE})
    def members(self, request, pk: str) -> Response:
        segment = self.get_object()
        if request.method == "GET":
            return self._members_page(segment)
        payload = MembersChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        refs = references(**payload.validated_data)
        change_list = static_list_add if request.method == "POST" else static_list_remove
        try:
            change = change_list(segment=segment, refs=refs)
        except ListError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        unknown = {f"{kind}s": change.unknown_values(kind) for kind in ("id", "external_id",
                                                                        "email")}
        return Response({"changed": change.changed, "unchanged": change.unchanged,
                         "unknown": {k: v for k, v in unknown.items() if v}})

    def _members_page(self, segment: Segment) -> Response:
        try:
            members = segment_members(segment=segment).only("id", "external_id")
        except RuleError as exc:
            raise Conflict(f"This segment's rules no longer validate: {exc}") from None
        page = self.paginate_queryset(members)
        return self.get_paginated_response(MemberSerializer(page, many=True).data)


def _count(segment: Segment) -> int:
    try:
        return segment_count(segment=segment)
    except RuleError as exc:
        raise Conflict(f"This segment's rules no longer validate: {exc}") from None


def _referring_segments(segment: Segment) -> list[str]:
    from profiles.rules.schema import referenced_segments

    return sorted(
        name for pk, name, rules in Segment.objects.exclude(pk=segment.pk).filter(
            kind=Segment.Kind.DYNAMIC).values_list("pk", "name", "rules")
        if segment.pk in referenced_segments(rules)
    )


class MembershipSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="segment_id")
    name = serializers.CharField()
    kind = serializers.CharField()


class ProfileSegmentsSerializer(serializers.Serializer):
    profile = MemberSerializer()
    segments = MembershipSerializer(many=True)
    evaluated_at = serializers.DateTimeField()


@extend_schema(tags=["segments"], parameters=[PROFILE_PATH, PROFILE_REF],
               responses={200: ProfileSegmentsSerializer},
               description="The segments the profile is in now: every dynamic segment's rules "
               "matched for this one profile, and the static lists it is on.")
class ProfileSegmentsView(APIView):
    required_scopes = {"GET": READ}

    def get(self, request, ref: str) -> Response:
        try:
            profile = profile_by_reference(reference=ref, by=request.query_params.get("by", ""))
        except Profile.DoesNotExist:
            raise NotFound("No such profile.") from None
        except AmbiguousReference:
            raise AmbiguousProfile(
                f"{ref} is one profile's id and another's external_id: add ?by=id or "
                "?by=external_id.") from None
        now = timezone.now()
        memberships = profile_segments(profile=profile, now=now)
        return Response(ProfileSegmentsSerializer(
            {"profile": profile, "segments": memberships, "evaluated_at": now}).data)


router = SimpleRouter()
router.trailing_slash = "/?"  # /api/v1/segments and /api/v1/segments/ alike
router.register("segments", SegmentViewSet, basename="api-segment")

urlpatterns = [
    re_path(r"^profiles/(?P<ref>[^/]+)/segments/?$", ProfileSegmentsView.as_view(),
            name="api-profile-segments"),
    *router.urls,
]
