"""An event subscriber for the tests: an RQ job that remembers the ids it was handed."""

import django_rq

KEY = "itinera:tests:subscriber-received"


def record(event_ids: list[int]) -> int:
    connection = django_rq.get_connection("events")
    connection.rpush(KEY, *event_ids)
    return len(event_ids)


def explode(event_ids: list[int]) -> int:
    """A subscriber that fails on every batch."""
    raise RuntimeError(f"cannot take {len(event_ids)} event(s)")
