"""The decisions API and the placements/offers CRUD integrators use."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels.models import Offer, OfferImpression, Placement
from profiles.models import Profile
from tests.factories import OfferFactory, PlacementFactory, ProfileFactory

pytestmark = pytest.mark.django_db

PRO = {"all": [{"type": "attribute", "key": "plan", "op": "equals", "value": "pro",
                "value_type": "string"}]}


@pytest.fixture
def banner():
    placement = PlacementFactory(key="homepage_banner")
    offer = OfferFactory(placement=placement, name="Pro upgrade", rules=PRO,
                         content={"title": "Go further"}, html="<b>Go further</b>")
    return placement, offer


def test_a_decision_returns_the_offer_and_records_it(api_client, banner):
    placement, offer = banner
    profile = ProfileFactory(external_id="crm-1", attributes={"plan": "pro"})

    response = api_client("decisions:read").get(
        "/api/v1/decisions/homepage_banner", {"profile": "crm-1"})

    assert response.status_code == 200
    assert response.json() == {
        "placement": "homepage_banner", "profile": profile.pk, "fallback": False,
        "offer": {"id": offer.pk, "name": "Pro upgrade", "content": {"title": "Go further"},
                  "html": "<b>Go further</b>"},
    }
    assert OfferImpression.objects.filter(offer=offer, profile=profile).count() == 1


def test_nothing_to_show_is_204(api_client, banner):
    ProfileFactory(external_id="crm-2", attributes={"plan": "free"})

    response = api_client("decisions:read").get(
        "/api/v1/decisions/homepage_banner/", {"profile": "crm-2"})

    assert response.status_code == 204
    assert not OfferImpression.objects.exists()


def test_an_unknown_profile_gets_the_fallback(api_client, banner):
    placement, _ = banner
    placement.fallback = OfferFactory(placement=placement, name="Welcome")
    placement.save()

    response = api_client("decisions:read").get(
        "/api/v1/decisions/homepage_banner", {"profile": "never-seen"})

    assert response.status_code == 200
    body = response.json()
    assert (body["profile"], body["fallback"], body["offer"]["name"]) == (None, True, "Welcome")


def test_an_unknown_placement_is_404(api_client):
    ProfileFactory(external_id="crm-3")

    response = api_client("decisions:read").get("/api/v1/decisions/nowhere", {"profile": "crm-3"})

    assert response.status_code == 404


def test_the_profile_parameter_is_required(api_client, banner):
    response = api_client("decisions:read").get("/api/v1/decisions/homepage_banner")

    assert response.status_code == 400
    assert "profile" in response.json()


def test_a_number_that_is_two_profiles_is_refused_unless_told_which(api_client, banner):
    by_id = ProfileFactory(attributes={"plan": "pro"})
    ProfileFactory(external_id=str(by_id.pk), attributes={"plan": "free"})
    client = api_client("decisions:read")

    ambiguous = client.get("/api/v1/decisions/homepage_banner", {"profile": str(by_id.pk)})
    told = client.get("/api/v1/decisions/homepage_banner", {"profile": str(by_id.pk), "by": "id"})

    assert ambiguous.status_code == 409
    assert told.status_code == 200 and told.json()["profile"] == by_id.pk


def test_decisions_need_their_scope(api_client, banner):
    response = api_client("offers:read").get(
        "/api/v1/decisions/homepage_banner", {"profile": "x"})

    assert response.status_code == 403


def test_hostile_strings_stay_values(api_client):
    # given an offer whose rule compares with an SQL-looking string
    placement = PlacementFactory(key="sidebar")
    hostile = "x'); SELECT pg_sleep(5); DROP TABLE profiles_profile; --"
    OfferFactory(placement=placement, rules={"all": [
        {"type": "attribute", "key": "plan", "op": "equals", "value": hostile,
         "value_type": "string"}]})
    ProfileFactory(external_id="crm-4", attributes={"plan": hostile})
    ProfileFactory(external_id="crm-5", attributes={"plan": "pro"})
    client = api_client("decisions:read")

    # when both profiles ask
    with CaptureQueriesContext(connection) as captured:
        matching = client.get("/api/v1/decisions/sidebar", {"profile": "crm-4"})
    other = client.get("/api/v1/decisions/sidebar", {"profile": "crm-5"})

    # then only the profile holding that exact value gets it, and no statement was injected
    assert (matching.status_code, other.status_code) == (200, 204)
    assert not any("pg_sleep" in q["sql"] or "DROP" in q["sql"]
                   for q in captured.captured_queries)
    assert Profile.objects.count() == 2


def test_an_integrator_creates_a_placement_and_its_offers(api_client):
    client = api_client("offers:read", "offers:write", "decisions:read")
    ProfileFactory(external_id="crm-6", attributes={"plan": "pro"})

    created = client.post("/api/v1/placements/", {"key": "checkout", "name": "Checkout"},
                          format="json")
    offer = client.post("/api/v1/offers/", {
        "placement": "checkout", "name": "Free shipping", "content": {"code": "SHIP"},
        "rules": PRO, "priority": 3, "cap_per_profile": 2,
    }, format="json")
    fallback = client.post("/api/v1/offers/", {"placement": "checkout", "name": "Default"},
                           format="json")
    patched = client.patch("/api/v1/placements/checkout/", {"fallback": fallback.json()["id"]},
                           format="json")

    assert (created.status_code, offer.status_code, fallback.status_code) == (201, 201, 201)
    assert patched.status_code == 200 and patched.json()["fallback"] == fallback.json()["id"]
    assert offer.json()["rules"]["all"][0]["value"] == "pro"
    decided = client.get("/api/v1/decisions/checkout", {"profile": "crm-6"})
    assert decided.json()["offer"]["content"] == {"code": "SHIP"}


def test_bad_offer_rules_are_400_with_their_path(api_client):
    PlacementFactory(key="checkout")

    response = api_client("offers:write").post("/api/v1/offers/", {
        "placement": "checkout", "name": "x",
        "rules": {"all": [{"type": "attribute", "key": "nope", "op": "equals", "value": 1}]},
    }, format="json")

    assert response.status_code == 400
    assert response.json()["rules"] == [
        {"path": "$.all[0].key", "message": "Unknown attribute 'nope': declare it in the schema."}
    ]
    assert not Offer.objects.exists()


def test_an_offer_is_patched_and_deleted(api_client):
    offer = OfferFactory(priority=1)
    client = api_client("offers:write", "offers:read")

    patched = client.patch(f"/api/v1/offers/{offer.pk}/", {"priority": 7}, format="json")
    deleted = client.delete(f"/api/v1/offers/{offer.pk}/")

    assert patched.status_code == 200 and patched.json()["priority"] == 7
    assert deleted.status_code == 204
    assert not Offer.objects.exists()


def test_offers_are_listed_by_placement(api_client):
    mine = OfferFactory(placement=PlacementFactory(key="a"))
    OfferFactory(placement=PlacementFactory(key="b"))

    response = api_client("offers:read").get("/api/v1/offers/", {"placement": "a"})

    assert [o["id"] for o in response.json()["results"]] == [mine.pk]


def test_reading_offers_does_not_allow_writing_them(api_client):
    response = api_client("offers:read").post("/api/v1/placements/", {"key": "x", "name": "x"},
                                              format="json")

    assert response.status_code == 403
    assert not Placement.objects.exists()
