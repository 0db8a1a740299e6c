"""Validate, simulate, publish, pause, resume, archive and unschedule through the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from tests.factories import ProfileFactory, SegmentFactory
from tests.journeys_api.conftest import CAMPAIGNS, graph

DANGLING = graph(s2={"exits": {"next": "nowhere"}})


def post(client, campaign: dict, verb: str, body: dict | None = None):
    return client.post(f"{CAMPAIGNS}{campaign['id']}/{verb}/", body or {}, format="json")


@pytest.mark.django_db
def test_a_sound_graph_validates(reader, create):
    response = post(reader, create(), "validate")

    assert response.status_code == 200
    assert response.json() == {"valid": True, "problems": []}


@pytest.mark.django_db
def test_validation_names_the_offending_step(reader, create):
    body = post(reader, create(graph=DANGLING), "validate").json()

    assert body["valid"] is False
    assert "s2" in {p["step"] for p in body["problems"]}
    assert all(set(p) == {"step", "field", "message"} for p in body["problems"])


@pytest.mark.django_db
def test_publishing_an_event_journey_starts_it_on_version_one(writer, create):
    response = post(writer, create(), "publish")

    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["current_version"], body["draft_version"]) == ("running", 1,
                                                                                 None)


@pytest.mark.django_db
def test_publishing_a_broken_graph_is_refused_with_the_problems_by_step(writer, create):
    campaign = create(graph=DANGLING)

    response = post(writer, campaign, "publish")

    assert response.status_code == 400
    assert response.json()["steps"]["s2"]
    assert Campaign.objects.get(pk=campaign["id"]).status == "draft"


@pytest.mark.django_db
def test_publishing_version_two_makes_it_current(writer, running):
    writer.patch(f"{CAMPAIGNS}{running['id']}/",
                 {"graph": graph(s2={"config": {"mode": "duration", "seconds": 60}})},
                 format="json")

    body = post(writer, running, "publish").json()

    assert (body["status"], body["current_version"], body["draft_version"]) == ("running", 2,
                                                                                 None)
    assert body["graph"]["steps"][1]["config"]["seconds"] == 60


@pytest.mark.django_db
def test_pause_and_resume_a_running_journey(writer, running):
    paused = post(writer, running, "pause", {"reason": "Wrong coupon"})
    resumed = post(writer, running, "resume")

    assert paused.status_code == 200
    assert (paused.json()["status"], paused.json()["pause_reason"]) == ("paused", "Wrong coupon")
    assert paused.json()["paused_at"]
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"


@pytest.mark.django_db
@pytest.mark.parametrize("verb", ["pause", "resume", "unschedule"])
def test_a_transition_the_status_does_not_allow_is_a_conflict(writer, create, verb):
    campaign = create()

    response = post(writer, campaign, verb)

    assert response.status_code == 409
    assert response.json()["detail"]
    assert Campaign.objects.get(pk=campaign["id"]).status == "draft"


@pytest.mark.django_db
def test_a_paused_campaign_can_be_archived_once(writer, running):
    refused = post(writer, running, "archive")
    post(writer, running, "pause")
    first = post(writer, running, "archive")
    second = post(writer, running, "archive")

    assert refused.status_code == 409  # a running campaign is paused first
    assert first.status_code == 200
    assert first.json()["status"] == "archived" and first.json()["archived_at"]
    assert second.status_code == 409


@pytest.mark.django_db
def test_a_scheduled_audience_campaign_can_go_back_to_draft(writer, create):
    later = timezone.now() + timedelta(days=2)
    campaign = create(entry_kind="audience", entry_event="", segment=SegmentFactory().pk,
                      scheduled_at=later.isoformat())

    scheduled = post(writer, campaign, "publish")
    unscheduled = post(writer, campaign, "unschedule")

    assert scheduled.status_code == 200, scheduled.json()
    assert scheduled.json()["status"] == "scheduled"
    assert unscheduled.status_code == 200
    assert unscheduled.json()["status"] == "draft"


@pytest.mark.django_db
def test_simulating_one_profile_gives_its_path(reader, create):
    profile = ProfileFactory(external_id="ada")

    response = post(reader, create(), "simulate", {"profile": "ada"})

    body = response.json()
    assert response.status_code == 200
    assert [step["step"] for step in body["path"]][:2] == ["s1", "s2"]
    assert body["steps"]["s1"]["entered"] == 1
    assert profile.enrollments.count() == 0


@pytest.mark.django_db
def test_simulating_a_sample_of_the_audience_counts_per_step(reader, create):
    pros = SegmentFactory()
    for _ in range(3):
        ProfileFactory(attributes={"plan": "pro"})
    campaign = create(entry_kind="audience", entry_event="", segment=pros.pk)

    body = post(reader, campaign, "simulate", {"sample": 2}).json()

    assert (body["audience"], body["simulated"], body["sampled"]) == (3, 2, True)
    assert body["steps"]["s1"]["entered"] == 3  # scaled to the audience
    assert "messages" in body


@pytest.mark.django_db
def test_simulating_an_unknown_profile_is_a_field_error(reader, create):
    response = post(reader, create(), "simulate", {"profile": "nobody"})

    assert response.status_code == 400
    assert "profile" in response.json()


@pytest.mark.django_db
def test_simulate_takes_a_profile_or_a_sample_not_both(reader, create):
    response = post(reader, create(), "simulate", {"profile": "ada", "sample": 3})

    assert response.status_code == 400


@pytest.mark.django_db
def test_publish_can_set_an_audience_campaigns_time(writer, create):
    at = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    campaign = create(entry_kind="audience", entry_event="", segment=SegmentFactory().pk)

    response = post(writer, campaign, "publish", {"at": at.isoformat()})

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "scheduled"
    assert Campaign.objects.get(pk=campaign["id"]).scheduled_at == at


@pytest.mark.django_db
def test_publishing_a_running_campaign_with_no_draft_is_a_conflict(writer, running):
    response = post(writer, running, "publish")

    assert response.status_code == 409
    assert "no changes" in response.json()["detail"]


@pytest.mark.django_db
def test_publishing_an_empty_graph_is_refused_on_the_graph(writer, create):
    response = post(writer, create(graph={"steps": []}), "publish")

    assert response.status_code == 400
    assert response.json() == {"graph": ["Add at least one step."]}


@pytest.mark.django_db
def test_a_graph_too_long_with_a_broken_step_lists_both_problems(writer, create, settings):
    settings.JOURNEY_MAX_STEPS = 2

    response = post(writer, create(graph=DANGLING), "publish")

    body = response.json()
    assert response.status_code == 400
    assert "at most 2 steps" in body["graph"][0]
    assert body["steps"]["s2"]
