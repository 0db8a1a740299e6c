"""The profile endpoints integrators use: lookup by id or external_id, PATCH, consent."""

import pytest

from profiles.models import ConsentChange, Profile
from tests.factories import AttributeDefinitionFactory, ProfileFactory, TopicFactory

pytestmark = pytest.mark.django_db

PROFILES = "/api/v1/profiles/"


@pytest.fixture
def writer(api_client):
    return api_client("profiles:read", "profiles:write")


def test_a_profile_is_read_by_its_id_or_its_external_id(api_client):
    profile = ProfileFactory(external_id="crm-1", email="ada@example.com")
    reader = api_client("profiles:read")

    by_id = reader.get(f"{PROFILES}{profile.pk}/")
    by_external_id = reader.get(f"{PROFILES}crm-1/")

    assert by_id.json()["id"] == by_external_id.json()["id"] == profile.pk


def test_a_number_that_is_only_an_external_id_finds_that_profile(api_client):
    profile = ProfileFactory(external_id="987654321")

    response = api_client("profiles:read").get(f"{PROFILES}987654321/")

    assert response.json()["id"] == profile.pk


def test_a_number_that_is_an_id_and_another_external_id_is_refused(api_client):
    first = ProfileFactory()
    ProfileFactory(external_id=str(first.pk))
    reader = api_client("profiles:read")

    ambiguous = reader.get(f"{PROFILES}{first.pk}/")
    by_id = reader.get(f"{PROFILES}{first.pk}/", {"by": "id"})

    assert ambiguous.status_code == 409
    assert "?by=id" in ambiguous.json()["detail"]
    assert by_id.json()["id"] == first.pk


def test_patch_changes_only_the_fields_sent(writer):
    profile = ProfileFactory(first_name="Ada", locale="fr-FR", attributes={"plan": "free"})

    response = writer.patch(f"{PROFILES}{profile.pk}/", {
        "phone": "06 12 34 56 78", "locale": "fr-FR", "attributes": {"city": "Lyon"},
    }, format="json")

    assert response.status_code == 200
    profile.refresh_from_db()
    assert (profile.first_name, profile.phone) == ("Ada", "+33612345678")
    assert profile.attributes == {"plan": "free", "city": "Lyon"}


@pytest.mark.parametrize(("payload", "errors"), [
    ({"email": "nope"}, {"email"}),
    ({"timezone": "Mars/Olympus"}, {"timezone"}),
    ({"phone": "12", "email": "nope"}, {"phone", "email"}),
    ({"external_id": "other"}, {"external_id"}),
])
def test_a_bad_patch_is_400_per_field_and_changes_nothing(writer, payload, errors):
    profile = ProfileFactory(email="ada@example.com")

    response = writer.patch(f"{PROFILES}{profile.pk}/", payload, format="json")

    assert response.status_code == 400
    assert set(response.json()) == errors
    profile.refresh_from_db()
    assert profile.email == "ada@example.com"


def test_a_wrong_type_for_a_declared_attribute_is_400_under_its_key(writer):
    AttributeDefinitionFactory(key="score", type="number")
    profile = ProfileFactory()

    response = writer.patch(f"{PROFILES}{profile.pk}/", {"attributes": {"score": "high"}},
                            format="json")

    assert response.status_code == 400
    assert list(response.json()["attributes"]) == ["score"]


def test_patch_needs_the_write_scope(api_client):
    profile = ProfileFactory(first_name="Ada")

    response = api_client("profiles:read").patch(f"{PROFILES}{profile.pk}/",
                                                  {"first_name": "Eve"}, format="json")

    assert response.status_code == 403
    profile.refresh_from_db()
    assert profile.first_name == "Ada"


def test_the_upsert_stores_phones_as_e164_and_lowercases_the_email_domain(writer):
    response = writer.post(PROFILES, {
        "external_id": "c1", "email": "Ada@EXAMPLE.COM", "phone": "06 12 34 56 78",
        "locale": "fr-FR",
    }, format="json")

    assert response.status_code == 201
    assert (response.json()["email"], response.json()["phone"]) == (
        "Ada@example.com", "+33612345678")


def test_the_upsert_reports_a_declared_attributes_wrong_type(writer):
    AttributeDefinitionFactory(key="vip", type="boolean")

    response = writer.post(PROFILES, {"external_id": "c1", "attributes": {"vip": "maybe"}},
                           format="json")

    assert response.status_code == 400
    assert list(response.json()["attributes"]) == ["vip"]
    assert not Profile.objects.exists()


def test_the_list_filters_by_attribute(api_client):
    AttributeDefinitionFactory(key="score", type="number")
    ProfileFactory(external_id="a", attributes={"score": 7})
    ProfileFactory(external_id="b", attributes={"score": 8})

    response = api_client("profiles:read").get(PROFILES, {"attribute": "score:7"})

    assert [p["external_id"] for p in response.json()["results"]] == ["a"]


def test_consent_is_read_with_whether_each_channel_may_send(api_client, settings):
    settings.CONSENT_REGIMES = {"email": "opt_out", "sms": "opt_in", "push": "opt_in",
                                "mail": "opt_out"}
    profile = ProfileFactory()

    response = api_client("profiles:read").get(f"{PROFILES}{profile.pk}/consent/")

    rows = {(r["channel"], r["topic"]): r for r in response.json()}
    assert rows[("email", None)]["allowed"] is True
    assert rows[("sms", None)]["allowed"] is False


def test_consent_changes_are_applied_with_history(writer):
    TopicFactory(key="newsletter")
    profile = ProfileFactory()

    response = writer.post(f"{PROFILES}{profile.external_id}/consent/", [
        {"channel": "sms", "state": "opted_in", "source": "checkout"},
        {"channel": "email", "topic": "newsletter", "state": "opted_out"},
    ], format="json")

    assert response.status_code == 200
    rows = {(r["channel"], r["topic"]): r["state"] for r in response.json()}
    assert rows[("sms", None)] == "opted_in"
    assert rows[("email", "newsletter")] == "opted_out"
    sources = set(ConsentChange.objects.filter(profile=profile).values_list("source", flat=True))
    assert sources == {"checkout", "tests"}


def test_one_bad_consent_change_applies_none(writer):
    profile = ProfileFactory()

    response = writer.post(f"{PROFILES}{profile.pk}/consent/", [
        {"channel": "sms", "state": "opted_in"},
        {"channel": "email", "topic": "nope", "state": "opted_out"},
    ], format="json")

    assert response.status_code == 400
    assert response.json() == {"1": {"topic": ["Unknown topic 'nope'."]}}
    assert not ConsentChange.objects.exists()


def test_changing_consent_needs_the_write_scope(api_client):
    profile = ProfileFactory()

    response = api_client("profiles:read").post(
        f"{PROFILES}{profile.pk}/consent/", [{"channel": "sms", "state": "opted_in"}],
        format="json",
    )

    assert response.status_code == 403
    assert not ConsentChange.objects.exists()
