import pytest

from profiles import hooks


@pytest.fixture
def subscriber():
    """Registers tests.ingestion.subscribers.record as an event subscriber for one test."""
    path = "tests.ingestion.subscribers.record"
    hooks.subscribe_to_events(path)
    yield path
    hooks._event_subscribers.remove(path)
