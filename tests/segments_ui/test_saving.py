"""Saving the builder: validated (cycles included), errors on their rows, then the segment page."""

import pytest
from django.urls import reverse

from profiles.models import Segment
from tests.factories import ProfileFactory, SegmentFactory
from tests.segments_ui.forms import form_fields, with_values

pytestmark = pytest.mark.django_db


def _new(client, **changes):
    page = client.get(reverse("segment_create")).content
    return with_values(form_fields(page), **changes)


def test_saving_stores_the_rules_and_shows_the_segment_page_with_its_count(
    marketer_client, schema
):
    ProfileFactory.create_batch(2, attributes={"plan": "pro"})
    ProfileFactory(attributes={"plan": "free"})
    fields = _new(marketer_client, name="Pro", r__0__key="plan", r__0__value="pro")

    response = marketer_client.post(reverse("segment_create"), fields, follow=True)

    segment = Segment.objects.get(name="Pro")
    assert response.redirect_chain == [(reverse("segment_detail", args=[segment.pk]), 302)]
    assert segment.rules == {"all": [{"type": "attribute", "key": "plan", "value_type": "string",
                                      "op": "equals", "value": "pro"}]}
    assert b'id="segment-count">2<' in response.content


def test_saving_bad_rules_keeps_the_page_with_the_error_on_the_condition(
    marketer_client, schema
):
    fields = _new(marketer_client, name="Adults", r__0__key="age", r__0__op="gte",
                  r__0__value="eighteen")

    response = marketer_client.post(reverse("segment_create"), fields)

    html = response.content.decode()
    assert response.status_code == 200
    assert not Segment.objects.exists()
    assert ('<div class="row-errors" id="b-r-0-errors"><small class="field-error">'
            'Value: A number is needed.</small></div>') in html
    assert 'value="eighteen" aria-label="Number" placeholder="a number" class="narrow" ' \
           'aria-invalid="true"' in html


def test_saving_refuses_a_cycle_with_the_message_on_the_condition(marketer_client, schema):
    # Given A, and B made of A
    first = SegmentFactory(name="A", rules={"all": []})
    second = SegmentFactory(name="B", rules={"all": [{"type": "segment", "op": "in",
                                                      "segment": first.pk}]})
    page = marketer_client.get(reverse("segment_edit", args=[first.pk])).content
    fields = with_values(form_fields(page), do="add_condition:r")

    # When A is edited to be made of B
    page = marketer_client.post(reverse("segment_edit", args=[first.pk]), fields).content
    fields = with_values(form_fields(page), r__0__kind="segment", r__0__segment=str(second.pk),
                         r__0__op="in")
    response = marketer_client.post(reverse("segment_edit", args=[first.pk]), fields)

    # Then nothing changes and the condition says why
    html = response.content.decode()
    assert response.status_code == 200
    assert "Segment: This segment would refer to itself." in html
    assert 'id="b-r-0-segment" aria-label="Segment" aria-invalid="true"' in html
    first.refresh_from_db()
    assert first.rules == {"all": []}


def test_editing_keeps_nested_groups_and_negations(marketer_client, schema):
    rules = {"all": [
        {"type": "attribute", "key": "plan", "value_type": "string", "op": "equals",
         "value": "pro"},
        {"not": {"any": [
            {"type": "event", "name": "churned", "op": "none", "count": 0, "where": []},
            {"type": "consent", "channel": "email", "topic": "news", "op": "unsubscribed"},
        ]}},
    ]}
    segment = SegmentFactory(name="Loyal", rules=rules)
    page = marketer_client.get(reverse("segment_edit", args=[segment.pk])).content

    response = marketer_client.post(reverse("segment_edit", args=[segment.pk]),
                                    with_values(form_fields(page)))

    assert response.status_code == 302
    segment.refresh_from_db()
    assert segment.rules == rules


def test_a_static_list_is_created_without_rules(marketer_client, schema):
    fields = _new(marketer_client, name="VIP list", kind="static")

    response = marketer_client.post(reverse("segment_create"), fields)

    segment = Segment.objects.get(name="VIP list")
    assert response.status_code == 302
    assert segment.is_static


def test_a_static_list_edits_its_name_only(marketer_client, schema):
    segment = SegmentFactory(name="List", kind=Segment.Kind.STATIC, rules={"all": []})
    page = marketer_client.get(reverse("segment_edit", args=[segment.pk])).content
    assert b'name="r.kind"' not in page

    marketer_client.post(reverse("segment_edit", args=[segment.pk]),
                         with_values(form_fields(page), name="Renamed"))

    segment.refresh_from_db()
    assert (segment.name, segment.kind) == ("Renamed", Segment.Kind.STATIC)


def test_a_taken_name_is_refused_next_to_the_name(marketer_client, schema):
    SegmentFactory(name="Pro")
    fields = _new(marketer_client, name="Pro", r__0__key="plan", r__0__value="pro")

    response = marketer_client.post(reverse("segment_create"), fields)

    assert response.status_code == 200
    assert b"Segment with this Name already exists." in response.content
    assert Segment.objects.count() == 1
