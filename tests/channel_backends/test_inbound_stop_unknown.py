"""A STOP from a number no profile has yet is remembered: a profile imported later with that
number is not texted; a START from the number lifts that (and only that) suppression."""

import pytest

from channels.backends import memory
from channels.inbound import sms_inbound_apply
from channels.models import AddressKind, Delivery, DeliveryStatus, Reason, Suppression
from channels.sending import send_claimed
from channels.services import deliveries_claim
from channels.suppression import suppress
from profiles.consent import ConsentUpdate, consent_set
from tests.channel_backends.test_inbound_sms import post_signed, secrets  # noqa: F401
from tests.factories import ProfileFactory, StepFactory

pytestmark = pytest.mark.django_db

PHONE = "+33612345670"


@pytest.fixture(autouse=True)
def sms_to_memory(settings):
    settings.CHANNEL_BACKENDS = {**settings.CHANNEL_BACKENDS,
                                 "sms": "channels.backends.memory.MemoryBackend"}
    settings.QUIET_HOURS = {}
    memory.reset()
    yield
    memory.reset()


def text_new_profile() -> Delivery:
    """A profile imported with the number, opted in to SMS, sent one campaign SMS."""
    profile = ProfileFactory(phone=PHONE)
    consent_set(profile=profile, update=ConsentUpdate(channel="sms", state="opted_in"))
    step = StepFactory(channel="sms")
    delivery = Delivery.objects.create(profile=profile, campaign_step=step, channel="sms",
                                       address=PHONE)
    send_claimed(deliveries=deliveries_claim(campaign_step_id=step.pk, limit=10),
                 renderer=lambda d: {"body": "Hi"})
    delivery.refresh_from_db()
    return delivery


def test_a_stop_from_an_unknown_number_keeps_a_later_profile_from_being_texted(client):
    response = post_signed(client, {"from": "33612345670", "body": "Stop"})  # no "+": E.164'd

    assert response.status_code == 200
    suppression = Suppression.objects.get(kind=AddressKind.PHONE, address=PHONE)
    assert "SMS STOP" in suppression.note
    delivery = text_new_profile()
    assert (delivery.status, delivery.reason) == (DeliveryStatus.SKIPPED, Reason.SUPPRESSED)
    assert memory.outbox.get("sms", []) == []


def test_a_start_from_the_number_lifts_it():
    sms_inbound_apply(phone=PHONE, text="STOP")
    result = sms_inbound_apply(phone=PHONE, text="START")

    assert result.keyword == "START"
    assert not Suppression.objects.filter(address=PHONE).exists()
    assert text_new_profile().status == DeliveryStatus.SENT


def test_a_start_does_not_lift_a_suppression_for_another_cause():
    suppress(kind=AddressKind.PHONE, address=PHONE, cause=Suppression.Cause.COMPLAINT)

    sms_inbound_apply(phone=PHONE, text="START")

    assert Suppression.objects.filter(address=PHONE).exists()


def test_a_stop_from_a_known_number_is_a_consent_change_not_a_suppression():
    ProfileFactory(phone=PHONE)

    result = sms_inbound_apply(phone=PHONE, text="STOP")

    assert (result.profiles_changed, result.suppressed) == (1, False)
    assert not Suppression.objects.exists()


def test_other_messages_and_unreadable_numbers_are_not_remembered():
    assert sms_inbound_apply(phone=PHONE, text="hello").keyword == ""
    assert sms_inbound_apply(phone="not a number", text="STOP").suppressed is False
    assert not Suppression.objects.exists()
