"""POST /api/v1/events: one event, idempotent, for known or unknown profiles."""

from datetime import timedelta

import pytest
from django.utils import timezone

from profiles.models import Event, EventReceipt, Profile, ProfileAlias
from tests.factories import ProfileFactory

EVENTS = "/api/v1/events"


@pytest.mark.django_db
def test_an_event_for_a_known_profile_is_stored_with_its_fields(sender):
    profile = ProfileFactory(external_id="cust-1")

    response = sender.post(EVENTS, {
        "name": "order_placed", "external_id": "cust-1", "properties": {"total": 42.5},
        "occurred_at": "2026-11-28T09:30:00+02:00", "message_id": "m-1",
    }, format="json")

    assert response.status_code == 201
    event = Event.objects.get()
    assert response.json() == {"id": event.pk, "status": "created"}
    assert (event.profile_id, event.name, event.properties) == (
        profile.pk, "order_placed", {"total": 42.5})
    assert event.occurred_at.isoformat() == "2026-11-28T07:30:00+00:00"
    assert (event.source, event.message_id) == ("shop", "m-1")  # source: the token's name


@pytest.mark.django_db
def test_a_resent_message_id_answers_the_same_event_and_writes_one_row(sender):
    payload = {"name": "signup", "external_id": "cust-1", "message_id": "m-1"}

    first = sender.post(EVENTS, payload, format="json")
    second = sender.post(EVENTS, payload, format="json")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == {"id": first.json()["id"], "status": "duplicate"}
    assert Event.objects.count() == 1
    assert EventReceipt.objects.count() == 1


@pytest.mark.django_db
def test_the_same_message_id_from_another_source_is_another_event(sender):
    sender.post(EVENTS, {"name": "a", "external_id": "c", "message_id": "m-1"}, format="json")

    response = sender.post(EVENTS, {"name": "a", "external_id": "c", "message_id": "m-1",
                                    "source": "ios"}, format="json")

    assert response.status_code == 201
    assert Event.objects.count() == 2


@pytest.mark.django_db
def test_an_unknown_external_id_creates_its_profile(sender):
    response = sender.post(EVENTS, {"name": "signup", "external_id": "new-1"}, format="json")

    assert response.status_code == 201
    profile = Profile.objects.get(external_id="new-1")
    assert Event.objects.get().profile_id == profile.pk


@pytest.mark.django_db
def test_an_unknown_anonymous_id_creates_an_anonymous_profile_with_that_alias(sender):
    response = sender.post(EVENTS, {"name": "page_viewed", "anonymous_id": "dev-1"},
                           format="json")

    assert response.status_code == 201
    alias = ProfileAlias.objects.get(value="dev-1")
    assert alias.profile.external_id is None
    assert Event.objects.get().profile_id == alias.profile_id


@pytest.mark.django_db
def test_an_event_by_email_finds_the_profile_case_insensitively(sender):
    profile = ProfileFactory(email="ada@example.com")

    sender.post(EVENTS, {"name": "opened", "email": "Ada@EXAMPLE.com"}, format="json")

    assert Event.objects.get().profile_id == profile.pk


@pytest.mark.django_db
def test_an_unknown_email_creates_a_profile_with_it(sender):
    sender.post(EVENTS, {"name": "opened", "email": "new@Example.com"}, format="json")
    sender.post(EVENTS, {"name": "clicked", "email": "NEW@example.com"}, format="json")

    profile = Profile.objects.get()
    assert profile.email == "new@example.com"
    assert Event.objects.filter(profile=profile).count() == 2


@pytest.mark.django_db
def test_last_seen_at_only_moves_forward(sender):
    profile = ProfileFactory(external_id="c")
    sender.post(EVENTS, {"name": "a", "external_id": "c",
                         "occurred_at": "2026-11-20T10:00:00Z"}, format="json")

    sender.post(EVENTS, {"name": "b", "external_id": "c",
                         "occurred_at": "2026-11-10T10:00:00Z"}, format="json")

    profile.refresh_from_db()
    assert profile.last_seen_at.isoformat() == "2026-11-20T10:00:00+00:00"


@pytest.mark.django_db
def test_last_seen_at_is_rewritten_only_past_its_resolution(sender):
    profile = ProfileFactory(external_id="c")
    sender.post(EVENTS, {"name": "a", "external_id": "c",
                         "occurred_at": "2026-11-20T10:00:00Z"}, format="json")

    sender.post(EVENTS, {"name": "b", "external_id": "c",
                         "occurred_at": "2026-11-20T10:00:30Z"}, format="json")
    profile.refresh_from_db()
    within = profile.last_seen_at.isoformat()
    sender.post(EVENTS, {"name": "c", "external_id": "c",
                         "occurred_at": "2026-11-20T10:01:00.5Z"}, format="json")
    profile.refresh_from_db()

    assert within == "2026-11-20T10:00:00+00:00"  # 30 s newer: not worth a row rewrite
    assert profile.last_seen_at.isoformat() == "2026-11-20T10:01:00.500000+00:00"


@pytest.mark.django_db
def test_an_event_older_than_the_retention_horizon_is_refused(sender, settings):
    settings.EVENT_RETENTION_DAYS = 30
    old = (timezone.now() - timedelta(days=31)).isoformat()

    response = sender.post(EVENTS, {"name": "a", "external_id": "c", "occurred_at": old},
                           format="json")

    assert response.status_code == 400
    assert "retention horizon (30 days)" in response.json()["occurred_at"][0]
    assert not Event.objects.exists()
    assert not Profile.objects.exists()


@pytest.mark.django_db
def test_an_event_too_far_in_the_future_is_refused(sender, settings):
    settings.EVENT_MAX_FUTURE_SECONDS = 3600
    later = (timezone.now() + timedelta(hours=2)).isoformat()

    response = sender.post(EVENTS, {"name": "a", "external_id": "c", "occurred_at": later},
                           format="json")

    assert response.status_code == 400
    assert "3600 seconds ahead" in response.json()["occurred_at"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(("payload", "field", "words"), [
    ({"external_id": "c"}, "name", "Required"),
    ({"name": "a"}, "external_id", "Name the profile"),
    ({"name": "a", "external_id": "c", "properties": [1]}, "properties", "JSON object"),
    ({"name": "a", "external_id": "c", "occurred_at": "2026-11-28T09:30:00"}, "occurred_at",
     "UTC offset"),
    ({"name": "a", "external_id": "c", "occurred_at": "yesterday"}, "occurred_at", "ISO 8601"),
    ({"name": "a", "email": "not-an-email"}, "email", "not a valid email"),
    ({"name": "a", "external_id": "c", "propertys": {}}, "propertys", "Unknown field"),
])
def test_a_bad_event_is_refused_with_the_field_and_the_reason(sender, payload, field, words):
    response = sender.post(EVENTS, payload, format="json")

    assert response.status_code == 400
    assert words in response.json()[field][0]
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_a_token_without_events_write_is_refused(client_with):
    reader = client_with("profiles:read", "profiles:write")

    response = reader.post(EVENTS, {"name": "a", "external_id": "c"}, format="json")

    assert response.status_code == 403
    assert "events:write" in response.json()["detail"]
