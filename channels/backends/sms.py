"""SMS adapters: a configurable JSON-over-HTTP provider and a Twilio-compatible one.

Both refuse numbers not in E.164 before any request (a permanent failure), and map the
provider's answer through provider_http: 429 → retry_after, 5xx/timeout → retryable,
other 4xx → permanent.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import urlencode

from django.conf import settings

from channels.backends.base import ChannelBackend, DeliveryError, Outbound
from channels.backends.provider_http import call, json_object, raise_for_status

E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def require_e164(number: str) -> str:
    if not E164.fullmatch(number or ""):
        raise DeliveryError(f"{number!r} is not an E.164 phone number.", permanent=True)
    return number


def _body(message: Outbound) -> str:
    body = message.content.get("body", "")
    if not body:
        raise DeliveryError("The SMS is empty.", permanent=True)
    return body


class HttpSmsBackend(ChannelBackend):
    """POST {"to", "from", "body", "reference"} as JSON to SMS_PROVIDER_URL with a bearer
    token; the provider answers JSON with its message id in "id" (or "message_id")."""

    channel = "sms"

    def send(self, message: Outbound) -> str:
        to = require_e164(message.address)
        url = settings.SMS_PROVIDER_URL
        if not url:
            raise DeliveryError("SMS_PROVIDER_URL is not set.", permanent=True)
        payload = {
            "to": to, "from": settings.SMS_SENDER, "body": _body(message),
            "reference": message.message_id,
        }
        response = call(
            "POST", url, what="SMS provider", timeout=settings.PROVIDER_TIMEOUT_SECONDS,
            body=json.dumps(payload).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {settings.SMS_PROVIDER_TOKEN}",
                "Idempotency-Key": message.message_id,
            },
        )
        raise_for_status(response, what="SMS provider")
        answer = json_object(response)
        return str(answer.get("id") or answer.get("message_id") or "")


class TwilioSmsBackend(ChannelBackend):
    """Twilio's Messages API (and compatible providers): a form POST with basic auth."""

    channel = "sms"

    def send(self, message: Outbound) -> str:
        to = require_e164(message.address)
        sid, token = settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN
        if not sid or not token:
            raise DeliveryError("TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN are not set.",
                                permanent=True)
        url = f"{settings.TWILIO_BASE_URL.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
        credentials = base64.b64encode(f"{sid}:{token}".encode()).decode()
        form = {"To": to, "From": settings.TWILIO_FROM, "Body": _body(message)}
        response = call(
            "POST", url, what="Twilio", timeout=settings.PROVIDER_TIMEOUT_SECONDS,
            body=urlencode(form).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": f"Basic {credentials}",
                "I-Twilio-Idempotency-Token": message.message_id,
            },
        )
        raise_for_status(response, what="Twilio")
        return str(json_object(response).get("sid", ""))
