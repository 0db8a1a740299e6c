"""The builder's rows: posted fields ↔ rule tree, its buttons, engine errors mapped back.

Pure: no database, the pickers' options are given.
"""

import pytest

from profiles.builder.form import Builder, Options
from profiles.rules.schema import MAX_DEPTH

OPTIONS = Options(
    attributes={"plan": ("Plan", "string", ("free", "pro")), "age": ("Age", "number", ()),
                "vip": ("VIP", "boolean", ()), "born": ("Born", "date", ()),
                "tags": ("Tags", "list", ())},
    topics=(("news", "Newsletter", "email"), ("alerts", "Alerts", "sms")),
    segments=((7, "Buyers"),),
    registered={"engagement": "Message engagement"},
)
NESTED = {"all": [
    {"type": "attribute", "key": "plan", "value_type": "string", "op": "in", "value": ["pro"]},
    {"any": [
        {"type": "attribute", "key": "age", "value_type": "number", "op": "between",
         "value": [18, 30.5]},
        {"not": {"type": "event", "name": "order", "op": "at_least", "count": 2,
                 "within_days": 30, "where": [{"property": "total", "op": "gt", "value": 50}]}},
    ]},
    {"type": "consent", "channel": "email", "topic": "news", "op": "subscribed"},
    {"not": {"type": "segment", "op": "in", "segment": 7}},
    {"type": "field", "field": "created_at", "op": "within_last_days", "value": 30},
    {"type": "attribute", "key": "vip", "value_type": "boolean", "op": "equals", "value": False},
    {"type": "engagement", "action": "opened", "campaign": None, "within_days": 7},
]}


def _post(builder: Builder) -> dict[str, list[str]]:
    """The fields the page would post for these rows (as the templates name them)."""
    data: dict[str, list[str]] = {}
    for row in builder.rows():
        data[f"{row.path}.kind"] = [row.kind]
        if row.negate:
            data[f"{row.path}.not"] = ["on"]
        for key, value in row.values.items():
            data[f"{row.path}.{key}"] = value if isinstance(value, list) else [value]
        for i, item in enumerate(row.where):
            for key, value in item.items():
                data[f"{row.path}.where.{i}.{key}"] = [value]
    return data


def _strip_types(tree):
    """The engine adds value_type to attributes when it validates; the builder leaves it out."""
    if isinstance(tree, dict):
        return {k: _strip_types(v) for k, v in tree.items() if k != "value_type"}
    if isinstance(tree, list):
        return [_strip_types(v) for v in tree]
    return tree


def test_a_saved_tree_comes_back_unchanged_through_the_posted_fields():
    # Given a tree with every kind of condition, nested and negated
    shown = Builder.from_rules(NESTED, OPTIONS)

    # When the page posts its fields back
    posted = Builder.from_post(_post(shown), OPTIONS)

    # Then the rows spell the same tree
    assert posted.rules() == _strip_types(NESTED)


def test_each_row_is_named_by_its_position():
    builder = Builder.from_rules(NESTED, OPTIONS)

    paths = [(row.path, row.kind) for row in builder.rows()]

    assert paths[:5] == [("r", "all"), ("r.0", "attribute"), ("r.1", "any"),
                         ("r.1.0", "attribute"), ("r.1.1", "event")]


@pytest.mark.parametrize(("key", "op", "widget"), [
    ("plan", "equals", "select"), ("plan", "in", "choices"), ("age", "gte", "number"),
    ("age", "between", "between"), ("vip", "equals", "boolean"), ("born", "before", "date"),
    ("born", "anniversary_in_days", "days"), ("tags", "contains_any", "list"),
    ("age", "is_set", "none"),
])
def test_an_attribute_row_shows_the_input_its_type_and_operator_need(key, op, widget):
    builder = Builder.from_post({"r.kind": ["all"], "r.0.kind": ["attribute"],
                                 "r.0.key": [key], "r.0.op": [op]}, OPTIONS)

    assert builder.root.children[0].widget == widget


def test_an_attribute_row_offers_only_the_operators_of_its_type():
    builder = Builder.from_post({"r.kind": ["all"], "r.0.kind": ["attribute"],
                                 "r.0.key": ["vip"]}, OPTIONS)

    assert [op for op, _ in builder.root.children[0].ops] == ["equals", "is_set", "not_set"]


