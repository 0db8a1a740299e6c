"""Coalesced fan-out of newly ingested events to the subscribers of profiles.hooks.

One RQ job per ingestion request cost each event a job's fixed price (a fork, connections,
~40 queries, an SMTP connection): 2 workers drained 2–3 single-event requests a second. So
the ids wait in Redis instead, one list per subscriber, and one drain job hands them to the
subscriber in batches of up to DRAIN_BATCH:

- publish (ingestion, after its commit): RPUSH the ids onto each subscriber's list, THEN
  `SET flag NX`; only the request that sets the flag enqueues a drain job (queue "events").
- drain (the job): DELETE the flag FIRST, then LPOP batches until the list is empty.

Why no id is stranded: an id pushed before the drain's unflag is still in the list when that
drain starts popping, and the drain pops until the list is empty; an id pushed after the
unflag is followed by its producer's `SET NX`, which either sets the flag (and enqueues a
drain) or finds it set by another producer after the unflag (who enqueued one). Unflagging
at the END instead would strand an id pushed between the last empty pop and the unflag.

What is not covered, and by what:
- a worker killed between the unflag and the end of its drain: the ids left in the list are
  taken by the next ingestion's drain or by drain_all (config/cron.py, every 30 s); the batch
  in the dead worker's hands is lost (as was the args of a killed one-batch job before);
- a flag whose job is gone (Redis' queue emptied by hand, the enqueue failed): the flag
  expires after FLAG_TTL, and drain_all drains the list meanwhile;
- Redis itself lost: the ids waiting in the lists are lost with it, i.e. the real-time
  entries (and waits woken, goals, exits) of those events are not walked. The events
  themselves are committed in PostgreSQL before they are published.
"""

from __future__ import annotations

import logging
import time
from functools import cache

from django.utils.module_loading import import_string

from profiles.hooks import event_subscribers

log = logging.getLogger(__name__)

DRAIN_JOB = "profiles.ingestion.fanout.drain"
DRAIN_BATCH = 500  # ids per subscriber call: enter_on_events' cost is mostly fixed per call
# A drain hands over and enqueues its successor after this long, so a steady stream does not
# keep one job running into the queue's timeout.
DRAIN_SECONDS = 60
# A flag whose drain job is gone stops suppressing new drains after this long.
FLAG_TTL = 60
FAILED_RETRY_INTERVALS = [10, 60, 300]  # seconds before RQ retries a batch that raised


def waiting_key(path: str) -> str:
    return f"itinera:events:waiting:{path}"


def flag_key(path: str) -> str:
    return f"itinera:events:drain-pending:{path}"


def publish(event_ids: list[int]) -> int:
    """Hand new event ids to every subscriber (call after they are committed); returns the
    number of drain jobs enqueued."""
    paths = event_subscribers()
    if not event_ids or not paths:
        return 0
    pipe = _queue().connection.pipeline(transaction=False)
    for path in paths:  # all pushes, then all flags: Redis runs a pipeline in order
        pipe.rpush(waiting_key(path), *event_ids)
    for path in paths:
        pipe.set(flag_key(path), 1, nx=True, ex=FLAG_TTL)
    flagged = pipe.execute()[len(paths):]
    for path, is_set in zip(paths, flagged, strict=True):
        if is_set:
            _enqueue_drain(path)
    return sum(bool(x) for x in flagged)


def drain(path: str) -> int:
    """RQ job (queue "events"): hand the subscriber's waiting ids to it, in batches, until
    none is waiting; returns how many ids were handed over."""
    unflag(path)  # first: an id pushed from now on gets a drain after this one
    subscriber = import_string(path)
    handed = 0
    started = time.monotonic()
    while batch := pop(path):
        handed += len(batch)
        _hand(path, subscriber, batch)
        if time.monotonic() - started > DRAIN_SECONDS:
            rearm(path)
            break
    return handed


def drain_all() -> dict[str, int]:
    """Periodic (config/cron.py): drain whatever a subscriber's list still holds, e.g. ids
    a killed drain left with no flag, so no new drain would come until the next event."""
    connection = _queue().connection
    return {path: drain(path) for path in event_subscribers()
            if connection.llen(waiting_key(path))}


def unflag(path: str) -> None:
    """A drain's first step: from now on a producer's `SET NX` succeeds and enqueues one."""
    _queue().connection.delete(flag_key(path))


def pop(path: str) -> list[int]:
    """Up to DRAIN_BATCH waiting ids, oldest first (none: an empty list)."""
    return [int(x) for x in _queue().connection.lpop(waiting_key(path), DRAIN_BATCH) or ()]


def rearm(path: str) -> bool:
    """Enqueue a drain for ids left waiting, unless one is already pending."""
    connection = _queue().connection
    if connection.llen(waiting_key(path)) and connection.set(flag_key(path), 1, nx=True,
                                                             ex=FLAG_TTL):
        _enqueue_drain(path)
        return True
    return False


def _hand(path: str, subscriber, batch: list[int]) -> None:
    try:
        subscriber(batch)
    except Exception:
        # The batch becomes an ordinary job of the subscriber: RQ retries it, then keeps it
        # in the failed registry (requeue by hand), and this drain goes on with the rest.
        from rq import Retry

        log.exception("event subscriber %s failed on %d event(s); retried as a job",
                      path, len(batch))
        _queue().enqueue(path, batch, retry=Retry(max=len(FAILED_RETRY_INTERVALS),
                                                  interval=FAILED_RETRY_INTERVALS))


def _enqueue_drain(path: str) -> None:
    _queue().enqueue(DRAIN_JOB, path)


@cache
def _queue():
    # One queue (and Redis connection pool) per process: django_rq builds a new client, hence
    # a new TCP connection, on every get_queue() call. Enqueue at once ("auto"), never on a
    # database commit: the ids are in Redis already, a flag whose job waited on a rolled-back
    # transaction would hold back every drain until it expired.
    import django_rq

    return django_rq.get_queue("events", commit_mode="auto")
