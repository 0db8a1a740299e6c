"""The live count: number and sample of the rows posted, or their errors on their rows."""

import re

import pytest
from django.db import connection
from django.urls import reverse

from profiles.builder.preview import audience_preview, members_preview
from profiles.models import Profile
from tests.factories import ProfileFactory, SegmentFactory
from tests.segments_ui.forms import form_fields, with_values

pytestmark = pytest.mark.django_db


def _fields(client, **changes):
    page = client.get(reverse("segment_create")).content
    return with_values(form_fields(page), **changes)


def _count(html: str) -> int:
    return int(re.search(r'data-count="(\d+)"', html).group(1))


def test_the_count_and_a_sample_of_the_matching_profiles_come_back(marketer_client, schema):
    pros = ProfileFactory.create_batch(3, attributes={"plan": "pro"})
    ProfileFactory(attributes={"plan": "free"})

    response = marketer_client.post(reverse("segment_preview"),
                                    _fields(marketer_client, r__0__key="plan", r__0__value="pro"))

    html = response.content.decode()
    assert _count(html) == 3
    linked = {int(pk) for pk in re.findall(r'href="/profiles/(\d+)/"', html)}
    assert linked == {p.pk for p in pros}


def test_the_sample_holds_ten_profiles_at_most(marketer_client, schema):
    ProfileFactory.create_batch(12, attributes={"plan": "pro"})

    fields = _fields(marketer_client, r__0__key="plan", r__0__value="pro")

    html = marketer_client.post(reverse("segment_preview"), fields).content.decode()

    assert _count(html) == 12
    assert len(re.findall(r'<li><a href="/profiles/', html)) == 10


def test_nested_groups_are_counted_as_the_engine_counts_them(marketer_client, schema):
    ProfileFactory(attributes={"plan": "pro", "age": 20})
    ProfileFactory(attributes={"plan": "pro", "age": 50})
    ProfileFactory(attributes={"plan": "free", "age": 20})
    fields = _fields(marketer_client, r__0__key="plan", r__0__value="pro")
    fields.update({"r.1.kind": ["any"], "r.1.0.kind": ["attribute"], "r.1.0.key": ["age"],
                   "r.1.0.op": ["lt"], "r.1.0.value": ["30"], "r.1.1.kind": ["field"],
                   "r.1.1.field": ["email"], "r.1.1.op": ["equals"],
                   "r.1.1.value": ["nobody@example.com"]})

    html = marketer_client.post(reverse("segment_preview"), fields).content.decode()

    assert _count(html) == 1


def test_a_bad_value_is_shown_on_its_row_and_the_count_says_the_rules_are_incomplete(
    marketer_client, schema
):
    fields = _fields(marketer_client, r__0__key="age", r__0__op="gt", r__0__value="lots")

    html = marketer_client.post(reverse("segment_preview"), fields).content.decode()

    assert "The rules are incomplete." in html
    assert "data-count" not in html
    slot = re.search(r'<div class="row-errors" id="b-r-0-errors" hx-swap-oob="true">(.*?)</div>',
                     html).group(1)
    assert "Value: A number is needed." in slot
    assert 'data-invalid="r.0.value "' in html


def test_every_row_gets_its_error_slot_so_fixed_rows_are_cleared(marketer_client, schema):
    fields = _fields(marketer_client, r__0__key="plan", r__0__value="pro")
    fields.update({"r.1.kind": ["any"], "r.1.0.kind": ["event"], "r.1.0.name": [""],
                   "r.1.0.op": ["at_least"], "r.1.0.count": ["1"], "r.1.0.window": ["ever"]})

    html = marketer_client.post(reverse("segment_preview"), fields).content.decode()

    slots = dict(re.findall(r'<div class="row-errors" id="(b-[\w-]+)-errors" '
                            r'hx-swap-oob="true">(.*?)</div>', html))
    assert set(slots) == {"b-r", "b-r-0", "b-r-1", "b-r-1-0"}
    assert slots["b-r-0"] == "" and slots["b-r-1"] == ""
    assert "Event: An event name (1 to 200 characters) is needed." in slots["b-r-1-0"]


def test_a_segment_that_would_refer_to_itself_is_refused_while_editing(marketer_client, schema):
    edited = SegmentFactory(name="A", rules={"all": []})
    referring = SegmentFactory(name="B", rules={"all": [{"type": "segment", "op": "in",
                                                         "segment": edited.pk}]})
    page = marketer_client.get(reverse("segment_edit", args=[edited.pk])).content
    fields = with_values(form_fields(page), r__0__kind="segment", r__0__op="in",
                         r__0__segment=str(referring.pk))

    html = marketer_client.post(reverse("segment_preview_edit", args=[edited.pk]),
                                fields).content.decode()

    assert "Segment: This segment would refer to itself." in html


def test_a_count_past_its_time_limit_says_it_is_still_counting():
    ProfileFactory()
    slow = Profile.objects.extra(where=["(SELECT pg_sleep(0.2)) IS NOT NULL"])

    preview = members_preview(slow, timeout_ms=20)

    assert preview.timed_out and preview.count is None


def test_the_time_limit_ends_with_the_count():
    ProfileFactory(attributes={"plan": "pro"})
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        before = cursor.fetchone()[0]

    audience_preview({"all": []}, timeout_ms=1500)

    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == before


def test_the_still_counting_message_is_shown_instead_of_a_number(marketer_client, schema,
                                                                 monkeypatch):
    from profiles.builder import preview as module
    from profiles.views import segments as views

    monkeypatch.setattr(views, "audience_preview",
                        lambda tree: module.Preview(timed_out=True, timeout_seconds=3))

    fields = _fields(marketer_client, r__0__key="plan", r__0__value="pro")

    html = marketer_client.post(reverse("segment_preview"), fields).content.decode()

    assert "Still counting…" in html and "more than 3 s" in html
