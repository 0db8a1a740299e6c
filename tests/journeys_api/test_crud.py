"""Create, read, change and delete campaigns with their entry settings and graph."""

import pytest

from campaigns.models import Campaign, CampaignStatus, CampaignVersion
from tests.factories import CampaignFactory, SegmentFactory, StepFactory
from tests.journeys_api.conftest import CAMPAIGNS, GRAPH, graph, shape


@pytest.mark.django_db
def test_a_campaign_is_created_as_a_draft_with_its_entry_settings_and_graph(writer, create):
    segment, excluded = SegmentFactory(), SegmentFactory()

    body = create(name="Spring", entry_kind="audience", segment=segment.pk,
                  excluded_segments=[excluded.pk], recurrence="0 9 * * 1", holdout_percent=10,
                  reentry="after", reentry_days=30, send_window_start="09:00",
                  send_window_end="18:00", send_window_days=[1, 2, 3, 4, 5])

    assert body["status"] == "draft"
    assert (body["segment"], body["excluded_segments"], body["extra_segments"]) == (
        segment.pk, [excluded.pk], [])
    assert (body["recurrence"], body["holdout_percent"], body["reentry_days"]) == (
        "0 9 * * 1", 10, 30)
    assert body["send_window_start"] == "09:00:00"
    assert body["draft_version"] == 1 and body["current_version"] is None
    assert shape(body["graph"]) == shape(GRAPH)
    campaign = Campaign.objects.get(pk=body["id"])
    assert campaign.versions.get().steps.count() == 3


@pytest.mark.django_db
def test_the_graph_reads_back_as_it_was_written(writer, create):
    created = create()

    body = writer.get(f"{CAMPAIGNS}{created['id']}/").json()

    assert body["graph"]["start"] == "s1"
    assert shape(body["graph"]) == shape(GRAPH)


