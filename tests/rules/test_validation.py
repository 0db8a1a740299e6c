"""Bad rule trees are refused with the JSON path of each bad node; values stay parameters."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from profiles.audiences import audience_queryset
from profiles.models import AttributeDefinition, Profile, Segment, Topic
from profiles.rules.schema import MAX_DEPTH, MAX_NODES
from profiles.segments import RuleError, validate_rules
from profiles.services import segment_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema():
    AttributeDefinition.objects.create(key="plan", label="Plan", type="string")
    AttributeDefinition.objects.create(key="ltv", label="Lifetime value", type="number")
    Topic.objects.create(key="news", name="News")


def paths(rules) -> dict[str, str]:
    with pytest.raises(RuleError) as caught:
        validate_rules(rules)
    return caught.value.as_dict()


def test_an_unknown_attribute_is_reported_at_its_path(schema):
    errors = paths({"all": [{"type": "attribute", "key": "shoe_size", "op": "equals",
                             "value": "42"}]})

    assert "Unknown attribute" in errors["$.all[0].key"]


def test_an_unknown_operator_is_reported(schema):
    errors = paths({"any": [{"type": "attribute", "key": "plan", "op": "resembles",
                             "value": "pro"}]})

    assert "$.any[0].op" in errors


def test_an_operator_of_another_type_is_refused(schema):
    errors = paths({"all": [{"type": "attribute", "key": "plan", "op": "gt", "value": 3}]})

    assert "not an operator for string" in errors["$.all[0].op"]


def test_a_value_of_the_wrong_type_is_refused(schema):
    errors = paths({"all": [{"not": {"type": "attribute", "key": "ltv", "op": "gte",
                                     "value": "lots"}}]})

    assert errors == {"$.all[0].not.value": "A number is needed."}


def test_every_bad_node_is_reported_together(schema):
    errors = paths({"all": [
        {"type": "field", "field": "shoe", "op": "equals", "value": "x"},
        {"type": "event", "name": "", "op": "sometimes"},
        {"type": "consent", "channel": "fax", "op": "subscribed"},
        {"type": "consent", "channel": "email", "topic": "nope", "op": "subscribed"},
        {"type": "segment", "segment": 999, "op": "in"},
        {"type": "teleport"},
    ]})

    assert set(errors) == {"$.all[0].field", "$.all[1].name", "$.all[1].op",
                           "$.all[2].channel", "$.all[3].topic", "$.all[4].segment",
                           "$.all[5].type"}


def test_depth_past_the_limit_is_refused(schema):
    tree = {"type": "attribute", "key": "plan", "op": "equals", "value": "pro"}
    for _ in range(MAX_DEPTH):
        tree = {"all": [tree]}

    errors = paths(tree)

    assert any("nest at most" in message for message in errors.values())


def test_size_past_the_limit_is_refused(schema):
    condition = {"type": "attribute", "key": "plan", "op": "equals", "value": "pro"}

    errors = paths({"any": [condition] * MAX_NODES})

    assert "at most" in errors["$"]


def test_a_segment_that_refers_to_itself_through_others_is_refused(schema):
    first = segment_save(name="First", rules={"all": []})
    second = segment_save(name="Second", rules={"all": [
        {"type": "segment", "segment": first.pk, "op": "in"}]})

    with pytest.raises(RuleError) as caught:
        segment_save(segment=first, name="First", rules={"any": [
            {"type": "segment", "segment": second.pk, "op": "not_in"}]})

    assert caught.value.as_dict() == {"$.any[0].segment": "This segment would refer to itself."}
    first.refresh_from_db()
    assert first.rules == {"all": []}


def test_the_first_rule_format_still_reads():
    tree = validate_rules({"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"},
                                   {"field": "email", "op": "not_equals", "value": "x@y.z"}]})

    assert tree == {"all": [
        {"type": "attribute", "key": "plan", "value_type": "string", "op": "equals",
         "value": "pro"},
        {"type": "field", "field": "email", "op": "not_equals", "value": "x@y.z"},
    ]}


HOSTILE = ["pro'; DROP TABLE profiles_profile; --", "x' OR '1'='1", "pg_sleep(5)",
           "'); SELECT pg_sleep(5); --", '"\\', "%_"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_are_values_not_sql(schema, hostile):
    Profile.objects.create(external_id="victim", email="v@example.com",
                           attributes={"plan": hostile}, first_name=hostile)
    Profile.objects.create(external_id="other", attributes={"plan": "pro"})
    rules = {"any": [
        {"type": "attribute", "key": "plan", "op": "equals", "value": hostile},
        {"type": "field", "field": "first_name", "op": "contains", "value": hostile},
        {"type": "event", "name": hostile, "op": "at_least", "count": 1,
         "where": [{"property": hostile, "op": "equals",
                    "value": hostile}]},
    ]}

    members = audience_queryset(rules).values_list("external_id", flat=True)
    with CaptureQueriesContext(connection) as queries:
        found = list(members)

    assert found == ["victim"]
    assert len(queries.captured_queries) == 1  # one statement ran, nothing was appended
    sql, params = members.query.sql_with_params()
    assert hostile not in sql
    assert hostile in params
    assert Profile.objects.count() == 2 and Segment.objects.count() == 0
