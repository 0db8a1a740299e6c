"""Deciding which offer a placement shows a profile: priority, eligibility, dates, caps,
fallback, impressions, the per-process plan, and the marketer's preview."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels import decisions
from channels.decisions import (
    CAPPED,
    CHOSEN,
    ENDED,
    NOT_ACTIVE,
    NOT_ELIGIBLE,
    NOT_YET,
    OUTRANKED,
    STALE,
    OfferData,
    OfferError,
    decide,
    decision_preview,
    offer_save,
    placement_save,
)
from channels.models import OfferImpression, Placement
from profiles.models import Segment, SegmentMember
from profiles.rules import RuleError
from tests.factories import (
    EventFactory,
    OfferFactory,
    PlacementFactory,
    ProfileFactory,
    SegmentFactory,
    TopicFactory,
)

pytestmark = pytest.mark.django_db

PRO = {"all": [{"type": "attribute", "key": "plan", "op": "equals", "value": "pro",
                "value_type": "string"}]}


def _decide(placement, profile, **kwargs):
    return decide(placement_key=placement.key, profile=profile, **kwargs)


def test_the_highest_priority_eligible_offer_wins():
    # given a pro profile, a high-priority offer for free plans and two for pro plans
    placement = PlacementFactory(key="homepage_banner")
    OfferFactory(placement=placement, priority=9, rules={
        "all": [{"type": "attribute", "key": "plan", "op": "equals", "value": "free",
                 "value_type": "string"}]})
    OfferFactory(placement=placement, priority=1, rules=PRO)
    best = OfferFactory(placement=placement, priority=5, rules=PRO)

    # when the placement asks
    decision = _decide(placement, ProfileFactory(attributes={"plan": "pro"}))

    # then the best offer the profile is eligible for is returned, not as a fallback
    assert decision.offer == best
    assert not decision.is_fallback


def test_equal_priorities_go_to_the_oldest_offer():
    placement = PlacementFactory()
    first = OfferFactory(placement=placement, priority=3)
    OfferFactory(placement=placement, priority=3)

    assert _decide(placement, ProfileFactory()).offer == first


def test_a_segment_admits_only_its_members():
    # given an offer for a dynamic segment and another for a static list
    placement = PlacementFactory()
    pros = SegmentFactory(rules=PRO)
    listed = Segment.objects.create(name="VIP list", kind=Segment.Kind.STATIC)
    vip = ProfileFactory(attributes={"plan": "free"})
    SegmentMember.objects.create(segment=listed, profile=vip)
    for_pros = OfferFactory(placement=placement, priority=2, segment=pros)
    for_list = OfferFactory(placement=placement, priority=1, segment=listed)

    # then each profile gets the offer of the segment it is in, a stranger nothing
    assert _decide(placement, ProfileFactory(attributes={"plan": "pro"})).offer == for_pros
    assert _decide(placement, vip).offer == for_list
    assert _decide(placement, ProfileFactory(attributes={"plan": "free"})).offer is None


def test_rules_and_segment_must_both_hold():
    placement = PlacementFactory()
    ordered = SegmentFactory(rules={"all": [{"type": "event", "name": "order_completed",
                                             "op": "at_least", "count": 1}]})
    offer = OfferFactory(placement=placement, rules=PRO, segment=ordered)
    pro_who_ordered = ProfileFactory(attributes={"plan": "pro"})
    EventFactory(profile=pro_who_ordered, name="order_completed")

    assert _decide(placement, pro_who_ordered).offer == offer
    assert _decide(placement, ProfileFactory(attributes={"plan": "pro"})).offer is None


@pytest.mark.parametrize("window", [
    {"starts_at": timezone.now() + timedelta(hours=1)},
    {"ends_at": timezone.now() - timedelta(seconds=1)},
    {"is_active": False},
])
def test_an_offer_outside_its_dates_or_inactive_is_passed_over(window):
    placement = PlacementFactory()
    OfferFactory(placement=placement, priority=5, **window)
    running = OfferFactory(placement=placement, priority=1)

    assert _decide(placement, ProfileFactory()).offer == running


def test_an_offer_is_shown_up_to_its_cap_then_the_next_one():
    # given an offer capped at two impressions per profile, above an uncapped one
    placement = PlacementFactory()
    capped = OfferFactory(placement=placement, priority=5, cap_per_profile=2)
    other = OfferFactory(placement=placement, priority=1)
    profile, someone_else = ProfileFactory(), ProfileFactory()

    # when the profile asks three times
    shown = [_decide(placement, profile).offer for _ in range(3)]

    # then the capped offer is shown twice, then the next one; others keep their own count
    assert shown == [capped, capped, other]
    assert _decide(placement, someone_else).offer == capped


def test_what_is_returned_is_recorded_as_an_impression():
    placement = PlacementFactory()
    offer = OfferFactory(placement=placement)
    profile = ProfileFactory()
    now = timezone.now()

    _decide(placement, profile, now=now)

    impression = OfferImpression.objects.get()
    assert (impression.offer, impression.profile, impression.shown_at) == (offer, profile, now)


def test_the_fallback_is_returned_when_nothing_applies_and_not_recorded():
    # given a placement whose only targeted offer is for pro profiles, and a fallback
    placement = PlacementFactory()
    OfferFactory(placement=placement, rules=PRO)
    fallback = OfferFactory(placement=placement, priority=-1, rules=PRO, name="Default")
    placement.fallback = fallback
    placement.save()

    # when a free profile asks
    decision = _decide(placement, ProfileFactory(attributes={"plan": "free"}))

    # then the fallback is returned (its own rules are not checked) and nothing is recorded
    assert decision.offer == fallback
    assert decision.is_fallback
    assert not OfferImpression.objects.exists()


def test_an_inactive_fallback_is_not_shown():
    placement = PlacementFactory()
    placement.fallback = OfferFactory(placement=placement, rules=PRO, is_active=False)
    placement.save()

    assert _decide(placement, ProfileFactory()).offer is None


def test_an_unknown_profile_gets_the_fallback():
    placement = PlacementFactory()
    OfferFactory(placement=placement, priority=5)
    placement.fallback = OfferFactory(placement=placement, rules=PRO)
    placement.save()

    decision = _decide(placement, None)

    assert decision.offer == placement.fallback
    assert decision.profile_id is None
    assert not OfferImpression.objects.exists()


def test_an_unknown_placement_raises():
    with pytest.raises(Placement.DoesNotExist):
        decide(placement_key="nowhere", profile=ProfileFactory())


def test_facts_are_read_once_whatever_the_number_of_offers():
    # given placements of 2 and of 12 capped offers, each with an event and a consent condition
    def placement_with(n):
        placement = PlacementFactory()
        for i in range(n):
            OfferFactory(placement=placement, cap_per_profile=5, rules={"all": [
                {"type": "event", "name": f"viewed_{i}", "op": "at_least", "count": 2,
                 "within_days": 30},
                {"type": "consent", "channel": "email", "op": "subscribed"},
            ]})
        return placement

    small, large = placement_with(2), placement_with(12)
    profile = ProfileFactory()
    for placement in (small, large):  # plans built and cached
        _decide(placement, profile)

    # when each decides for the profile
    with CaptureQueriesContext(connection) as for_small:
        _decide(small, profile)
    with CaptureQueriesContext(connection) as for_large:
        _decide(large, profile)

    # then the same few queries run: impressions, events, consents
    assert len(for_large.captured_queries) == len(for_small.captured_queries) == 3


def test_a_change_made_through_the_services_is_seen_at_once():
    placement = PlacementFactory()
    offer = OfferFactory(placement=placement, priority=1)
    profile = ProfileFactory()
    assert _decide(placement, profile).offer == offer

    better = offer_save(placement=placement, data=OfferData(name="Better", priority=9))

    assert _decide(placement, profile).offer == better


def test_a_change_made_elsewhere_is_seen_once_the_plan_expires(monkeypatch):
    # given a decision cached in this process
    placement = PlacementFactory()
    OfferFactory(placement=placement, priority=1)
    profile = ProfileFactory()
    _decide(placement, profile)
    # and a better offer written by another process (no service call here)
    better = OfferFactory(placement=placement, priority=9)

    # then it is not seen within the plan's lifetime, and seen after it
    assert _decide(placement, profile).offer != better
    monkeypatch.setattr(decisions.time, "monotonic",
                        lambda: decisions._plans[placement.key].expires + 1)
    assert _decide(placement, profile).offer == better


def test_an_offer_whose_rules_went_stale_is_skipped():
    # given an offer for subscribers of a topic, which is then deleted
    topic = TopicFactory(key="news")
    placement = PlacementFactory()
    stale = offer_save(placement=placement, data=OfferData(name="News offer", priority=9, rules={
        "all": [{"type": "consent", "channel": "email", "topic": "news", "op": "unsubscribed"}]}))
    fine = OfferFactory(placement=placement, priority=1)
    topic.delete()
    profile = ProfileFactory()

    # then the placement still answers, with the other offer, and the preview says why
    assert _decide(placement, profile).offer == fine
    verdicts = dict(decision_preview(placement=placement, profile=profile).verdicts)
    assert verdicts[stale] == STALE


def test_the_preview_explains_every_offer_and_records_nothing():
    # given offers in each situation
    now = timezone.now()
    placement = PlacementFactory()
    profile = ProfileFactory(attributes={"plan": "free"})
    inactive = OfferFactory(placement=placement, priority=9, is_active=False)
    later = OfferFactory(placement=placement, priority=8, starts_at=now + timedelta(days=1))
    over = OfferFactory(placement=placement, priority=7, ends_at=now - timedelta(days=1))
    capped = OfferFactory(placement=placement, priority=6, cap_per_profile=1)
    OfferImpression.objects.create(offer=capped, profile=profile, shown_at=now)
    for_pros = OfferFactory(placement=placement, priority=5, rules=PRO)
    chosen = OfferFactory(placement=placement, priority=4)
    lower = OfferFactory(placement=placement, priority=3)

    # when the marketer previews the placement for the profile
    preview = decision_preview(placement=placement, profile=profile, now=now)

    # then the answer is the one decide gives, and each offer has its reason
    assert preview.decision.offer == chosen
    assert preview.verdicts == [
        (inactive, NOT_ACTIVE), (later, NOT_YET), (over, ENDED), (capped, CAPPED),
        (for_pros, NOT_ELIGIBLE), (chosen, CHOSEN), (lower, OUTRANKED),
    ]
    assert OfferImpression.objects.count() == 1


def test_offer_rules_are_validated_with_their_json_path():
    with pytest.raises(RuleError) as caught:
        offer_save(placement=PlacementFactory(), data=OfferData(name="x", rules={
            "all": [{"type": "attribute", "key": "plan", "op": "gt", "value": "pro",
                     "value_type": "string"}]}))

    assert caught.value.errors[0]["path"] == "$.all[0].op"


def test_an_offer_ends_after_it_starts():
    now = timezone.now()
    with pytest.raises(OfferError) as caught:
        offer_save(placement=PlacementFactory(),
                   data=OfferData(name="x", starts_at=now, ends_at=now))

    assert "ends_at" in caught.value.errors


def test_a_fallback_belongs_to_its_placement():
    placement = PlacementFactory()
    elsewhere = OfferFactory()

    with pytest.raises(OfferError) as caught:
        placement_save(placement=placement, key=placement.key, name="x", fallback=elsewhere)

    assert "fallback" in caught.value.errors


@pytest.mark.django_db(transaction=True)
def test_an_impression_outside_a_transaction_is_committed_and_the_setting_does_not_leak():
    placement = PlacementFactory()
    offer = OfferFactory(placement=placement)
    profile = ProfileFactory()

    _decide(placement, profile)

    assert OfferImpression.objects.filter(offer=offer, profile=profile).count() == 1
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
