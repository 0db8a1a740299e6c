"""campaigns.journeys.facts: bulk profile facts that agree with the matcher."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.engine import CampaignRules, EnrollmentState, Fail, advance
from campaigns.graph import graph_from_json
from campaigns.journeys.facts import profile_facts, rules_ready
from campaigns.models import CampaignVersion, Enrollment, Step
from channels.models import DeliveryEvent
from profiles.models import Consent, Segment, SegmentMember
from profiles.rules.matcher import matches
from tests.factories import (
    AttributeDefinitionFactory,
    CampaignFactory,
    DeliveryFactory,
    EventFactory,
    ProfileFactory,
)

pytestmark = pytest.mark.django_db


def _graph(*steps, start="s1"):
    return graph_from_json({"start": start, "steps": list(steps)})


BOUGHT = {"type": "event", "name": "purchase", "op": "at_least", "count": 1, "within_days": 7}


def test_condition_events_are_read_within_their_window_for_the_whole_batch():
    # Given two profiles, one with a recent purchase, one with an old one and a page view
    now = timezone.now()
    recent, old = ProfileFactory(), ProfileFactory()
    EventFactory(profile=recent, name="purchase", occurred_at=now - timedelta(days=2))
    EventFactory(profile=old, name="purchase", occurred_at=now - timedelta(days=20))
    EventFactory(profile=old, name="page_viewed", occurred_at=now - timedelta(days=1))
    graph = _graph({"key": "s1", "kind": "condition", "config": {"rules": {"all": [BOUGHT]}},
                    "exits": {"yes": None, "no": None}})

    # When facts are loaded for both
    facts = profile_facts([recent.pk, old.pk], graph, CampaignRules(campaign_id=1), now)

    # Then only the purchase inside the window is read, and the matcher agrees
    assert [e[0] for e in facts[recent.pk].rules.events] == ["purchase"]
    assert facts[old.pk].rules.events == []
    assert matches({"all": [BOUGHT]}, facts[recent.pk].rules, now)
    assert not matches({"all": [BOUGHT]}, facts[old.pk].rules, now)
    assert facts[recent.pk].timezone == "Europe/Paris"
    assert facts[recent.pk].rules.attributes == {"plan": "free"}
    assert facts[recent.pk].rules.fields["email"] == recent.email


def test_query_count_does_not_grow_with_the_batch():
    now = timezone.now()
    profiles = [ProfileFactory() for _ in range(12)]
    for p in profiles:
        EventFactory(profile=p, name="purchase", occurred_at=now - timedelta(hours=1))
    tree = {"all": [BOUGHT, {"type": "consent", "channel": "email", "op": "subscribed"}]}
    graph = _graph({"key": "s1", "kind": "condition", "config": {"rules": tree},
                    "exits": {"yes": None, "no": None}})
    rules = CampaignRules(campaign_id=1, exit_event="unsubscribe", goal_event="purchase")

    def count(batch):
        with CaptureQueriesContext(connection) as queries:
            profile_facts([p.pk for p in batch], graph, rules, now)
        return len(queries)

    assert count(profiles) == count(profiles[:2])


def test_journey_events_are_read_since_the_oldest_entry_with_properties():
    now = timezone.now()
    profile = ProfileFactory()
    EventFactory(profile=profile, name="cart", occurred_at=now - timedelta(days=3),
                 properties={"total": 80})
    EventFactory(profile=profile, name="cart", occurred_at=now - timedelta(days=30))
    EventFactory(profile=profile, name="purchase", occurred_at=now - timedelta(days=1))
    EventFactory(profile=profile, name="unsubscribe_intent", occurred_at=now - timedelta(days=2))
    graph = _graph({"key": "s1", "kind": "wait",
                    "config": {"mode": "event", "event": "cart", "timeout_seconds": 60},
                    "exits": {"event": None, "timeout": None}})
    rules = CampaignRules(campaign_id=1, exit_event="unsubscribe_intent", goal_event="purchase")
    campaign = CampaignFactory()
    version = CampaignVersion.objects.create(campaign=campaign, number=1, start_key="s1")
    enrollment = Enrollment.objects.create(
        campaign=campaign, version=version, profile=profile, entry_key="once", step_key="s1",
        entered_at=now - timedelta(days=5),
    )

    facts = profile_facts([profile], graph, rules, now, enrollments=[enrollment])

    events = sorted((name, props) for name, _, props in facts[profile.pk].rules.events)
    assert events == [("cart", {"total": 80}), ("purchase", {"path": "/"}),
                      ("unsubscribe_intent", {"path": "/"})]


def test_consents_and_lists_are_read_only_when_rules_ask():
    now = timezone.now()
    profile = ProfileFactory()
    Consent.objects.create(profile=profile, channel="email", state="opted_out", updated_at=now)
    static = Segment.objects.create(name="VIP list", kind=Segment.Kind.STATIC, rules={})
    SegmentMember.objects.create(segment=static, profile=profile)
    plain = _graph({"key": "s1", "kind": "exit"})
    asking = _graph({"key": "s1", "kind": "condition", "config": {"rules": {"any": [
        {"type": "consent", "channel": "email", "op": "subscribed"},
        {"type": "segment", "op": "in", "segment": static.pk}]}},
        "exits": {"yes": None, "no": None}})

    without = profile_facts([profile.pk], plain, CampaignRules(campaign_id=1), now)[profile.pk]
    with_ = profile_facts([profile.pk], asking, CampaignRules(campaign_id=1), now)[profile.pk]

    assert without.rules.consents == {} and without.rules.lists == frozenset()
    assert with_.rules.consents == {("email", None): "opted_out"}
    assert with_.rules.lists == frozenset({static.pk})
    tree = asking.steps["s1"].config["rules"]
    assert matches(tree, with_.rules, now)  # on the list, though not subscribed
    assert not matches(tree["any"][0], with_.rules, now)


def test_engagement_per_earlier_step_of_the_enrollment():
    # Given an enrollment whose s1 message was delivered and opened, s2 only sent
    now = timezone.now()
    profile, other = ProfileFactory(), ProfileFactory()
    campaign = CampaignFactory()
    version = CampaignVersion.objects.create(campaign=campaign, number=1, start_key="s1")
    s1 = Step.objects.create(campaign=campaign, version=version, key="s1", kind="send_email")
    s2 = Step.objects.create(campaign=campaign, version=version, key="s2", kind="send_email",
                             position=2)
    enrollment = Enrollment.objects.create(campaign=campaign, version=version, profile=profile,
                                           entry_key="once", step_key="s3")
    first = DeliveryFactory(profile=profile, campaign_step=s1, enrollment=enrollment)
    second = DeliveryFactory(profile=profile, campaign_step=s2, enrollment=enrollment)
    # Another profile's delivery of the same step, outside the enrollment, is not counted.
    DeliveryFactory(profile=other, campaign_step=s1)
    for delivery, status in ((first, "delivered"), (first, "opened"), (second, "sent"),
                             (second, "queued")):
        DeliveryEvent.objects.create(delivery=delivery, status=status, occurred_at=now)
    graph = _graph(
        {"key": "s1", "kind": "send_email", "exits": {"next": "s2"}},
        {"key": "s2", "kind": "send_email", "exits": {"next": "s3"}},
        {"key": "s3", "kind": "condition",
         "config": {"engagement": {"step": "s1", "action": "opened"}},
         "exits": {"yes": None, "no": None}},
    )

    facts = profile_facts([profile.pk, other.pk], graph, CampaignRules(campaign_id=campaign.pk),
                          now, enrollments=[enrollment])

    assert facts[profile.pk].engagement == {"s1": frozenset({"received", "opened"}),
                                            "s2": frozenset({"received"})}
    assert facts[other.pk].engagement == {}


def test_registered_engagement_condition_is_loaded_in_bulk():
    now = timezone.now()
    profile = ProfileFactory()
    delivery = DeliveryFactory(profile=profile)
    DeliveryEvent.objects.create(delivery=delivery, status="clicked", occurred_at=now)
    tree = {"all": [{"type": "engagement", "action": "clicked", "campaign": None,
                     "within_days": 3}]}
    graph = _graph({"key": "s1", "kind": "condition", "config": {"rules": tree},
                    "exits": {"yes": None, "no": None}})

    facts = profile_facts([profile.pk], graph, CampaignRules(campaign_id=1), now)

    assert matches(tree, facts[profile.pk].rules, now)
    assert not matches(tree, facts[profile.pk].rules, now + timedelta(days=4))


def test_ever_conditions_reach_back_to_the_retention_horizon(settings):
    # Given a rule without a window ("ever"), and events 100 and 400 days old
    settings.EVENT_RETENTION_DAYS = 395
    now = timezone.now()
    profile = ProfileFactory()
    EventFactory(profile=profile, name="purchase", occurred_at=now - timedelta(days=100))
    EventFactory(profile=profile, name="purchase", occurred_at=now - timedelta(days=400))
    ever = {"all": [{"type": "event", "name": "purchase", "op": "at_least", "count": 1}]}
    graph = _graph({"key": "s1", "kind": "condition", "config": {"rules": ever},
                    "exits": {"yes": None, "no": None}})

    facts = profile_facts([profile.pk], graph, CampaignRules(campaign_id=1), now)

    assert [at for _, at, _ in facts[profile.pk].rules.events] == [now - timedelta(days=100)]


def test_rules_ready_normalizes_trees_as_typed_in_the_designer():
    # Given a declared attribute used without its value type, and the legacy field form
    AttributeDefinitionFactory(key="plan", type="string")
    now = timezone.now()
    profile = ProfileFactory(attributes={"plan": "pro"})
    typed = {"all": [{"type": "attribute", "key": "plan", "op": "equals", "value": "pro"}]}
    legacy = {"all": [{"field": "attributes.plan", "op": "equals", "value": "free"}]}
    graph = _graph({"key": "s1", "kind": "condition", "config": {"rules": typed},
                    "exits": {"yes": None, "no": None}})
    rules = CampaignRules(campaign_id=1, exit_rules=legacy)
    state = EnrollmentState(profile_id=profile.pk, step_key="s1", entered_at=now,
                            step_entered_at=now)

    # When the trees are made ready, the engine reads them; as typed, it fails the step
    ready_graph, ready_rules = rules_ready(graph, rules)
    facts = profile_facts([profile.pk], ready_graph, ready_rules, now)[profile.pk]

    assert advance(ready_graph, state, facts, now, rules=ready_rules).actions[0].outcome == "yes"
    raw = advance(graph, state, facts, now, rules=CampaignRules(campaign_id=1))
    assert isinstance(raw.actions[-1], Fail)
