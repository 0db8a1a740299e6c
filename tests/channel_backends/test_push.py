import base64
import json

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from py_vapid.utils import b64urldecode

from channels.backends.base import DeliveryError, Outbound, ProviderError
from channels.backends.push import PushBackend
from profiles.models import PushSubscription
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Browser:
    """What a browser holds for a Web Push subscription: its ECDH key pair and auth secret."""

    def __init__(self, endpoint: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = b"0123456789abcdef"
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.subscription = {"endpoint": endpoint,
                             "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth,
                                 version="aes128gcm")
        return json.loads(plain)


@pytest.fixture
def vapid(settings):
    key = Vapid02()
    key.generate_keys()
    raw = key.private_key.private_numbers().private_value.to_bytes(32, "big")
    settings.WEBPUSH_VAPID_PRIVATE_KEY = b64url(raw)
    settings.WEBPUSH_VAPID_SUBJECT = "mailto:ops@itinera.example"
    settings.WEBPUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    return key


@pytest.fixture
def fcm(settings, provider):
    settings.FCM_BASE_URL = provider.url("")
    settings.FCM_PROJECT_ID = "itinera-demo"
    settings.FCM_ACCESS_TOKEN = "ya29.test-token"
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    return provider


def webpush_message(browser, delivery_id=5):
    return Outbound(
        delivery_id=delivery_id, channel="push", address=browser.subscription["endpoint"],
        content={"title": "Hi Ada", "body": "Your order shipped", "url": "https://shop.example/o/1",
                 "icon": "https://shop.example/icon.png", "subscription": browser.subscription,
                 "kind": "webpush"},
        message_id=f"itinera-{delivery_id}",
    )


def fcm_message(device="fcm-token-1", delivery_id=6):
    return Outbound(
        delivery_id=delivery_id, channel="push", address=device,
        content={"title": "Hi Ada", "body": "Your order shipped", "url": "https://shop.example/o/1",
                 "icon": "https://shop.example/icon.png", "subscription": {}},
        message_id=f"itinera-{delivery_id}",
    )


def send(message):
    with PushBackend() as backend:
        return backend.send(message)


def test_web_push_posts_the_encrypted_notification_with_vapid(vapid, provider):
    # given a browser subscribed at an endpoint on the local push service
    browser = Browser(provider.url("/push/v1/abc"))
    provider.respond(201, b"", headers={"Location": "/push/messages/42"})
    # when a push is sent
    provider_id = send(webpush_message(browser))
    # then the push service got an aes128gcm body only the browser can decrypt...
    (request,) = provider.requests
    assert (request.method, request.path) == ("POST", "/push/v1/abc")
    assert request.headers["content-encoding"] == "aes128gcm"
    assert request.headers["content-type"] == "application/octet-stream"
    assert int(request.headers["ttl"]) > 0
    assert browser.decrypt(request.body) == {
        "title": "Hi Ada", "body": "Your order shipped", "url": "https://shop.example/o/1",
        "icon": "https://shop.example/icon.png", "message_id": "itinera-5",
    }
    # ...and a VAPID token for this origin, signed by our key
    scheme, params = request.headers["authorization"].split(" ", 1)
    fields = dict(part.split("=", 1) for part in params.split(","))
    assert scheme == "vapid"
    public = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert b64urldecode(fields["k"].encode()) == public
    claims = json.loads(b64urldecode(fields["t"].split(".")[1].encode()))
    assert claims["aud"] == f"http://127.0.0.1:{provider.port}"
    assert claims["sub"] == "mailto:ops@itinera.example"
    assert provider_id == "/push/messages/42"


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_web_push_subscription_is_removed(vapid, provider, status):
    # given a stored subscription whose endpoint the push service no longer knows
    browser = Browser(provider.url("/push/v1/dead"))
    subscription = PushSubscription.objects.create(
        profile=ProfileFactory(), kind="webpush", platform="web",
        token=browser.subscription["endpoint"], subscription=browser.subscription,
    )
    provider.respond(status, b"")
    # when a push is sent to it
    with pytest.raises(ProviderError) as failure:
        send(webpush_message(browser))
    # then the error says gone, permanently, and the subscription is deleted
    assert failure.value.gone and failure.value.permanent
    assert not PushSubscription.objects.filter(pk=subscription.pk).exists()


def test_a_web_push_server_error_keeps_the_subscription(vapid, provider):
    browser = Browser(provider.url("/push/v1/busy"))
    PushSubscription.objects.create(
        profile=ProfileFactory(), kind="webpush", platform="web",
        token=browser.subscription["endpoint"], subscription=browser.subscription,
    )
    provider.respond(503)
    with pytest.raises(ProviderError) as failure:
        send(webpush_message(browser))
    assert not failure.value.permanent and not failure.value.gone
    assert PushSubscription.objects.count() == 1


def test_a_web_push_endpoint_on_a_private_address_is_refused(vapid, provider, settings):
    # given endpoints come from browsers: a loopback one that is not allow-listed
    settings.WEBPUSH_ALLOWED_HOSTS = []
    browser = Browser(provider.url("/push/v1/abc"))
    with pytest.raises(DeliveryError) as failure:
        send(webpush_message(browser))
    assert failure.value.permanent
    assert provider.requests == []


def test_web_push_without_vapid_keys_fails_permanently(vapid, provider, settings):
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    with pytest.raises(DeliveryError) as failure:
        send(webpush_message(Browser(provider.url("/push/v1/abc"))))
    assert failure.value.permanent
    assert provider.requests == []


def test_fcm_gets_a_v1_message_with_the_bearer_token(fcm):
    fcm.respond(200, {"name": "projects/itinera-demo/messages/0:1234"})
    provider_id = send(fcm_message())
    (request,) = fcm.requests
    assert (request.method, request.path) == (
        "POST", "/v1/projects/itinera-demo/messages:send"
    )
    assert request.headers["authorization"] == "Bearer ya29.test-token"
    assert request.json() == {"message": {
        "token": "fcm-token-1",
        "notification": {"title": "Hi Ada", "body": "Your order shipped",
                         "image": "https://shop.example/icon.png"},
        "data": {"message_id": "itinera-6", "delivery_id": "6",
                 "url": "https://shop.example/o/1"},
    }}
    assert provider_id == "projects/itinera-demo/messages/0:1234"


def test_an_unregistered_fcm_token_is_removed(fcm):
    # given a stored FCM token the service reports as UNREGISTERED
    subscription = PushSubscription.objects.create(
        profile=ProfileFactory(), kind="fcm", platform="android", token="fcm-token-1",
    )
    other = PushSubscription.objects.create(
        profile=subscription.profile, kind="fcm", platform="ios", token="fcm-token-2",
    )
    fcm.respond(404, {"error": {"code": 404, "status": "NOT_FOUND", "details": [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
         "errorCode": "UNREGISTERED"}]}})
    with pytest.raises(ProviderError) as failure:
        send(fcm_message())
    assert failure.value.gone
    assert list(PushSubscription.objects.values_list("pk", flat=True)) == [other.pk]


