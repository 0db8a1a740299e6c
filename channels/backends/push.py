"""Push adapter: Web Push (VAPID, RFC 8291 aes128gcm via pywebpush's encryption) and FCM
HTTP v1, chosen per message by the subscription kind.

`Outbound.address` is the subscription's token (the FCM registration token, or the Web Push
endpoint URL); `content` has title, body, url, icon and, optionally, `subscription` (the
browser's JSON for Web Push) and `kind` ("webpush" or "fcm"). When the content has neither,
they are read from the stored PushSubscription with that token (what a rendered template
gives); failing that, a subscription with an endpoint and keys is Web Push, anything else FCM.

A "gone" answer (HTTP 404/410, or FCM's UNREGISTERED) removes that PushSubscription here,
in the backend, and raises ProviderError(gone=True, permanent=True).

Web Push endpoints come from browsers, so they go through the SSRF guard (allow list:
WEBPUSH_ALLOWED_HOSTS). The FCM URL is configuration (FCM_BASE_URL) and trusted. The FCM
OAuth token is read from FCM_ACCESS_TOKEN for now: minting it from a service account is
still to be written.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

from django.conf import settings

from channels import net
from channels.backends.base import ChannelBackend, DeliveryError, Outbound, ProviderError
from channels.backends.provider_http import call, json_object, raise_for_status
from channels.push_subscriptions import push_subscription_remove
from profiles.models import PushSubscription

WEBPUSH = PushSubscription.Kind.WEBPUSH
FCM = PushSubscription.Kind.FCM


class PushBackend(ChannelBackend):
    channel = "push"

    def __enter__(self) -> PushBackend:
        self._vapid = None
        return self

    def send(self, message: Outbound) -> str:
        if not message.address:
            raise DeliveryError("The push message has no subscription token.", permanent=True)
        kind, subscription = _subscription_of(message)
        try:
            if kind == WEBPUSH:
                return self._send_webpush(message, subscription)
            return self._send_fcm(message)
        except ProviderError as exc:
            if exc.gone:
                push_subscription_remove(kind=kind, token=message.address)
            raise

    # --- Web Push ------------------------------------------------------------------------
    def _send_webpush(self, message: Outbound, subscription: dict) -> str:
        from pywebpush import WebPusher, WebPushException

        endpoint = subscription.get("endpoint") or message.address
        payload = json.dumps(_notification(message), separators=(",", ":")).encode()
        try:
            encrypted = WebPusher({**subscription, "endpoint": endpoint}).encode(
                payload, content_encoding="aes128gcm"
            )
        except (WebPushException, ValueError, TypeError, KeyError) as exc:
            raise DeliveryError(f"Unusable Web Push subscription: {exc}", permanent=True) from None
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Encoding": "aes128gcm",
            "TTL": str(settings.WEBPUSH_TTL_SECONDS),
            "Urgency": "normal",
            **self._vapid_headers(endpoint),
        }
        response = call(
            "POST", endpoint, what="Web Push", body=encrypted["body"], headers=headers,
            timeout=settings.PROVIDER_TIMEOUT_SECONDS,
            guard=net.AddressGuard.allowing(settings.WEBPUSH_ALLOWED_HOSTS),
        )
        raise_for_status(response, what="Web Push", gone=response.status in (404, 410))
        # The push service names the message in Location (RFC 8030 §5).
        return response.header("Location") or message.message_id

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "sub": settings.WEBPUSH_VAPID_SUBJECT,
            "exp": int(time.time()) + 12 * 3600,
        }
        return self._vapid_key().sign(claims)

    def _vapid_key(self):
        """The VAPID signer, parsed once per batch."""
        from py_vapid import Vapid02

        if getattr(self, "_vapid", None) is None:
            key, subject = settings.WEBPUSH_VAPID_PRIVATE_KEY, settings.WEBPUSH_VAPID_SUBJECT
            if not key or not subject:
                raise DeliveryError("WEBPUSH_VAPID_PRIVATE_KEY/SUBJECT are not set.",
                                    permanent=True)
            try:
                self._vapid = (
                    Vapid02.from_pem(key.encode()) if "BEGIN" in key else Vapid02.from_string(key)
                )
            except Exception as exc:  # any parse failure means one thing: misconfigured
                raise DeliveryError(
                    f"WEBPUSH_VAPID_PRIVATE_KEY is not a usable key: {exc}", permanent=True
                ) from None
        return self._vapid

    # --- FCM HTTP v1 ---------------------------------------------------------------------
    def _send_fcm(self, message: Outbound) -> str:
        project, token = settings.FCM_PROJECT_ID, settings.FCM_ACCESS_TOKEN
        if not project or not token:
            raise DeliveryError("FCM_PROJECT_ID/FCM_ACCESS_TOKEN are not set.", permanent=True)
        url = f"{settings.FCM_BASE_URL.rstrip('/')}/v1/projects/{project}/messages:send"
        content = message.content
        notification = {"title": content.get("title", ""), "body": content.get("body", "")}
        if content.get("icon"):
            notification["image"] = content["icon"]
        data = {"message_id": message.message_id, "delivery_id": str(message.delivery_id)}
        if content.get("url"):
            data["url"] = content["url"]
        body = {"message": {"token": message.address, "notification": notification,
                            "data": data}}
        response = call(
            "POST", url, what="FCM", timeout=settings.PROVIDER_TIMEOUT_SECONDS,
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        raise_for_status(response, what="FCM", gone=_fcm_gone(response))
        return str(json_object(response).get("name", ""))


def _subscription_of(message: Outbound) -> tuple[str, dict]:
    """The kind and browser JSON of the subscription: from the content when the pipeline put
    them there, else from the stored PushSubscription with that token."""
    subscription = message.content.get("subscription")
    kind = message.content.get("kind")
    if not subscription and not kind:
        stored = (
            PushSubscription.objects.filter(token=message.address)
            .values_list("kind", "subscription").first()
        )
        if stored is not None:
            kind, subscription = stored
    subscription = subscription if isinstance(subscription, dict) else {}
    if not kind:
        kind = WEBPUSH if subscription.get("endpoint") and subscription.get("keys") else FCM
    return kind, subscription


def _notification(message: Outbound) -> dict:
    content = message.content
    return {
        "title": content.get("title", ""), "body": content.get("body", ""),
        "url": content.get("url", ""), "icon": content.get("icon", ""),
        "message_id": message.message_id,
    }


def _fcm_gone(response: net.Response) -> bool:
    """FCM says a token is dead with 404 and the UNREGISTERED error code."""
    if response.status == 404:
        return True
    error = json_object(response).get("error") or {}
    details = error.get("details") or [] if isinstance(error, dict) else []
    codes = {d.get("errorCode") for d in details if isinstance(d, dict)}
    return "UNREGISTERED" in codes or (isinstance(error, dict)
                                       and error.get("status") == "UNREGISTERED")
