"""Identify and ingestion racing on real connections: one merge, one profile per key."""

import logging
import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from profiles.models import AuditLog, Event, EventReceipt, Profile, ProfileAlias, ProfileMerge
from profiles.services import api_token_create
from tests.factories import ProfileFactory

THREADS = 8


def race(work: Callable[[int], object], threads: int = THREADS) -> list:
    """Run work(i) in `threads` threads released together; each has its own connection."""
    barrier = threading.Barrier(threads)
    results: list = [None] * threads

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 — reported by the assertions
            results[i] = exc
        finally:
            connection.close()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    return results


def client() -> APIClient:
    _, secret = api_token_create(name="shop", scopes=["events:write", "profiles:write"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api


@pytest.mark.django_db(transaction=True)
def test_concurrent_identify_calls_merge_the_pair_once():
    known = ProfileFactory(external_id="cust-1")
    anonymous = ProfileFactory(external_id=None, email="")
    ProfileAlias.objects.create(profile=anonymous, value="dev-1")
    for name in ("a", "b", "c"):
        Event.objects.create(profile=anonymous, name=name, occurred_at=timezone.now())
    Event.objects.create(profile=known, name="d", occurred_at=timezone.now())
    api = client()

    responses = race(lambda i: api.post(
        "/api/v1/identify", {"external_id": "cust-1", "anonymous_id": "dev-1",
                             "attributes": {f"k{i}": i}}, format="json"))

    assert [getattr(r, "status_code", r) for r in responses] == [200] * THREADS
    assert {r.json()["id"] for r in responses} == {known.pk}
    assert list(Profile.objects.values_list("pk", flat=True)) == [known.pk]
    assert ProfileMerge.objects.count() == 1
    assert AuditLog.objects.filter(action="profile.merge").count() == 1
    assert Event.objects.filter(profile=known).count() == 4
    assert ProfileAlias.objects.get(value="dev-1").profile_id == known.pk
    # Every call's attributes landed: none was lost to the race.
    assert Profile.objects.get().attributes.keys() >= {f"k{i}" for i in range(THREADS)}


@pytest.mark.django_db(transaction=True)
def test_concurrent_identify_calls_with_a_new_external_id_make_one_profile():
    api = client()

    responses = race(lambda i: api.post(
        "/api/v1/identify", {"external_id": "new-1", "anonymous_id": f"dev-{i}"},
        format="json"))

    assert sorted(getattr(r, "status_code", r) for r in responses) == [200] * (THREADS - 1) + [201]
    assert Profile.objects.count() == 1
    assert ProfileAlias.objects.filter(profile__external_id="new-1").count() == THREADS


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_with_new_keys_and_resent_message_ids_write_each_once():
    api = client()
    batch = {"batch": [
        {"type": "track", "name": "viewed", "anonymous_id": f"dev-{i % 20}",
         "external_id": "" if i % 2 else f"cust-{i % 10}", "email": "",
         "message_id": f"m-{i}"}
        for i in range(200)
    ]}

    responses = race(lambda i: api.post("/api/v1/events/batch", batch, format="json"), 4)

    assert [getattr(r, "status_code", r) for r in responses] == [200] * 4
    assert Event.objects.count() == EventReceipt.objects.count() == 200
    assert Profile.objects.filter(external_id__isnull=False).count() == 5
    assert ProfileAlias.objects.count() == 10  # only odd items are keyed by anonymous_id
    for result_lists in zip(*(r.json()["results"] for r in responses), strict=True):
        assert len({result["id"] for result in result_lists}) == 1
        assert sorted(result["status"] for result in result_lists) == [
            "created", "duplicate", "duplicate", "duplicate"]


@pytest.mark.django_db(transaction=True)
def test_an_event_racing_the_merge_of_its_profile_lands_on_the_survivor(caplog):
    known = ProfileFactory(external_id="cust-1")
    anonymous = ProfileFactory(external_id=None, email="")
    ProfileAlias.objects.create(profile=anonymous, value="dev-1")
    api = client()
    merge_may_finish, merging = threading.Event(), threading.Event()

    def merge(_: int) -> None:
        from profiles.identity import profile_merge

        with transaction.atomic():
            # Hold the merge's row locks while the event is being written.
            list(Profile.objects.select_for_update().filter(pk=anonymous.pk))
            merging.set()
            merge_may_finish.wait(10)
            profile_merge(profile_ids=(known.pk, anonymous.pk))

    def post(_: int):
        merging.wait(10)
        return api.post("/api/v1/events", {"name": "late", "anonymous_id": "dev-1"},
                        format="json")

    def release_once_the_event_waits(_: int) -> None:
        # The event, written for the anonymous profile, now waits on the merge's lock.
        _wait_for_a_lock_wait()
        merge_may_finish.set()

    with caplog.at_level(logging.INFO, logger="profiles.ingestion"):
        merged, response, released = race_each([merge, post, release_once_the_event_waits])

    assert (merged, released) == (None, None)  # no exception in either thread
    assert "replaying 1 item(s) after ForeignKeyViolation" in caplog.text
    assert getattr(response, "status_code", response) == 201
    assert list(Event.objects.values_list("profile_id", flat=True)) == [known.pk]
    assert not Profile.objects.filter(pk=anonymous.pk).exists()


def race_each(works: list[Callable[[int], object]]) -> list:
    """Run each work in its own thread and connection; their results (or exceptions)."""
    return race(lambda i: works[i](i), threads=len(works))


def _wait_for_a_lock_wait(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)
    raise AssertionError("the event never waited on the merge's lock")
