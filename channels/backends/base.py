"""What every channel adapter shares: one outbound message, one error type."""

from __future__ import annotations

from dataclasses import dataclass, field


class DeliveryError(Exception):
    """A send that did not happen. `permanent` says whether trying again could help."""

    def __init__(self, message: str, *, permanent: bool):
        self.permanent = permanent
        super().__init__(message)


@dataclass(frozen=True)
class EmailContent:
    subject: str
    html: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundEmail:
    delivery_id: int
    to: str
    content: EmailContent
    from_email: str
    message_id: str


class ProviderError(DeliveryError):
    """A provider's answer beyond "no": `retry_after` (seconds) when it asks us to slow down
    (HTTP 429), `gone` when the address no longer exists (a push subscription unregistered)."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None,
                 gone: bool = False):
        super().__init__(message, permanent=permanent)
        self.retry_after = retry_after
        self.gone = gone


@dataclass(frozen=True)
class Outbound:
    """One rendered message for any channel.

    `address` is what the channel reaches: an email address, an E.164 phone, a push token or
    endpoint, a webhook URL, a postal recipient's name. `content` holds the channel's rendered
    fields (email: subject, preheader, html, text, headers, from_email; sms: body; push:
    title, body, url, icon, subscription; webhook: url, payload; mail: letter and the address
    fields). `message_id` is stable per delivery, so a resend is recognisable downstream.
    """

    delivery_id: int
    channel: str
    address: str
    content: dict
    message_id: str


class ChannelBackend:
    """The interface every adapter implements (in the style of django.core.mail.backends):
    used as a context manager around a batch (open connections once), `send` per message.
    """

    channel = ""

    def __enter__(self) -> ChannelBackend:
        return self

    def __exit__(self, *exc_info) -> None:
        return None

    def send(self, message: Outbound) -> str:
        """Send one message; return the provider's message id or raise DeliveryError."""
        raise NotImplementedError


def get_backend(channel: str) -> ChannelBackend:
    """A fresh backend for the channel, from settings.CHANNEL_BACKENDS (dotted paths)."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    path = settings.CHANNEL_BACKENDS.get(channel)
    if not path:
        raise DeliveryError(f"No backend is configured for the {channel} channel.", permanent=True)
    return import_string(path)()
