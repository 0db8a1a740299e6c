"""profile_merge: everything of the merged profile moves to the survivor, once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels.models import Delivery
from profiles.consent import ConsentUpdate, consent_set
from profiles.identity import profile_merge
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
from tests.factories import DeliveryFactory, ProfileFactory, StepFactory


def anonymous_profile(alias="dev-1", **fields):
    profile = ProfileFactory(external_id=None, email="", **fields)
    ProfileAlias.objects.create(profile=profile, value=alias)
    return profile


def set_updated_at(profile, when):
    Profile.objects.filter(pk=profile.pk).update(updated_at=when)
    profile.refresh_from_db()


@pytest.mark.django_db
def test_events_aliases_devices_and_consent_history_move_to_the_survivor():
    known, anonymous = ProfileFactory(external_id="cust-1"), anonymous_profile()
    Event.objects.create(profile=anonymous, name="a", occurred_at=timezone.now())
    PushSubscription.objects.create(profile=anonymous, kind="fcm", platform="android", token="t")
    consent_set(profile=anonymous, update=ConsentUpdate(channel="sms", state="opted_in"))

    outcome = profile_merge(profile_ids=(anonymous.pk, known.pk), reason="test")

    assert (outcome.survivor.pk, outcome.performed) == (known.pk, True)
    assert not Profile.objects.filter(pk=anonymous.pk).exists()
    for model in (Event, ProfileAlias, PushSubscription, Consent, ConsentChange):
        assert set(model.objects.values_list("profile_id", flat=True)) == {known.pk}, model
    assert outcome.merge.moved == {"events": 1, "aliases": 1, "consents": 1,
                                   "consent_changes": 1, "push_subscriptions": 1,
                                   "deliveries_duplicates_deleted": 0, "deliveries": 0}


@pytest.mark.django_db
def test_the_merge_is_recorded_and_audited():
    known, anonymous = ProfileFactory(external_id="cust-1"), anonymous_profile("dev-9")

    outcome = profile_merge(profile_ids=(known.pk, anonymous.pk), reason="identify")

    record = ProfileMerge.objects.get()
    assert (record.survivor_id, record.merged_profile_id, record.merged_aliases) == (
        known.pk, anonymous.pk, ["dev-9"])
    assert outcome.merge == record
    audit = AuditLog.objects.get(action="profile.merge")
    assert (audit.target_id, audit.actor, audit.detail["merged_profile_id"]) == (
        str(known.pk), "system", anonymous.pk)


@pytest.mark.django_db
def test_attributes_merge_last_write_wins():
    known = ProfileFactory(external_id="cust-1", attributes={"plan": "free", "city": "Lyon"})
    anonymous = anonymous_profile(attributes={"plan": "pro", "device": "ios"})
    set_updated_at(known, timezone.now() - timedelta(days=1))

    outcome = profile_merge(profile_ids=(known.pk, anonymous.pk))

    assert outcome.survivor.attributes == {"plan": "pro", "city": "Lyon", "device": "ios"}
    assert Profile.objects.get().attributes == outcome.survivor.attributes


@pytest.mark.django_db
def test_the_more_recently_updated_survivor_keeps_its_attribute_values():
    known = ProfileFactory(external_id="cust-1", attributes={"plan": "free"})
    anonymous = anonymous_profile(attributes={"plan": "pro", "device": "ios"})
    set_updated_at(anonymous, timezone.now() - timedelta(days=1))

    outcome = profile_merge(profile_ids=(known.pk, anonymous.pk))

    assert outcome.survivor.attributes == {"plan": "free", "device": "ios"}


@pytest.mark.django_db
def test_per_channel_consent_the_latest_change_wins():
    known, anonymous = ProfileFactory(external_id="cust-1"), anonymous_profile()
    now = timezone.now()
    consent_set(profile=known, update=ConsentUpdate(
        channel="email", state="opted_in", occurred_at=now - timedelta(days=2)))
    consent_set(profile=anonymous, update=ConsentUpdate(
        channel="email", state="opted_out", occurred_at=now - timedelta(days=1)))
    consent_set(profile=known, update=ConsentUpdate(
        channel="sms", state="opted_in", occurred_at=now))
    consent_set(profile=anonymous, update=ConsentUpdate(
        channel="sms", state="opted_out", occurred_at=now - timedelta(days=3)))

    profile_merge(profile_ids=(known.pk, anonymous.pk))

    assert dict(Consent.objects.filter(profile=known).values_list("channel", "state")) == {
        "email": "opted_out", "sms": "opted_in"}
    assert Consent.objects.count() == 2
    assert ConsentChange.objects.filter(profile=known).count() == 4


@pytest.mark.django_db
def test_the_identified_profile_survives_even_when_younger():
    anonymous = anonymous_profile()
    known = ProfileFactory(external_id="cust-1")

    outcome = profile_merge(profile_ids=(anonymous.pk, known.pk))

    assert outcome.survivor.pk == known.pk


@pytest.mark.django_db
def test_between_two_anonymous_profiles_the_older_survives():
    older, younger = anonymous_profile("dev-1"), anonymous_profile("dev-2")

    outcome = profile_merge(profile_ids=(younger.pk, older.pk))

    assert outcome.survivor.pk == older.pk
    assert set(ProfileAlias.objects.values_list("value", flat=True)) == {"dev-1", "dev-2"}


@pytest.mark.django_db
def test_blank_fields_of_the_survivor_are_filled_from_the_merged_profile():
    known = ProfileFactory(external_id="cust-1", phone="", timezone="UTC", first_name="Ada")
    anonymous = anonymous_profile(phone="+33612345678", timezone="Europe/Paris",
                                  first_name="Someone")

    survivor = profile_merge(profile_ids=(known.pk, anonymous.pk)).survivor

    survivor.refresh_from_db()
    assert (survivor.phone, survivor.timezone, survivor.first_name) == (
        "+33612345678", "Europe/Paris", "Ada")


@pytest.mark.django_db
def test_merging_again_is_a_no_op_that_returns_the_survivor():
    known, anonymous = ProfileFactory(external_id="cust-1"), anonymous_profile()
    first = profile_merge(profile_ids=(known.pk, anonymous.pk))

    second = profile_merge(profile_ids=(known.pk, anonymous.pk))

    assert (second.survivor.pk, second.performed, second.merge) == (known.pk, False, first.merge)
    assert ProfileMerge.objects.count() == 1


@pytest.mark.django_db
def test_a_chain_of_merges_is_followed_to_the_last_survivor():
    a, b = anonymous_profile("dev-a"), anonymous_profile("dev-b")
    known = ProfileFactory(external_id="cust-1")
    profile_merge(profile_ids=(a.pk, b.pk))  # b into a (older)
    profile_merge(profile_ids=(a.pk, known.pk))  # a into known

    again = profile_merge(profile_ids=(b.pk, known.pk))

    assert (again.survivor.pk, again.performed) == (known.pk, False)
    assert set(ProfileMerge.objects.values_list("survivor_id", flat=True)) == {known.pk}


@pytest.mark.django_db
def test_deliveries_move_and_one_colliding_with_the_survivor_is_deleted_and_counted():
    known, anonymous = ProfileFactory(external_id="cust-1"), anonymous_profile()
    shared, other = StepFactory(), StepFactory()
    kept = DeliveryFactory(profile=known, campaign_step=shared)
    DeliveryFactory(profile=anonymous, campaign_step=shared)
    moved = DeliveryFactory(profile=anonymous, campaign_step=other)

    outcome = profile_merge(profile_ids=(known.pk, anonymous.pk))

    assert set(Delivery.objects.values_list("pk", "profile_id")) == {
        (kept.pk, known.pk), (moved.pk, known.pk)}
    assert outcome.merge.moved["deliveries_duplicates_deleted"] == 1
    assert outcome.merge.moved["deliveries"] == 1
