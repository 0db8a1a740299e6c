"""campaigns.simulation.simulate: a dry run over a small world, nothing written."""

import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from campaigns.engine import stable_fraction
from campaigns.errors import CampaignError
from campaigns.journeys.holdout import in_control_group
from campaigns.models import CampaignVersion, EntryKind, Step
from campaigns.simulation import simulate
from channels.models import Suppression
from profiles.models import Consent, Segment
from tests.factories import (
    CampaignFactory,
    EventFactory,
    MessageTemplateFactory,
    ProfileFactory,
)

pytestmark = pytest.mark.django_db

WORLD = {"all": [{"type": "attribute", "key": "world", "value_type": "string",
                  "op": "equals", "value": "sim"}]}
IS_PRO = {"all": [{"type": "attribute", "key": "plan", "value_type": "string",
                   "op": "equals", "value": "pro"}]}


@pytest.fixture
def world():
    """30 profiles (10 pro); some can't get email (2 opted out, 1 without an address, 1
    suppressed); SMS needs an opt-in (8 pro have one, one of them no phone)."""
    now = timezone.now()
    profiles = []
    for i in range(30):
        pro = i < 10
        profiles.append(ProfileFactory(
            attributes={"world": "sim", "plan": "pro" if pro else "free"},
            email="" if i == 12 else f"p{i}@example.com",
            phone=f"+3361234{5600 + i}" if pro and i != 8 else "",
        ))
    for p in profiles[10:12]:
        Consent.objects.create(profile=p, channel="email", state="opted_out", updated_at=now)
    Suppression.objects.create(kind="email", address="p13@example.com", cause="hard_bounce")
    for p in profiles[:9]:
        Consent.objects.create(profile=p, channel="sms", state="opted_in", updated_at=now)
    segment = Segment.objects.create(name="Sim world", rules=WORLD)
    campaign = CampaignFactory(segment=segment, holdout_percent=0)
    version = CampaignVersion.objects.create(campaign=campaign, number=1, start_key="s1")
    email = MessageTemplateFactory(channel="email")
    sms = MessageTemplateFactory(channel="sms", content={"body": "Hi {{ profile.first_name }}"})
    steps = [
        ("s1", "send_message", {}, {"next": "s2"}, email),
        ("s2", "wait", {"mode": "duration", "seconds": 86400}, {"next": "s3"}, None),
        ("s3", "condition", {"rules": IS_PRO}, {"yes": "s4", "no": None}, None),
        ("s4", "split", {"branches": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]},
         {"A": "s5", "B": "s6"}, None),
        ("s5", "send_message", {}, {"next": None}, sms),
        ("s6", "update_attribute", {"attribute": "tier", "value": "b"}, {"next": None}, None),
    ]
    for position, (key, kind, config, exits, template) in enumerate(steps, start=1):
        Step.objects.create(campaign=campaign, version=version, key=key, kind=kind,
                            config=config, exits=exits, template=template,
                            channel=template.channel if template else "email",
                            position=position)
    return campaign, version, profiles


def _counts():
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.managed}


def test_counts_per_step_add_up_and_reasons_are_right(world):
    campaign, version, profiles = world
    pro = [p.pk for p in profiles[:10]]
    a = {pid for pid in pro if stable_fraction(campaign.pk, pid, "s4") < 0.5}

    result = simulate(campaign=campaign, version=version)

    steps = result["steps"]
    assert result["audience"] == 30 and result["sampled"] is False
    assert steps["s1"]["entered"] == 30
    assert steps["s1"]["sent"] == 26
    assert steps["s1"]["skipped"] == {"unsubscribed": 2, "missing_address": 1, "suppressed": 1}
    assert steps["s2"]["entered"] == 30 and steps["s2"]["waiting"] == 30
    assert steps["s3"]["exits"] == {"yes": 10, "no": 20}
    assert steps["s4"]["entered"] == 10
    assert steps["s4"]["exits"] == {k: v for k, v in
                                    {"A": len(a), "B": 10 - len(a)}.items() if v}
    assert steps["s5"]["entered"] == len(a)
    assert steps["s6"]["entered"] == 10 - len(a)
    # SMS: opt-in regime; profile 9 has no opt-in, profile 8 no phone.
    skipped_sms = {pid: reason for pid, reason in ((profiles[9].pk, "no_consent"),
                                                   (profiles[8].pk, "missing_address"))
                   if pid in a}
    assert steps["s5"]["sent"] == len(a) - len(skipped_sms)
    assert steps["s5"]["skipped"] == dict(
        (reason, list(skipped_sms.values()).count(reason)) for reason in set(skipped_sms.values()))
    assert result["messages"]["would_send"] == 26 + len(a) - len(skipped_sms)
    assert sum(result["messages"]["would_skip"].values()) == 4 + len(skipped_sms)
    assert result["outcomes"] == {"completed": 30}


def test_nothing_is_written(world):
    campaign, version, profiles = world
    before = _counts()
    attributes = {p.pk: p.attributes for p in profiles}

    simulate(campaign=campaign, version=version)
    simulate(campaign=campaign, version=version, profile=profiles[0])

    assert _counts() == before
    for p in profiles:
        p.refresh_from_db()
        assert p.attributes == attributes[p.pk]


