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
