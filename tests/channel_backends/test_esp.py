"""Email through an ESP with django-anymail (the optional `esp` extra): the email adapter
works with any Django email connection. anymail's own test backend stands in for the ESP,
scripted per recipient: accepted, rejected, 503, 429."""

import pytest
import requests
from django.core import mail

from channels.backends.base import DeliveryError, Outbound, ProviderError
from channels.backends.email import EmailBackend
from channels.models import DeliveryStatus, Reason
from channels.sending import send_claimed
from channels.services import deliveries_claim
from tests.factories import DeliveryFactory, ProfileFactory, StepFactory

anymail_test = pytest.importorskip("anymail.backends.test")
from anymail.exceptions import AnymailAPIError  # noqa: E402
from anymail.message import AnymailRecipientStatus  # noqa: E402


def answer(status: int, **headers) -> requests.Response:
    response = requests.Response()
    response.status_code, response.reason, response._content = status, "scripted", b"{}"
    response.headers.update(headers)
    return response


class ScriptedEsp(anymail_test.EmailBackend):
    """anymail's test ESP: rejects rejected@…, answers 503 to down@… and 429 to slow@…"""

    def post_to_esp(self, payload, message):
        to = message.to[0]
        if to.startswith("down@"):
            raise AnymailAPIError("Service unavailable", status_code=503, response=answer(503))
        if to.startswith("slow@"):
            raise AnymailAPIError("Too many requests", status_code=429,
                                  response=answer(429, **{"Retry-After": "30"}))
        if to.startswith("rejected@"):
            message.anymail_test_response = {"recipient_status": {
                to: AnymailRecipientStatus(message_id="esp-r", status="rejected")}}
            mail.outbox.append(message)
            return message.anymail_test_response
        return super().post_to_esp(payload, message)


@pytest.fixture(autouse=True)
def esp(settings):
    settings.EMAIL_BACKEND = f"{__name__}.ScriptedEsp"
    settings.CHANNEL_BACKENDS = {**settings.CHANNEL_BACKENDS,
                                 "email": "channels.backends.email.EmailBackend"}
    settings.ANYMAIL = {}
    mail.outbox = []


def outbound(address: str) -> Outbound:
    return Outbound(
        delivery_id=7, channel="email", address=address,
        content={"subject": "Hi", "text": "Hello", "html": "<p>Hello</p>",
                 "from_email": "Itinera <news@itinera.example>",
                 "headers": {"List-Unsubscribe": "<https://itinera.example/u/x>",
                             "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}},
        message_id="<delivery-7@itinera.example>",
    )


def test_a_message_reaches_the_esp_with_its_headers_and_the_esp_id_is_returned():
    with EmailBackend() as backend:
        provider_id = backend.send(outbound("ada@example.com"))

    (sent,) = mail.outbox
    params = sent.anymail_test_params
    assert params["subject"] == "Hi"
    assert params["html_body"] == "<p>Hello</p>" and params["text_body"] == "Hello"
    assert params["extra_headers"]["Message-ID"] == "<delivery-7@itinera.example>"
    assert params["extra_headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The ESP's id (what its feedback webhooks name), not our Message-ID.
    assert provider_id == str(sent.anymail_status.message_id)


@pytest.mark.parametrize(("address", "permanent", "throttled"), [
    ("rejected@example.com", True, False),
    ("down@example.com", False, False),
    ("slow@example.com", False, True),
])
def test_esp_failures_say_whether_a_retry_can_help(address, permanent, throttled):
    with EmailBackend() as backend, pytest.raises(DeliveryError) as caught:
        backend.send(outbound(address))

    assert caught.value.permanent is permanent
    assert isinstance(caught.value, ProviderError) is throttled
    if throttled:
        assert caught.value.retry_after == 30


@pytest.mark.django_db
def test_through_the_pipeline_only_the_rejected_recipient_fails():
    step = StepFactory()
    good, bad = ProfileFactory(), ProfileFactory(email="rejected@example.com")
    ok = DeliveryFactory(campaign_step=step, profile=good)
    refused = DeliveryFactory(campaign_step=step, profile=bad)

    send_claimed(deliveries=deliveries_claim(campaign_step_id=step.pk, limit=10),
                 renderer=lambda d: {"subject": "Hi", "text": "Hello", "html": "<p>Hi</p>"})

    ok.refresh_from_db()
    refused.refresh_from_db()
    assert ok.status == DeliveryStatus.SENT
    assert ok.provider_message_id == "0"  # the test ESP numbers its messages
    assert (refused.status, refused.reason) == (DeliveryStatus.FAILED, Reason.PROVIDER_ERROR)
    assert "rejected" in refused.error
