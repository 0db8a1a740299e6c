"""Integrator API for transactional messages and the delivery log: thin views over
channels.messages."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from channels.messages import (
    DeliveryQuery,
    IdempotencyConflict,
    MessageError,
    MessageRequest,
    deliveries_query,
    message_queue,
)
from channels.models import Channel, Delivery
from profiles.api.profiles import IdCursorPagination


class MessageSerializer(serializers.Serializer):
    template = serializers.IntegerField(required=False, allow_null=True,
                                        help_text="A message template's id (its current revision).")
    content = serializers.DictField(required=False, allow_null=True,
                                    help_text="Inline Liquid content: email subject/html/text, "
                                              "sms body, push title/body/url, …")
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    profile = serializers.CharField(required=False, allow_blank=True,
                                    help_text="The profile's id or external_id.")
    address = serializers.CharField(required=False, allow_blank=True, max_length=320)
    data = serializers.DictField(required=False, help_text="Extra Liquid context, as data.*")


class QueuedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class MessageView(APIView):
    required_scopes = {"POST": "messages:write"}
    parser_classes = [JSONParser]

    @extend_schema(
        request=MessageSerializer, responses={201: QueuedSerializer, 200: QueuedSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", location="header", required=True)],
    )
    def post(self, request) -> Response:
        body = MessageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            delivery, created = message_queue(
                request=MessageRequest(**body.validated_data),
                idempotency_key=request.headers.get("Idempotency-Key", ""),
            )
        except MessageError as exc:
            raise ValidationError(exc.errors) from exc
        except IdempotencyConflict:
            return Response({"detail": "This Idempotency-Key was used with another request."},
                            status=status.HTTP_409_CONFLICT)
        return Response({"id": delivery.pk, "status": delivery.status},
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class DeliverySerializer(serializers.ModelSerializer):
    campaign = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = ["id", "channel", "kind", "status", "reason", "address", "profile", "campaign",
                  "campaign_step", "template_revision", "is_proof", "provider_message_id",
                  "error", "attempts", "next_attempt_at", "created_at", "sent_at", "updated_at"]
        read_only_fields = fields

    def get_campaign(self, delivery: Delivery) -> int | None:
        step = delivery.campaign_step
        return step.campaign_id if step else None


class DeliveryFilterSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(required=False)
    channel = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    reason = serializers.CharField(required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    profile = serializers.CharField(required=False, help_text="The profile's id or external_id.")


class DeliveryListView(ListAPIView):
    required_scopes = {"GET": "deliveries:read"}
    serializer_class = DeliverySerializer
    pagination_class = IdCursorPagination

    @extend_schema(parameters=[DeliveryFilterSerializer])
    def get(self, request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = DeliveryFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        try:
            return deliveries_query(query=DeliveryQuery(**filters.validated_data))
        except MessageError as exc:
            raise ValidationError(exc.errors) from exc