def test_an_operator_the_new_attribute_type_lacks_falls_back_to_its_first():
    # Given a row that was "age ≥ …" when the marketer picks the boolean attribute
    builder = Builder.from_post({"r.kind": ["all"], "r.0.kind": ["attribute"],
                                 "r.0.key": ["vip"], "r.0.op": ["gte"]}, OPTIONS)

    assert builder.root.children[0].values["op"] == "equals"


def test_values_are_typed_by_what_the_row_reads():
    builder = Builder.from_post({
        "r.kind": ["all"],
        "r.0.kind": ["attribute"], "r.0.key": ["age"], "r.0.op": ["gt"], "r.0.value": ["41"],
        "r.1.kind": ["attribute"], "r.1.key": ["vip"], "r.1.op": ["equals"], "r.1.value": ["true"],
        "r.2.kind": ["attribute"], "r.2.key": ["tags"], "r.2.op": ["contains_all"],
        "r.2.value": ["a, b ,,c"],
        "r.3.kind": ["attribute"], "r.3.key": ["plan"], "r.3.op": ["in"],
        "r.3.choices": ["free", "pro"],
    }, OPTIONS)

    values = [node["value"] for node in builder.rules()["all"]]

    assert values == [41, True, ["a", "b", "c"], ["free", "pro"]]


def test_a_value_that_does_not_convert_is_passed_on_for_the_engine_to_name():
    builder = Builder.from_post({"r.kind": ["all"], "r.0.kind": ["attribute"],
                                 "r.0.key": ["age"], "r.0.op": ["gt"], "r.0.value": ["ten"]},
                                OPTIONS)

    assert builder.rules()["all"][0]["value"] == "ten"


def test_an_event_window_and_property_filters_become_the_event_node():
    builder = Builder.from_post({
        "r.kind": ["all"], "r.0.kind": ["event"], "r.0.name": ["order_completed"],
        "r.0.op": ["exactly"], "r.0.count": ["3"], "r.0.window": ["between"],
        "r.0.between_from": ["2025-01-01"], "r.0.between_to": ["2025-01-31"],
        "r.0.where.0.property": ["total"], "r.0.where.0.op": ["equals"],
        "r.0.where.0.value": ["50"], "r.0.where.0.as": ["number"],
        "r.0.where.1.property": ["gift"], "r.0.where.1.op": ["equals"],
        "r.0.where.1.value": ["yes"], "r.0.where.1.as": ["boolean"],
    }, OPTIONS)

    assert builder.rules() == {"all": [{
        "type": "event", "name": "order_completed", "op": "exactly", "count": 3,
        "between": ["2025-01-01", "2025-01-31"],
        "where": [{"property": "total", "op": "equals", "value": 50},
                  {"property": "gift", "op": "equals", "value": True}],
    }]}


def test_did_not_do_an_event_has_no_count():
    builder = Builder.from_post({"r.kind": ["all"], "r.0.kind": ["event"],
                                 "r.0.name": ["churned"], "r.0.op": ["none"],
                                 "r.0.count": ["5"]}, OPTIONS)

    assert builder.rules() == {"all": [{"type": "event", "name": "churned", "op": "none",
                                        "where": []}]}


def test_a_consent_topic_of_another_channel_is_dropped():
    builder = Builder.from_post({"r.kind": ["all"], "r.0.kind": ["consent"],
                                 "r.0.channel": ["sms"], "r.0.topic": ["news"],
                                 "r.0.op": ["subscribed"]}, OPTIONS)

    assert builder.rules() == {"all": [{"type": "consent", "channel": "sms",
                                        "op": "subscribed"}]}


def test_a_registered_condition_type_is_kept_as_its_json():
    builder = Builder.from_post({"r.kind": ["all"], "r.0.kind": ["engagement"],
                                 "r.0.params": ['{"action": "clicked", "within_days": 3}']},
                                OPTIONS)

    assert builder.rules() == {"all": [{"type": "engagement", "action": "clicked",
                                        "within_days": 3}]}


def test_a_stray_field_cannot_graft_a_branch_onto_a_missing_parent():
    builder = Builder.from_post({"r.kind": ["all"], "r.4.2.kind": ["field"]}, OPTIONS)

    assert builder.rules() == {"all": []}


