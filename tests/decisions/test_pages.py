"""Marketer pages for placements and offers, and the "which offer would this profile get?"
preview."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from channels.models import Offer, OfferImpression, Placement
from tests.factories import OfferFactory, PlacementFactory, ProfileFactory, SegmentFactory

pytestmark = pytest.mark.django_db

PRO = {"all": [{"type": "attribute", "key": "plan", "op": "equals", "value": "pro",
                "value_type": "string"}]}


@pytest.fixture
def offers_client(marketer_client, marketer):
    """A marketer allowed to manage placements and offers."""
    marketer.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="channels", codename__in=[
            "view_placement", "add_placement", "change_placement", "view_offer", "add_offer",
            "change_offer", "delete_offer"]))
    return marketer_client


def _offer_form(**overrides):
    data = {"name": "Pro upgrade", "priority": "5", "segment": "", "rules": "",
            "content": '{"title": "Go pro"}', "html": "", "starts_at": "", "ends_at": "",
            "cap_per_profile": "", "is_active": "on"}
    data.update(overrides)
    return data


def test_the_list_shows_placements_and_the_nav_links_to_it(offers_client):
    PlacementFactory(key="homepage_banner", name="Homepage banner")

    page = offers_client.get(reverse("placement_list")).content.decode()

    assert "homepage_banner" in page
    assert f'href="{reverse("placement_list")}"' in page


def test_pages_need_the_permissions(client):
    from tests.factories import UserFactory

    placement = PlacementFactory()
    client.force_login(UserFactory(username="no-offers"))

    assert client.get(reverse("placement_list")).status_code == 403
    assert client.get(reverse("placement_detail", args=[placement.pk])).status_code == 403


def test_marketers_may_manage_offers(marketer_client):
    placement = PlacementFactory()

    assert marketer_client.get(reverse("placement_list")).status_code == 200
    assert marketer_client.get(reverse("placement_detail", args=[placement.pk])).status_code == 200


def test_a_marketer_creates_a_placement(offers_client):
    response = offers_client.post(reverse("placement_create"),
                                  {"key": "checkout_slot", "name": "Checkout slot",
                                   "description": ""})

    placement = Placement.objects.get(key="checkout_slot")
    assert response["Location"] == reverse("placement_detail", args=[placement.pk])


def test_a_marketer_adds_an_offer_with_rules(offers_client):
    placement = PlacementFactory()

    offers_client.post(reverse("offer_create", args=[placement.pk]),
                       _offer_form(rules='{"all": [{"type": "attribute", "key": "plan", '
                                         '"op": "equals", "value": "pro", '
                                         '"value_type": "string"}]}'))

    offer = Offer.objects.get(placement=placement)
    assert (offer.name, offer.priority, offer.content) == ("Pro upgrade", 5, {"title": "Go pro"})
    assert offer.rules["all"][0]["value"] == "pro"


def test_bad_rules_are_shown_with_their_path_and_not_saved(offers_client):
    placement = PlacementFactory()

    response = offers_client.post(
        reverse("offer_create", args=[placement.pk]),
        _offer_form(rules='{"all": [{"type": "attribute", "key": "nope", "op": "equals", '
                          '"value": 1}]}'))

    assert response.status_code == 200
    assert "$.all[0].key: Unknown attribute" in response.content.decode()
    assert not Offer.objects.exists()


def test_an_offer_can_target_a_segment(offers_client):
    placement, segment = PlacementFactory(), SegmentFactory(name="Pros", rules=PRO)

    offers_client.post(reverse("offer_create", args=[placement.pk]),
                       _offer_form(segment=str(segment.pk)))

    assert Offer.objects.get().segment == segment
    page = offers_client.get(reverse("placement_detail", args=[placement.pk])).content.decode()
    assert "in Pros" in page


def test_the_fallback_is_chosen_among_the_placements_offers(offers_client):
    placement = PlacementFactory(key="banner", name="Banner")
    own = OfferFactory(placement=placement)
    elsewhere = OfferFactory()
    url = reverse("placement_edit", args=[placement.pk])

    refused = offers_client.post(url, {"key": "banner", "name": "Banner", "description": "",
                                       "fallback": str(elsewhere.pk)})
    offers_client.post(url, {"key": "banner", "name": "Banner", "description": "",
                             "fallback": str(own.pk)})

    assert refused.status_code == 200
    placement.refresh_from_db()
    assert placement.fallback == own


def test_the_preview_says_which_offer_a_profile_gets_and_why(offers_client):
    # given a placement with an offer for pros and one for everyone
    placement = PlacementFactory()
    for_pros = OfferFactory(placement=placement, name="For pros", priority=9, rules=PRO)
    OfferFactory(placement=placement, name="For all", priority=1,
                 html='<p>Hi</p><script>alert("x")</script>')
    ProfileFactory(external_id="crm-9", email="ada@example.com", attributes={"plan": "free"})

    # when the marketer previews for a free profile, by email
    page = offers_client.get(reverse("placement_detail", args=[placement.pk]),
                             {"profile": "ADA@example.com"}).content.decode()

    # then the page names the offer, each offer's verdict, and records nothing
    assert "would get\n  <strong>For all</strong>" in page
    assert f'data-offer="{for_pros.pk}"' in page and "not eligible" in page
    assert "<script>" not in page  # the offer's HTML only runs in a sandboxed frame
    assert 'sandbox=""' in page
    assert not OfferImpression.objects.exists()


def test_the_preview_of_an_unknown_profile_names_the_fallback(offers_client):
    placement = PlacementFactory()
    placement.fallback = OfferFactory(placement=placement, name="House ad")
    placement.save()

    page = offers_client.get(reverse("placement_detail", args=[placement.pk]),
                             {"profile": "nobody"}).content.decode()

    assert "No profile matches “nobody”" in page
    assert "the fallback, “House ad”" in page


def test_an_offer_is_edited_and_deleted(offers_client):
    offer = OfferFactory(name="Old", priority=1)

    offers_client.post(reverse("offer_edit", args=[offer.pk]), _offer_form(name="New"))
    offer.refresh_from_db()
    assert offer.name == "New"

    offers_client.post(reverse("offer_delete", args=[offer.pk]))
    assert not Offer.objects.exists()
