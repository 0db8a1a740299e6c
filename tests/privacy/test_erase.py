"""GDPR erasure: the profile and what it holds go, messages stay anonymous, the audit says who."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from channels.models import Delivery, DeliveryEvent, DeliveryStatus
from profiles.models import (
    AuditLog,
    Consent,
    ConsentChange,
    Event,
    Profile,
    ProfileAlias,
    ProfileMerge,
    PushSubscription,
)
from profiles.privacy import profile_erase
from tests.factories import DeliveryFactory, ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_erasure_removes_the_profile_and_everything_it_holds(person):
    other = ProfileFactory()

    profile_erase(profile=person, actor="tests")

    assert not Profile.objects.filter(pk=person.pk).exists()
    assert Profile.objects.filter(pk=other.pk).exists()
    for model in (Event, ProfileAlias, PushSubscription, Consent, ConsentChange):
        assert not model.objects.filter(profile_id=person.pk).exists(), model
    assert not ProfileMerge.objects.filter(merged_profile_id=900).exists()


def test_the_audit_row_counts_what_was_removed_and_holds_no_personal_data(person):
    user = UserFactory(username="dpo")

    profile_erase(profile=person, actor=user)

    audit = AuditLog.objects.get(action="profile.erase")
    assert (audit.actor_user, audit.target_type, audit.target_id) == (user, "profile",
                                                                      str(person.pk))
    assert audit.detail["removed"]["events"] == 3
    assert audit.detail["removed"]["aliases"] == 1
    assert audit.detail["removed"]["consent_changes"] == 2
    assert audit.detail["handlers"]["channels"] == 1
    stored = json.dumps(audit.detail) + audit.actor + audit.target_id
    for personal in ("ada@example.com", "crm-7", "Lovelace", "+33612345678", "anon-7"):
        assert personal not in stored


def test_the_channels_handler_scrubs_addresses_from_deliveries_and_their_log(person):
    from channels.privacy_hooks import erase_deliveries

    erase_deliveries(profile_id=person.pk)

    delivery = Delivery.objects.get(error__contains="mailbox unknown")
    assert delivery.address == ""
    assert delivery.error == "550 5.1.1 <[erased]>: mailbox unknown"
    assert DeliveryEvent.objects.get(delivery=delivery).detail == "rcpt [erased] refused"
    assert delivery.status == DeliveryStatus.FAILED


def test_a_message_not_sent_yet_is_skipped_when_its_profile_is_erased(person):
    from channels.privacy_hooks import erase_deliveries

    queued = DeliveryFactory(profile=person, status=DeliveryStatus.QUEUED)

    erase_deliveries(profile_id=person.pk)

    queued.refresh_from_db()
    assert queued.status == DeliveryStatus.SKIPPED
    assert queued.events.get().detail == "The profile was erased."


def test_erasure_keeps_delivery_counts_anonymous(person):
    step = Delivery.objects.get(profile=person).campaign_step
    DeliveryFactory(campaign_step=step, status=DeliveryStatus.SENT)

    profile_erase(profile=person, actor="tests")

    kept = Delivery.objects.filter(campaign_step=step)
    assert sorted(kept.values_list("status", flat=True)) == ["failed", "sent"]
    erased = kept.get(status="failed")
    assert (erased.profile_id, erased.address) == (None, "")


def test_an_erasure_that_fails_changes_nothing(person):
    from profiles import hooks

    def broken(*, profile_id):
        raise RuntimeError("handler down")

    hooks.register_erase_handler("broken", broken)
    try:
        with pytest.raises(RuntimeError):
            profile_erase(profile=person, actor="tests")
    finally:
        hooks._erase_handlers.pop("broken")

    assert Profile.objects.filter(pk=person.pk).exists()
    assert Delivery.objects.get(profile=person).address == "ada@example.com"
    assert not AuditLog.objects.exists()


@pytest.fixture
def eraser_client(client, marketer):
    marketer.user_permissions.add(Permission.objects.get(codename="delete_profile"))
    client.force_login(marketer)
    return client


def test_marketers_cannot_erase_without_the_permission(marketer_client, person):
    page = marketer_client.get(reverse("profile_detail", args=[person.pk]))
    response = marketer_client.post(reverse("profile_erase", args=[person.pk]),
                                     {"confirm": "ada@example.com"})

    assert 'id="erase-link"' not in page.content.decode()
    assert response.status_code == 403
    assert Profile.objects.filter(pk=person.pk).exists()


def test_the_ui_erases_after_the_email_is_typed(eraser_client, person):
    page = eraser_client.get(reverse("profile_detail", args=[person.pk]))
    response = eraser_client.post(reverse("profile_erase", args=[person.pk]),
                                  {"confirm": " ADA@example.com "}, follow=True)

    assert 'id="erase-link"' in page.content.decode()
    assert not Profile.objects.filter(pk=person.pk).exists()
    assert "was erased" in response.content.decode()
    assert AuditLog.objects.get(action="profile.erase").actor == "marketer"


def test_the_ui_refuses_a_wrong_confirmation(eraser_client, person):
    response = eraser_client.post(reverse("profile_erase", args=[person.pk]),
                                  {"confirm": "someone@example.com"})

    assert 'id="id_confirm-error"' in response.content.decode()
    assert Profile.objects.filter(pk=person.pk).exists()


def test_a_profile_without_email_is_confirmed_by_its_id(eraser_client):
    profile = ProfileFactory(email="")

    eraser_client.post(reverse("profile_erase", args=[profile.pk]), {"confirm": str(profile.pk)})

    assert not Profile.objects.filter(pk=profile.pk).exists()
