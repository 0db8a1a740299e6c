"""The designer's step operations and layout, on plain graph data (no database)."""

import pytest

from campaigns import designer
from campaigns.designer import DesignError

SPLIT = {"branches": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]}


def _chain(*kinds: str) -> dict:
    """A graph of steps s1 → s2 → … of these kinds, built by inserting on the first exit of
    the last step."""
    data, after = {"start": "", "steps": []}, ""
    for kind in kinds:
        exit = next(iter(_exits(data)[after])) if after else ""
        data, after = designer.insert_step(data, after=after, exit=exit, kind=kind,
                                           config=SPLIT if kind == "split" else {})
    return data


def _exits(data: dict) -> dict:
    return {s["key"]: s["exits"] for s in data["steps"]}


def test_inserting_on_an_exit_puts_the_new_step_between():
    data = _chain("send_message", "wait")

    data, key = designer.insert_step(data, after="s1", exit="next", kind="update_attribute")

    assert key == "s3"
    assert _exits(data) == {"s1": {"next": "s3"}, "s2": {"next": None}, "s3": {"next": "s2"}}


def test_inserting_at_the_start_makes_the_new_step_first():
    data = _chain("wait")

    data, key = designer.insert_step(data, kind="send_message")

    assert data["start"] == key == "s2"
    assert _exits(data)["s2"] == {"next": "s1"}


def test_a_branching_step_keeps_what_followed_on_its_first_exit():
    data = _chain("send_message", "wait")

    data, key = designer.insert_step(data, after="s1", exit="next", kind="condition")

    assert _exits(data)[key] == {"yes": "s2", "no": None}


def test_a_split_has_one_exit_per_branch():
    data = _chain("send_message")
    config = {"branches": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]}

    data, key = designer.insert_step(data, after="s1", exit="next", kind="split", config=config)

    assert _exits(data)[key] == {"A": None, "B": None}


def test_an_exit_step_goes_only_where_the_path_is_open():
    data = _chain("send_message", "wait")

    with pytest.raises(DesignError, match="open"):
        designer.insert_step(data, after="s1", exit="next", kind="exit")
    data, key = designer.insert_step(data, after="s2", exit="next", kind="exit")
    assert _exits(data)[key] == {}


def test_inserting_on_a_missing_exit_is_refused():
    with pytest.raises(DesignError):
        designer.insert_step(_chain("wait"), after="s1", exit="yes", kind="wait")


def test_deleting_a_step_relinks_what_led_to_it():
    data = _chain("send_message", "wait", "send_message")

    data = designer.delete_step(data, "s2")

    assert _exits(data) == {"s1": {"next": "s3"}, "s3": {"next": None}}


def test_deleting_the_start_makes_its_follower_the_start():
    data = designer.delete_step(_chain("send_message", "wait"), "s1")

    assert data["start"] == "s2"


def test_a_step_with_several_branches_cannot_be_deleted():
    data = _chain("send_message", "condition")
    data, _ = designer.insert_step(data, after="s2", exit="yes", kind="wait")
    data, _ = designer.insert_step(data, after="s2", exit="no", kind="wait")

    with pytest.raises(DesignError, match="branches"):
        designer.delete_step(data, "s2")


def test_moving_a_step_keeps_its_key_and_relinks_both_places():
    data = _chain("send_message", "wait", "update_attribute")

    data = designer.move_step(data, "s3", after="", exit="")

    assert data["start"] == "s3"
    assert _exits(data) == {"s1": {"next": "s2"}, "s2": {"next": None}, "s3": {"next": "s1"}}


def test_moving_a_step_onto_a_branch():
    data = _chain("condition", "send_message")  # s1 yes → s2
    data = designer.move_step(data, "s2", after="s1", exit="no")

    assert _exits(data)["s1"] == {"yes": None, "no": "s2"}


def test_linking_an_exit_back_up_the_path_is_refused():
    data = _chain("send_message", "wait", "condition")

    with pytest.raises(DesignError, match="loop"):
        designer.link_exit(data, "s3", "no", "s1")
    data = designer.link_exit(data, "s3", "no", "")
    assert _exits(data)["s3"]["no"] is None


def test_branches_can_rejoin_a_later_step():
    data = _chain("condition", "send_message", "wait")  # s1 yes → s2 → s3

    data = designer.link_exit(data, "s1", "no", "s3")

    assert _exits(data)["s1"] == {"yes": "s2", "no": "s3"}


def test_editing_a_split_keeps_the_targets_of_the_branches_that_stay():
    data = _chain("split", "wait")  # split's first branch → s2

    three = {"branches": [{"name": "A", "weight": 40}, {"name": "B", "weight": 30},
                          {"name": "C", "weight": 30}]}
    data = designer.edit_step(data, "s1", name="Test", config=three)

    assert _exits(data)["s1"] == {"A": "s2", "B": None, "C": None}


def test_a_wait_turned_into_a_wait_for_an_event_keeps_its_follower_on_the_event_exit():
    data = _chain("wait", "send_message")

    data = designer.edit_step(data, "s1", name="", config={"mode": "event", "event": "buy"})

    assert _exits(data)["s1"] == {"event": "s2", "timeout": None}


def test_layout_draws_a_rejoined_step_once_and_a_go_to_elsewhere():
    data = _chain("condition", "send_message", "wait")
    data = designer.link_exit(data, "s1", "no", "s3")

    tree = designer.layout(data)

    yes, no = tree.root.branches
    assert (yes.exit, yes.node.key, yes.node.branches[0].node.key) == ("yes", "s2", "s3")
    assert (no.exit, no.node, no.goto) == ("no", None, "s3")
    assert tree.order.count("s3") == 1


def test_layout_shows_the_steps_nobody_reaches():
    data = _chain("send_message", "wait")
    data["steps"].append({"key": "s9", "kind": "wait", "config": {}, "exits": {"next": "s2"},
                          "position": 9})

    tree = designer.layout(data)

    assert [n.key for n in tree.detached] == ["s9"]
    assert tree.detached[0].branches[0].goto == "s2"


def test_layout_marks_a_dangling_exit():
    data = _chain("send_message")
    data["steps"][0]["exits"]["next"] = "nowhere"

    branch = designer.layout(data).root.branches[0]

    assert (branch.goto, branch.dangling) == ("nowhere", True)


def test_summaries_say_what_a_step_does():
    wait = {"key": "s1", "kind": "wait", "config": {"mode": "duration", "seconds": 172800}}
    event = {"key": "s2", "kind": "condition", "config": {"rules": {"all": [
        {"type": "event", "name": "purchase", "op": "at_least", "count": 1, "within_days": 7}]}}}

    assert designer.summary(wait, {}) == "2 days"
    assert designer.summary(event, {}) == "“purchase” in the last 7 days"


def test_layout_draws_exits_in_their_kind_order_whatever_the_stored_order():
    data = _chain("condition")
    data["steps"][0]["exits"] = {"no": None, "yes": None}  # as jsonb gives them back

    assert [b.exit for b in designer.layout(data).root.branches] == ["yes", "no"]


def test_an_attribute_update_shows_its_value_as_json():
    step = {"key": "s1", "kind": "update_attribute",
            "config": {"attribute": "vip", "value": True}}

    assert designer.summary(step, {}) == "vip = true"
