import pytest
from rest_framework.test import APIClient

from profiles import hooks
from profiles.services import api_token_create


@pytest.fixture
def client_with(db):
    """`client_with("events:write", ...)`: an API client holding a token with these scopes
    (the token is named "shop", which is the default source of its events)."""

    def make(*scopes: str) -> APIClient:
        _, secret = api_token_create(name="shop", scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make


@pytest.fixture
def sender(client_with) -> APIClient:
    return client_with("events:write", "profiles:write")


@pytest.fixture
def subscriber():
    """Registers tests.ingestion.subscribers.record as an event subscriber for one test."""
    path = "tests.ingestion.subscribers.record"
    hooks.subscribe_to_events(path)
    yield path
    hooks._event_subscribers.remove(path)
