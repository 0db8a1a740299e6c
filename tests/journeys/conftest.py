"""Every journey test here sends through the in-memory backend: `outbox` is what left."""

import pytest

from channels.backends import memory


@pytest.fixture(autouse=True)
def outbox(settings):
    settings.CHANNEL_BACKENDS = {c: "channels.backends.memory.MemoryBackend"
                                 for c in ("email", "sms", "push", "mail", "webhook")}
    memory.reset()
    yield memory.outbox
    memory.reset()
