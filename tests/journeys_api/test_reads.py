"""Versions, enrollments and per-step counts through the API, and moving enrollments."""

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Enrollment, StepVisit
from tests.factories import ProfileFactory
from tests.journeys_api.conftest import CAMPAIGNS, graph


def enroll(campaign: Campaign, *, at: str, state: str = "active", visited=(), version=None,
           profile=None) -> Enrollment:
    """An enrollment at step `at` that went through the steps `visited` (left) and `at`."""
    version = version or campaign.current_version
    enrollment = Enrollment.objects.create(
        campaign=campaign, version=version, profile=profile or ProfileFactory(),
        entry_key="once", step_key=at, state=state)
    now = timezone.now()
    for key in visited:
        StepVisit.objects.create(enrollment=enrollment, campaign=campaign, entered_at=now,
                                 left_at=now, outcome="next", step=version.steps.get(key=key))
    StepVisit.objects.create(enrollment=enrollment, campaign=campaign, entered_at=now,
                             step=version.steps.get(key=at))
    return enrollment


@pytest.fixture
def journey(running) -> Campaign:
    return Campaign.objects.select_related("current_version").get(pk=running["id"])


def step_counts(body: dict) -> dict:
    return {s["key"]: {k: s[k] for k in ("entered", "waiting", "passed", "ended")}
            for s in body["steps"]}


@pytest.mark.django_db
def test_stats_count_each_step(reader, journey):
    enroll(journey, at="s1")
    enroll(journey, at="s2", visited=["s1"])
    enroll(journey, at="s2", visited=["s1"])
    enroll(journey, at="s2", visited=["s1"], state="exited")

    response = reader.get(f"{CAMPAIGNS}{journey.pk}/stats/")

    body = response.json()
    assert response.status_code == 200
    assert step_counts(body) == {
        "s1": {"entered": 4, "waiting": 1, "passed": 3, "ended": 0},
        "s2": {"entered": 3, "waiting": 2, "passed": 0, "ended": 1},
        "s3": {"entered": 0, "waiting": 0, "passed": 0, "ended": 0},
    }
    assert body["enrollments"]["active"] == 3 and body["enrollments"]["exited"] == 1
    assert body["enrollments"]["total"] == 4
    assert body["version"] == 1


@pytest.mark.django_db
def test_stats_count_the_version_asked_for(reader, writer, journey):
    enroll(journey, at="s2", visited=["s1"])
    writer.patch(f"{CAMPAIGNS}{journey.pk}/", {"graph": graph()}, format="json")
    writer.post(f"{CAMPAIGNS}{journey.pk}/publish/")
    url = f"{CAMPAIGNS}{journey.pk}/stats/"

    current, first, missing = reader.get(url), reader.get(url, {"version": 1}), reader.get(
        url, {"version": 9})

    assert current.json()["version"] == 2
    assert step_counts(current.json())["s2"] == {"entered": 0, "waiting": 0, "passed": 0,
                                                 "ended": 0}
    assert step_counts(first.json())["s2"] == {"entered": 1, "waiting": 1, "passed": 0,
                                               "ended": 0}
    assert current.json()["enrollments"]["active"] == 1
    assert missing.status_code == 404


@pytest.mark.django_db
def test_enrollments_filter_by_state_step_and_profile(reader, journey):
    waiting = enroll(journey, at="s2", visited=["s1"])
    enroll(journey, at="s1")
    enroll(journey, at="s2", visited=["s1"], state="completed")
    url = f"{CAMPAIGNS}{journey.pk}/enrollments/"

    by_state_and_step = reader.get(url, {"state": "active", "step": "s2"}).json()["results"]
    by_profile = reader.get(url, {"profile": waiting.profile_id}).json()["results"]
    everything = reader.get(url).json()["results"]

    assert [e["id"] for e in by_state_and_step] == [waiting.pk]
    assert [e["id"] for e in by_profile] == [waiting.pk]
    assert len(everything) == 3
    assert everything[-1]["version"] == 1 and everything[-1]["step_key"] == "s2"


@pytest.mark.django_db
def test_a_bad_enrollment_filter_is_a_field_error(reader, journey):
    response = reader.get(f"{CAMPAIGNS}{journey.pk}/enrollments/", {"state": "sleeping"})

    assert response.status_code == 400
    assert "state" in response.json()


@pytest.mark.django_db
def test_versions_list_the_published_and_the_draft(reader, writer, journey):
    enroll(journey, at="s2", visited=["s1"])
    shorter = {"start": "s1", "steps": [graph()["steps"][0] | {"exits": {"next": None}}]}
    writer.patch(f"{CAMPAIGNS}{journey.pk}/", {"graph": shorter}, format="json")

    response = reader.get(f"{CAMPAIGNS}{journey.pk}/versions/")

    rows = [{k: v[k] for k in ("number", "step_count", "active_enrollments", "is_current")}
            for v in response.json()]
    assert rows == [
        {"number": 1, "step_count": 3, "active_enrollments": 1, "is_current": True},
        {"number": 2, "step_count": 1, "active_enrollments": 0, "is_current": False},
    ]
    assert response.json()[0]["published_at"] and response.json()[1]["published_at"] is None


@pytest.mark.django_db
def test_enrollments_move_from_version_one_to_the_current_version(writer, journey):
    on_v1 = enroll(journey, at="s2", visited=["s1"])
    writer.patch(f"{CAMPAIGNS}{journey.pk}/",
                 {"graph": graph(s2={"config": {"mode": "duration", "seconds": 60}})},
                 format="json")
    writer.post(f"{CAMPAIGNS}{journey.pk}/publish/")

    response = writer.post(f"{CAMPAIGNS}{journey.pk}/versions/1/move-enrollments/")

    assert response.status_code == 200
    assert response.json() == {"moved": 1, "to_version": 2}
    on_v1.refresh_from_db()
    assert on_v1.version.number == 2


@pytest.mark.django_db
def test_moving_from_an_unknown_version_is_404(writer, journey):
    response = writer.post(f"{CAMPAIGNS}{journey.pk}/versions/7/move-enrollments/")

    assert response.status_code == 404


@pytest.mark.django_db
def test_moving_enrollments_before_anything_is_published_is_a_conflict(writer, create):
    draft = create()

    response = writer.post(f"{CAMPAIGNS}{draft['id']}/versions/1/move-enrollments/")

    assert response.status_code == 409
