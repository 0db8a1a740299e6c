import json

import pytest

from channels.backends.base import DeliveryError, Outbound, ProviderError
from channels.backends.webhook import WebhookBackend, signature_valid

SECRET = "whsec-test-0123456789"


def hook(url, payload=None, delivery_id=3):
    return Outbound(delivery_id=delivery_id, channel="webhook", address=url,
                    content={"url": url, "payload": payload if payload is not None
                             else {"event": "welcome", "profile": "cust-1"}},
                    message_id=f"itinera-{delivery_id}")


@pytest.fixture
def receiver(settings, provider):
    settings.WEBHOOK_SIGNING_SECRET = SECRET
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    return provider


def send(message):
    with WebhookBackend() as backend:
        return backend.send(message)


def test_posts_the_payload_signed_with_the_secret(receiver):
    # when a webhook is sent to an allow-listed receiver
    send(hook(receiver.url("/hooks/itinera?src=1")))
    # then it got the JSON payload, and the signature verifies with the secret
    (request,) = receiver.requests
    assert (request.method, request.path) == ("POST", "/hooks/itinera?src=1")
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"event": "welcome", "profile": "cust-1"}
    assert request.headers["x-itinera-message-id"] == "itinera-3"
    timestamp = request.headers["x-itinera-timestamp"]
    assert signature_valid(SECRET, timestamp, request.body, request.headers["x-itinera-signature"])


def test_a_signature_does_not_verify_with_another_secret_or_body(receiver):
    send(hook(receiver.url("/")))
    (request,) = receiver.requests
    header = request.headers["x-itinera-signature"]
    timestamp = request.headers["x-itinera-timestamp"]
    assert not signature_valid("another-secret", timestamp, request.body, header)
    assert not signature_valid(SECRET, timestamp, request.body + b" ", header)
    assert not signature_valid(SECRET, str(int(timestamp) - 1), request.body, header)


def test_a_payload_rendered_as_json_text_is_sent_as_is(receiver):
    send(hook(receiver.url("/"), payload='{"name": "Ada"}'))
    assert receiver.requests[0].body == b'{"name": "Ada"}'


def test_a_payload_that_is_not_json_fails_permanently(receiver):
    with pytest.raises(DeliveryError) as failure:
        send(hook(receiver.url("/"), payload="{not json"))
    assert failure.value.permanent
    assert receiver.requests == []


def test_429_gives_retry_after(receiver):
    receiver.respond(429, headers={"Retry-After": "30"})
    with pytest.raises(ProviderError) as failure:
        send(hook(receiver.url("/")))
    assert (failure.value.permanent, failure.value.retry_after) == (False, 30.0)


def test_5xx_is_retryable(receiver):
    receiver.respond(502)
    with pytest.raises(ProviderError) as failure:
        send(hook(receiver.url("/")))
    assert not failure.value.permanent


def test_a_receiver_slower_than_the_timeout_is_retryable(receiver):
    receiver.respond(200, delay=1.5)
    with pytest.raises(ProviderError) as failure:
        send(hook(receiver.url("/")))
    assert not failure.value.permanent


def test_a_4xx_answer_is_permanent(receiver):
    receiver.respond(404)
    with pytest.raises(ProviderError) as failure:
        send(hook(receiver.url("/")))
    assert failure.value.permanent


def test_a_307_redirect_to_an_allowed_host_is_followed_with_the_same_post(receiver):
    receiver.respond(307, headers={"Location": "/moved"})
    send(hook(receiver.url("/old")))
    first, second = receiver.requests
    assert (second.method, second.path) == ("POST", "/moved")
    assert second.body == first.body
    assert second.headers["x-itinera-signature"] == first.headers["x-itinera-signature"]


def test_more_than_three_redirects_are_not_followed(receiver):
    for _ in range(4):
        receiver.respond(307, headers={"Location": "/again"})
    with pytest.raises(ProviderError):
        send(hook(receiver.url("/")))
    assert len(receiver.requests) == 4


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/",
    "http://10.1.2.3/",
    "http://10.255.255.254:8080/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:{port}/",
    "http://localhost:{port}/",
    "http://0.0.0.0:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
])
def test_non_public_targets_are_refused_without_a_request(settings, provider, url):
    # given a receiver on loopback that is NOT allow-listed
    settings.WEBHOOK_SIGNING_SECRET = SECRET
    settings.WEBHOOK_ALLOWED_HOSTS = []
    # when a webhook targets a private, loopback, link-local or unspecified address
    with pytest.raises(DeliveryError) as failure:
        send(hook(url.format(port=provider.port)))
    # then it is refused for good and nothing reached the server
    assert failure.value.permanent
    assert "non-public" in str(failure.value)
    assert provider.requests == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x/"])
def test_only_http_and_https_are_allowed(receiver, url):
    with pytest.raises(DeliveryError) as failure:
        send(hook(url))
    assert failure.value.permanent


@pytest.mark.parametrize("target", [
    "http://localhost:{port}/internal",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/",
    "http://[::1]:{port}/",
])
def test_a_redirect_to_a_non_public_address_is_refused(receiver, target):
    # given an allow-listed receiver that redirects elsewhere
    receiver.respond(307, headers={"Location": target.format(port=receiver.port)})
    # when the webhook follows it, the new target is checked like the first
    with pytest.raises(DeliveryError) as failure:
        send(hook(receiver.url("/start")))
    assert failure.value.permanent
    assert [r.path for r in receiver.requests] == ["/start"]


def test_without_a_signing_secret_nothing_is_sent(receiver, settings):
    settings.WEBHOOK_SIGNING_SECRET = ""
    with pytest.raises(DeliveryError) as failure:
        send(hook(receiver.url("/")))
    assert failure.value.permanent
    assert receiver.requests == []


def test_the_payload_is_compact_json(receiver):
    send(hook(receiver.url("/"), payload={"a": [1, 2]}))
    assert json.loads(receiver.requests[0].body) == {"a": [1, 2]}


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_that_would_drop_the_body_is_not_followed_and_fails(receiver, status):
    receiver.respond(status, headers={"Location": "/elsewhere"})
    with pytest.raises(ProviderError) as failure:
        send(hook(receiver.url("/start")))
    assert failure.value.permanent
    assert [r.path for r in receiver.requests] == ["/start"]
