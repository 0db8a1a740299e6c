"""POST /api/v1/identify: create or update a profile by its keys, with consent and devices."""

import pytest

from profiles.models import (
    AttributeDefinition,
    AttributeType,
    Consent,
    ConsentChange,
    Profile,
    ProfileAlias,
    ProfileMerge,
    PushSubscription,
    Topic,
)
from tests.factories import ProfileFactory

IDENTIFY = "/api/v1/identify"
WEB_PUSH = {"endpoint": "https://push.example.net/send/abc",
            "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA", "auth": "tBHItJI5svbpez7K"}}


@pytest.mark.django_db
def test_a_new_external_id_creates_the_profile_with_normalized_fields(sender):
    response = sender.post(IDENTIFY, {
        "external_id": "cust-1", "email": "Ada@EXAMPLE.com", "phone": "06 12 34 56 78",
        "locale": "fr-FR", "timezone": "Europe/Paris", "first_name": "Ada",
        "attributes": {"plan": "pro"},
    }, format="json")

    assert response.status_code == 201
    profile = Profile.objects.get(external_id="cust-1")
    assert (profile.email, profile.phone, profile.timezone) == (
        "Ada@example.com", "+33612345678", "Europe/Paris")
    assert response.json()["id"] == profile.pk
    assert response.json()["merged_profile_id"] is None


@pytest.mark.django_db
def test_a_known_external_id_is_updated_and_its_attributes_merged(sender):
    ProfileFactory(external_id="cust-1", first_name="Ada", attributes={"plan": "free", "a": 1})

    response = sender.post(IDENTIFY, {"external_id": "cust-1", "attributes": {"plan": "pro"}},
                           format="json")

    assert response.status_code == 200
    profile = Profile.objects.get()
    assert (profile.first_name, profile.attributes) == ("Ada", {"plan": "pro", "a": 1})


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value", "words"), [
    ("email", "ada@", "not a valid email"),
    ("phone", "12", "phone number"),
    ("timezone", "Mars/Olympus", "Unknown time zone"),
])
def test_an_invalid_field_is_refused_and_nothing_is_written(sender, field, value, words):
    response = sender.post(IDENTIFY, {"external_id": "cust-1", field: value}, format="json")

    assert response.status_code == 400
    assert words in response.json()[field][0]
    assert not Profile.objects.exists()


@pytest.mark.django_db
def test_a_value_of_the_wrong_type_for_a_declared_attribute_is_refused(sender):
    AttributeDefinition.objects.create(key="age", label="Age", type=AttributeType.NUMBER)

    response = sender.post(IDENTIFY, {"external_id": "c", "attributes": {"age": "old"}},
                           format="json")

    assert response.status_code == 400
    assert "Expected a number" in response.json()["attributes"]["age"]
    assert not Profile.objects.exists()


@pytest.mark.django_db
def test_a_declared_attribute_is_coerced(sender):
    AttributeDefinition.objects.create(key="age", label="Age", type=AttributeType.NUMBER)

    sender.post(IDENTIFY, {"external_id": "c", "attributes": {"age": "42"}}, format="json")

    assert Profile.objects.get().attributes == {"age": 42}


@pytest.mark.django_db
def test_unknown_attribute_keys_are_refused_when_the_setting_says_reject(sender, settings):
    settings.PROFILE_UNKNOWN_ATTRIBUTES = "reject"

    response = sender.post(IDENTIFY, {"external_id": "c", "attributes": {"shoe_size": 42}},
                           format="json")

    assert response.status_code == 400
    assert "Unknown attribute" in response.json()["attributes"]["shoe_size"]


@pytest.mark.django_db
def test_unknown_attribute_keys_are_stored_untyped_by_default(sender):
    sender.post(IDENTIFY, {"external_id": "c", "attributes": {"shoe_size": 42}}, format="json")

    assert Profile.objects.get().attributes == {"shoe_size": 42}


@pytest.mark.django_db
def test_consent_changes_are_applied_with_history(sender):
    Topic.objects.create(key="newsletter", name="Newsletter", channel="email")

    response = sender.post(IDENTIFY, {"external_id": "c", "consent": [
        {"channel": "sms", "state": "opted_in"},
        {"topic": "newsletter", "state": "opted_out"},
    ]}, format="json")

    assert response.status_code == 201
    states = set(Consent.objects.values_list("channel", "topic__key", "state", "source"))
    assert states == {("sms", None, "opted_in", "shop"),
                      ("email", "newsletter", "opted_out", "shop")}
    assert ConsentChange.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(("change", "words"), [
    ({"channel": "fax", "state": "opted_in"}, "Unknown channel"),
    ({"channel": "email", "state": "maybe"}, "Unknown state"),
    ({"topic": "nope", "state": "opted_in"}, "Unknown topic"),
])
def test_a_bad_consent_change_is_refused_and_nothing_is_written(sender, change, words):
    response = sender.post(IDENTIFY, {"external_id": "c", "consent": [change]}, format="json")

    assert response.status_code == 400
    assert words in response.json()["consent"]["0"]
    assert not Profile.objects.exists()


@pytest.mark.django_db
def test_a_web_push_subscription_is_registered(sender):
    response = sender.post(IDENTIFY, {"external_id": "c", "push": {"subscription": WEB_PUSH}},
                           format="json")

    assert response.status_code == 201
    device = PushSubscription.objects.get()
    assert (device.kind, device.platform, device.token) == ("webpush", "web", WEB_PUSH["endpoint"])
    assert device.subscription == WEB_PUSH


