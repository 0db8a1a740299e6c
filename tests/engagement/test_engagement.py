"""Message engagement in segment rules: what each action reads, windows, campaigns, and
validation errors by JSON path."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels.models import DeliveryEvent
from profiles.audiences import audience_queryset, profile_matches, validate_audience_rules
from profiles.rules import RuleError
from profiles.segments import describe_rules
from tests.factories import CampaignFactory, DeliveryFactory, ProfileFactory, StepFactory

pytestmark = pytest.mark.django_db


def _logged(delivery, status, days_ago=0):
    DeliveryEvent.objects.create(delivery=delivery, status=status,
                                 occurred_at=timezone.now() - timedelta(days=days_ago))
    return delivery


def _selected(**condition):
    rules = {"all": [{"type": "engagement", **condition}]}
    return set(audience_queryset(rules).values_list("pk", flat=True))


def test_received_reads_sent_and_delivered_entries_of_the_log():
    # given one message sent, one delivered, one only queued and one failed
    sent = _logged(DeliveryFactory(), "sent").profile
    delivered = _logged(DeliveryFactory(), "delivered").profile
    _logged(DeliveryFactory(), "queued")
    _logged(DeliveryFactory(), "failed")

    # when the audience is "received any message"
    selected = _selected(action="received")

    # then only the sent and the delivered ones are in it
    assert selected == {sent.pk, delivered.pk}


def test_a_click_is_not_counted_as_an_open():
    clicked = _logged(DeliveryFactory(), "clicked").profile

    assert _selected(action="opened") == set()
    assert _selected(action="clicked") == {clicked.pk}


def test_a_campaign_condition_ignores_other_campaigns_messages():
    # given a profile that opened campaign A's second step and one that opened campaign B's
    campaign_a = CampaignFactory()
    StepFactory(campaign=campaign_a, position=1)
    opened_a = _logged(DeliveryFactory(campaign_step=StepFactory(campaign=campaign_a,
                                                                 position=2)), "opened").profile
    _logged(DeliveryFactory(), "opened")

    # when the audience is "opened a message of campaign A"
    selected = _selected(action="opened", campaign=campaign_a.pk)

    # then only A's reader is in it
    assert selected == {opened_a.pk}


def test_any_campaign_includes_messages_sent_outside_campaigns():
    transactional = _logged(DeliveryFactory(campaign_step=None), "bounced").profile

    assert _selected(action="bounced") == {transactional.pk}


def test_a_window_leaves_out_older_engagement():
    # given an open 3 days ago and one 40 days ago
    recent = _logged(DeliveryFactory(), "opened", days_ago=3).profile
    old = _logged(DeliveryFactory(), "opened", days_ago=40).profile

    # then "in the last 30 days" holds for the recent one only, "ever" for both
    assert _selected(action="opened", within_days=30) == {recent.pk}
    assert _selected(action="opened") == {recent.pk, old.pk}


def test_the_one_profile_match_reads_the_same_log():
    profile = _logged(DeliveryFactory(), "opened", days_ago=3).profile
    rules = {"all": [{"type": "engagement", "action": "opened", "within_days": 7}]}

    assert profile_matches(profile, rules)
    assert not profile_matches(ProfileFactory(), rules)


def test_a_condition_is_described_with_its_campaign_name():
    campaign = CampaignFactory(name="Spring sale")

    tree = validate_audience_rules({"all": [
        {"type": "engagement", "action": "clicked", "campaign": campaign.pk, "within_days": 14}
    ]})

    assert describe_rules(tree) == (
        "clicked in a message of campaign “Spring sale” in the last 14 days"
    )


@pytest.mark.parametrize("condition,path", [
    ({"action": "read"}, "$.all[0].action"),
    ({"action": "opened", "campaign": 999_999}, "$.all[0].campaign"),
    ({"action": "opened", "campaign": "1; DROP TABLE campaigns_campaign"}, "$.all[0].campaign"),
    ({"action": "opened", "campaign": True}, "$.all[0].campaign"),
    ({"action": "opened", "campaign": 2**70}, "$.all[0].campaign"),
    ({"action": "opened", "within_days": -1}, "$.all[0].within_days"),
    ({"action": "opened", "within_days": "30"}, "$.all[0].within_days"),
])
def test_a_bad_engagement_condition_is_refused_with_its_path(condition, path):
    with pytest.raises(RuleError) as caught:
        validate_audience_rules({"all": [{"type": "engagement", **condition}]})

    assert [e["path"] for e in caught.value.errors] == [path]
