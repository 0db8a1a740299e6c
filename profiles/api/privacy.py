"""GDPR through the API: export a profile (GET …/export/) and erase it (DELETE).

Export needs the `profiles:export` scope, distinct from `profiles:read`: an integration that
reads profiles to personalize pages should not be able to pull whole histories. Erasure needs
`profiles:write`. Both are audited with the token as the actor (profiles.privacy).
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from profiles.privacy import export_json, profile_erase, profile_export

ErasureSerializer = inline_serializer(
    "Erasure",
    {
        "erased": serializers.BooleanField(),
        "id": serializers.IntegerField(help_text="The erased profile's id."),
        "removed": serializers.DictField(
            child=serializers.IntegerField(), help_text="Rows deleted, by kind."
        ),
        "handlers": serializers.DictField(
            child=serializers.IntegerField(),
            help_text="Rows other apps anonymized (deliveries keep their status, not the address).",
        ),
    },
)


class ProfilePrivacyMixin:
    """Adds export and erasure to the profiles viewset (which provides get_object)."""

    @extend_schema(
        tags=["profiles"],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description=(
            "Everything held about the profile (fields, attributes, anonymous ids, push "
            "subscriptions, consent and its history, events, merges, messages), streamed as "
            "a JSON download."
        ))},
    )
    @action(detail=True, methods=["get"], url_path="export",
            required_scopes={"GET": "profiles:export"})
    def export(self, request, **kwargs) -> StreamingHttpResponse:
        profile = self.get_object()
        export = profile_export(profile=profile, actor=request.auth)
        response = StreamingHttpResponse(export_json(export), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="profile-{profile.pk}.json"'
        return response

    @extend_schema(
        tags=["profiles"], responses={200: ErasureSerializer},
        description=(
            "Erase the profile (GDPR): the profile, its events, anonymous ids, push "
            "subscriptions, consent and merge records are deleted; messages sent to it stay, "
            "anonymous, for campaign counts. Irreversible; recorded in the audit log."
        ),
    )
    def destroy(self, request, **kwargs) -> Response:
        profile = self.get_object()
        profile_id = profile.pk
        detail = profile_erase(profile=profile, actor=request.auth)
        return Response({"erased": True, "id": profile_id, **detail})
