"""Ingested events are handed to subscribers (profiles.hooks) after commit, through the
coalesced fan-out (profiles.ingestion.fanout: a Redis list per subscriber, drain jobs)."""

import django_rq
import pytest
from rq import SimpleWorker

from profiles.ingestion import fanout
from profiles.models import Event
from tests.ingestion.subscribers import KEY

BATCH = "/api/v1/events/batch"


def track(**keys):
    return {"type": "track", "name": "viewed", **keys}


@pytest.mark.django_db
def test_a_batch_leaves_its_ids_waiting_and_enqueues_one_drain_job_per_subscriber(
    sender, subscriber, redis_conn, django_capture_on_commit_callbacks
):
    items = [track(external_id=f"c-{i}") for i in range(3)]

    with django_capture_on_commit_callbacks(execute=True):
        sender.post(BATCH, {"batch": items}, format="json")

    jobs = django_rq.get_queue("events").get_jobs()
    assert len(jobs) == 1
    assert jobs[0].func_name == fanout.DRAIN_JOB
    assert jobs[0].args == (subscriber,)
    waiting = [int(x) for x in redis_conn.lrange(fanout.waiting_key(subscriber), 0, -1)]
    assert sorted(waiting) == sorted(Event.objects.values_list("id", flat=True))


@pytest.mark.django_db
def test_nothing_is_enqueued_before_the_ingestion_commits(
    sender, subscriber, redis_conn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sender.post("/api/v1/events", {"name": "a", "external_id": "c"}, format="json")

    assert len(callbacks) == 1
    assert django_rq.get_queue("events").count == 0
    assert redis_conn.llen(fanout.waiting_key(subscriber)) == 0


@pytest.mark.django_db
def test_duplicates_are_not_handed_to_subscribers_again(
    sender, subscriber, redis_conn, django_capture_on_commit_callbacks
):
    payload = {"name": "a", "external_id": "c", "message_id": "m-1"}
    with django_capture_on_commit_callbacks(execute=True):
        sender.post("/api/v1/events", payload, format="json")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sender.post("/api/v1/events", payload, format="json")

    assert callbacks == []
    assert django_rq.get_queue("events").count == 1
    assert redis_conn.llen(fanout.waiting_key(subscriber)) == 1


@pytest.mark.django_db
def test_the_subscriber_job_runs_on_a_worker_with_the_event_ids(
    sender, subscriber, redis_conn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = sender.post("/api/v1/events", {"name": "a", "external_id": "c"},
                               format="json")

    queue = django_rq.get_queue("events")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    assert [int(x) for x in redis_conn.lrange(KEY, 0, -1)] == [response.json()["id"]]
    assert redis_conn.llen(fanout.waiting_key(subscriber)) == 0


@pytest.mark.django_db
def test_without_subscribers_ingestion_enqueues_nothing(
    sender, no_subscribers, redis_conn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sender.post("/api/v1/events", {"name": "a", "external_id": "c"}, format="json")

    assert callbacks == []
    assert django_rq.get_queue("events").count == 0