def test_adding_a_condition_appends_one_to_the_group_pressed():
    builder = Builder.from_rules(NESTED, OPTIONS)

    builder.apply("add_condition:r.1")

    added = builder.root.children[1].children[-1]
    assert (added.path, added.kind, added.values["key"]) == ("r.1.2", "attribute", "plan")


def test_adding_a_group_nests_the_other_joiner_with_one_condition():
    builder = Builder.from_post({"r.kind": ["all"]}, OPTIONS)

    builder.apply("add_group:r")

    group = builder.root.children[0]
    assert (group.kind, len(group.children)) == ("any", 1)


def test_removing_a_row_renumbers_the_rows_after_it():
    builder = Builder.from_rules(NESTED, OPTIONS)

    builder.apply("remove:r.0")

    assert [row.path for row in builder.root.children][:2] == ["r.0", "r.1"]
    assert builder.root.children[0].kind == "any"


def test_the_root_cannot_be_removed():
    builder = Builder.from_rules(NESTED, OPTIONS)

    builder.apply("remove:r")

    assert len(builder.root.children) == len(NESTED["all"])


def test_property_filters_are_added_and_removed():
    builder = Builder.from_rules(NESTED, OPTIONS)

    builder.apply("add_where:r.1.1")
    builder.apply("remove_where:r.1.1:0")

    assert builder.root.children[1].children[1].where == [
        {"property": "", "op": "equals", "value": "", "as": "text"}
    ]


def test_groups_stop_offering_a_nested_group_at_the_depth_limit():
    builder = Builder.from_post({"r.kind": ["all"]}, OPTIONS)
    path = "r"
    while builder._paths[path].can_nest:
        builder.apply(f"add_group:{path}")
        path = builder._paths[path].children[-1].path

    builder.apply(f"add_group:{path}")

    assert builder._paths[path].depth == MAX_DEPTH - 1
    assert all(not child.is_group for child in builder._paths[path].children)


@pytest.mark.parametrize(("error_path", "row", "input_name"), [
    ("$.all[1].any[0].value[1]", "r.1.0", "value_high"),
    ("$.all[1].any[1].not.where[0].value", "r.1.1", "where.0.value"),
    ("$.all[1].any[1].not.within_days", "r.1.1", "within_days"),
    ("$.all[3].not.segment", "r.3", "segment"),
    ("$.all[0].value[0]", "r.0", "choices"),
    ("$.all[2].topic", "r.2", "topic"),
    ("$.all[6].action", "r.6", "params"),
    ("$.all[1]", "r.1", ""),
    ("$", "r", ""),
])
def test_an_engine_error_lands_on_its_row_and_input(error_path, row, input_name):
    builder = Builder.from_rules(NESTED, OPTIONS)
    builder.rules()

    builder.show_errors([{"path": error_path, "message": "Wrong."}])

    assert builder._paths[row].errors == {input_name: ["Wrong."]}


def test_a_property_value_typed_as_a_number_that_is_not_one_is_refused_by_the_builder():
    builder = Builder.from_post({
        "r.kind": ["all"], "r.0.kind": ["event"], "r.0.name": ["order"], "r.0.op": ["at_least"],
        "r.0.count": ["1"], "r.0.where.0.property": ["total"], "r.0.where.0.op": ["equals"],
        "r.0.where.0.value": ["fifty"], "r.0.where.0.as": ["number"],
    }, OPTIONS)

    with pytest.raises(Exception) as raised:
        builder.validated(lambda tree: tree)

    assert raised.value.errors == [{"path": "$.all[0].where[0].value",
                                    "message": "A number is needed."}]


def test_changing_channel_drops_a_topic_of_the_old_channel_but_keeps_an_unknown_one():
    builder = Builder.from_post({
        "r.kind": ["all"],
        "r.0.kind": ["consent"], "r.0.channel": ["sms"], "r.0.topic": ["news"],
        "r.1.kind": ["consent"], "r.1.channel": ["sms"], "r.1.topic": ["deleted"],
    }, OPTIONS)

    assert [row.values["topic"] for row in builder.root.children] == ["", "deleted"]


def test_rows_posted_deeper_than_a_tree_may_nest_are_not_read():
    data = {"r.kind": ["all"]}
    path = "r"
    for _ in range(MAX_DEPTH + 5):
        path += ".0"
        data[f"{path}.kind"] = ["all"]

    builder = Builder.from_post(data, OPTIONS)

    assert max(row.depth for row in builder.rows()) == MAX_DEPTH
