"""Webhook adapter: POST the rendered JSON payload to an integrator's URL, signed.

Signature: `X-Itinera-Signature: sha256=<hex HMAC-SHA256(WEBHOOK_SIGNING_SECRET,
"<timestamp>." + body)>` with the same `<timestamp>` (Unix seconds) in `X-Itinera-Timestamp`,
so a receiver can refuse replays of an old, validly signed body; `X-Itinera-Message-Id` is
stable per delivery, for the receiver's deduplication. Retries are the pipeline's: this
raises retryable errors for 5xx and timeouts, retry_after for 429.

Targets are untrusted: channels.net refuses non-public addresses after DNS resolution and
connects to the checked address; up to WEBHOOK_MAX_REDIRECTS 307/308 redirects are followed
(they repeat the POST with its body and signature), each target checked the same way. A
301/302/303 is not followed — clients turn those into a bodiless GET, which would drop the
payload yet look delivered — and fails permanently. WEBHOOK_ALLOWED_HOSTS lists hosts allowed
anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from django.conf import settings

from channels import net
from channels.backends.base import ChannelBackend, DeliveryError, Outbound
from channels.backends.provider_http import call, raise_for_status


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def signature_valid(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver (and our tests) check: constant-time comparison."""
    return hmac.compare_digest(signature(secret, timestamp, body), header or "")


class WebhookBackend(ChannelBackend):
    channel = "webhook"

    def __enter__(self) -> WebhookBackend:
        self.guard = net.AddressGuard.allowing(settings.WEBHOOK_ALLOWED_HOSTS)
        return self

    def send(self, message: Outbound) -> str:
        secret = settings.WEBHOOK_SIGNING_SECRET
        if not secret:
            raise DeliveryError("WEBHOOK_SIGNING_SECRET is not set.", permanent=True)
        url = message.content.get("url") or message.address
        body = _body(message.content.get("payload"))
        timestamp = str(int(time.time()))
        guard = getattr(self, "guard", None) or net.AddressGuard.allowing(
            settings.WEBHOOK_ALLOWED_HOSTS
        )
        response = call(
            "POST", url, what="Webhook", guard=guard, body=body,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            max_redirects=settings.WEBHOOK_MAX_REDIRECTS, redirect_statuses=(307, 308),
            headers={
                "Content-Type": "application/json",
                "X-Itinera-Signature": signature(secret, timestamp, body),
                "X-Itinera-Timestamp": timestamp,
                "X-Itinera-Message-Id": message.message_id,
            },
        )
        raise_for_status(response, what="Webhook")
        return response.header("X-Request-Id") or message.message_id


def _body(payload) -> bytes:
    """The payload is rendered already: a JSON document as text, or a JSON-able value."""
    if isinstance(payload, str | bytes):
        try:
            json.loads(payload)
        except ValueError as exc:
            raise DeliveryError(f"The webhook payload is not JSON: {exc}", permanent=True) from None
        return payload.encode() if isinstance(payload, str) else payload
    return json.dumps(payload if payload is not None else {}, separators=(",", ":")).encode()
