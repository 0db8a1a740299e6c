import django_rq
import pytest

from profiles import hooks
from tests.ingestion.subscribers import KEY


@pytest.fixture
def no_subscribers():
    """No event subscriber for one test (apps, e.g. campaigns, register theirs at startup)."""
    registered = list(hooks._event_subscribers)
    hooks._event_subscribers.clear()
    yield
    hooks._event_subscribers[:] = registered


@pytest.fixture
def subscriber(no_subscribers):
    """tests.ingestion.subscribers.record as the only event subscriber for one test."""
    path = "tests.ingestion.subscribers.record"
    hooks.subscribe_to_events(path)
    django_rq.get_connection("events").delete(KEY)  # what it received, per test
    yield path
    django_rq.get_connection("events").delete(KEY)
