"""Export a campaign as JSON and import it back as a new draft."""

import pytest

from campaigns.models import Campaign
from tests.factories import SegmentFactory
from tests.journeys_api.conftest import CAMPAIGNS, shape


@pytest.mark.django_db
def test_an_export_is_a_json_attachment(reader, create):
    campaign = create()

    response = reader.get(f"{CAMPAIGNS}{campaign['id']}/export/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == (
        f'attachment; filename="campaign-{campaign["id"]}.json"')
    assert response.json()


@pytest.mark.django_db
def test_export_then_import_gives_an_equal_new_draft(writer, running):
    segment = SegmentFactory()
    writer.patch(f"{CAMPAIGNS}{running['id']}/", {"segment": segment.pk, "goal_event": "order",
                                                  "goal_days": 3}, format="json")
    exported = writer.get(f"{CAMPAIGNS}{running['id']}/export/").json()

    response = writer.post(f"{CAMPAIGNS}import/", exported, format="json")

    body = response.json()
    assert response.status_code == 201, body
    assert body["id"] != running["id"] and body["status"] == "draft"
    assert (body["entry_kind"], body["entry_event"], body["segment"]) == (
        "event", "signed_up", segment.pk)
    assert (body["goal_event"], body["goal_days"]) == ("order", 3)
    assert shape(body["graph"]) == shape(running["graph"])
    assert Campaign.objects.count() == 2


@pytest.mark.django_db
def test_importing_something_that_is_not_an_export_is_refused(writer):
    response = writer.post(f"{CAMPAIGNS}import/", ["not", "an", "export"], format="json")

    assert response.status_code == 400
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_an_export_of_another_format_is_a_400_not_a_conflict(writer):
    response = writer.post(f"{CAMPAIGNS}import/", {"format": "mailchimp"}, format="json")

    assert response.status_code == 400
    assert response.json()["non_field_errors"]


@pytest.mark.django_db
def test_an_export_naming_a_segment_that_is_nowhere_is_refused_naming_it(writer, create):
    segment = SegmentFactory(name="Gone soon")
    exported = writer.get(f"{CAMPAIGNS}{create(segment=segment.pk)['id']}/export/").json()
    segment_id = segment.pk
    Campaign.objects.all().delete()
    segment.delete()

    response = writer.post(f"{CAMPAIGNS}import/", exported, format="json")

    assert response.status_code == 400
    assert response.json() == {"segments": [f"Not found here: “Gone soon” (#{segment_id})."]}
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_a_version_can_be_exported_by_number(reader, writer, running):
    writer.patch(f"{CAMPAIGNS}{running['id']}/", {"graph": {"start": "s9", "steps": [
        {"key": "s9", "kind": "exit"}]}}, format="json")
    url = f"{CAMPAIGNS}{running['id']}/export/"

    current = reader.get(url).json()
    draft = reader.get(url, {"version": 2}).json()
    missing = reader.get(url, {"version": 5})

    assert [s["key"] for s in current["graph"]["steps"]] == ["s1", "s2", "s3"]
    assert [s["key"] for s in draft["graph"]["steps"]] == ["s9"]
    assert missing.status_code == 404
