"""Integrator API of CSV imports, and its routes (included by config/api.py).

    POST  /api/v1/imports                 multipart: file [, delimiter, upsert_key, mapping, start]
    GET   /api/v1/imports                 recent imports
    GET   /api/v1/imports/{id}            status, counts, progress
    PATCH /api/v1/imports/{id}            {mapping, upsert_key, delimiter} before it starts
    POST  /api/v1/imports/{id}/start      queue the RQ job
    POST  /api/v1/imports/{id}/cancel     stop at the next chunk (committed chunks stay)
    GET   /api/v1/imports/{id}/errors     the error CSV (line, column, reason, raw)
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import re_path, reverse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from profiles.api.profiles import IdCursorPagination
from profiles.imports import (
    DELIMITERS,
    ImportFileError,
    ImportStateError,
    MappingError,
    import_cancel,
    import_configure,
    import_headers,
    import_progress,
    import_start,
    import_upload,
)
from profiles.models import ProfileImport

DELIMITER_NAMES = {name: char for char, name in DELIMITERS.items()}
READ, WRITE = "profiles:read", "profiles:write"


class DelimiterField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data) if data != "\t" else data
        value = DELIMITER_NAMES.get(value, value)
        if value not in DELIMITERS:
            raise serializers.ValidationError("Use comma, semicolon, tab or pipe.")
        return value


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"},
                      "example": {"Email": "email", "Plan": "attributes.plan"}})
class MappingField(serializers.Field):
    """An object {column header: target}; in multipart it arrives as a JSON string."""

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                raise serializers.ValidationError("Not valid JSON.") from None
        if not isinstance(data, dict):
            raise serializers.ValidationError("An object: column header → target.")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField()
    delimiter = DelimiterField(required=False, trim_whitespace=False,
                               help_text="comma, semicolon, tab or pipe; sniffed if omitted.")
    upsert_key = serializers.ChoiceField(choices=ProfileImport.UpsertKey.choices, required=False)
    mapping = MappingField(required=False, help_text="JSON object: column header → target.")
    start = serializers.BooleanField(
        required=False, allow_null=True, default=None,
        help_text="Queue the import now (default: yes when a mapping is given).",
    )


class ImportChangeSerializer(serializers.Serializer):
    delimiter = DelimiterField(required=False, trim_whitespace=False)
    upsert_key = serializers.ChoiceField(choices=ProfileImport.UpsertKey.choices, required=False)
    mapping = MappingField(required=False)


class ImportSerializer(serializers.ModelSerializer):
    headers = serializers.SerializerMethodField()
    percent = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()
    delimiter = serializers.SerializerMethodField()

    class Meta:
        model = ProfileImport
        fields = [
            "id", "status", "original_name", "delimiter", "upsert_key", "mapping", "headers",
            "total_rows", "processed_rows", "imported_rows", "error_rows", "percent", "message",
            "cancel_requested", "created_at", "started_at", "finished_at", "errors_url",
        ]
        read_only_fields = fields

    def get_headers(self, obj: ProfileImport) -> list[str]:
        return import_headers(profile_import=obj)

    def get_percent(self, obj: ProfileImport) -> float:
        return import_progress(profile_import=obj)["percent"]

    def get_delimiter(self, obj: ProfileImport) -> str:
        return DELIMITERS.get(obj.delimiter, obj.delimiter)

    def get_errors_url(self, obj: ProfileImport) -> str | None:
        if not import_progress(profile_import=obj)["has_error_file"]:
            return None
        return reverse("api-import-errors", args=[obj.pk])


def _mapping_errors(exc: MappingError) -> dict[str, Any]:
    columns = {k: [v] for k, v in exc.errors.items() if k not in ("upsert_key", "mapping")}
    body: dict[str, Any] = {k: [v] for k, v in exc.errors.items() if k in ("upsert_key",)}
    if "mapping" in exc.errors:
        body["mapping"] = [exc.errors["mapping"]]
    elif columns:
        body["mapping"] = columns
    return body


def _conflict(exc: ImportStateError) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


@extend_schema(tags=["imports"])
class ImportListView(generics.ListAPIView):
    required_scopes = {"GET": READ, "POST": WRITE}
    parser_classes = [MultiPartParser]
    serializer_class = ImportSerializer
    pagination_class = IdCursorPagination
    queryset = ProfileImport.objects.all()

    @extend_schema(request={"multipart/form-data": ImportCreateSerializer},
                   responses={201: ImportSerializer})
    def post(self, request) -> Response:
        payload = ImportCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            with transaction.atomic():  # a refused mapping keeps nothing
                profile_import = import_upload(
                    file=data["file"], original_name=data["file"].name,
                    delimiter=data.get("delimiter"),
                )
                if "mapping" in data or "upsert_key" in data:
                    import_configure(profile_import=profile_import,
                                     mapping=data.get("mapping"),
                                     upsert_key=data.get("upsert_key"))
                start = data["start"] if data["start"] is not None else "mapping" in data
                if start:
                    import_start(profile_import=profile_import, token=request.auth)
        except ImportFileError as exc:
            return Response({"file": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except MappingError as exc:
            profile_import.file.delete(save=False)
            return Response(_mapping_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        return Response(ImportSerializer(profile_import).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["imports"])
class ImportDetailView(APIView):
    required_scopes = {"GET": READ, "PATCH": WRITE}
    parser_classes = [JSONParser]

    @extend_schema(responses=ImportSerializer)
    def get(self, request, pk: int) -> Response:
        return Response(ImportSerializer(get_object_or_404(ProfileImport, pk=pk)).data)

    @extend_schema(request=ImportChangeSerializer, responses=ImportSerializer)
    def patch(self, request, pk: int) -> Response:
        profile_import = get_object_or_404(ProfileImport, pk=pk)
        payload = ImportChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            import_configure(profile_import=profile_import, **payload.validated_data)
        except ImportStateError as exc:
            return _conflict(exc)
        except ImportFileError as exc:
            return Response({"delimiter": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except MappingError as exc:
            return Response(_mapping_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        return Response(ImportSerializer(profile_import).data)


@extend_schema(tags=["imports"], request=None, responses={202: ImportSerializer})
class ImportStartView(APIView):
    required_scopes = {"POST": WRITE}

    def post(self, request, pk: int) -> Response:
        profile_import = get_object_or_404(ProfileImport, pk=pk)
        try:
            import_start(profile_import=profile_import, token=request.auth)
        except ImportStateError as exc:
            return _conflict(exc)
        except MappingError as exc:
            return Response(_mapping_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        return Response(ImportSerializer(profile_import).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["imports"], request=None, responses={202: ImportSerializer})
class ImportCancelView(APIView):
    required_scopes = {"POST": WRITE}

    def post(self, request, pk: int) -> Response:
        profile_import = get_object_or_404(ProfileImport, pk=pk)
        try:
            import_cancel(profile_import=profile_import)
        except ImportStateError as exc:
            return _conflict(exc)
        return Response(ImportSerializer(profile_import).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["imports"], responses={(200, "text/csv"): bytes})
class ImportErrorsView(APIView):
    """The error file: line (in the uploaded file), column, reason, raw row."""

    required_scopes = {"GET": READ}

    def get(self, request, pk: int):
        profile_import = get_object_or_404(ProfileImport, pk=pk)
        error_file = profile_import.error_file
        if not error_file or not error_file.storage.exists(error_file.name):
            raise Http404("This import has no error file yet.")
        return FileResponse(error_file.open("rb"), as_attachment=True,
                            filename=f"import-{pk}-errors.csv", content_type="text/csv")


urlpatterns = [
    re_path(r"^imports/?$", ImportListView.as_view(), name="api-imports"),
    re_path(r"^imports/(?P<pk>\d+)/?$", ImportDetailView.as_view(), name="api-import"),
    re_path(r"^imports/(?P<pk>\d+)/start/?$", ImportStartView.as_view(),
            name="api-import-start"),
    re_path(r"^imports/(?P<pk>\d+)/cancel/?$", ImportCancelView.as_view(),
            name="api-import-cancel"),
    re_path(r"^imports/(?P<pk>\d+)/errors/?$", ImportErrorsView.as_view(),
            name="api-import-errors"),
]
