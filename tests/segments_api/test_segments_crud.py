"""Segments through the API: create, read, change and delete dynamic segments and lists."""

import pytest

from profiles.models import Segment
from tests.factories import CampaignFactory, ProfileFactory, SegmentFactory

pytestmark = pytest.mark.django_db

PRO = {"all": [{"type": "attribute", "key": "plan", "op": "equals", "value": "pro"}]}


def test_a_dynamic_segment_is_created_with_its_rules_normalized(schema, writer):
    response = writer.post("/api/v1/segments", {"name": "Pro", "rules": PRO}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "dynamic"
    assert body["rules"] == {"all": [{"type": "attribute", "key": "plan", "value_type": "string",
                                      "op": "equals", "value": "pro"}]}
    assert Segment.objects.get(pk=body["id"]).name == "Pro"


def test_a_static_list_is_created_without_rules(writer):
    response = writer.post("/api/v1/segments/", {"name": "VIP", "kind": "static"}, format="json")

    assert response.status_code == 201
    assert Segment.objects.get(pk=response.json()["id"]).is_static


def test_a_static_list_refuses_rules(schema, writer):
    response = writer.post("/api/v1/segments", {"name": "VIP", "kind": "static", "rules": PRO},
                           format="json")

    assert response.status_code == 400
    assert "static list has no rules" in response.json()["rules"][0]


def test_a_dynamic_segment_needs_rules(writer):
    response = writer.post("/api/v1/segments", {"name": "Nothing"}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"rules"}


def test_a_name_already_taken_is_refused(writer):
    SegmentFactory(name="Pro")

    response = writer.post("/api/v1/segments", {"name": "Pro", "rules": {"all": []}},
                           format="json")

    assert response.status_code == 400
    assert "name" in response.json()


def test_an_unknown_field_is_refused_rather_than_dropped(writer):
    response = writer.post("/api/v1/segments", {"name": "X", "rule": {"all": []}}, format="json")

    assert response.status_code == 400
    assert response.json()["rule"] == ["Unknown field."]


def test_the_detail_counts_members_and_the_list_does_not(schema, reader):
    segment = SegmentFactory(name="Pro", rules=PRO)
    ProfileFactory.create_batch(2, attributes={"plan": "pro"})
    ProfileFactory(attributes={"plan": "free"})

    detail = reader.get(f"/api/v1/segments/{segment.pk}")
    listing = reader.get("/api/v1/segments")

    assert detail.json()["count"] == 2
    assert [s["name"] for s in listing.json()["results"]] == ["Pro"]
    assert "count" not in listing.json()["results"][0]


def test_patch_changes_the_rules_only(schema, writer):
    segment = SegmentFactory(name="Pro", description="Paying", rules=PRO)

    response = writer.patch(f"/api/v1/segments/{segment.pk}", {"rules": {"all": [
        {"type": "attribute", "key": "ltv", "op": "gt", "value": 100}]}}, format="json")

    assert response.status_code == 200
    segment.refresh_from_db()
    assert segment.description == "Paying"
    assert segment.rules["all"][0]["key"] == "ltv"


def test_put_replaces_name_and_description(schema, writer):
    segment = SegmentFactory(name="Pro", description="Paying", rules=PRO)

    response = writer.put(f"/api/v1/segments/{segment.pk}/",
                          {"name": "Paying", "rules": PRO}, format="json")

    assert response.status_code == 200
    segment.refresh_from_db()
    assert (segment.name, segment.description) == ("Paying", "")


def test_a_segment_keeps_its_kind(writer):
    segment = SegmentFactory(name="Pro", rules={"all": []})

    response = writer.patch(f"/api/v1/segments/{segment.pk}", {"kind": "static"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"kind": ["A segment's kind cannot change."]}


def test_a_static_list_is_renamed(writer):
    segment = Segment.objects.create(name="VIP", kind="static")

    response = writer.patch(f"/api/v1/segments/{segment.pk}", {"name": "VIPs"}, format="json")

    assert response.status_code == 200
    segment.refresh_from_db()
    assert (segment.name, segment.kind) == ("VIPs", "static")


def test_delete_removes_an_unused_segment(writer):
    segment = SegmentFactory()

    response = writer.delete(f"/api/v1/segments/{segment.pk}")

    assert response.status_code == 204
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_delete_refuses_a_segment_a_campaign_uses(writer):
    campaign = CampaignFactory(name="Spring sale")

    response = writer.delete(f"/api/v1/segments/{campaign.segment_id}")

    assert response.status_code == 409
    assert "Spring sale" in response.json()["detail"]
    assert Segment.objects.filter(pk=campaign.segment_id).exists()


def test_delete_refuses_a_segment_another_refers_to(writer):
    inner = SegmentFactory(name="Inner", rules={"all": []})
    SegmentFactory(name="Outer", rules={"all": [{"type": "segment", "segment": inner.pk,
                                                  "op": "not_in"}]})

    response = writer.delete(f"/api/v1/segments/{inner.pk}")

    assert response.status_code == 409
    assert "Outer" in response.json()["detail"]


def test_writing_needs_the_write_scope(reader):
    response = reader.post("/api/v1/segments", {"name": "X", "rules": {"all": []}},
                           format="json")

    assert response.status_code == 403
    assert not Segment.objects.exists()


def test_reading_needs_the_read_scope(api_client):
    response = api_client("profiles:read").get("/api/v1/segments")

    assert response.status_code == 403
