import hashlib
import hmac
import json
import time

import pytest
from django.urls import reverse

from channels.inbound import twilio_signature
from profiles.consent import ConsentUpdate, consent_set, consent_state
from profiles.models import ConsentChange, ConsentState
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

INBOUND_SECRET = "inbound-secret-42"
TWILIO_TOKEN = "twilio-auth-token"
PHONE = "+33612345678"


@pytest.fixture(autouse=True)
def secrets(settings):
    settings.SMS_INBOUND_SECRET = INBOUND_SECRET
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN


def post_signed(client, payload: dict, *, secret=INBOUND_SECRET, timestamp=None):
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return client.post(
        reverse("sms_inbound"), body, content_type="application/json",
        headers={"X-Itinera-Signature": f"sha256={digest.hexdigest()}",
                 "X-Itinera-Timestamp": timestamp},
    )


def post_twilio(client, params: dict, *, token=TWILIO_TOKEN):
    url = "http://testserver" + reverse("sms_inbound_twilio")
    return client.post(
        reverse("sms_inbound_twilio"), params,
        headers={"X-Twilio-Signature": twilio_signature(token=token, url=url, params=params)},
    )


@pytest.mark.parametrize("text", ["STOP", " stop ", "StopAll", "UNSUBSCRIBE\n"])
def test_a_stop_keyword_opts_the_phone_out_of_sms(client, text):
    # given a profile with that phone, opted in to SMS
    profile = ProfileFactory(phone=PHONE)
    consent_set(profile=profile, update=ConsentUpdate(channel="sms", state="opted_in"))
    # when the provider forwards a signed STOP from that phone
    response = post_signed(client, {"from": PHONE, "body": text})
    # then SMS consent is opted out, with the keyword as its source
    assert response.status_code == 200
    assert response.json()["changed"] == 1
    assert consent_state(profile=profile, channel="sms") == ConsentState.OPTED_OUT
    change = ConsentChange.objects.filter(profile=profile).latest("id")
    assert change.source == "sms:STOP"


@pytest.mark.parametrize("text", ["START", "unstop"])
def test_a_start_keyword_opts_the_phone_back_in(client, text):
    profile = ProfileFactory(phone=PHONE)
    consent_set(profile=profile, update=ConsentUpdate(channel="sms", state="opted_out"))
    post_signed(client, {"from": PHONE, "body": text})
    assert consent_state(profile=profile, channel="sms") == ConsentState.OPTED_IN
    assert ConsentChange.objects.filter(profile=profile).latest("id").source == "sms:START"


def test_other_text_changes_nothing(client):
    profile = ProfileFactory(phone=PHONE)
    response = post_signed(client, {"from": PHONE, "body": "stop sending me pizza ads please"})
    assert response.json() == {"keyword": "", "changed": 0}
    assert consent_state(profile=profile, channel="sms") == ConsentState.UNKNOWN


def test_only_profiles_with_that_phone_change(client):
    mine, other = ProfileFactory(phone=PHONE), ProfileFactory(phone="+33698765432")
    post_signed(client, {"from": PHONE, "body": "STOP"})
    assert consent_state(profile=mine, channel="sms") == ConsentState.OPTED_OUT
    assert consent_state(profile=other, channel="sms") == ConsentState.UNKNOWN


@pytest.mark.parametrize("forgery", [
    {"secret": "not-the-secret"},
    {"timestamp": int(time.time()) - 3600},  # a replay of an old signed message
])
def test_a_forged_or_stale_signature_is_refused(client, forgery):
    profile = ProfileFactory(phone=PHONE)
    response = post_signed(client, {"from": PHONE, "body": "STOP"}, **forgery)
    assert response.status_code == 401
    assert consent_state(profile=profile, channel="sms") == ConsentState.UNKNOWN


def test_an_unsigned_request_is_refused(client):
    profile = ProfileFactory(phone=PHONE)
    response = client.post(reverse("sms_inbound"), {"from": PHONE, "body": "STOP"},
                           content_type="application/json")
    assert response.status_code == 401
    assert consent_state(profile=profile, channel="sms") == ConsentState.UNKNOWN


def test_without_a_configured_secret_everything_is_refused(client, settings):
    settings.SMS_INBOUND_SECRET = ""
    response = post_signed(client, {"from": PHONE, "body": "STOP"}, secret="")
    assert response.status_code == 401


def test_twilio_stop_with_a_valid_signature_opts_out(client):
    profile = ProfileFactory(phone=PHONE)
    response = post_twilio(client, {"From": PHONE, "To": "+15005550006", "Body": "Stop",
                                    "MessageSid": "SM1"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert consent_state(profile=profile, channel="sms") == ConsentState.OPTED_OUT


def test_twilio_with_a_forged_signature_is_refused(client):
    profile = ProfileFactory(phone=PHONE)
    response = post_twilio(client, {"From": PHONE, "Body": "STOP"}, token="guessed")
    assert response.status_code == 401
    assert consent_state(profile=profile, channel="sms") == ConsentState.UNKNOWN


def test_a_sender_number_without_its_plus_still_finds_the_profile(client):
    profile = ProfileFactory(phone=PHONE)
    post_signed(client, {"from": PHONE.lstrip("+"), "body": "STOP"})
    assert consent_state(profile=profile, channel="sms") == ConsentState.OPTED_OUT
