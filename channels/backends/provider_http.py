"""How an HTTP provider's answer becomes a send result, the same for SMS, push and webhook:
2xx is success; 429 asks us to slow down (retry_after from Retry-After); 5xx, timeouts and
connection failures may pass on a later try; any other 4xx will not."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from channels import net
from channels.backends.base import DeliveryError, ProviderError


def call(method: str, url: str, *, what: str, **kwargs) -> net.Response:
    """net.request, with failures to get an answer raised as ProviderError."""
    try:
        return net.request(method, url, **kwargs)
    except net.BlockedAddress as exc:
        raise DeliveryError(f"{what}: {exc}", permanent=True) from exc
    except net.NetTimeout as exc:
        # It may have been accepted before the timeout: retryable, and the message id the
        # provider gets is stable per delivery so it can recognise a resend.
        raise ProviderError(f"{what}: {exc}", permanent=False) from exc
    except net.NetError as exc:
        raise ProviderError(f"{what}: {exc}", permanent=False) from exc


def raise_for_status(response: net.Response, *, what: str, gone: bool = False) -> None:
    """Raise the ProviderError a non-2xx answer means; `gone` marks the address unusable."""
    status = response.status
    if 200 <= status < 300:
        return
    detail = f"{what}: HTTP {status} {_excerpt(response.body)}".strip()
    if status == 429:
        raise ProviderError(
            detail, permanent=False, retry_after=retry_after(response.header("Retry-After"))
        )
    if status >= 500:
        raise ProviderError(detail, permanent=False)
    raise ProviderError(detail, permanent=True, gone=gone)


def retry_after(value: str) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def json_object(response: net.Response) -> dict:
    """The answer's body as a JSON object; {} when it is empty, not JSON or not an object."""
    try:
        answer = json.loads(response.body or b"{}")
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _excerpt(body: bytes) -> str:
    return body[:300].decode("utf-8", "replace")
