"""The marketer's import pages: upload, mapping with preview, start, progress, error file."""

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from profiles.imports import import_configure, import_run, import_start
from profiles.models import AttributeDefinition, AttributeType, Profile, ProfileImport
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CONTENT = "Customer ID;E-mail;Phone;Plan\nc1;Ann@Example.COM;+33 6 12 34 56 78;pro\n" \
          "c2;not-an-email;;free\n"


def post_file(client, content: str, **extra):
    upload = SimpleUploadedFile("people.csv", content.encode(), content_type="text/csv")
    return client.post(reverse("import_new"), {"file": upload, **extra})


def mapping_form(profile_import: ProfileImport, *targets: str, key: str = "external_id",
                 action: str = "preview") -> dict[str, str]:
    data = {f"col_{n}": target for n, target in enumerate(targets)}
    return {**data, "upsert_key": key, "action": action}


def test_the_profile_list_links_to_imports(marketer_client):
    page = marketer_client.get(reverse("profile_list"))

    assert reverse("import_list") in page.content.decode()


def test_uploading_leads_to_the_mapping_page_with_suggestions(marketer_client):
    response = post_file(marketer_client, CONTENT)

    profile_import = ProfileImport.objects.get()
    assert response.url == reverse("import_detail", args=[profile_import.pk])
    page = marketer_client.get(response.url).content.decode()
    assert "Map the columns of" in page
    assert "semicolon" in page
    assert '<option value="external_id" selected>' in page  # "Customer ID" suggested
    assert '<option value="attributes.plan" selected>' not in page  # undeclared: skipped


def test_a_refused_upload_says_why_and_keeps_nothing(marketer_client):
    response = post_file(marketer_client, "\ncustomer_id,email\nc1,ann@example.com\n")

    assert response.status_code == 200
    assert "The first line is empty: the file must start with a header" in (
        response.content.decode())
    assert not ProfileImport.objects.exists()


def test_preview_shows_normalized_values_and_cell_errors_without_writing(
    marketer_client, upload
):
    AttributeDefinition.objects.create(key="plan", label="Plan", type=AttributeType.STRING,
                                       allowed_values=["pro", "team"])
    profile_import = upload(CONTENT)

    page = marketer_client.post(
        reverse("import_detail", args=[profile_import.pk]),
        mapping_form(profile_import, "external_id", "email", "phone", "attributes.plan"),
    ).content.decode()

    assert "Ann@example.com" in page and "+33612345678" in page  # normalized
    assert "&#x27;not-an-email&#x27; is not a valid email address." in page
    assert "&#x27;free&#x27; is not one of the allowed values" in page
    assert page.count('class="badge badge-completed">create') == 1
    assert not Profile.objects.exists()
    profile_import.refresh_from_db()
    assert profile_import.mapping["Plan"] == "attributes.plan"  # the mapping is kept


def test_an_unmapped_key_is_shown_next_to_the_key_choice(marketer_client, upload):
    profile_import = upload(CONTENT)

    page = marketer_client.post(
        reverse("import_detail", args=[profile_import.pk]),
        mapping_form(profile_import, "skip", "email", "skip", "skip", action="start"),
    ).content.decode()

    assert "No column is mapped to external_id, the upsert key" in page
    profile_import.refresh_from_db()
    assert profile_import.status == ProfileImport.Status.UPLOADED


def test_start_queues_the_job_on_the_imports_queue(marketer_client, upload, redis_conn,
                                                   django_capture_on_commit_callbacks):
    profile_import = upload(CONTENT)

    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_client.post(
            reverse("import_detail", args=[profile_import.pk]),
            mapping_form(profile_import, "external_id", "email", "phone", "skip",
                         action="start"),
        )

    assert response.url == reverse("import_detail", args=[profile_import.pk])
    profile_import.refresh_from_db()
    assert profile_import.status == ProfileImport.Status.QUEUED
    [job] = django_rq.get_queue("imports").jobs
    assert job.args == (profile_import.pk,)


def test_the_delimiter_can_be_overridden_on_the_mapping_page(marketer_client, upload):
    profile_import = upload(CONTENT, delimiter=",")

    marketer_client.post(reverse("import_detail", args=[profile_import.pk]),
                         {"action": "delimiter", "delimiter": ";"})

    profile_import.refresh_from_db()
    assert profile_import.delimiter == ";"
    assert profile_import.mapping["Customer ID"] == "external_id"


def _finished_import(upload) -> ProfileImport:
    profile_import = upload(CONTENT)
    import_configure(profile_import=profile_import, upsert_key="external_id",
                     mapping={"Customer ID": "external_id", "E-mail": "email"})
    import_start(profile_import=profile_import, enqueue=False)
    return import_run(import_id=profile_import.pk)


def test_progress_is_json_for_the_bar(marketer_client, upload):
    profile_import = _finished_import(upload)

    data = marketer_client.get(reverse("import_progress", args=[profile_import.pk])).json()

    assert data["status"] == "completed" and data["finished"] is True
    assert (data["processed_rows"], data["imported_rows"], data["error_rows"]) == (2, 1, 1)
    assert data["percent"] == 100.0


def test_the_detail_page_shows_counts_and_the_error_file_link(marketer_client, upload):
    profile_import = _finished_import(upload)

    page = marketer_client.get(reverse("import_detail", args=[profile_import.pk]))

    html = page.content.decode()
    assert 'data-count="imported_rows">1<' in html
    assert reverse("import_errors", args=[profile_import.pk]) in html


def test_the_error_file_downloads_for_a_marketer(marketer_client, upload):
    profile_import = _finished_import(upload)

    response = marketer_client.get(reverse("import_errors", args=[profile_import.pk]))

    body = b"".join(response.streaming_content).decode()
    assert response["Content-Disposition"].startswith("attachment")
    assert body.splitlines()[0] == "line,column,reason,raw"
    assert body.splitlines()[1].startswith("3,E-mail,")


def test_the_error_file_needs_the_permission(client, upload):
    profile_import = _finished_import(upload)
    client.force_login(UserFactory(username="nobody"))

    response = client.get(reverse("import_errors", args=[profile_import.pk]))

    assert response.status_code == 403


def test_media_files_are_not_served(client, upload):
    profile_import = _finished_import(upload)

    response = client.get("/media/" + profile_import.error_file.name)

    assert response.status_code in (302, 404)  # the login page, or nothing at all


def test_cancel_from_the_page(marketer_client, upload):
    profile_import = upload(CONTENT)
    import_configure(profile_import=profile_import, upsert_key="external_id",
                     mapping={"Customer ID": "external_id"})
    import_start(profile_import=profile_import, enqueue=False)

    marketer_client.post(reverse("import_cancel", args=[profile_import.pk]))

    profile_import.refresh_from_db()
    assert profile_import.status == ProfileImport.Status.CANCELLED


def test_the_list_shows_recent_imports_with_who(marketer_client, marketer, upload):
    upload(CONTENT, user=marketer)

    page = marketer_client.get(reverse("import_list")).content.decode()

    assert "people.csv" in page and "marketer" in page and "Uploaded" in page


def test_preview_by_email_says_which_rows_update_a_profile(marketer_client, upload):
    from tests.factories import ProfileFactory

    ProfileFactory(email="Ann@example.com")
    profile_import = upload(CONTENT)

    page = marketer_client.post(
        reverse("import_detail", args=[profile_import.pk]),
        mapping_form(profile_import, "skip", "email", "phone", "skip", key="email"),
    ).content.decode()

    assert page.count('class="badge badge-completed">update') == 1
    assert page.count('class="badge badge-completed">create') == 0
