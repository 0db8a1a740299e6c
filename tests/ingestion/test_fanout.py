"""Coalesced event fan-out (profiles.ingestion.fanout): ids wait in a Redis list per
subscriber; a drain job, enqueued only when none is pending, hands them over in batches."""

import time

import django_rq
import pytest
from rq import SimpleWorker

from profiles import hooks
from profiles.ingestion import fanout
from profiles.models import Event
from tests.e2e.conftest import start_rq_worker  # noqa: F401  (fixture: a real worker process)
from tests.ingestion.subscribers import KEY

EVENTS = "/api/v1/events"


def received(redis_conn) -> list[int]:
    return [int(x) for x in redis_conn.lrange(KEY, 0, -1)]


def run_events_queue() -> list:
    """Every job of queue "events" run to the end in this process; the jobs that ran."""
    queue = django_rq.get_queue("events")
    ran = queue.get_jobs()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    return ran


def drain_jobs() -> int:
    return sum(job.func_name == fanout.DRAIN_JOB for job in django_rq.get_queue("events").jobs)


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_single_event_ingestions_is_drained_by_few_jobs_each_id_once(
    sender, subscriber, redis_conn, start_rq_worker  # noqa: F811
):
    start_rq_worker(email_url="smtp://127.0.0.1:1")
    queue = django_rq.get_queue("events")
    for job_id in queue.finished_job_registry.get_job_ids():  # earlier tests' jobs
        queue.finished_job_registry.remove(job_id, delete_job=True)

    ids = [sender.post(EVENTS, {"name": "viewed", "external_id": f"c-{i}"},
                       format="json").json()["id"] for i in range(300)]

    deadline = time.monotonic() + 60
    while len(received(redis_conn)) < 300 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # a duplicate hand-over would show by now
    got = received(redis_conn)
    assert sorted(got) == sorted(ids) == sorted(Event.objects.values_list("id", flat=True))
    assert len(set(got)) == 300
    assert queue.failed_job_registry.count == 0
    drains = queue.finished_job_registry.get_job_ids()
    print(f"300 single-event ingestions → {len(drains)} drain jobs")
    # One job per ingestion before; here a drain takes every id that arrived since the last
    # one started (48 jobs on the shared 2-core machine, 2026-11-29).
    assert 1 <= len(drains) < 100
    assert redis_conn.llen(fanout.waiting_key(subscriber)) == 0


@pytest.mark.django_db
def test_ingestions_while_a_drain_is_pending_join_it_and_are_handed_over_in_one_call(
    sender, subscriber, redis_conn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ids = [sender.post(EVENTS, {"name": "a", "external_id": f"c-{i}"},
                           format="json").json()["id"] for i in range(5)]

    assert drain_jobs() == 1
    (job,) = run_events_queue()
    assert job.return_value() == 5
    assert received(redis_conn) == ids  # in ingestion order


@pytest.mark.django_db
def test_an_id_pushed_after_the_drain_popped_its_last_batch_gets_a_new_drain(
    subscriber, redis_conn
):
    # The racing order, step by step: producer 1, the drain's start, its pops, producer 2.
    assert fanout.publish([1]) == 1           # push, flag set, drain enqueued
    fanout.unflag(subscriber)                 # the drain starts: unflag first …
    assert fanout.pop(subscriber) == [1]      # … then pops (and hands [1] over)
    assert fanout.pop(subscriber) == []       # the list looks empty: the drain is finishing
    assert fanout.publish([2]) == 1           # a producer pushes now: the flag is gone, so
    assert drain_jobs() == 2                  # it enqueues a drain of its own
    fanout.publish([3])                       # and the next one joins that pending drain
    assert drain_jobs() == 2

    run_events_queue()

    assert received(redis_conn) == [2, 3]     # 1 was popped by hand above
    assert redis_conn.llen(fanout.waiting_key(subscriber)) == 0
    assert not redis_conn.exists(fanout.flag_key(subscriber))


@pytest.mark.django_db
def test_an_id_pushed_while_a_drain_hands_a_batch_over_is_drained_exactly_once(
    subscriber, redis_conn
):
    fanout.publish([1])
    fanout.unflag(subscriber)
    batch = fanout.pop(subscriber)
    fanout.publish([2])                       # during the hand-over of [1]: a new drain …
    assert fanout.pop(subscriber) == [2]      # … yet the running drain pops 2 first
    assert fanout.pop(subscriber) == []

    run_events_queue()                        # the new drain finds nothing: no second copy

    assert batch == [1]
    assert received(redis_conn) == []
    assert not redis_conn.exists(fanout.flag_key(subscriber))


@pytest.mark.django_db
def test_the_periodic_drain_takes_a_list_left_without_a_flag(subscriber, redis_conn):
    # A worker killed between its unflag and its pops: ids waiting, no flag, no job.
    redis_conn.rpush(fanout.waiting_key(subscriber), 7, 8, 9)
    assert drain_jobs() == 0

    assert fanout.drain_all() == {subscriber: 3}

    assert received(redis_conn) == [7, 8, 9]
    assert redis_conn.llen(fanout.waiting_key(subscriber)) == 0


@pytest.mark.django_db
def test_the_periodic_drain_leaves_empty_lists_alone(subscriber, redis_conn):
    assert fanout.drain_all() == {}


def test_the_periodic_drain_is_registered_with_the_cron():
    with open("config/cron.py") as source:
        assert "cron.register(drain_all" in source.read()


@pytest.mark.django_db
def test_a_drain_goes_on_in_batches_until_the_list_is_empty(subscriber, redis_conn,
                                                           monkeypatch):
    monkeypatch.setattr(fanout, "DRAIN_BATCH", 4)
    fanout.publish(list(range(1, 11)))

    (job,) = run_events_queue()

    assert job.return_value() == 10
    assert received(redis_conn) == list(range(1, 11))


@pytest.mark.django_db
def test_a_batch_the_subscriber_fails_on_becomes_a_retried_job(no_subscribers, redis_conn):
    path = "tests.ingestion.subscribers.explode"
    hooks.subscribe_to_events(path)
    fanout.publish([4, 5])

    assert fanout.drain(path) == 2

    (retry,) = [job for job in django_rq.get_queue("events").get_jobs()
                if job.func_name != fanout.DRAIN_JOB]
    assert retry.func_name == path
    assert retry.args == ([4, 5],)
    assert retry.retries_left == len(fanout.FAILED_RETRY_INTERVALS)
    assert redis_conn.llen(fanout.waiting_key(path)) == 0


@pytest.mark.django_db
def test_a_long_drain_hands_over_to_a_successor(subscriber, redis_conn, monkeypatch):
    monkeypatch.setattr(fanout, "DRAIN_BATCH", 2)
    monkeypatch.setattr(fanout, "DRAIN_SECONDS", -1)  # every batch is over the budget
    fanout.publish([1, 2, 3])
    queue = django_rq.get_queue("events")
    queue.empty()

    assert fanout.drain(subscriber) == 2

    assert drain_jobs() == 1  # the successor, for id 3
    run_events_queue()
    assert received(redis_conn) == [1, 2, 3]
