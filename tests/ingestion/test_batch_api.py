"""POST /api/v1/events/batch: many items, each accepted or refused on its own."""

import json

import pytest

from profiles.models import Event, EventReceipt, Profile, ProfileAlias, ProfileMerge
from tests.factories import ProfileFactory

BATCH = "/api/v1/events/batch"


def track(name="viewed", **keys):
    return {"type": "track", "name": name, **keys}


@pytest.mark.django_db
def test_a_good_batch_is_written_and_every_item_answered_in_order(sender):
    items = [track(external_id=f"c-{i}", message_id=f"m-{i}") for i in range(3)]

    response = sender.post(BATCH, {"batch": items}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["error"]) == (3, 0)
    ids = [result["id"] for result in body["results"]]
    assert [result["index"] for result in body["results"]] == [0, 1, 2]
    assert sorted(ids) == sorted(Event.objects.values_list("id", flat=True))
    assert list(Event.objects.filter(id__in=ids).order_by("id")
                .values_list("profile__external_id", flat=True)) == ["c-0", "c-1", "c-2"]


@pytest.mark.django_db
def test_bad_items_are_reported_and_never_block_the_good_ones(sender):
    items = [track(external_id="c-1"), {"type": "track", "external_id": "c-1"},
             track(external_id="c-1", occurred_at="nope"), {"type": "delete"}, "junk",
             track(external_id="c-2")]

    response = sender.post(BATCH, {"batch": items}, format="json")

    assert response.status_code == 207
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == ["created", "error", "error", "error", "error", "created"]
    errors = [r.get("errors") for r in response.json()["results"]]
    assert "name" in errors[1] and "occurred_at" in errors[2] and "type" in errors[3]
    assert Event.objects.count() == 2


@pytest.mark.django_db
def test_a_resent_batch_answers_duplicates_with_the_same_ids_and_writes_nothing(sender):
    items = [track(external_id="c-1", message_id=f"m-{i}") for i in range(3)]
    first = sender.post(BATCH, {"batch": items}, format="json").json()

    second = sender.post(BATCH, {"batch": items}, format="json")

    assert second.status_code == 200
    assert [r["status"] for r in second.json()["results"]] == ["duplicate"] * 3
    assert [r["id"] for r in second.json()["results"]] == [r["id"] for r in first["results"]]
    assert Event.objects.count() == EventReceipt.objects.count() == 3


@pytest.mark.django_db
def test_a_message_id_twice_in_one_batch_is_written_once(sender):
    items = [track(external_id="c-1", message_id="m-1"), track(external_id="c-1",
                                                               message_id="m-1")]

    results = sender.post(BATCH, {"batch": items}, format="json").json()["results"]

    assert [r["status"] for r in results] == ["created", "duplicate"]
    assert results[0]["id"] == results[1]["id"]
    assert Event.objects.count() == 1


@pytest.mark.django_db
def test_unknown_profiles_are_created_once_per_key(sender):
    ProfileFactory(external_id="known")
    items = [track(external_id="known"), track(external_id="new"), track(external_id="new"),
             track(anonymous_id="dev-1"), track(anonymous_id="dev-1"), track(email="a@b.io")]

    sender.post(BATCH, {"batch": items}, format="json")

    assert Profile.objects.count() == 4
    assert ProfileAlias.objects.get(value="dev-1").profile.events.count() == 2
    assert Profile.objects.get(email="a@b.io").events.count() == 1


@pytest.mark.django_db
def test_an_identify_item_merges_before_the_batch_events_land(sender):
    known = ProfileFactory(external_id="cust-1")
    items = [track(anonymous_id="dev-1"),
             {"type": "identify", "anonymous_id": "dev-1", "external_id": "cust-1"},
             track(anonymous_id="dev-1")]
    sender.post(BATCH, {"batch": [track(anonymous_id="dev-1")]}, format="json")

    response = sender.post(BATCH, {"batch": items}, format="json")

    assert response.status_code == 200
    assert response.json()["results"][1] == {
        "index": 1, "status": "updated", "profile_id": known.pk, "merged": True}
    assert ProfileMerge.objects.count() == 1
    assert Profile.objects.get().pk == known.pk
    assert known.events.count() == 3


@pytest.mark.django_db
def test_a_bad_identify_item_is_reported_with_its_field(sender):
    items = [{"type": "identify", "external_id": "c-1", "timezone": "Mars/Olympus"},
             track(external_id="c-2")]

    results = sender.post(BATCH, {"batch": items}, format="json").json()["results"]

    assert results[0]["status"] == "error"
    assert "timezone" in results[0]["errors"]
    assert results[1]["status"] == "created"
    assert not Profile.objects.filter(external_id="c-1").exists()


@pytest.mark.django_db
def test_a_batch_of_1001_items_is_refused_naming_the_limit(sender):
    items = [track(external_id="c")] * 1001

    response = sender.post(BATCH, {"batch": items}, format="json")

    assert response.status_code == 400
    assert "at most 1,000 items" in response.json()["batch"][0]
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_a_2_mb_body_is_refused_before_it_is_parsed(sender):
    body = b'{"batch": [' + b"x" * 2_000_000 + b"]}"  # not even JSON: never parsed

    response = sender.generic("POST", BATCH, body, content_type="application/json")

    assert response.status_code == 413
    assert "limited to 1,048,576 bytes" in response.json()["detail"]


@pytest.mark.django_db
def test_the_body_limit_is_a_setting(sender, settings):
    settings.INGEST_MAX_BODY_BYTES = 1000
    body = json.dumps({"batch": [track(external_id="c", properties={"p": "x" * 1000})]})

    response = sender.generic("POST", BATCH, body, content_type="application/json")

    assert response.status_code == 413
    assert "limited to 1,000 bytes" in response.json()["detail"]
    assert not Event.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [{"batch": "x"}, {"items": []}, {"batch": []}])
def test_a_body_without_a_list_of_items_is_refused(sender, payload):
    response = sender.post(BATCH, payload, format="json")

    assert response.status_code == 400
    assert "batch" in response.json()


@pytest.mark.django_db
def test_the_batch_source_applies_to_items_without_their_own(sender):
    items = [track(external_id="c", message_id="1"),
             track(external_id="c", message_id="1", source="web")]

    sender.post(BATCH, {"batch": items, "source": "ios"}, format="json")

    assert sorted(Event.objects.values_list("source", flat=True)) == ["ios", "web"]


@pytest.mark.django_db
@pytest.mark.parametrize(("raw_item", "field", "words"), [
    ('{"type":"track","name":"a","external_id":"c","properties":{"p":"x\\u0000"}}',
     "properties", "NUL"),
    ('{"type":"track","name":"a","external_id":"c","properties":{"p":1e400}}',
     "properties", "finite"),
    ('{"type":"track","name":"a","external_id":"c","properties":{"p":"\\ud800"}}',
     "properties", "surrogate"),
    ('{"type":"track","name":"a\\u0000","external_id":"c"}', "name", "NUL"),
    ('{"type":"identify","external_id":"c","attributes":{"p":"\\u0000"}}', "attributes", "NUL"),
])
def test_a_value_postgresql_cannot_store_fails_its_item_only(sender, raw_item, field, words):
    good = json.dumps(track(external_id="c-2"))
    body = '{"batch": [' + raw_item + "," + good + "]}"

    response = sender.generic("POST", BATCH, body, content_type="application/json")

    assert response.status_code == 207
    bad, ok = response.json()["results"]
    assert words in bad["errors"][field]
    assert ok["status"] == "created"
    assert Event.objects.count() == 1
