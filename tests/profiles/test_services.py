"""Profile and segment writes."""

import pytest

from profiles.models import Profile, Segment
from profiles.segments import RuleError
from profiles.services import profile_upsert, segment_save
from tests.factories import ProfileFactory, SegmentFactory

PRO = {"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]}
# The same rules as the engine stores them (profiles.rules.schema).
PRO_NORMALIZED = {"all": [{"type": "attribute", "key": "plan", "value_type": "string",
                           "op": "equals", "value": "pro"}]}


@pytest.mark.django_db
def test_upsert_creates_a_profile_with_its_fields_and_attributes():
    profile, created = profile_upsert(
        external_id="c-1",
        data={"email": "ann@example.com", "first_name": "Ann", "attributes": {"plan": "pro"}},
    )

    assert created is True
    profile.refresh_from_db()
    assert (profile.external_id, profile.email, profile.first_name) == (
        "c-1", "ann@example.com", "Ann"
    )
    assert profile.attributes == {"plan": "pro"}


@pytest.mark.django_db
def test_upsert_updates_given_fields_and_merges_attributes():
    ProfileFactory(external_id="c-1", email="old@example.com", first_name="Ann",
                   attributes={"plan": "free", "city": "Lyon"})

    profile, created = profile_upsert(
        external_id="c-1", data={"email": "new@example.com", "attributes": {"plan": "pro"}}
    )

    assert created is False
    profile.refresh_from_db()
    assert profile.email == "new@example.com"
    assert profile.first_name == "Ann"  # not in the payload: left as it was
    assert profile.attributes == {"plan": "pro", "city": "Lyon"}
    assert Profile.objects.count() == 1


@pytest.mark.django_db
def test_upsert_ignores_keys_that_are_not_profile_fields():
    profile, _ = profile_upsert(external_id="c-1", data={"id": 999, "external_id": "other"})

    profile.refresh_from_db()
    assert profile.external_id == "c-1"
    assert profile.pk != 999


@pytest.mark.django_db
def test_segment_save_creates_a_segment_with_normalized_rules():
    segment = segment_save(name="Pro users", rules=PRO)

    segment.refresh_from_db()
    assert segment.name == "Pro users"
    assert segment.rules == PRO_NORMALIZED


@pytest.mark.django_db
def test_segment_save_stores_empty_rules_as_everyone():
    segment = segment_save(name="Everyone", rules=None)

    segment.refresh_from_db()
    assert segment.rules == {"all": []}


@pytest.mark.django_db
def test_segment_save_updates_an_existing_segment():
    segment = SegmentFactory(name="Old", rules={"all": []})

    segment_save(segment=segment, name="New", description="Paying", rules=PRO)

    segment.refresh_from_db()
    assert (segment.name, segment.description, segment.rules) == ("New", "Paying", PRO_NORMALIZED)


@pytest.mark.django_db
def test_segment_save_refuses_bad_rules_and_creates_nothing():
    bad = {"all": [{"field": "password", "op": "equals", "value": "x"}]}

    with pytest.raises(RuleError) as raised:
        segment_save(name="Broken", rules=bad)

    assert raised.value.as_dict() == {"$.all[0].field": "Unknown profile field 'password'."}
    assert not Segment.objects.exists()


@pytest.mark.django_db
def test_segment_save_refuses_bad_rules_on_update_and_keeps_the_old_ones():
    segment = SegmentFactory(name="Pro", rules=PRO)

    with pytest.raises(RuleError):
        segment_save(segment=segment, name="Pro", rules={"all": [{"field": "x"}]})

    segment.refresh_from_db()
    assert segment.rules == PRO


@pytest.mark.django_db
def test_a_national_phone_is_read_in_the_stored_locale_on_update():
    from profiles.services import profile_update

    profile, _ = profile_upsert(external_id="fr-1", data={"locale": "fr-FR"})

    profile_update(profile=profile, data={"phone": "06 12 34 56 78"})

    profile.refresh_from_db()
    assert profile.phone == "+33612345678"


@pytest.mark.django_db
def test_a_topic_of_another_channel_is_refused():
    from profiles.consent import ConsentError, ConsentUpdate, consent_set
    from profiles.models import Topic

    Topic.objects.create(key="alerts", name="Alerts", channel="sms")
    profile, _ = profile_upsert(external_id="c-9", data={})

    with pytest.raises(ConsentError, match="belongs to the sms channel"):
        consent_set(profile=profile, update=ConsentUpdate(channel="email", state="opted_in",
                                                           topic="alerts"))


@pytest.mark.django_db
def test_a_value_longer_than_its_column_is_a_field_error_not_a_crash():
    from profiles.services import ProfileDataError

    with pytest.raises(ProfileDataError) as raised:
        profile_upsert(external_id="long", data={"first_name": "x" * 151, "locale": "fr-FR"})

    assert raised.value.errors == {"first_name": "At most 150 characters."}
