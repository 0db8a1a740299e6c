"""Email through Django's mail machinery (SMTP from EMAIL_URL, locmem in tests).

One connection per batch: `with EmailSender() as sender: sender.send(message)`.
"""

from __future__ import annotations

import contextlib
import smtplib

from django.core.mail import EmailMultiAlternatives, get_connection

from channels.backends.base import DeliveryError, OutboundEmail


class EmailSender:
    def __init__(self, connection=None):
        self._connection = connection or get_connection(fail_silently=False)

    def __enter__(self) -> EmailSender:
        try:
            self._connection.open()
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"Cannot reach the mail server: {exc}", permanent=False) from exc
        return self

    def __exit__(self, *exc_info) -> None:
        # The batch's outcome is already decided; a failed QUIT changes nothing.
        with contextlib.suppress(OSError, smtplib.SMTPException):
            self._connection.close()

    def send(self, email: OutboundEmail) -> str:
        """Send one message; return the provider's message id (our Message-ID for SMTP)."""
        message = EmailMultiAlternatives(
            subject=email.content.subject,
            body=email.content.text,
            from_email=email.from_email,
            to=[email.to],
            headers={"Message-ID": email.message_id, **email.content.headers},
            connection=self._connection,
        )
        message.attach_alternative(email.content.html, "text/html")
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryError(_reply(code, reply), permanent=500 <= code < 600) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                _reply(exc.smtp_code, exc.smtp_error), permanent=500 <= exc.smtp_code < 600
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"Mail server connection failed: {exc}", permanent=False) from exc
        return email.message_id


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return f"SMTP {code}: {text}"
