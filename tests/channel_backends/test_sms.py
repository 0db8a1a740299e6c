import base64
from urllib.parse import parse_qs

import pytest

from channels.backends.base import DeliveryError, Outbound, ProviderError
from channels.backends.sms import HttpSmsBackend, TwilioSmsBackend


def sms(address="+33612345678", body="Hello Ada", delivery_id=7):
    return Outbound(delivery_id=delivery_id, channel="sms", address=address,
                    content={"body": body}, message_id=f"itinera-{delivery_id}")


@pytest.fixture
def http_sms(settings, provider):
    settings.SMS_PROVIDER_URL = provider.url("/api/sms")
    settings.SMS_PROVIDER_TOKEN = "tok-123"
    settings.SMS_SENDER = "Itinera"
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    return provider


@pytest.fixture
def twilio(settings, provider):
    settings.TWILIO_BASE_URL = provider.url("")
    settings.TWILIO_ACCOUNT_SID = "AC123"
    settings.TWILIO_AUTH_TOKEN = "secret-token"
    settings.TWILIO_FROM = "+15005550006"
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    return provider


def test_http_provider_gets_a_json_post_with_bearer_token(http_sms):
    # given the provider accepts the message
    http_sms.respond(200, {"id": "prov-1"})
    # when an SMS is sent
    with HttpSmsBackend() as backend:
        provider_id = backend.send(sms())
    # then one JSON POST carried the number, sender, text and our stable reference
    (request,) = http_sms.requests
    assert (request.method, request.path) == ("POST", "/api/sms")
    assert request.headers["authorization"] == "Bearer tok-123"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"to": "+33612345678", "from": "Itinera", "body": "Hello Ada",
                              "reference": "itinera-7"}
    assert provider_id == "prov-1"


def test_twilio_gets_a_form_post_with_basic_auth(twilio):
    twilio.respond(201, {"sid": "SM0001", "status": "queued"})
    with TwilioSmsBackend() as backend:
        provider_id = backend.send(sms())
    (request,) = twilio.requests
    assert (request.method, request.path) == ("POST", "/2010-04-01/Accounts/AC123/Messages.json")
    expected = base64.b64encode(b"AC123:secret-token").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {
        "To": ["+33612345678"], "From": ["+15005550006"], "Body": ["Hello Ada"]
    }
    assert provider_id == "SM0001"


@pytest.mark.parametrize("number", ["0612345678", "+33 6 12 34 56 78", "33612345678", ""])
def test_a_number_not_in_e164_fails_permanently_without_a_request(http_sms, number):
    with HttpSmsBackend() as backend, pytest.raises(DeliveryError) as failure:
        backend.send(sms(address=number))
    assert failure.value.permanent
    assert http_sms.requests == []


def test_429_asks_to_retry_after_the_providers_delay(twilio):
    twilio.respond(429, {"code": 20429}, headers={"Retry-After": "17"})
    with TwilioSmsBackend() as backend, pytest.raises(ProviderError) as failure:
        backend.send(sms())
    assert not failure.value.permanent
    assert failure.value.retry_after == 17.0


def test_5xx_is_retryable(http_sms):
    http_sms.respond(503, b"maintenance")
    with HttpSmsBackend() as backend, pytest.raises(ProviderError) as failure:
        backend.send(sms())
    assert not failure.value.permanent
    assert failure.value.retry_after is None


def test_a_provider_slower_than_the_timeout_is_retryable(http_sms):
    # given a provider that answers after the client's 0.5 s timeout
    http_sms.respond(200, {"id": "late"}, delay=1.5)
    with HttpSmsBackend() as backend, pytest.raises(ProviderError) as failure:
        backend.send(sms())
    assert not failure.value.permanent
    assert "0.5s" in str(failure.value)


def test_a_4xx_refusal_is_permanent(twilio):
    twilio.respond(400, {"code": 21211, "message": "Invalid 'To' Phone Number"})
    with TwilioSmsBackend() as backend, pytest.raises(ProviderError) as failure:
        backend.send(sms())
    assert failure.value.permanent
    assert "21211" in str(failure.value)


def test_a_provider_that_is_down_is_retryable(settings):
    # given nothing listens on the configured port (a server started and closed)
    from tests.channel_backends.conftest import ProviderServer

    closed = ProviderServer()
    closed.httpd.server_close()
    settings.SMS_PROVIDER_URL = closed.url("/api/sms")
    with HttpSmsBackend() as backend, pytest.raises(ProviderError) as failure:
        backend.send(sms())
    assert not failure.value.permanent
