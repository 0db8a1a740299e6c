"""Ingestion API: identify, one event, a batch of events, and a profile's events."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from profiles.identity import IdentifyError, profile_identify
from profiles.ingestion import ItemError, batch_ingest, event_track, parse_identify, profile_events
from profiles.models import Event, Profile
from profiles.selectors import AmbiguousReference, profile_by_reference


class AmbiguousProfile(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "ambiguous_profile"


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


def field_errors(errors: dict[str, Any]) -> dict[str, Any]:
    """DRF's shape ({"field": ["message"]}), as serializers answer everywhere else."""
    return {key: [value] if isinstance(value, str) else value for key, value in errors.items()}


class IngestionView(APIView):
    """Refuses bodies over INGEST_MAX_BODY_BYTES: first by Content-Length, before anything is
    read or parsed, then by the bytes actually read (whatever the server passed on)."""

    parser_classes = [JSONParser]

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        limit = settings.INGEST_MAX_BODY_BYTES
        message = f"The request body is limited to {limit:,} bytes."
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise PayloadTooLarge(message)
        try:
            received = len(request.body)
        except RequestDataTooBig as exc:  # over DATA_UPLOAD_MAX_MEMORY_SIZE
            raise PayloadTooLarge(message) from exc
        if received > limit:
            raise PayloadTooLarge(message)

    def source(self, request) -> str:
        return request.auth.name[:100]


class ProfileOutSerializer(serializers.ModelSerializer):
    anonymous_ids = serializers.SerializerMethodField()

    class Meta:
        model = Profile
        fields = [
            "id", "external_id", "email", "phone", "first_name", "last_name", "timezone",
            "locale", "attributes", "anonymous_ids", "created_at", "updated_at", "last_seen_at",
        ]
        read_only_fields = fields

    def get_anonymous_ids(self, profile: Profile) -> list[str]:
        return sorted(profile.aliases.values_list("value", flat=True))


@extend_schema(
    tags=["ingestion"], request=dict, responses={200: ProfileOutSerializer,
                                                 201: ProfileOutSerializer},
    description=(
        "Create or update a profile by external_id, anonymous_id and/or email, with fields, "
        "attributes, consent changes ([{channel, topic?, state}]) and a push subscription "
        '({"subscription": {endpoint, keys: {p256dh, auth}}} or {"kind": "fcm", "token": …}). '
        "Linking an anonymous_id to another profile's external_id/email merges the anonymous "
        "profile into it. 201 when a profile was created, else 200."
    ),
)
class IdentifyView(IngestionView):
    required_scopes = {"POST": "profiles:write"}

    def post(self, request) -> Response:
        try:
            arguments = parse_identify(request.data, default_source=self.source(request))
            outcome = profile_identify(**arguments, actor_token=request.auth)
        except (ItemError, IdentifyError) as exc:
            raise ValidationError(field_errors(exc.errors)) from None
        body = ProfileOutSerializer(outcome.profile).data
        body["merged_profile_id"] = outcome.merge.merged_profile_id if outcome.merge else None
        return Response(body, status=201 if outcome.created else 200)


@extend_schema(
    tags=["ingestion"], request=dict, responses={200: dict, 201: dict},
    description=(
        "One event: {name, properties, occurred_at (ISO 8601 with offset; default now), "
        "message_id, source, and external_id | anonymous_id | email}. Unknown profiles are "
        "created. A resent (source, message_id) answers 200 with the first event's id."
    ),
)
class EventView(IngestionView):
    required_scopes = {"POST": "events:write"}

    def post(self, request) -> Response:
        try:
            result = event_track(raw=request.data, default_source=self.source(request))
        except ItemError as exc:
            raise ValidationError(field_errors(exc.errors)) from None
        created = result.status == "created"
        return Response({"id": result.id, "status": result.status}, status=201 if created else 200)


@extend_schema(
    tags=["ingestion"], request=dict, responses={200: dict, 207: dict},
    description=(
        'Up to INGEST_BATCH_MAX_ITEMS items: {"batch": [{"type": "track"|"identify", …}], '
        '"source"?}. Each item is accepted or refused on its own; the answer lists '
        "{index, status: created|duplicate|updated|error, id?, errors?} per item, with 200 when "
        "every item was accepted and 207 otherwise."
    ),
)
class EventBatchView(IngestionView):
    required_scopes = {"POST": "events:write"}

    def post(self, request) -> Response:
        items, source = self._items(request.data)
        results = batch_ingest(items=items, default_source=source or self.source(request),
                               actor_token=request.auth)
        counts = {"created": 0, "duplicate": 0, "updated": 0, "error": 0}
        for result in results:
            counts[result.status] += 1
        body = {**counts, "results": [r.as_dict() for r in results]}
        return Response(body, status=207 if counts["error"] else 200)

    def _items(self, data: Any) -> tuple[list, str]:
        source = ""
        if isinstance(data, dict):
            source = data.get("source") if isinstance(data.get("source"), str) else ""
            data = data.get("batch")
        if not isinstance(data, list):
            raise ValidationError({"batch": ['Send {"batch": [items…]}.']})
        limit = settings.INGEST_BATCH_MAX_ITEMS
        if len(data) > limit:
            raise ValidationError({"batch": [f"A batch holds at most {limit:,} items; this one "
                                             f"has {len(data):,}. Split it."]})
        if not data:
            raise ValidationError({"batch": ["The batch is empty."]})
        return data, source[:100]


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "name", "properties", "occurred_at", "received_at", "source",
                  "message_id"]
        read_only_fields = fields


class NewestFirst(CursorPagination):
    ordering = ("-occurred_at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


@extend_schema(
    tags=["profiles"],
    parameters=[
        OpenApiParameter("ref", str, OpenApiParameter.PATH,
                         description="The profile's id or its external_id."),
        OpenApiParameter("by", str, enum=["id", "external_id"],
                         description="Read the path as an id or an external_id (see the "
                                     "profile endpoints)."),
        OpenApiParameter("name", str, description="Only events of this name."),
        OpenApiParameter("since", str, description="ISO 8601: events at or after."),
        OpenApiParameter("until", str, description="ISO 8601: events before."),
    ],
)
class ProfileEventsView(ListAPIView):
    """A profile's events, newest first (cursor pagination)."""

    required_scopes = {"GET": "profiles:read"}
    serializer_class = EventSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        params, reference = self.request.query_params, self.kwargs["ref"]
        try:
            profile = profile_by_reference(reference=reference, by=params.get("by", ""))
        except Profile.DoesNotExist:
            raise NotFound("No such profile.") from None
        except AmbiguousReference:
            raise AmbiguousProfile(f"{reference} is one profile's id and another's external_id: "
                                   "add ?by=id or ?by=external_id.") from None
        try:
            return profile_events(profile=profile, name=params.get("name", ""),
                                  since=params.get("since", ""), until=params.get("until", ""))
        except ItemError as exc:
            raise ValidationError(field_errors(exc.errors)) from None
