"""Integrator API for inbound personalization: decisions, and the placements and offers
behind them. Thin views over channels.decisions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from channels.decisions import (
    OfferData,
    OfferError,
    decide,
    offer_delete,
    offer_payload,
    offer_save,
    placement_delete,
    placement_save,
)
from channels.models import Offer, Placement
from profiles.api.profiles import AmbiguousProfile, IdCursorPagination
from profiles.models import Profile, Segment
from profiles.rules import RuleError
from profiles.selectors import AmbiguousReference, profile_by_reference

OFFER_FIELDS = ["name", "content", "html", "rules", "segment", "priority", "starts_at",
                "ends_at", "cap_per_profile", "is_active"]


class OfferSerializer(serializers.ModelSerializer):
    placement = serializers.SlugRelatedField(slug_field="key", queryset=Placement.objects.all(),
                                             help_text="The placement's key.")
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(), allow_null=True, required=False,
        help_text="Only its members are eligible (with the rules, when both are set).",
    )
    content = serializers.JSONField(required=False, help_text="A JSON object, returned as is.")
    rules = serializers.JSONField(
        required=False, help_text="Eligibility as a segment rule tree; {} = everyone.",
    )

    class Meta:
        model = Offer
        fields = ["id", "placement", *OFFER_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class PlacementSerializer(serializers.ModelSerializer):
    fallback = serializers.PrimaryKeyRelatedField(
        queryset=Offer.objects.all(), allow_null=True, required=False,
        help_text="One of the placement's offers, shown when none is eligible.",
    )
    offers = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Placement
        fields = ["key", "name", "description", "fallback", "offers", "created_at",
                  "updated_at"]
        read_only_fields = ["offers", "created_at", "updated_at"]


def _refused(exc: RuleError | OfferError) -> ValidationError:
    if isinstance(exc, RuleError):
        return ValidationError({"rules": exc.errors})
    return ValidationError(exc.errors)


@extend_schema(tags=["decisions"])
class PlacementViewSet(viewsets.ModelViewSet):
    required_scopes = {"GET": "offers:read", "POST": "offers:write", "PUT": "offers:write",
                       "PATCH": "offers:write", "DELETE": "offers:write"}
    parser_classes = [JSONParser]
    queryset = Placement.objects.prefetch_related("offers").order_by("key")
    serializer_class = PlacementSerializer
    pagination_class = IdCursorPagination
    lookup_field = "key"

    def perform_create(self, serializer) -> None:
        serializer.instance = self._save(None, serializer.validated_data)

    def perform_update(self, serializer) -> None:
        serializer.instance = self._save(serializer.instance, serializer.validated_data)

    def _save(self, placement: Placement | None, data: dict[str, Any]) -> Placement:
        current = {"key": placement.key, "name": placement.name,
                   "description": placement.description,
                   "fallback": placement.fallback} if placement else {}
        merged = {**current, **data}
        try:
            return placement_save(
                placement=placement, key=merged["key"], name=merged["name"],
                description=merged.get("description", ""), fallback=merged.get("fallback"),
            )
        except OfferError as exc:
            raise _refused(exc) from None

    def perform_destroy(self, instance: Placement) -> None:
        placement_delete(placement=instance)


@extend_schema(tags=["decisions"])
class OfferViewSet(viewsets.ModelViewSet):
    required_scopes = {"GET": "offers:read", "POST": "offers:write", "PUT": "offers:write",
                       "PATCH": "offers:write", "DELETE": "offers:write"}
    parser_classes = [JSONParser]
    serializer_class = OfferSerializer
    pagination_class = IdCursorPagination

    @extend_schema(parameters=[OpenApiParameter("placement", str,
                                                description="Only this placement's offers.")])
    def list(self, request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        offers = Offer.objects.select_related("placement")
        key = self.request.query_params.get("placement")
        return offers.filter(placement__key=key) if key else offers

    def perform_create(self, serializer) -> None:
        serializer.instance = self._save(None, serializer.validated_data)

    def perform_update(self, serializer) -> None:
        serializer.instance = self._save(serializer.instance, serializer.validated_data)

    def _save(self, offer: Offer | None, data: dict[str, Any]) -> Offer:
        current = {name: getattr(offer, name) for name in OFFER_FIELDS} if offer else {}
        merged = {**current, **data}
        placement = merged.pop("placement", None) or offer.placement
        fields = {name: merged[name] for name in OFFER_FIELDS if name in merged}
        try:
            return offer_save(offer=offer, placement=placement, data=OfferData(**fields))
        except (RuleError, OfferError) as exc:
            raise _refused(exc) from None

    def perform_destroy(self, instance: Offer) -> None:
        offer_delete(offer=instance)


class DecisionOfferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content = serializers.JSONField()
    html = serializers.CharField()


class DecisionSerializer(serializers.Serializer):
    placement = serializers.CharField()
    profile = serializers.IntegerField(allow_null=True, help_text="null: no such profile.")
    fallback = serializers.BooleanField(help_text="The placement's fallback, not a targeted "
                                        "offer (no impression is recorded for it).")
    offer = DecisionOfferSerializer()


@extend_schema(
    tags=["decisions"],
    parameters=[
        OpenApiParameter("profile", str, required=True,
                         description="The profile's id or external_id."),
        OpenApiParameter("by", str, enum=["id", "external_id"],
                         description="Read `profile` as an id or an external_id (see profiles)."),
    ],
    responses={200: DecisionSerializer, 204: OpenApiResponse(description="Nothing to show."),
               404: OpenApiResponse(description="No such placement.")},
    description="The best eligible offer of the placement for the profile, recorded as an "
    "impression: active, inside its dates, under its per-profile cap, eligible by its rules "
    "and segment, highest priority first (then oldest). Otherwise the placement's fallback "
    "(not recorded), also for an unknown profile; 204 when there is none.",
)
class DecisionView(APIView):
    required_scopes = {"GET": "decisions:read"}
    renderer_classes = [JSONRenderer]

    def get(self, request, placement_key: str) -> Response:
        reference = request.query_params.get("profile", "").strip()
        if not reference:
            raise ValidationError({"profile": ["The profile's id or external_id is needed."]})
        try:
            decision = decide(placement_key=placement_key, profile=self._profile(reference))
        except Placement.DoesNotExist:
            raise NotFound("No such placement.") from None
        if decision.offer is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response({"placement": decision.placement.key, "profile": decision.profile_id,
                         "fallback": decision.is_fallback,
                         "offer": offer_payload(decision.offer)})

    def _profile(self, reference: str) -> Profile | None:
        try:
            return profile_by_reference(reference=reference,
                                        by=self.request.query_params.get("by", ""))
        except Profile.DoesNotExist:
            return None
        except AmbiguousReference:
            raise AmbiguousProfile(
                f"{reference} is one profile's id and another's external_id: add ?by=id or "
                "?by=external_id."
            ) from None