def test_path_of_one_profile(world):
    campaign, version, profiles = world
    profile = profiles[0]
    branch = "A" if stable_fraction(campaign.pk, profile.pk, "s4") < 0.5 else "B"
    now = timezone.now()

    result = simulate(campaign=campaign, version=version, profile=profile, now=now)

    path = [(e["step"], e["outcome"]) for e in result["path"]]
    last = ("s5", "next") if branch == "A" else ("s6", "next")
    assert path == [("s1", "next"), ("s2", "next"), ("s3", "yes"), ("s4", branch), last]
    assert result["path"][0]["message"] == "would send"
    assert result["path"][2]["at"] == (now + timedelta(days=1)).isoformat()
    assert result["audience"] == 1


def test_path_of_a_free_profile_that_cannot_get_email(world):
    campaign, version, profiles = world
    result = simulate(campaign=campaign, version=version, profile=profiles[10])
    assert result["path"][0]["message"] == "would skip: unsubscribed"
    assert [(e["step"], e["outcome"]) for e in result["path"]][-1] == ("s3", "no")


def test_a_sample_is_scaled_to_the_audience(world):
    campaign, version, _ = world
    result = simulate(campaign=campaign, version=version, sample=10)
    assert result["sampled"] is True and result["simulated"] == 10
    assert result["audience"] == 30 and result["scale"] == 3.0
    assert result["steps"]["s1"]["entered"] == 30
    assert result["steps"]["s3"]["exits"]["yes"] + result["steps"]["s3"]["exits"].get("no", 0) \
        == 30


def test_holdout_gets_no_message(world):
    campaign, version, profiles = world
    campaign.holdout_percent = 50
    campaign.save(update_fields=["holdout_percent"])
    control = [p for p in profiles if in_control_group(campaign.pk, p.pk, 50)]

    result = simulate(campaign=campaign, version=version)

    assert result["steps"]["s1"]["holdout"] == len(control) > 0
    assert result["steps"]["s1"]["sent"] + sum(result["steps"]["s1"]["skipped"].values()) \
        == 30 - len(control)


def test_exit_rules_take_profiles_out(world):
    campaign, version, _ = world
    campaign.exit_rules = {"all": [{"type": "attribute", "key": "plan", "value_type": "string",
                                    "op": "equals", "value": "free"}]}
    campaign.save(update_fields=["exit_rules"])

    result = simulate(campaign=campaign, version=version)

    assert result["steps"]["s1"]["exited"] == 20
    assert result["outcomes"] == {"completed": 10, "exited": 20}
    assert result["steps"]["s1"]["sent"] == 10


def test_event_entry_without_segment_reads_recent_entrants():
    now = timezone.now()
    recent, old, other = ProfileFactory(), ProfileFactory(), ProfileFactory()
    EventFactory(profile=recent, name="signup", occurred_at=now - timedelta(days=2),
                 properties={"plan": "pro"})
    EventFactory(profile=old, name="signup", occurred_at=now - timedelta(days=60),
                 properties={"plan": "pro"})
    EventFactory(profile=other, name="signup", occurred_at=now - timedelta(days=1),
                 properties={"plan": "free"})
    campaign = CampaignFactory(segment=None, entry_kind=EntryKind.EVENT, entry_event="signup",
                               entry_event_filter=[{"property": "plan", "op": "equals",
                                                    "value": "pro"}])
    version = CampaignVersion.objects.create(campaign=campaign, number=1, start_key="s1")
    Step.objects.create(campaign=campaign, version=version, key="s1", kind="exit")

    result = simulate(campaign=campaign, version=version, now=now)

    assert result["audience"] == 1
    assert result["steps"]["s1"] == {**result["steps"]["s1"], "entered": 1,
                                     "exits": {"end": 1}}


def test_a_send_step_without_template_would_skip_with_template_error(world):
    campaign, version, _ = world
    Step.objects.filter(version=version, key="s1").update(template=None)

    result = simulate(campaign=campaign, version=version)

    assert result["steps"]["s1"]["skipped"] == {"template_error": 30}
    assert result["steps"]["s1"]["sent"] == 0


def test_the_result_is_plain_json(world):
    campaign, version, profiles = world
    result = simulate(campaign=campaign, version=version, profile=profiles[13])
    assert json.loads(json.dumps(result)) == result
    assert all(type(reason) is str for reason in result["messages"]["would_skip"])
    assert result["path"][0]["message"] == "would skip: suppressed"


def test_an_entry_filter_that_does_not_validate_is_a_campaign_error():
    campaign = CampaignFactory(segment=None, entry_kind=EntryKind.EVENT, entry_event="signup",
                               entry_event_filter=[{"property": "plan", "op": "nope",
                                                    "value": 1}])
    with pytest.raises(CampaignError) as caught:
        simulate(campaign=campaign)
    assert "audience cannot be read" in caught.value.errors["entry"]


def test_a_wait_until_event_takes_its_timeout_in_a_dry_run():
    # Given a profile who did the awaited event yesterday (before it would enter)
    now = timezone.now()
    profile = ProfileFactory()
    EventFactory(profile=profile, name="purchase", occurred_at=now - timedelta(days=1))
    campaign = CampaignFactory(segment=None)
    version = CampaignVersion.objects.create(campaign=campaign, number=1, start_key="w")
    Step.objects.create(campaign=campaign, version=version, key="w", kind="wait",
                        config={"mode": "event", "event": "purchase", "timeout_seconds": 3600},
                        exits={"event": "yes", "timeout": None})
    Step.objects.create(campaign=campaign, version=version, key="yes", kind="exit", position=2)

    result = simulate(campaign=campaign, version=version, profile=profile, now=now)

    assert result["path"] == [{"step": "w", "outcome": "timeout", "detail": "",
                               "at": (now + timedelta(hours=1)).isoformat()}]
    assert result["steps"]["w"]["waiting"] == 1 and result["steps"]["yes"]["entered"] == 0
