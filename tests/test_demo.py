"""Demo data for `make run`: loaded once, realistic, and ready for the campaign loop."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.demo import demo_load
from campaigns.models import Campaign, CampaignStatus
from campaigns.services import campaign_preview, campaign_schedule
from profiles.models import Event, Profile, Segment
from profiles.selectors import segment_count

pytestmark = pytest.mark.django_db
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


def test_demo_load_creates_profiles_segments_and_a_draft_campaign(redis_conn):
    # when the demo data is loaded into an empty database
    result = demo_load()

    # then there are enough realistic profiles, each with a unique reserved-domain email
    assert result.profiles >= 1000
    known = Profile.objects.exclude(external_id=None)
    assert known.count() == result.profiles
    emails = list(known.values_list("email", flat=True))
    assert len(set(emails)) == len(emails)
    assert {e.rpartition("@")[2] for e in emails} <= {"example.com", "example.org", "example.net"}
    phones = Profile.objects.exclude(phone="").values_list("phone", flat=True)
    assert phones and all(E164.match(p) for p in phones)
    # and events from the last 90 days
    assert Event.objects.count() >= result.events >= 1000
    assert not Event.objects.filter(occurred_at__lt=timezone.now() - timedelta(days=91)).exists()
    # and three segments, each with members
    assert len(result.segments) == Segment.objects.filter(kind="dynamic").count() == 3
    assert all(segment_count(segment=s) > 0 for s in result.segments)
    # and a draft campaign that can be scheduled
    campaign = result.campaign
    assert campaign.status == CampaignStatus.DRAFT
    scheduled = campaign_schedule(campaign=campaign, at=timezone.now() + timedelta(hours=1))
    assert scheduled.status == CampaignStatus.SCHEDULED


def test_demo_email_is_personalized():
    campaign = demo_load(profiles=50).campaign
    profile = Profile.objects.filter(first_name__regex=r"^[A-Za-z]+$").first()

    content = campaign_preview(campaign=campaign, profile=profile)

    assert content.subject.startswith(profile.first_name)
    assert f"Hello {profile.first_name}," in content.html
    assert "<img" not in content.html


def test_a_second_load_creates_nothing():
    demo_load(profiles=50)
    counts = (Profile.objects.count(), Event.objects.count(), Campaign.objects.count())

    again = demo_load(profiles=50)

    assert not again.created
    assert (Profile.objects.count(), Event.objects.count(), Campaign.objects.count()) == counts


def test_demo_shows_schema_consent_identity_lists_and_offers(redis_conn):
    from channels.models import Placement
    from profiles.models import (
        AttributeDefinition,
        Consent,
        ConsentChange,
        ProfileMerge,
        SegmentMember,
        Topic,
    )

    demo_load(profiles=200)

    assert AttributeDefinition.objects.count() == 7
    assert set(Topic.objects.values_list("key", flat=True)) == {"newsletter", "promotions"}
    states = set(Consent.objects.values_list("state", flat=True))
    assert states == {"opted_in", "opted_out"}
    assert ConsentChange.objects.count() == Consent.objects.count()
    assert ProfileMerge.objects.count() == 5
    assert Profile.objects.filter(external_id=None).count() == 3  # visitors not identified yet
    assert SegmentMember.objects.filter(segment__name="VIP guests").count() == 25
    assert Placement.objects.get(key="homepage_banner").offers.count() == 2


def test_demo_journeys_are_published_a_scheduled_series_and_a_running_cart_reminder():
    from campaigns.services import campaign_problems
    from campaigns.versions import graph_of

    result = demo_load(profiles=50)

    series, cart = result.journeys
    assert series.status == CampaignStatus.SCHEDULED and series.next_run_at > timezone.now()
    kinds = {s.kind for s in graph_of(series).steps.values()}
    assert {"send_message", "wait", "condition", "split"} <= kinds
    assert cart.status == CampaignStatus.RUNNING
    assert (cart.entry_kind, cart.entry_event) == ("event", "cart_abandoned")
    wait, send = graph_of(cart).ordered()
    assert (wait.kind, wait.config["seconds"], send.kind) == ("wait", 3600, "send_message")
    assert campaign_problems(series) == campaign_problems(cart) == []
