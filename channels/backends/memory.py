"""An in-memory backend for tests (like django.core.mail.backends.locmem): every message sent
is kept in `outbox[channel]`, in order. A test can make the next sends fail by queueing
errors in `failures` (address → exception to raise for that address, every time)."""

from __future__ import annotations

from collections import defaultdict

from channels.backends.base import ChannelBackend, DeliveryError, Outbound

outbox: defaultdict[str, list[Outbound]] = defaultdict(list)
failures: dict[str, DeliveryError] = {}
# One entry per time a backend was opened (one per batch).
opened: list[str] = []


def reset() -> None:
    outbox.clear()
    failures.clear()
    opened.clear()


class MemoryBackend(ChannelBackend):
    def __init__(self, channel: str = ""):
        self.channel = channel

    def __enter__(self) -> MemoryBackend:
        opened.append(self.channel)
        return self

    def send(self, message: Outbound) -> str:
        error = failures.get(message.address)
        if error is not None:
            raise error
        outbox[message.channel].append(message)
        return f"memory-{message.delivery_id}"
