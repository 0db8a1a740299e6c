"""Preview, count and members of segments through the API."""

import pytest

from profiles.models import Segment, SegmentMember
from tests.factories import ProfileFactory, SegmentFactory

pytestmark = pytest.mark.django_db

PRO = {"all": [{"type": "attribute", "key": "plan", "op": "equals", "value": "pro"}]}


def test_preview_counts_and_samples_the_newest_ten(schema, reader):
    pros = ProfileFactory.create_batch(12, attributes={"plan": "pro"})
    ProfileFactory(attributes={"plan": "free"})

    response = reader.post("/api/v1/segments/preview", {"rules": PRO}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 12
    assert [p["id"] for p in body["sample"]] == sorted((p.pk for p in pros), reverse=True)[:10]
    assert set(body["sample"][0]) == {"id", "external_id"}
    assert not Segment.objects.exists()


def test_preview_refuses_bad_rules_by_path(schema, reader):
    response = reader.post("/api/v1/segments/preview", {"rules": {"all": [
        {"type": "attribute", "key": "ltv", "op": "gt", "value": "lots"}]}}, format="json")

    assert response.status_code == 400
    assert response.json() == {"rules": {"$.all[0].value": "A number is needed."}}


def test_count_answers_the_members_now(schema, reader):
    segment = SegmentFactory(rules=PRO)
    ProfileFactory.create_batch(3, attributes={"plan": "pro"})

    response = reader.get(f"/api/v1/segments/{segment.pk}/count")

    assert response.status_code == 200
    assert response.json()["count"] == 3
    assert response.json()["counted_at"]


def test_members_are_paged_by_cursor_without_gaps_or_repeats(schema, reader):
    segment = SegmentFactory(rules=PRO)
    pros = ProfileFactory.create_batch(5, attributes={"plan": "pro"})
    ProfileFactory.create_batch(2, attributes={"plan": "free"})

    seen, url = [], f"/api/v1/segments/{segment.pk}/members?page_size=2"
    while url:
        page = reader.get(url).json()
        seen += [member["id"] for member in page["results"]]
        url = page["next"]

    assert seen == sorted((p.pk for p in pros), reverse=True)


def test_members_of_a_static_list_are_its_rows(reader):
    segment = Segment.objects.create(name="VIP", kind="static")
    listed = ProfileFactory(external_id="listed")
    ProfileFactory(external_id="other")
    SegmentMember.objects.create(segment=segment, profile=listed)

    response = reader.get(f"/api/v1/segments/{segment.pk}/members")

    assert [m["external_id"] for m in response.json()["results"]] == ["listed"]


def test_an_unknown_segment_is_404(reader):
    assert reader.get("/api/v1/segments/999999/count").status_code == 404
