"""The imports API: upload (+ mapping + start in one call), PATCH, start, status, cancel, errors."""

import json

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from profiles.imports import import_run
from profiles.models import AuditLog, Profile, ProfileImport

pytestmark = pytest.mark.django_db

CONTENT = b"id,email,plan\nc1,ann@example.com,pro\nc2,nope,free\n"
MAPPING = {"id": "external_id", "email": "email", "plan": "attributes.plan"}


def csv_file(content: bytes = CONTENT) -> SimpleUploadedFile:
    return SimpleUploadedFile("people.csv", content, content_type="text/csv")


@pytest.fixture
def writer(api_client):
    return api_client("profiles:write", "profiles:read")


def test_one_call_uploads_maps_and_queues(writer, redis_conn, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = writer.post("/api/v1/imports", {
            "file": csv_file(), "mapping": json.dumps(MAPPING), "upsert_key": "external_id",
        })

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["headers"], body["delimiter"]) == (
        "queued", ["id", "email", "plan"], "comma")
    [job] = django_rq.get_queue("imports").jobs
    assert job.args == (body["id"],)
    start = AuditLog.objects.get(action="profile_import.start")
    assert start.actor_token is not None and start.actor.startswith("token:tests")


def test_a_bad_mapping_is_a_400_with_field_errors_and_keeps_nothing(writer, media_root):
    response = writer.post("/api/v1/imports", {
        "file": csv_file(), "mapping": json.dumps({"email": "email", "plan": "colour"}),
    })

    assert response.status_code == 400
    assert response.json() == {
        "upsert_key": ["No column is mapped to external_id, the upsert key: map the column "
                       "that holds it."],
        "mapping": {"plan": ["Unknown target “colour”."]},
    }
    assert not ProfileImport.objects.exists()
    assert not [p for p in media_root.rglob("*") if p.is_file()]


def test_a_refused_file_is_a_400_on_the_file(writer):
    response = writer.post("/api/v1/imports", {"file": csv_file(b"id,id\n1,2\n")})

    assert response.status_code == 400
    assert response.json() == {"file": ["The header names the column “id” twice."]}


def test_upload_then_patch_then_start(writer, redis_conn, django_capture_on_commit_callbacks):
    created = writer.post("/api/v1/imports/", {"file": csv_file(b"id;email\nc1;a@example.com\n")})
    assert created.status_code == 201
    body = created.json()
    assert (body["status"], body["delimiter"], body["mapping"]) == (
        "uploaded", "semicolon", {"id": "external_id", "email": "email"})

    patched = writer.patch(f"/api/v1/imports/{body['id']}", {"mapping": {"id": "external_id"}},
                           format="json")
    assert patched.json()["mapping"] == {"id": "external_id"}

    with django_capture_on_commit_callbacks(execute=True):
        started = writer.post(f"/api/v1/imports/{body['id']}/start")

    assert started.status_code == 202
    assert started.json()["status"] == "queued"
    assert len(django_rq.get_queue("imports").jobs) == 1


def test_patch_with_a_bad_mapping_is_a_400(writer):
    created = writer.post("/api/v1/imports", {"file": csv_file()}).json()

    response = writer.patch(f"/api/v1/imports/{created['id']}",
                            {"mapping": {"id": "external_id", "plan": "topic.unknown"}},
                            format="json")

    assert response.status_code == 400
    assert response.json() == {"mapping": {"plan": ["Unknown topic “unknown”."]}}


def test_status_counts_progress_and_the_error_file(writer):
    created = writer.post("/api/v1/imports", {
        "file": csv_file(), "mapping": json.dumps(MAPPING), "upsert_key": "external_id",
    }).json()
    import_run(import_id=created["id"])

    status = writer.get(f"/api/v1/imports/{created['id']}").json()
    errors = writer.get(status["errors_url"])

    assert (status["status"], status["processed_rows"], status["imported_rows"],
            status["error_rows"], status["percent"]) == ("completed", 2, 1, 1, 100.0)
    assert Profile.objects.get(external_id="c1").attributes == {"plan": "pro"}
    lines = b"".join(errors.streaming_content).decode().splitlines()
    assert lines[1].startswith("3,email,'nope' is not a valid email address.")


def test_cancel_through_the_api(writer):
    created = writer.post("/api/v1/imports", {
        "file": csv_file(), "mapping": json.dumps(MAPPING), "start": "true",
    }).json()

    response = writer.post(f"/api/v1/imports/{created['id']}/cancel")

    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    again = writer.post(f"/api/v1/imports/{created['id']}/cancel")
    assert again.status_code == 409


def test_starting_twice_is_a_conflict(writer):
    created = writer.post("/api/v1/imports", {
        "file": csv_file(), "mapping": json.dumps(MAPPING),
    }).json()

    response = writer.post(f"/api/v1/imports/{created['id']}/start")

    assert response.status_code == 409


def test_reading_needs_profiles_read_and_writing_profiles_write(api_client):
    reader = api_client("profiles:read")

    assert reader.get("/api/v1/imports").status_code == 200
    assert reader.post("/api/v1/imports", {"file": csv_file()}).status_code == 403