@pytest.mark.django_db
def test_an_fcm_token_is_registered_and_moves_to_its_new_owner(sender):
    sender.post(IDENTIFY, {"external_id": "a", "push": {"kind": "fcm", "token": "tok-1"}},
                format="json")

    sender.post(IDENTIFY, {"external_id": "b", "push": {"kind": "fcm", "token": "tok-1",
                                                        "platform": "ios"}}, format="json")

    device = PushSubscription.objects.get()
    assert (device.profile.external_id, device.platform) == ("b", "ios")


@pytest.mark.django_db
@pytest.mark.parametrize(("push", "words"), [
    ({"subscription": {"endpoint": "https://push.example.net/x"}}, "keys.p256dh and keys.auth"),
    ({"subscription": {"keys": WEB_PUSH["keys"]}}, "endpoint"),
    ({"kind": "fcm"}, "registration token"),
    ({"kind": "apns", "token": "x"}, "Unknown kind"),
])
def test_an_incomplete_push_subscription_is_refused(sender, push, words):
    response = sender.post(IDENTIFY, {"external_id": "c", "push": push}, format="json")

    assert response.status_code == 400
    assert words in response.json()["push"][0]
    assert not Profile.objects.exists()


@pytest.mark.django_db
def test_an_anonymous_id_alone_makes_an_anonymous_profile(sender):
    response = sender.post(IDENTIFY, {"anonymous_id": "dev-1", "locale": "de-DE"},
                           format="json")

    assert response.status_code == 201
    profile = ProfileAlias.objects.get(value="dev-1").profile
    assert (profile.external_id, profile.locale) == (None, "de-DE")


@pytest.mark.django_db
def test_identifying_an_anonymous_profile_with_a_new_external_id_keeps_it(sender):
    sender.post("/api/v1/events", {"name": "a", "anonymous_id": "dev-1"}, format="json")
    anonymous = Profile.objects.get()

    response = sender.post(IDENTIFY, {"anonymous_id": "dev-1", "external_id": "cust-1"},
                           format="json")

    assert response.status_code == 200
    assert Profile.objects.get().pk == anonymous.pk
    assert Profile.objects.get().external_id == "cust-1"
    assert not ProfileMerge.objects.exists()


@pytest.mark.django_db
def test_linking_an_anonymous_id_to_a_known_profile_merges_them(sender):
    known = ProfileFactory(external_id="cust-1")
    sender.post("/api/v1/events", {"name": "a", "anonymous_id": "dev-1"}, format="json")
    anonymous = Profile.objects.exclude(pk=known.pk).get()

    response = sender.post(IDENTIFY, {"anonymous_id": "dev-1", "external_id": "cust-1"},
                           format="json")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["merged_profile_id"]) == (
        known.pk, anonymous.pk)
    assert response.json()["anonymous_ids"] == ["dev-1"]
    assert list(Profile.objects.values_list("pk", flat=True)) == [known.pk]
    assert known.events.count() == 1


@pytest.mark.django_db
def test_linking_by_email_merges_the_anonymous_profile_into_the_one_with_that_email(sender):
    known = ProfileFactory(email="ada@example.com")
    sender.post("/api/v1/events", {"name": "a", "anonymous_id": "dev-1"}, format="json")

    response = sender.post(IDENTIFY, {"anonymous_id": "dev-1", "email": "ADA@example.com"},
                           format="json")

    assert response.json()["id"] == known.pk
    assert Profile.objects.count() == 1


@pytest.mark.django_db
def test_a_device_profile_known_only_by_email_merges_into_the_external_id_at_login(sender):
    sender.post(IDENTIFY, {"anonymous_id": "dev-1", "email": "ada@example.com",
                           "consent": [{"channel": "email", "state": "opted_in"}]},
                format="json")
    crm = ProfileFactory(external_id="cust-1", email="ada@example.com")

    response = sender.post(IDENTIFY, {"anonymous_id": "dev-1", "external_id": "cust-1"},
                           format="json")

    assert response.json()["id"] == crm.pk
    assert list(Profile.objects.values_list("pk", flat=True)) == [crm.pk]
    assert Consent.objects.get().profile_id == crm.pk


@pytest.mark.django_db
def test_the_profile_an_identify_call_names_survives_between_two_email_profiles(sender):
    sender.post(IDENTIFY, {"anonymous_id": "dev-1", "email": "old@example.com"}, format="json")
    named = ProfileFactory(external_id=None, email="ada@example.com")

    response = sender.post(IDENTIFY, {"anonymous_id": "dev-1", "email": "ada@example.com"},
                           format="json")

    assert response.json()["id"] == named.pk
    assert Profile.objects.get().email == "ada@example.com"


@pytest.mark.django_db
def test_an_anonymous_id_of_another_identified_person_moves_without_a_merge(sender):
    sender.post(IDENTIFY, {"external_id": "ann", "anonymous_id": "shared-laptop"},
                format="json")
    ProfileFactory(external_id="bob")

    sender.post(IDENTIFY, {"external_id": "bob", "anonymous_id": "shared-laptop"},
                format="json")

    assert ProfileAlias.objects.get(value="shared-laptop").profile.external_id == "bob"
    assert Profile.objects.count() == 2
    assert not ProfileMerge.objects.exists()


@pytest.mark.django_db
def test_identify_needs_a_key(sender):
    response = sender.post(IDENTIFY, {"first_name": "Ada"}, format="json")

    assert response.status_code == 400
    assert "external_id" in response.json()


@pytest.mark.django_db
def test_identify_needs_profiles_write(client_with):
    response = client_with("events:write").post(IDENTIFY, {"external_id": "c"}, format="json")

    assert response.status_code == 403
