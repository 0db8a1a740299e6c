"""The builder page and its fragment: every condition kind drawn with the right pickers."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from profiles.rules.schema import OPERATORS
from tests.factories import EventFactory, SegmentFactory
from tests.segments_ui.forms import form_fields, with_values

pytestmark = pytest.mark.django_db

EVERY_KIND = {"all": [
    {"type": "attribute", "key": "plan", "op": "equals", "value": "pro"},
    {"type": "attribute", "key": "age", "op": "between", "value": [18, 30]},
    {"type": "attribute", "key": "vip", "op": "equals", "value": True},
    {"type": "attribute", "key": "born", "op": "anniversary_in_days", "value": 7},
    {"type": "attribute", "key": "renewal_at", "op": "before", "value": "2030-01-01"},
    {"type": "attribute", "key": "tags", "op": "contains_any", "value": ["a", "b"]},
    {"any": [
        {"type": "field", "field": "email", "op": "contains", "value": "@example.org"},
        {"not": {"type": "event", "name": "order_completed", "op": "at_least", "count": 2,
                 "within_days": 30, "where": [{"property": "total", "op": "gt", "value": 50}]}},
    ]},
    {"type": "consent", "channel": "email", "topic": "news", "op": "subscribed"},
    {"type": "segment", "op": "not_in", "segment": None},
]}


def _options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {name}"
    return re.findall(r'<option value="([^"]*)"', select.group(1))


@pytest.fixture
def every_kind(schema):
    other = SegmentFactory(name="Buyers", rules={"all": []})
    rules = {"all": [*EVERY_KIND["all"][:-1], {"type": "segment", "op": "not_in",
                                               "segment": other.pk}]}
    return SegmentFactory(name="Everything", rules=rules), other


def test_a_new_segment_starts_with_one_condition_on_the_first_attribute(marketer_client, schema):
    response = marketer_client.get(reverse("segment_create"))

    html = response.content.decode()
    assert response.status_code == 200
    assert _options(html, "r.0.kind")[:5] == ["field", "attribute", "event", "consent",
                                              "segment"]
    assert 'name="r.0.key"' in html


def test_the_page_loads_htmx_from_static_files_never_a_cdn(marketer_client, schema):
    html = marketer_client.get(reverse("segment_create")).content.decode()

    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert "/static/vendor/htmx/htmx.min.js" in scripts
    assert all(src.startswith("/static/") for src in scripts)


def test_each_attribute_row_offers_the_operators_of_its_type(marketer_client, every_kind):
    segment, _ = every_kind

    html = marketer_client.get(reverse("segment_edit", args=[segment.pk])).content.decode()

    for i, kind in enumerate(["string", "number", "boolean", "date", "datetime", "list"]):
        assert _options(html, f"r.{i}.op") == list(OPERATORS[kind])


def test_each_attribute_row_has_an_input_for_its_type(marketer_client, every_kind):
    segment, _ = every_kind

    html = marketer_client.get(reverse("segment_edit", args=[segment.pk])).content.decode()

    assert _options(html, "r.0.value") == ["", "free", "pro"]  # allowed values: a picker
    assert 'name="r.1.value_low" id="b-r-1-value_low" value="18"' in html
    assert 'name="r.1.value_high" id="b-r-1-value_high" value="30"' in html
    assert _options(html, "r.2.value") == ["true", "false"]
    assert re.search(r'name="r\.3\.value" id="b-r-3-value" value="7"[^>]*aria-label="Days"', html)
    assert 'type="date" name="r.4.value" id="b-r-4-value" value="2030-01-01"' in html
    assert 'name="r.5.value" id="b-r-5-value" value="a, b"' in html


def test_a_field_row_offers_the_profile_fields_and_their_operators(marketer_client, every_kind):
    segment, _ = every_kind

    html = marketer_client.get(reverse("segment_edit", args=[segment.pk])).content.decode()

    assert "created_at" in _options(html, "r.6.0.field")
    assert _options(html, "r.6.0.op") == list(OPERATORS["string"])


def test_an_event_row_shows_its_count_window_and_property_filters(marketer_client, every_kind):
    segment, _ = every_kind

    html = marketer_client.get(reverse("segment_edit", args=[segment.pk])).content.decode()

    assert 'name="r.6.1.not" id="b-r-6-1-not" checked' in html
    assert _options(html, "r.6.1.op") == ["at_least", "at_most", "exactly", "none"]
    assert 'name="r.6.1.count" id="b-r-6-1-count" value="2"' in html
    assert 'name="r.6.1.within_days" id="b-r-6-1-within_days" value="30"' in html
    assert 'name="r.6.1.where.0.property" id="b-r-6-1-where-0-property" value="total"' in html


def test_a_consent_row_offers_the_topics_of_its_channel(marketer_client, every_kind):
    segment, _ = every_kind

    html = marketer_client.get(reverse("segment_edit", args=[segment.pk])).content.decode()

    assert _options(html, "r.7.channel") == ["email", "sms", "push", "mail"]
    assert _options(html, "r.7.topic") == ["", "news"]


def test_a_segment_row_offers_the_other_segments_but_never_the_one_edited(
    marketer_client, every_kind
):
    segment, other = every_kind

    html = marketer_client.get(reverse("segment_edit", args=[segment.pk])).content.decode()

    assert _options(html, "r.8.segment") == [str(other.pk)]
    assert _options(html, "r.8.op") == ["in", "not_in"]


def test_the_event_picker_offers_the_names_seen_in_the_last_90_days(marketer_client, schema):
    EventFactory(name="order_completed")
    EventFactory(name="order_completed", occurred_at=timezone.now() - timedelta(days=3))
    EventFactory(name="page_viewed", occurred_at=timezone.now() - timedelta(days=89))
    EventFactory(name="legacy_signup", occurred_at=timezone.now() - timedelta(days=91))

    html = marketer_client.get(reverse("segment_create")).content.decode()

    datalist = re.search(r'<datalist id="event-names">(.*?)</datalist>', html, re.S).group(1)
    assert re.findall(r'value="([^"]+)"', datalist) == ["order_completed", "page_viewed"]


def test_the_fragment_adds_a_row_and_asks_the_count_to_follow(marketer_client, schema):
    page = marketer_client.get(reverse("segment_create")).content
    fields = with_values(form_fields(page), do="add_condition:r")

    response = marketer_client.post(reverse("segment_builder"), fields)

    html = response.content.decode()
    assert response["HX-Trigger-After-Settle"] == "rules-changed"
    assert html.lstrip().startswith('<div id="builder"')
    assert 'name="r.1.kind"' in html


def test_the_fragment_redraws_a_row_for_its_new_kind(marketer_client, schema):
    page = marketer_client.get(reverse("segment_create")).content
    fields = with_values(form_fields(page), r__0__kind="event")

    html = marketer_client.post(reverse("segment_builder"), fields).content.decode()

    assert 'name="r.0.name"' in html
    assert 'name="r.0.key"' not in html
    assert _options(html, "r.0.window") == ["ever", "days", "between"]


def test_picking_another_attribute_redraws_its_operators_and_input(marketer_client, schema):
    page = marketer_client.get(reverse("segment_create")).content
    fields = with_values(form_fields(page), r__0__key="born")

    html = marketer_client.post(reverse("segment_builder"), fields).content.decode()

    assert _options(html, "r.0.op") == list(OPERATORS["date"])
    assert 'type="date" name="r.0.value"' in html


def test_the_builder_buttons_work_without_javascript(marketer_client, schema):
    page = marketer_client.get(reverse("segment_create")).content
    fields = with_values(form_fields(page), name="Kept", do="add_group:r")

    response = marketer_client.post(reverse("segment_create"), fields)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="r.1.kind"' in html and 'name="r.1.0.kind"' in html
    assert 'value="Kept"' in html


def test_the_event_names_are_read_once_a_minute():
    from profiles.builder.options import recent_event_names

    EventFactory(name="order_completed")
    assert recent_event_names() == ("order_completed",)
    EventFactory(name="cart_abandoned")

    cached = recent_event_names()

    assert cached == ("order_completed",)


def test_a_reference_to_a_segment_gone_since_stays_visible_for_validation(marketer_client,
                                                                          schema):
    other = SegmentFactory(name="Other", rules={"all": []})
    segment = SegmentFactory(name="Refers", rules={"all": [
        {"type": "segment", "op": "in", "segment": 999_999},
        {"type": "consent", "channel": "email", "topic": "gone", "op": "subscribed"},
    ]})

    html = marketer_client.get(reverse("segment_edit", args=[segment.pk])).content.decode()

    assert _options(html, "r.0.segment") == [str(other.pk), "999999"]
    assert 'value="999999" selected' in html
    assert 'value="gone" selected' in html
