"""Email through Django's mail connections (SMTP from EMAIL_URL, an ESP through
django-anymail, locmem in tests): whichever EMAIL_BACKEND is configured.

One connection per batch: `with EmailBackend() as backend: backend.send(outbound)`.
The outbound content holds subject, html, text, headers and optionally from_email/reply_to.

With Django's own SMTP backend the message is written straight to bytes
(channels.backends.mime) and handed to the open smtplib connection: building Django
EmailMessage objects was most of a worker's time after the SMTP dialogue. Any other
connection (anymail's ESP backends, locmem, console, a project's subclass of the SMTP backend
that signs or rewrites messages) gets a Django EmailMultiAlternatives, as before.
"""

from __future__ import annotations

import contextlib
import smtplib

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as DjangoSmtpBackend

from channels.backends.base import (
    ChannelBackend,
    DeliveryError,
    Outbound,
    OutboundEmail,
    ProviderError,
)
from channels.backends.mime import BadHeader, MailParts, NotDirect, mime_bytes
from channels.backends.provider_http import retry_after


class EmailBackend(ChannelBackend):
    channel = "email"

    def __init__(self, connection=None):
        self._connection = connection or get_connection(fail_silently=False)
        self._smtp = None  # the open smtplib connection, when bytes can go to it directly

    def __enter__(self) -> EmailBackend:
        try:
            self._connection.open()
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"Cannot reach the mail server: {exc}", permanent=False) from exc
        # Exactly Django's SMTP backend (not a subclass, which may sign or rewrite messages in
        # its own _send): its open smtplib connection takes our bytes directly.
        direct = type(self._connection) is DjangoSmtpBackend
        self._smtp = self._connection.connection if direct else None
        return self

    def __exit__(self, *exc_info) -> None:
        # The batch's outcome is already decided; a failed QUIT changes nothing.
        with contextlib.suppress(OSError, smtplib.SMTPException):
            self._connection.close()

    def send(self, message: Outbound | OutboundEmail) -> str:
        """Send one message; return the provider's message id: our Message-ID over SMTP, the
        ESP's id through django-anymail (what its feedback webhooks will name)."""
        if isinstance(message, OutboundEmail):  # the pre-#5 callers' shape
            message = _outbound(message)
        try:
            return self._deliver(_parts(message))
        except (BadHeader, BadHeaderError) as exc:
            raise DeliveryError(f"Refused header: {exc}", permanent=True) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryError(_reply(code, reply), permanent=500 <= code < 600) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                _reply(exc.smtp_code, exc.smtp_error), permanent=500 <= exc.smtp_code < 600
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"Mail server connection failed: {exc}", permanent=False) from exc
        except Exception as exc:
            esp = _esp_error(exc)
            if esp is None:
                raise
            raise esp from exc

    def _deliver(self, parts: MailParts) -> str:
        if self._smtp is not None:
            try:
                envelope_from, raw = mime_bytes(parts)
            except NotDirect:
                pass  # e.g. an internationalized address: Django's machinery encodes it
            else:
                self._smtp.sendmail(envelope_from, [parts.to], raw)
                return parts.message_id
        email = EmailMultiAlternatives(
            subject=parts.subject, body=parts.text, from_email=parts.from_email, to=[parts.to],
            reply_to=[parts.reply_to] if parts.reply_to else None,
            headers={"Message-ID": parts.message_id, **parts.headers},
            connection=self._connection,
        )
        if parts.html:
            email.attach_alternative(parts.html, "text/html")
        email.send()
        esp_id = getattr(getattr(email, "anymail_status", None), "message_id", None)
        return parts.message_id if esp_id is None else str(esp_id)


def _parts(message: Outbound) -> MailParts:
    content = message.content
    return MailParts(
        to=message.address,
        from_email=content.get("from_email") or settings.DEFAULT_FROM_EMAIL,
        subject=content.get("subject", ""), text=content.get("text", ""),
        html=content.get("html") or "", reply_to=content.get("reply_to") or "",
        message_id=message.message_id, headers=content.get("headers") or {},
    )


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


# django-anymail's errors that no retry can help (recognised by name: the ESP extra is optional).
_ESP_PERMANENT = {"AnymailRecipientsRefused", "AnymailInvalidAddress", "AnymailUnsupportedFeature",
                  "AnymailSerializationError", "AnymailCancelSend"}


def _esp_error(exc: Exception) -> DeliveryError | None:
    """An ESP's failure through django-anymail as a DeliveryError (None for anything else):
    a refused recipient or an unsendable message is permanent; HTTP 429 asks us to slow
    down; other 4xx answers are permanent; 5xx, timeouts and connection errors are retried."""
    if not type(exc).__module__.startswith("anymail"):
        return None
    text = _describe(exc)
    if type(exc).__name__ in _ESP_PERMANENT:
        return DeliveryError(f"ESP refused the message: {text}", permanent=True)
    status = getattr(exc, "status_code", None)
    if status == 429:
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        wait = retry_after(headers.get("Retry-After", "")) or 60
        return ProviderError(f"ESP throttled: {text}", permanent=False, retry_after=wait)
    permanent = status is not None and 400 <= status < 500
    return DeliveryError(f"ESP error: {text}", permanent=permanent)


def _describe(exc: Exception) -> str:
    try:
        return str(exc)
    except Exception:  # anymail's __str__ reads the HTTP response, which may be missing
        return f"{type(exc).__name__}: {exc.args[0] if exc.args else ''}"


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return f"SMTP {code}: {text}"
