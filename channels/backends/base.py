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
