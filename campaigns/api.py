"""Integrator API for campaigns: read-only, with each campaign's delivery counts."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.response import Response

from campaigns.models import Campaign
from campaigns.selectors import campaign_delivery_counts, campaign_list, campaigns_delivery_counts
from channels.models import DeliveryStatus
from profiles.api.profiles import IdCursorPagination

DELIVERY_COUNTS_SCHEMA = {
    "type": "object",
    "properties": {key: {"type": "integer"} for key in [*DeliveryStatus.values, "total"]},
}


class CampaignSegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CampaignEmailSerializer(serializers.Serializer):
    subject = serializers.CharField()


class CampaignSerializer(serializers.ModelSerializer):
    """Needs `delivery_counts` in its context: campaign id → counts by status."""

    segment = CampaignSegmentSerializer(allow_null=True)
    email = serializers.SerializerMethodField()
    delivery_counts = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "description", "status", "segment", "email", "scheduled_at",
            "launched_at", "completed_at", "created_at", "updated_at", "delivery_counts",
        ]
        read_only_fields = fields

    @extend_schema_field(CampaignEmailSerializer(allow_null=True))
    def get_email(self, campaign: Campaign) -> dict[str, str] | None:
        step = next(iter(campaign.email_steps), None)
        return {"subject": step.subject} if step else None

    @extend_schema_field(DELIVERY_COUNTS_SCHEMA)
    def get_delivery_counts(self, campaign: Campaign) -> dict[str, int]:
        return self.context["delivery_counts"][campaign.pk]


@extend_schema(tags=["campaigns"])
class CampaignViewSet(viewsets.ReadOnlyModelViewSet):
    required_scopes = {"GET": "campaigns:read"}
    queryset = campaign_list()
    serializer_class = CampaignSerializer
    pagination_class = IdCursorPagination

    def list(self, request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        counts = campaigns_delivery_counts(campaign_ids=[c.pk for c in page])
        serializer = self.get_serializer(page, many=True, context={"delivery_counts": counts})
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request, pk: str) -> Response:
        campaign = self.get_object()
        counts = {campaign.pk: campaign_delivery_counts(campaign=campaign)}
        return Response(self.get_serializer(campaign, context={"delivery_counts": counts}).data)
