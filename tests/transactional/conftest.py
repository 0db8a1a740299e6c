import pytest

from channels.backends import memory

MEMORY = "channels.backends.memory.MemoryBackend"


@pytest.fixture
def outbox(settings):
    """Every channel sends to the in-memory backend; yields its outbox (channel → messages)."""
    settings.CHANNEL_BACKENDS = {c: MEMORY for c in ("email", "sms", "push", "mail", "webhook")}
    memory.reset()
    yield memory.outbox
    memory.reset()


@pytest.fixture
def api_client(db):
    """`api_client("messages:write", ...)`: a client holding a fresh token with these scopes."""
    from rest_framework.test import APIClient

    from profiles.services import api_token_create

    def make(*scopes: str) -> APIClient:
        _, secret = api_token_create(name="tests", scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make
