"""Import fixtures: uploads go to a temporary MEDIA_ROOT; `run_import` runs the job in-process."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.base import ContentFile

from profiles.imports import import_configure, import_run, import_start, import_upload
from profiles.models import AttributeDefinition, AttributeType, ProfileImport


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def upload(db):
    """`upload(text_or_bytes, name="people.csv", delimiter=None)` → an uploaded ProfileImport."""

    def make(content: str | bytes, *, name: str = "people.csv", delimiter: str | None = None,
             user=None) -> ProfileImport:
        data = content.encode() if isinstance(content, str) else content
        return import_upload(file=ContentFile(data, name=name), original_name=name,
                             delimiter=delimiter, user=user)

    return make


@pytest.fixture
def run_import(upload):
    """Upload, map, start and run an import to the end in this process."""

    def run(content: str | bytes, mapping: dict[str, str], *, key: str = "external_id",
            delimiter: str | None = None, chunk_size: int = 1000) -> ProfileImport:
        profile_import = upload(content, delimiter=delimiter)
        import_configure(profile_import=profile_import, mapping=mapping, upsert_key=key)
        import_start(profile_import=profile_import, enqueue=False)
        return import_run(import_id=profile_import.pk, chunk_size=chunk_size)

    return run


@pytest.fixture
def declared(db):
    """Declared attributes: score (number), since (date), vip (boolean)."""
    for key, kind in (("score", AttributeType.NUMBER), ("since", AttributeType.DATE),
                      ("vip", AttributeType.BOOLEAN)):
        AttributeDefinition.objects.create(key=key, label=key.title(), type=kind)


def error_rows(profile_import: ProfileImport) -> list[dict[str, str]]:
    with profile_import.error_file.open("r") as stream:
        return list(csv.DictReader(io.StringIO(stream.read())))


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


@pytest.fixture
def api_client(db):
    """`api_client("profiles:read", ...)`: a client holding a fresh token with these scopes."""
    from rest_framework.test import APIClient

    from profiles.services import api_token_create

    def make(*scopes: str) -> APIClient:
        _, secret = api_token_create(name="tests", scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make