def test_fcm_429_gives_retry_after(fcm):
    fcm.respond(429, {"error": {"status": "RESOURCE_EXHAUSTED"}}, headers={"Retry-After": "9"})
    with pytest.raises(ProviderError) as failure:
        send(fcm_message())
    assert (failure.value.permanent, failure.value.retry_after, failure.value.gone) == (
        False, 9.0, False)


def test_fcm_timeout_is_retryable(fcm):
    fcm.respond(200, delay=1.5)
    with pytest.raises(ProviderError) as failure:
        send(fcm_message())
    assert not failure.value.permanent


def test_fcm_invalid_argument_is_permanent_and_keeps_the_token(fcm):
    PushSubscription.objects.create(
        profile=ProfileFactory(), kind="fcm", platform="android", token="fcm-token-1",
    )
    fcm.respond(400, {"error": {"status": "INVALID_ARGUMENT"}})
    with pytest.raises(ProviderError) as failure:
        send(fcm_message())
    assert failure.value.permanent and not failure.value.gone
    assert PushSubscription.objects.count() == 1


def test_a_rendered_message_without_subscription_uses_the_stored_one(vapid, provider):
    # given a stored Web Push subscription, and content as a template renders it (no JSON)
    browser = Browser(provider.url("/push/v1/stored"))
    PushSubscription.objects.create(
        profile=ProfileFactory(), kind="webpush", platform="web",
        token=browser.subscription["endpoint"], subscription=browser.subscription,
    )
    message = Outbound(delivery_id=8, channel="push", address=browser.subscription["endpoint"],
                       content={"title": "Hi", "body": "There"}, message_id="itinera-8")
    # when it is sent, it goes out as Web Push, encrypted for that browser
    send(message)
    (request,) = provider.requests
    assert request.path == "/push/v1/stored"
    assert browser.decrypt(request.body)["title"] == "Hi"
