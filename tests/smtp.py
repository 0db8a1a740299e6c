"""A real SMTP server for tests (aiosmtpd on 127.0.0.1), and a port where nothing listens."""

from __future__ import annotations

import email
import socket
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on: connecting to it is refused at once."""
    return free_port()


@dataclass(frozen=True)
class Received:
    raw: bytes
    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: tuple

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=policy.default)


@dataclass
class SmtpSink:
    """Collects every message it accepts; refuses the recipients in `refuse` with a 550."""

    host: str = "127.0.0.1"
    port: int = 0
    refuse: set[str] = field(default_factory=set)
    messages: list[Received] = field(default_factory=list)
    _controller: Controller | None = None

    def start(self) -> SmtpSink:
        self.port = self.port or free_port()
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def by_recipient(self) -> dict[str, list[EmailMessage]]:
        received: dict[str, list[EmailMessage]] = {}
        for message in list(self.messages):
            for rcpt in message.rcpt_tos:
                received.setdefault(rcpt, []).append(message.parsed())
        return received

    # aiosmtpd handler hooks (called on the server's event-loop thread).

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(
            Received(
                raw=envelope.original_content or envelope.content,
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                peer=tuple(session.peer),
            )
        )
        return "250 Message accepted for delivery"
