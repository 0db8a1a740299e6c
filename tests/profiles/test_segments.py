"""Segment rules: validation errors, and the SQL they compile to, run against PostgreSQL."""

import pytest

from profiles.models import Profile
from profiles.segments import MAX_CONDITIONS, RuleError, compile_rules, validate_rules
from tests.factories import ProfileFactory


def condition(field: str, value, op: str = "equals") -> dict:
    return {"field": field, "op": op, "value": value}


def matching(rules) -> set[str]:
    return set(Profile.objects.filter(compile_rules(rules)).values_list("external_id", flat=True))


# --- validate_rules (no database) ---------------------------------------------------------


def test_an_unknown_field_is_reported_with_its_condition_index():
    rules = {"all": [condition("attributes.plan", "pro"), condition("password", "x")]}

    with pytest.raises(RuleError) as raised:
        validate_rules(rules)

    assert list(raised.value.errors) == ["1"]
    assert "Unknown field 'password'" in raised.value.errors["1"][0]


def test_an_attribute_key_that_is_not_an_identifier_is_an_unknown_field():
    with pytest.raises(RuleError) as raised:
        validate_rules({"all": [condition("attributes.plan'; drop table", "pro")]})

    assert "Unknown field" in raised.value.errors["0"][0]


def test_an_unknown_operator_is_reported():
    with pytest.raises(RuleError) as raised:
        validate_rules({"any": [condition("email", "a@example.com", op="contains")]})

    assert raised.value.errors == {"0": ["Unknown operator 'contains'."]}


@pytest.mark.parametrize("value", [None, "", [], {"a": 1}])
def test_a_missing_or_non_scalar_value_is_reported(value):
    with pytest.raises(RuleError) as raised:
        validate_rules({"all": [{"field": "first_name", "op": "equals", "value": value}]})

    assert raised.value.errors == {"0": ["A value is required (text, number or true/false)."]}


def test_a_condition_without_value_key_is_reported():
    with pytest.raises(RuleError) as raised:
        validate_rules({"all": [{"field": "first_name", "op": "equals"}]})

    assert "A value is required" in raised.value.errors["0"][0]


def test_every_problem_of_a_condition_is_reported_together():
    with pytest.raises(RuleError) as raised:
        validate_rules({"all": [{"field": "nope", "op": "like"}]})

    assert len(raised.value.errors["0"]) == 3


def test_more_than_the_maximum_number_of_conditions_is_refused():
    rules = {"all": [condition("attributes.n", i) for i in range(MAX_CONDITIONS + 1)]}

    with pytest.raises(RuleError) as raised:
        validate_rules(rules)

    assert raised.value.errors == {"rules": [f"At most {MAX_CONDITIONS} conditions."]}


def test_exactly_the_maximum_number_of_conditions_is_accepted():
    rules = {"all": [condition("attributes.n", i) for i in range(MAX_CONDITIONS)]}

    assert validate_rules(rules) == rules


@pytest.mark.parametrize(
    "rules",
    [
        [condition("email", "a@example.com")],
        {"every": []},
        {"all": [], "any": []},
        "plan = pro",
    ],
    ids=["a list", "an unknown joiner", "two joiners", "a string"],
)
def test_a_tree_of_the_wrong_shape_is_refused(rules):
    with pytest.raises(RuleError) as raised:
        validate_rules(rules)

    assert list(raised.value.errors) == ["rules"]


def test_a_joiner_that_does_not_hold_a_list_is_refused():
    with pytest.raises(RuleError) as raised:
        validate_rules({"all": condition("email", "a@example.com")})

    assert raised.value.errors == {"rules": ['"all" must hold a list of conditions.']}


def test_a_condition_that_is_not_an_object_is_refused():
    with pytest.raises(RuleError) as raised:
        validate_rules({"all": ["plan = pro"]})

    assert raised.value.errors == {"0": ["A condition is an object with field, op and value."]}


@pytest.mark.parametrize("rules", [None, ""])
def test_no_rules_normalize_to_an_empty_all(rules):
    assert validate_rules(rules) == {"all": []}


# --- compile_rules, run against the database ---------------------------------------------


@pytest.fixture
def people(db):
    ProfileFactory(external_id="ann", email="Ann@Example.com", first_name="Ann",
                   timezone="Europe/Paris", attributes={"plan": "pro", "vip": True, "orders": 3})
    ProfileFactory(external_id="bob", email="bob@example.com", first_name="Bob",
                   timezone="UTC", attributes={"plan": "free", "vip": False, "orders": 0})
    ProfileFactory(external_id="cat", email="cat@example.com", first_name="Cat",
                   timezone="UTC", attributes={"plan": "pro", "orders": 12})
    ProfileFactory(external_id="dan", email="", first_name="Dan",
                   timezone="America/New_York", attributes={})


def test_empty_rules_match_everyone(people):
    assert matching({"all": []}) == {"ann", "bob", "cat", "dan"}
    assert matching(None) == {"ann", "bob", "cat", "dan"}


def test_equals_on_a_string_attribute(people):
    assert matching({"all": [condition("attributes.plan", "pro")]}) == {"ann", "cat"}


def test_equals_on_a_boolean_attribute_matches_the_json_boolean(people):
    assert matching({"all": [condition("attributes.vip", True)]}) == {"ann"}
    assert matching({"all": [condition("attributes.vip", False)]}) == {"bob"}


def test_equals_on_a_number_attribute_matches_the_json_number(people):
    assert matching({"all": [condition("attributes.orders", 12)]}) == {"cat"}
    assert matching({"all": [condition("attributes.orders", 0)]}) == {"bob"}


def test_not_equals_on_an_attribute_includes_profiles_without_it(people):
    rules = {"all": [condition("attributes.plan", "pro", op="not_equals")]}

    assert matching(rules) == {"bob", "dan"}


def test_all_requires_every_condition(people):
    rules = {"all": [condition("attributes.plan", "pro"), condition("timezone", "UTC")]}

    assert matching(rules) == {"cat"}


def test_any_requires_one_condition(people):
    rules = {"any": [condition("attributes.vip", False), condition("timezone", "America/New_York")]}

    assert matching(rules) == {"bob", "dan"}


def test_any_with_a_single_condition_is_that_condition(people):
    assert matching({"any": [condition("first_name", "Cat")]}) == {"cat"}


def test_not_equals_on_a_profile_field(people):
    rules = {"all": [condition("timezone", "UTC", op="not_equals")]}

    assert matching(rules) == {"ann", "dan"}


def test_email_equals_ignores_case(people):
    assert matching({"all": [condition("email", "ann@EXAMPLE.com")]}) == {"ann"}


def test_email_not_equals_ignores_case(people):
    rules = {"all": [condition("email", "ANN@example.com", op="not_equals")]}

    assert matching(rules) == {"bob", "cat", "dan"}


def test_other_profile_fields_compare_exactly(people):
    assert matching({"all": [condition("first_name", "ann")]}) == set()
    assert matching({"all": [condition("first_name", "Ann")]}) == {"ann"}


def test_a_value_is_bound_not_interpolated(people):
    rules = {"any": [condition("first_name", "x' OR '1'='1"), condition("attributes.plan", "'")]}

    assert matching(rules) == set()


def test_compile_refuses_invalid_rules():
    with pytest.raises(RuleError):
        compile_rules({"all": [condition("nope", "x")]})
