"""A diagnostic part of bench/journeys.py: what one event costs the journeys, by batch size.

Ingestion enqueues one campaigns.journeys.jobs.on_events job per request, so a stream of
single events is walked one event per job. Here, in this process (no RQ, no HTTP), batches
of K new events (written through profiles.ingestion.tracking.events_track, the subscriber
call left out) go through campaigns.journeys.events.enter_on_events: entry, walk and the
email send to the sink. events/s per batch size shows how much of the per-job cost is fixed
(the price of walking events one by one) and what batching would give.
"""

from __future__ import annotations

import time

from harness import median

SIZES = (1, 10, 100, 500)


def by_batch_size(env: dict, world, first: int, repeats: int) -> dict[int, float]:
    """events/s of enter_on_events per batch size (median of `repeats`, after a warm-up),
    its messages sent to a sink of their own: Postfix's smtp-sink as bench/send.py runs it
    (it keeps nothing, so it costs the least)."""
    from django.test import override_settings
    from harness import free_port
    from send import _start_sink

    port = free_port()
    sink, name = _start_sink(port)
    print(f"  (messages to {name})")
    try:
        with override_settings(EMAIL_HOST="127.0.0.1", EMAIL_PORT=port):
            return _by_batch_size(world, first, repeats)
    finally:
        sink.terminate()
        sink.wait(10)


def _by_batch_size(world, first: int, repeats: int) -> dict[int, float]:
    from campaigns.journeys.events import enter_on_events
    from campaigns.models import Campaign

    # Only this part's campaign takes the event (the real-time part's is done with).
    Campaign.objects.filter(entry_kind="event", status="running").update(status="completed")
    campaign = world.event_campaign()
    following = [first]

    def batch(size: int) -> list[int]:
        ids = _track(following[0], size)
        following[0] += size
        return ids

    enter_on_events(batch(1))  # warm-up: imports, first queries
    rates: dict[int, float] = {}
    for size in SIZES:
        runs = []
        for _ in range(repeats):
            ids = batch(size)
            started = time.perf_counter()
            counts = enter_on_events(ids)
            runs.append(size / (time.perf_counter() - started))
            assert counts["walked"] == size, f"{counts} for a batch of {size}"
        rates[size] = median(runs)
        print(f"  enter_on_events, batches of {size:>3}: {rates[size]:,.0f} events/s "
              f"({1000 * size / rates[size]:,.0f} ms per batch; median of {repeats})")
    campaign.status = "completed"
    campaign.save(update_fields=["status"])
    return rates


def _track(first: int, size: int) -> list[int]:
    from journeys_world import ENTRY_EVENT

    from profiles.ingestion import tracking
    from profiles.ingestion.parsing import TimeWindow, parse_track

    items = [parse_track({"name": ENTRY_EVENT, "external_id": f"j{first + i}",
                          "message_id": f"batch-{first + i}"},
                         index=i, default_source="bench", window=TimeWindow.at())
             for i in range(size)]
    subscribers = tracking.event_subscribers
    tracking.event_subscribers = list  # no RQ job: this process walks them itself
    try:
        return [r.id for r in tracking.events_track(items=items)]
    finally:
        tracking.event_subscribers = subscribers
