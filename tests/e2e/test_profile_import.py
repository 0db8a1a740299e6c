"""A CSV import, end to end: uploaded through the API, run by a real RQ worker process on
the "imports" queue, its progress endpoint polled until it completes."""

import csv
import io
import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from profiles.models import ConsentChange, Profile
from profiles.services import api_token_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROWS = 3_000


def given_csv(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["id", "email", "plan", "newsletter_ok"])
    for n in range(rows):
        email = "broken" if n % 100 == 0 else f"p{n}@example.com"
        writer.writerow([f"c{n:05d}", email, "pro" if n % 2 else "free", "yes"])
    return out.getvalue().encode()


def test_a_worker_runs_the_import_while_the_progress_endpoint_is_polled(
    start_rq_worker, settings, tmp_path
):
    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    worker = start_rq_worker(email_url="smtp://127.0.0.1:9", extra_env={"MEDIA_ROOT": str(media)})
    _, secret = api_token_create(name="crm", scopes=["profiles:read", "profiles:write"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    # when a CSV is uploaded, mapped and started in one call
    created = api.post("/api/v1/imports", {
        "file": SimpleUploadedFile("crm.csv", given_csv(ROWS), content_type="text/csv"),
        "mapping": json.dumps({"id": "external_id", "email": "email", "plan": "attributes.plan",
                               "newsletter_ok": "consent.email"}),
    })
    assert created.status_code == 201, created.content
    url = f"/api/v1/imports/{created.json()['id']}"

    # then polling the import shows it queued/running, then completed
    seen, deadline = [], time.monotonic() + 90
    while time.monotonic() < deadline:
        worker.assert_alive()
        status = api.get(url).json()
        seen.append(status["status"])
        if status["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert status["status"] == "completed", (status, worker.output())
    assert seen[0] in ("queued", "running")
    assert (status["processed_rows"], status["imported_rows"], status["error_rows"]) == (
        ROWS, ROWS - 30, 30)
    assert status["percent"] == 100.0
    assert Profile.objects.count() == ROWS - 30
    assert Profile.objects.get(external_id="c00001").attributes == {"plan": "pro"}
    assert ConsentChange.objects.filter(state="opted_in").count() == ROWS - 30
    errors = api.get(status["errors_url"])
    assert len(b"".join(errors.streaming_content).decode().splitlines()) == 31
