"""GET /api/v1/profiles/{ref}/segments: the segments one profile is in now."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from profiles.audiences import profile_in_segment
from profiles.memberships import profile_segments
from profiles.models import Consent, Segment, SegmentMember
from tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db


def attribute(key, op, value):
    return {"type": "attribute", "key": key, "op": op, "value": value}


@pytest.fixture
def ada(schema):
    profile = ProfileFactory(external_id="ada", attributes={"plan": "pro", "ltv": 120})
    EventFactory(profile=profile, name="order_completed",
                 occurred_at=timezone.now() - timedelta(days=3))
    Consent.objects.create(profile=profile, channel="email", state="opted_out",
                           updated_at=timezone.now())
    return profile


@pytest.fixture
def segments(ada):
    pro = Segment.objects.create(name="Pro", rules={"all": [attribute("plan", "equals", "pro")]})
    vip = Segment.objects.create(name="VIP list", kind="static")
    SegmentMember.objects.create(segment=vip, profile=ada)
    return [
        pro, vip,
        Segment.objects.create(name="Big spenders", rules={"all": [attribute("ltv", "gt", 1000)]}),
        Segment.objects.create(name="Buyers", rules={"all": [
            {"type": "event", "name": "order_completed", "op": "at_least", "count": 1,
             "within_days": 7}]}),
        Segment.objects.create(name="Not pro", rules={"all": [
            {"type": "segment", "segment": pro.pk, "op": "not_in"}]}),
        Segment.objects.create(name="Subscribed", rules={"all": [
            {"type": "consent", "channel": "email", "op": "subscribed"}]}),
        Segment.objects.create(name="Pro on the list", rules={"all": [
            {"type": "segment", "segment": pro.pk, "op": "in"},
            {"type": "segment", "segment": vip.pk, "op": "in"}]}),
    ]


def test_the_profile_is_in_the_segments_it_matches_and_the_lists_it_is_on(ada, segments,
                                                                          reader):
    response = reader.get("/api/v1/profiles/ada/segments")

    assert response.status_code == 200
    body = response.json()
    assert body["profile"] == {"id": ada.pk, "external_id": "ada"}
    assert [s["name"] for s in body["segments"]] == ["Buyers", "Pro", "Pro on the list",
                                                     "VIP list"]
    assert {s["kind"] for s in body["segments"]} == {"dynamic", "static"}


def test_the_answer_agrees_with_the_one_profile_path_for_every_segment(ada, segments):
    now = timezone.now()

    found = {m.segment_id for m in profile_segments(profile=ada, now=now)}

    assert found == {s.pk for s in segments if profile_in_segment(ada, s, now=now)}


def test_the_queries_do_not_grow_with_the_number_of_segments(ada, segments):
    with CaptureQueriesContext(connection) as few:
        profile_segments(profile=ada)
    for n in range(43):
        Segment.objects.create(name=f"More {n:02d}", rules={"any": [
            attribute("ltv", "gte", n), {"type": "event", "name": f"e{n}", "op": "none"}]})

    with CaptureQueriesContext(connection) as many:
        in_segments = profile_segments(profile=ada)

    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(in_segments) == 4 + 43


def test_a_profile_is_found_by_id_too(ada, segments, reader):
    response = reader.get(f"/api/v1/profiles/{ada.pk}/segments/", {"by": "id"})

    assert response.json()["profile"]["external_id"] == "ada"


def test_an_unknown_profile_is_404(reader):
    assert reader.get("/api/v1/profiles/nobody/segments").status_code == 404


def test_membership_needs_the_segments_scope(ada, api_client):
    assert api_client("profiles:read").get("/api/v1/profiles/ada/segments").status_code == 403
