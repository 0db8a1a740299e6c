"""Profiles and segments through the integrator API."""

import pytest

from profiles.models import Profile
from tests.factories import ProfileFactory, SegmentFactory

PROFILES = "/api/v1/profiles/"


@pytest.fixture
def writer(api_client):
    return api_client("profiles:read", "profiles:write")


@pytest.mark.django_db
def test_posting_a_new_external_id_creates_the_profile(writer):
    payload = {
        "external_id": "cust-1", "email": "ada@example.com", "phone": "+33612345678",
        "timezone": "Europe/Paris", "attributes": {"plan": "free"},
    }

    response = writer.post(PROFILES, payload, format="json")

    assert response.status_code == 201
    assert response.json()["email"] == "ada@example.com"
    profile = Profile.objects.get(external_id="cust-1")
    assert (profile.timezone, profile.attributes) == ("Europe/Paris", {"plan": "free"})


@pytest.mark.django_db
def test_posting_a_known_external_id_updates_it_and_merges_attributes(writer):
    ProfileFactory(
        external_id="cust-1", first_name="Ada", attributes={"plan": "free", "city": "Lyon"}
    )

    response = writer.post(
        PROFILES, {"external_id": "cust-1", "attributes": {"plan": "pro"}}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["attributes"] == {"plan": "pro", "city": "Lyon"}
    assert body["first_name"] == "Ada"
    assert Profile.objects.count() == 1


@pytest.mark.django_db
def test_put_creates_then_updates_the_profile_named_in_the_url(writer):
    created = writer.put(f"{PROFILES}cust-9/", {"first_name": "Grace"}, format="json")
    updated = writer.put(f"{PROFILES}cust-9/", {"last_name": "Hopper"}, format="json")

    assert (created.status_code, updated.status_code) == (201, 200)
    profile = Profile.objects.get(external_id="cust-9")
    assert (profile.first_name, profile.last_name) == ("Grace", "Hopper")


@pytest.mark.django_db
def test_put_refuses_a_body_that_names_another_profile(writer):
    response = writer.put(f"{PROFILES}cust-9/", {"external_id": "cust-10"}, format="json")

    assert response.status_code == 400
    assert "external_id" in response.json()
    assert not Profile.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "a@example.com"}, "external_id"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "c", "email": "not-an-email"}, "email"),
        ({"external_id": "c", "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"external_id": "c", "attributes": ["plan", "pro"]}, "attributes"),
        ({"external_id": "c", "attributes": "plan=pro"}, "attributes"),
        ({"external_id": "c", "phone": "06 12 34 56 78"}, "phone"),
        ({"external_id": "c", "emial": "a@example.com"}, "emial"),
    ],
)
def test_a_malformed_payload_is_400_with_the_field_error(writer, payload, field):
    response = writer.post(PROFILES, payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Profile.objects.exists()


@pytest.mark.django_db
def test_a_body_that_is_not_an_object_is_400(writer):
    response = writer.post(PROFILES, ["cust-1"], format="json")

    assert response.status_code == 400


@pytest.mark.django_db
def test_a_profile_is_read_by_its_external_id(api_client):
    ProfileFactory(external_id="crm:42.a", email="x@example.com")

    response = api_client("profiles:read").get(f"{PROFILES}crm:42.a/")

    assert response.status_code == 200
    assert response.json()["email"] == "x@example.com"


@pytest.mark.django_db
def test_an_unknown_external_id_is_404(api_client):
    response = api_client("profiles:read").get(f"{PROFILES}nobody/")

    assert response.status_code == 404


@pytest.mark.django_db
def test_the_list_is_paged_with_a_cursor_newest_first(api_client):
    client = api_client("profiles:read")
    profiles = ProfileFactory.create_batch(5)

    seen, url = [], f"{PROFILES}?page_size=2"
    while url:
        page = client.get(url).json()
        assert len(page["results"]) <= 2
        seen += [p["external_id"] for p in page["results"]]
        url = page["next"]

    assert seen == [p.external_id for p in reversed(profiles)]


@pytest.mark.django_db
def test_the_list_filters_by_email_whatever_its_case(api_client):
    ProfileFactory(external_id="a", email="Ada@Example.com")
    ProfileFactory(external_id="b", email="bob@example.com")

    response = api_client("profiles:read").get(PROFILES, {"email": "ada@example.COM"})

    assert [p["external_id"] for p in response.json()["results"]] == ["a"]


@pytest.mark.django_db
def test_the_list_searches_with_q(api_client):
    ProfileFactory(external_id="a", first_name="Grace", last_name="Hopper")
    ProfileFactory(external_id="b", first_name="Ada", last_name="Lovelace")

    response = api_client("profiles:read").get(PROFILES, {"q": "hopp"})

    assert [p["external_id"] for p in response.json()["results"]] == ["a"]


@pytest.mark.django_db
def test_a_segment_detail_counts_its_members(api_client):
    segment = SegmentFactory(
        rules={"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]}
    )
    ProfileFactory.create_batch(2, attributes={"plan": "pro"})
    ProfileFactory(attributes={"plan": "free"})

    response = api_client("segments:read").get(f"/api/v1/segments/{segment.pk}/")

    assert response.status_code == 200
    assert response.json()["count"] == 2


@pytest.mark.django_db
def test_segments_are_listed_without_counting_their_members(api_client):
    SegmentFactory(name="Pro users")

    response = api_client("segments:read").get("/api/v1/segments/")

    assert [s["name"] for s in response.json()["results"]] == ["Pro users"]
    assert "count" not in response.json()["results"][0]


@pytest.mark.django_db
def test_segments_need_the_segments_scope(api_client):
    response = api_client("profiles:read").get("/api/v1/segments/")

    assert response.status_code == 403
