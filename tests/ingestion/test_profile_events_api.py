"""GET /api/v1/profiles/{external_id or id}/events: newest first, filtered, paginated."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from profiles.models import Event
from tests.factories import ProfileFactory


def events_of(profile, *names, start=None):
    start = start or timezone.now() - timedelta(days=10)
    return [
        Event.objects.create(profile=profile, name=name, occurred_at=start + timedelta(hours=i))
        for i, name in enumerate(names)
    ]


@pytest.fixture
def reader(client_with):
    return client_with("profiles:read")


@pytest.mark.django_db
def test_events_come_newest_first_by_external_id_or_id(reader):
    profile = ProfileFactory(external_id="cust-1")
    first, second = events_of(profile, "a", "b")
    events_of(ProfileFactory(), "other")

    by_external_id = reader.get("/api/v1/profiles/cust-1/events")
    by_id = reader.get(f"/api/v1/profiles/{profile.pk}/events")

    assert by_external_id.status_code == 200
    assert [e["id"] for e in by_external_id.json()["results"]] == [second.pk, first.pk]
    assert by_id.json()["results"] == by_external_id.json()["results"]


@pytest.mark.django_db
def test_the_cursor_walks_every_event_once(reader):
    profile = ProfileFactory(external_id="cust-1")
    events = events_of(profile, *[f"e{i}" for i in range(5)])

    seen, url = [], "/api/v1/profiles/cust-1/events?page_size=2"
    while url:
        body = reader.get(url).json()
        seen += [e["id"] for e in body["results"]]
        url = body["next"]

    assert seen == [e.pk for e in reversed(events)]


@pytest.mark.django_db
def test_name_since_and_until_filter_the_events(reader):
    profile = ProfileFactory(external_id="cust-1")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    events = events_of(profile, "a", "b", "a", "a", start=start)

    by_name = reader.get("/api/v1/profiles/cust-1/events?name=a").json()["results"]
    window = reader.get("/api/v1/profiles/cust-1/events", {
        "since": "2026-11-01T01:00:00Z", "until": "2026-11-01T03:00:00+00:00"}).json()["results"]

    assert [e["id"] for e in by_name] == [events[3].pk, events[2].pk, events[0].pk]
    assert [e["id"] for e in window] == [events[2].pk, events[1].pk]


@pytest.mark.django_db
def test_a_bad_since_is_refused(reader):
    ProfileFactory(external_id="cust-1")

    response = reader.get("/api/v1/profiles/cust-1/events?since=last-week")

    assert response.status_code == 400
    assert "since" in response.json()


@pytest.mark.django_db
def test_an_unknown_profile_is_404(reader):
    assert reader.get("/api/v1/profiles/nobody/events").status_code == 404


@pytest.mark.django_db
def test_reading_events_needs_profiles_read(client_with):
    ProfileFactory(external_id="cust-1")

    response = client_with("events:write").get("/api/v1/profiles/cust-1/events")

    assert response.status_code == 403


@pytest.mark.django_db
def test_a_number_that_is_an_id_and_another_profiles_external_id_needs_by(reader):
    first = ProfileFactory()
    other = ProfileFactory(external_id=str(first.pk))
    (event,) = events_of(other, "mine")

    ambiguous = reader.get(f"/api/v1/profiles/{first.pk}/events")
    by_external_id = reader.get(f"/api/v1/profiles/{first.pk}/events?by=external_id")

    assert ambiguous.status_code == 409
    assert [e["id"] for e in by_external_id.json()["results"]] == [event.pk]
