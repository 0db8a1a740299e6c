"""A marketer imports a small CSV through the pages: upload, map, preview, start, completed.

The job runs in a real RQ worker process; the page follows it with its progress polling."""

import pytest

from profiles.models import Profile
from tests.browser.conftest import ARTIFACTS
from tests.e2e.conftest import start_rq_worker  # noqa: F401 (a fixture)
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
CSV = (
    "Customer ID;E-mail;Plan;Time zone\n"
    "c1;Ann@Example.COM;pro;Europe/Paris\n"
    "c2;bob@example.com;free;America/New_York\n"
    "c3;not-an-email;pro;Europe/Paris\n"
    "c4;dee@example.com;team;Mars/Base\n"
    "c5;eve@example.com;pro;Asia/Tokyo\n"
)


def test_marketer_uploads_maps_previews_and_imports(
    page, live_server, marketers_group, start_rq_worker, settings, tmp_path, screenshot  # noqa: F811
):
    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    start_rq_worker(email_url="smtp://127.0.0.1:9", extra_env={"MEDIA_ROOT": str(media)})
    UserFactory(username="maria").groups.add(marketers_group)
    source = tmp_path / "customers.csv"
    source.write_text(CSV)

    page.goto(f"{live_server.url}/profiles/")
    page.fill("#id_username", "maria")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.click("#imports-link")
    page.click("text=New import")

    # Upload: the delimiter is detected, the columns are suggested.
    page.set_input_files("#id_file", str(source))
    page.click("text=Upload and map columns")
    assert "semicolon" in page.inner_text("main")
    assert page.input_value("#id_col_0") == "external_id"
    assert page.input_value("#id_col_1") == "email"

    # Map "Plan" to a new attribute and preview: normalized values and per-cell errors.
    page.select_option("#id_col_2", "attributes.plan")
    page.click("button[value=preview]")
    preview = page.inner_text("#import-preview")
    assert "Ann@example.com" in preview
    assert "'not-an-email' is not a valid email address." in preview
    assert "Unknown time zone 'Mars/Base'" in preview
    assert Profile.objects.count() == 0  # nothing written by a preview
    screenshot("import-preview")

    # Start: the progress page follows the worker until the import completes.
    page.click("#start-import")
    page.wait_for_selector("#import-status .badge-completed", timeout=60_000)
    assert page.inner_text('[data-count="imported_rows"]') == "3"
    assert page.inner_text('[data-count="error_rows"]') == "2"
    assert page.is_visible("#error-file")
    screenshot("import-completed")

    assert set(Profile.objects.values_list("external_id", flat=True)) == {"c1", "c2", "c5"}
    assert Profile.objects.get(external_id="c2").attributes == {"plan": "free"}
    assert ARTIFACTS.exists()
