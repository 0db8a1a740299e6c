"""Bad input through the API: 400 with the JSON path of the bad node; hostile text that is a
valid value stays a bound parameter (never SQL), runs no extra statement and selects right."""

import pytest
from django.db import connection

from profiles.models import Profile, Segment, SegmentMember
from profiles.rules.schema import MAX_DEPTH, MAX_NODES
from tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db

HOSTILE = [
    "pro'; DROP TABLE profiles_profile; --",
    "x' OR '1'='1",
    "pg_sleep(5)",
    "'); SELECT pg_sleep(5); --",
    '"; DELETE FROM profiles_segment; --',
    "%(ids)s %s {} \\",
]


class Statements:
    """Every statement as Django hands it to the driver: SQL text and parameters apart."""

    def __init__(self):
        self.calls: list[tuple[str, object]] = []

    def __call__(self, execute, sql, params, many, context):
        self.calls.append((str(sql), params))
        return execute(sql, params, many, context)

    def sql_containing(self, text: str) -> list[str]:
        return [sql for sql, _ in self.calls if text in sql]

    def params_containing(self, text: str) -> list:
        return [params for _, params in self.calls if any(text in v for v in _strings(params))]


def _strings(value):
    """Every string inside a statement's parameters (lists, dicts, JSON text)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def run(client, method: str, url: str, body=None):
    statements = Statements()
    with connection.execute_wrapper(statements):
        response = getattr(client, method)(url, body, format="json")
    return response, statements


def attribute(key, op, value, **extra):
    return {"type": "attribute", "key": key, "op": op, "value": value, **extra}


@pytest.fixture
def warm(reader):
    """A client whose token was used once already (its last_used_at write is behind it)."""
    reader.get("/api/v1/segments")
    return reader


# --- each bad node answers 400 at its path -------------------------------------------------


@pytest.mark.parametrize(("node", "path", "message"), [
    (attribute("shoe_size", "equals", "42"), "$.all[0].key", "Unknown attribute"),
    (attribute("plan", "resembles", "pro"), "$.all[0].op", "not an operator"),
    (attribute("plan", "gt", 3), "$.all[0].op", "not an operator for string"),
    (attribute("ltv", "gte", "lots"), "$.all[0].value", "A number is needed."),
    (attribute("signup", "after", "last tuesday"), "$.all[0].value", "A date"),
    (attribute("ltv", "between", [1]), "$.all[0].value", "between takes"),
    ({"type": "event", "name": "order", "op": "at_least", "count": "two"}, "$.all[0].count",
     "whole number"),
    ({"type": "consent", "channel": "fax", "op": "subscribed"}, "$.all[0].channel", "not one of"),
    ({"type": "segment", "segment": 999_999, "op": "in"}, "$.all[0].segment", "Unknown segment"),
    ({"type": "teleport"}, "$.all[0].type", "Unknown condition type"),
])
def test_a_bad_node_is_refused_at_its_path(schema, writer, node, path, message):
    response = writer.post("/api/v1/segments", {"name": "Bad", "rules": {"all": [node]}},
                           format="json")

    assert response.status_code == 400
    assert message in response.json()["rules"][path]
    assert not Segment.objects.exists()


def test_every_bad_node_is_reported_at_once(schema, writer):
    response = writer.post("/api/v1/segments/preview", {"rules": {"any": [
        attribute("plan", "equals", "pro"),
        {"all": [attribute("ltv", "gt", "a lot"), attribute("nope", "equals", "x")]},
    ]}}, format="json")

    assert response.json() == {"rules": {
        "$.any[1].all[0].value": "A number is needed.",
        "$.any[1].all[1].key": "Unknown attribute 'nope': declare it in the schema.",
    }}


def test_depth_past_the_limit_is_refused(schema, writer):
    tree = attribute("plan", "equals", "pro")
    for _ in range(MAX_DEPTH):
        tree = {"all": [tree]}

    response = writer.post("/api/v1/segments", {"name": "Deep", "rules": tree}, format="json")

    assert response.status_code == 400
    deepest = "$" + ".all[0]" * MAX_DEPTH
    assert "nest at most" in response.json()["rules"][deepest]


def test_size_past_the_limit_is_refused(schema, writer):
    rules = {"any": [attribute("plan", "equals", f"p{i}") for i in range(MAX_NODES)]}

    response = writer.post("/api/v1/segments/preview", {"rules": rules}, format="json")

    assert response.status_code == 400
    assert f"at most {MAX_NODES} nodes" in response.json()["rules"]["$"]


def test_a_segment_that_would_refer_to_itself_through_others_is_refused(schema, writer):
    first = Segment.objects.create(name="First", rules={"all": []})
    second = Segment.objects.create(name="Second", rules={"all": [
        {"type": "segment", "segment": first.pk, "op": "in"}]})
    third = Segment.objects.create(name="Third", rules={"any": [
        {"type": "segment", "segment": second.pk, "op": "not_in"}]})

    response = writer.patch(f"/api/v1/segments/{first.pk}", {"rules": {"all": [
        attribute("plan", "equals", "pro"),
        {"not": {"type": "segment", "segment": third.pk, "op": "in"}},
    ]}}, format="json")

    assert response.status_code == 400
    assert response.json() == {"rules": {"$.all[1].not.segment":
                                         "This segment would refer to itself."}}
    first.refresh_from_db()
    assert first.rules == {"all": []}


def test_a_segment_cannot_name_itself(schema, writer):
    segment = Segment.objects.create(name="Loop", rules={"all": []})

    response = writer.put(f"/api/v1/segments/{segment.pk}", {"name": "Loop", "rules": {"all": [
        {"type": "segment", "segment": segment.pk, "op": "in"}]}}, format="json")

    assert response.json() == {"rules": {"$.all[0].segment":
                                         "This segment would refer to itself."}}


# --- hostile strings -----------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("where", ["key", "op", "type", "field", "channel", "topic",
                                   "value_type", "segment"])
def test_hostile_text_in_a_name_field_is_a_bad_node_and_reaches_no_statement(
        schema, warm, hostile, where):
    node = {
        "key": attribute(hostile, "equals", "pro"),
        "op": attribute("plan", hostile, "pro"),
        "type": {"type": hostile},
        "field": {"type": "field", "field": hostile, "op": "equals", "value": "x"},
        "channel": {"type": "consent", "channel": hostile, "op": "subscribed"},
        "topic": {"type": "consent", "channel": "email", "topic": hostile, "op": "subscribed"},
        "value_type": attribute("undeclared", "equals", "x", value_type=hostile),
        "segment": {"type": "segment", "segment": hostile, "op": "in"},
    }[where]

    response, statements = run(warm, "post", "/api/v1/segments/preview",
                               {"rules": {"all": [node]}})

    assert response.status_code == 400
    assert f"$.all[0].{where}" in response.json()["rules"]
    assert statements.sql_containing(hostile) == []
    assert statements.params_containing(hostile) == []  # refused before any query with it
    assert Profile.objects.count() == 0 and Segment.objects.count() == 0


def hostile_rules(text: str) -> dict:
    return {"any": [
        attribute("plan", "equals", text),
        attribute("plan", "in", [text, "other"]),
        {"type": "field", "field": "first_name", "op": "contains", "value": text},
        {"type": "field", "field": "email", "op": "starts_with", "value": text},
        {"type": "event", "name": text, "op": "at_least", "count": 2, "within_days": 30,
         "where": [{"property": text, "op": "equals", "value": text}]},
    ]}


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_are_parameters_select_right_and_run_no_extra_statement(
        schema, warm, hostile):
    victim = ProfileFactory(external_id="victim", attributes={"plan": hostile})
    ProfileFactory(external_id="bystander", attributes={"plan": "pro"}, first_name="Bo")
    EventFactory(profile=victim, name=hostile, properties={hostile: hostile})
    _, benign = run(warm, "post", "/api/v1/segments/preview",
                    {"rules": hostile_rules("harmless")})

    response, statements = run(warm, "post", "/api/v1/segments/preview",
                               {"rules": hostile_rules(hostile)})

    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert [p["external_id"] for p in response.json()["sample"]] == ["victim"]
    assert len(statements.calls) == len(benign.calls)
    assert statements.sql_containing(hostile) == []
    assert statements.params_containing(hostile)  # it travelled, as a value
    assert Profile.objects.count() == 2


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_names_and_descriptions_are_stored_as_written(schema, writer, hostile):
    response, statements = run(writer, "post", "/api/v1/segments", {
        "name": hostile, "description": hostile, "rules": hostile_rules(hostile)})

    assert response.status_code == 201
    segment = Segment.objects.get(pk=response.json()["id"])
    assert (segment.name, segment.description) == (hostile, hostile)
    assert statements.sql_containing(hostile) == []
    assert writer.get(f"/api/v1/segments/{segment.pk}").json()["count"] == 0


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_references_to_a_list_are_unknown_profiles(writer, hostile):
    segment = Segment.objects.create(name="VIP", kind="static")
    ProfileFactory(external_id="ada")
    writer.get("/api/v1/segments")
    _, benign = run(writer, "post", f"/api/v1/segments/{segment.pk}/members",
                    {"external_ids": ["ada", "harmless"], "emails": ["harmless"]})

    response, statements = run(writer, "post", f"/api/v1/segments/{segment.pk}/members",
                               {"external_ids": ["ada", hostile], "emails": [hostile]})

    assert response.json() == {"changed": 0, "unchanged": 1,
                               "unknown": {"external_ids": [hostile], "emails": [hostile]}}
    assert len(statements.calls) == len(benign.calls)
    assert statements.sql_containing(hostile) == []
    assert SegmentMember.objects.count() == 1 and Profile.objects.count() == 1


def test_rules_that_are_not_an_object_are_refused(schema, writer):
    for rules in (["all"], "everyone", 42, {"all": "pro"}):
        response = writer.post("/api/v1/segments/preview", {"rules": rules}, format="json")

        assert response.status_code == 400
        assert "$" in next(iter(response.json()["rules"]))