@pytest.mark.django_db
def test_a_put_graph_replaces_the_draft_steps(writer, create):
    created = create()
    shorter = {"start": "s1", "steps": [{**GRAPH["steps"][0], "exits": {"next": None}}]}

    response = writer.put(f"{CAMPAIGNS}{created['id']}/",
                          {"name": "Renamed", "entry_kind": "event", "entry_event": "signed_up",
                           "graph": shorter}, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert shape(response.json()["graph"]) == shape(shorter)
    assert CampaignVersion.objects.filter(campaign_id=created["id"]).count() == 1


@pytest.mark.django_db
def test_a_patch_changes_only_what_it_names(writer, create):
    excluded = SegmentFactory()
    created = create(description="First", excluded_segments=[excluded.pk])

    response = writer.patch(f"{CAMPAIGNS}{created['id']}/", {"priority": 5}, format="json")

    body = response.json()
    assert response.status_code == 200
    assert (body["priority"], body["description"], body["name"]) == (5, "First",
                                                                      "Welcome journey")
    assert body["excluded_segments"] == [excluded.pk]
    assert shape(body["graph"]) == shape(GRAPH)


@pytest.mark.django_db
def test_the_list_filters_by_status_and_pages_by_cursor(reader, create, running):
    create(name="Still a draft")

    drafts = reader.get(CAMPAIGNS, {"status": "draft"}).json()
    first_page = reader.get(CAMPAIGNS, {"page_size": 1}).json()

    assert [c["name"] for c in drafts["results"]] == ["Still a draft"]
    assert len(first_page["results"]) == 1 and first_page["next"]
    assert "graph" not in first_page["results"][0]


@pytest.mark.django_db
def test_an_unknown_status_filter_is_a_field_error(reader):
    response = reader.get(CAMPAIGNS, {"status": "sleeping"})

    assert response.status_code == 400
    assert "status" in response.json()


@pytest.mark.django_db
def test_bad_entry_settings_answer_field_errors(writer, stage_attribute):
    response = writer.post(CAMPAIGNS, {"name": "", "entry_kind": "sometimes", "segment": 999999},
                           format="json")

    assert response.status_code == 400
    assert {"name", "entry_kind", "segment"} <= response.json().keys()
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_a_misspelt_field_is_named_not_dropped(writer, create):
    created = create()

    response = writer.patch(f"{CAMPAIGNS}{created['id']}/", {"segmnet": 1}, format="json")

    assert response.status_code == 400
    assert response.json() == {"segmnet": ["Unknown field."]}


@pytest.mark.django_db
def test_a_graph_that_is_not_a_graph_is_a_field_error_and_saves_nothing(writer, create):
    created = create()

    response = writer.patch(f"{CAMPAIGNS}{created['id']}/",
                            {"name": "Changed", "graph": {"steps": [{"kind": "wait"}]}},
                            format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["graph"]
    assert Campaign.objects.get(pk=created["id"]).name == "Welcome journey"


@pytest.mark.django_db
def test_the_owner_is_read_only(writer, create):
    created = create()

    response = writer.patch(f"{CAMPAIGNS}{created['id']}/", {"owner": 1}, format="json")

    assert response.status_code == 400
    assert "owner" in response.json()


@pytest.mark.django_db
def test_editing_a_running_campaigns_graph_drafts_version_two(writer, running):
    url = f"{CAMPAIGNS}{running['id']}/"
    edited = graph(s2={"config": {"mode": "duration", "seconds": 7200}})

    body = writer.patch(url, {"graph": edited}, format="json").json()

    assert (body["status"], body["current_version"], body["draft_version"]) == ("running", 1, 2)
    assert shape(body["graph"]) == shape(edited)
    version_one = CampaignVersion.objects.get(campaign_id=running["id"], number=1)
    assert version_one.steps.get(key="s2").config["seconds"] == 3600


@pytest.mark.django_db
def test_only_a_draft_can_be_deleted(writer, create, running):
    draft = create(name="Scrap me")

    deleted = writer.delete(f"{CAMPAIGNS}{draft['id']}/")
    refused = writer.delete(f"{CAMPAIGNS}{running['id']}/")

    assert deleted.status_code == 204
    assert refused.status_code == 409
    assert "detail" in refused.json()
    assert list(Campaign.objects.values_list("pk", flat=True)) == [running["id"]]


@pytest.mark.django_db
def test_a_finished_campaign_cannot_be_changed(writer):
    campaign = CampaignFactory(status=CampaignStatus.ARCHIVED)

    response = writer.patch(f"{CAMPAIGNS}{campaign.pk}/", {"name": "Again"}, format="json")

    assert response.status_code == 409


@pytest.mark.django_db
def test_an_unknown_campaign_is_404(writer):
    assert writer.get(f"{CAMPAIGNS}999999/").status_code == 404
    assert writer.post(f"{CAMPAIGNS}999999/publish/").status_code == 404


@pytest.mark.django_db
def test_without_a_token_the_api_answers_401(create):
    from rest_framework.test import APIClient

    response = APIClient().get(CAMPAIGNS)

    assert response.status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("method, path", [
    ("post", ""), ("patch", "{id}/"), ("delete", "{id}/"), ("post", "{id}/publish/"),
    ("post", "{id}/pause/"), ("post", "import/"), ("post", "{id}/versions/1/move-enrollments/"),
])
def test_writes_need_the_write_scope(reader, create, method, path):
    campaign = create()

    response = getattr(reader, method)(CAMPAIGNS + path.format(id=campaign["id"]), {},
                                       format="json")

    assert response.status_code == 403
    assert Campaign.objects.get().status == "draft"


@pytest.mark.django_db
def test_reads_need_the_read_scope(client_with, create):
    campaign = create()
    other = client_with("profiles:read")

    assert other.get(f"{CAMPAIGNS}{campaign['id']}/").status_code == 403
    assert other.get(f"{CAMPAIGNS}{campaign['id']}/stats/").status_code == 403


@pytest.mark.django_db
def test_a_step_naming_a_missing_template_is_refused_on_that_step(writer, create):
    created = create()
    bad = graph(s1={"kind": "send_message", "template": 999999, "config": {}})

    response = writer.patch(f"{CAMPAIGNS}{created['id']}/", {"graph": bad}, format="json")

    assert response.status_code == 400
    assert response.json()["steps"]["s1"] == ["Template 999999 does not exist."]


@pytest.mark.django_db
def test_a_campaign_made_before_versions_shows_its_steps_once_edited(writer):
    campaign = StepFactory(subject="Old news").campaign

    body = writer.patch(f"{CAMPAIGNS}{campaign.pk}/", {"description": "Touched"},
                        format="json").json()
    edited = writer.patch(f"{CAMPAIGNS}{campaign.pk}/", {"graph": {"start": "s1", "steps": [
        {"key": "s1", "kind": "send_email", "config": {"subject": "New news",
                                                      "html_body": "<p>Hi</p>"}}]}},
                          format="json").json()

    assert body["description"] == "Touched"
    assert edited["graph"]["steps"][0]["config"]["subject"] == "New news"
    assert campaign.steps.get().subject == "New news"
