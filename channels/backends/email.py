"""Email through Django's mail machinery (SMTP from EMAIL_URL, locmem in tests).

One connection per batch: `with EmailBackend() as backend: backend.send(outbound)`.
The outbound content holds subject, html, text, headers and optionally from_email/reply_to.
"""

from __future__ import annotations

import contextlib
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from channels.backends.base import ChannelBackend, DeliveryError, Outbound, OutboundEmail


class EmailBackend(ChannelBackend):
    channel = "email"

    def __init__(self, connection=None):
        self._connection = connection or get_connection(fail_silently=False)

    def __enter__(self) -> EmailBackend:
        try:
            self._connection.open()
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"Cannot reach the mail server: {exc}", permanent=False) from exc
        return self

    def __exit__(self, *exc_info) -> None:
        # The batch's outcome is already decided; a failed QUIT changes nothing.
        with contextlib.suppress(OSError, smtplib.SMTPException):
            self._connection.close()

    def send(self, message: Outbound | OutboundEmail) -> str:
        """Send one message; return the provider's message id (our Message-ID for SMTP)."""
        if isinstance(message, OutboundEmail):  # the pre-#5 callers' shape
            message = _outbound(message)
        content = message.content
        reply_to = content.get("reply_to")
        email = EmailMultiAlternatives(
            subject=content.get("subject", ""),
            body=content.get("text", ""),
            from_email=content.get("from_email") or settings.DEFAULT_FROM_EMAIL,
            to=[message.address],
            reply_to=[reply_to] if reply_to else None,
            headers={"Message-ID": message.message_id, **content.get("headers", {})},
            connection=self._connection,
        )
        if content.get("html"):
            email.attach_alternative(content["html"], "text/html")
        try:
            email.send()
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryError(_reply(code, reply), permanent=500 <= code < 600) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                _reply(exc.smtp_code, exc.smtp_error), permanent=500 <= exc.smtp_code < 600
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"Mail server connection failed: {exc}", permanent=False) from exc
        return message.message_id


# Kept for callers written before every channel shared one interface.
EmailSender = EmailBackend


def _outbound(email: OutboundEmail) -> Outbound:
    return Outbound(
        delivery_id=email.delivery_id, channel="email", address=email.to,
        content={"subject": email.content.subject, "html": email.content.html,
                 "text": email.content.text, "headers": dict(email.content.headers),
                 "from_email": email.from_email},
        message_id=email.message_id,
    )


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return f"SMTP {code}: {text}"
