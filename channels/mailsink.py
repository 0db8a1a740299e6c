"""The local SMTP sink of `make run`: every message received becomes an .eml file.

Files go to settings.MAIL_CAPTURE_DIR, named after the message's Message-ID, so the web UI
can show what a delivery "sent" from its provider message id (channels.services sets
`<delivery-{id}@domain>`). A message received again with the same Message-ID replaces
the earlier file. Nothing here is used in production, where EMAIL_URL names a real server.
"""

from __future__ import annotations

import email
import logging
import os
import re
import tempfile
import uuid
from email import policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from django.conf import settings

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")
_MAX_NAME = 200


def capture_dir() -> Path | None:
    directory = settings.MAIL_CAPTURE_DIR
    return Path(directory).resolve() if directory else None


def message_filename(message_id: str) -> str:
    """A safe file name for a Message-ID: no separators, no leading dot, bounded length."""
    name = _UNSAFE.sub("_", message_id.strip().strip("<>"))[:_MAX_NAME].lstrip(".")
    return f"{name}.eml" if name else ""


def captured_message_path(message_id: str) -> Path | None:
    """The captured file of this Message-ID, or None (no capture dir, no such message)."""
    directory = capture_dir()
    name = message_filename(message_id or "")
    if directory is None or not name:
        return None
    path = (directory / name).resolve()
    if path.parent != directory or not path.is_file():
        return None
    return path


def read_captured(message_id: str) -> EmailMessage | None:
    path = captured_message_path(message_id)
    if path is None:
        return None
    with path.open("rb") as fh:
        return email.message_from_binary_file(fh, policy=policy.default)


def capture_message(raw: bytes, *, directory: Path, mail_from: str, rcpt_tos: list[str]) -> Path:
    """Write one received message (with its envelope as X- headers) and return its path."""
    parsed = email.message_from_bytes(raw, policy=policy.compat32)
    name = message_filename(parsed.get("Message-ID", "")) or f"no-id-{uuid.uuid4().hex}.eml"
    envelope = f"X-MailFrom: {mail_from}\r\nX-RcptTo: {', '.join(rcpt_tos)}\r\n".encode()
    directory.mkdir(parents=True, exist_ok=True)
    # Write then rename, so the UI never reads a half-written file.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".incoming-", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(envelope + raw)
    path = directory / name
    os.replace(tmp, path)
    return path


class CaptureHandler:
    """aiosmtpd handler: accept every message and write it to the capture directory."""

    def __init__(self, directory: Path | None = None):
        self._directory = directory

    async def handle_DATA(self, server, session, envelope) -> str:
        directory = self._directory or capture_dir()
        if directory is None:
            return "451 MAIL_CAPTURE_DIR is not set"
        path = capture_message(
            envelope.original_content or envelope.content,
            directory=directory, mail_from=envelope.mail_from or "", rcpt_tos=envelope.rcpt_tos,
        )
        log.info("captured mail to %s: %s", ", ".join(envelope.rcpt_tos), path.name)
        return "250 Message captured"


def mailsink_controller(*, host: str, port: int, directory: Path | None = None) -> Controller:
    """An aiosmtpd controller (not started) that captures into `directory` or the setting."""
    return Controller(CaptureHandler(directory), hostname=host, port=port, enable_SMTPUTF8=True)
