"""Control rules at publish: each problem is reported on the offending step (or field)."""

from datetime import time

import pytest

from campaigns.validation import Problem, problems_as_errors, validate
from tests.factories import AttributeDefinitionFactory, SegmentFactory
from tests.lifecycle.builders import (
    MARKETING_HTML,
    audience_campaign,
    email_template,
    graph,
    six_step_json,
    webhook_template,
    with_step,
)

pytestmark = pytest.mark.django_db


def fields(problems: list[Problem]) -> set[tuple[str, str]]:
    return {(p.step_key, p.field) for p in problems}


def check(data, **campaign) -> set[tuple[str, str]]:
    return fields(validate(audience_campaign(**campaign), graph(data)))


def one_step(**step) -> dict:
    return {"start": "s1", "steps": [{"key": "s1", "exits": {}, **step}]}


# --- a valid campaign ------------------------------------------------------------------------


def test_a_valid_six_step_graph_has_no_problems():
    assert validate(audience_campaign(), graph(six_step_json())) == []


# --- entry and settings ----------------------------------------------------------------------


def test_an_audience_needs_a_segment():
    assert check(six_step_json(), segment=None) == {("", "segment")}


def test_an_audience_with_no_time_nor_recurrence_is_valid_it_is_read_when_published():
    assert check(six_step_json(), scheduled_at=None) == set()
    assert check(six_step_json(), scheduled_at=None, recurrence="0 9 * * 1") == set()
    assert check(six_step_json(), scheduled_at=None, recurrence="every monday") == {
        ("", "recurrence")}


def test_a_recurrence_must_be_a_cron_expression():
    assert check(six_step_json(), recurrence="every monday") == {("", "recurrence")}


def test_an_event_entry_needs_its_event_and_a_valid_filter():
    data = six_step_json()
    assert check(data, entry_kind="event", segment=None) == {("", "entry_event")}
    assert check(data, entry_kind="event", entry_event="cart_abandoned",
                 entry_event_filter=[{"property": "total", "op": "between", "value": 3}]) == {
        ("", "entry_event_filter")
    }
    assert check(data, entry_kind="event", entry_event="cart_abandoned",
                 entry_event_filter=[{"property": "total", "op": "gt", "value": 50}]) == set()


def test_a_segment_entry_needs_a_segment():
    assert check(six_step_json(), entry_kind="segment_entry", segment=None) == {("", "segment")}


def test_exit_rules_are_checked_as_rules():
    rules = {"all": [{"type": "attribute", "key": "nope", "op": "equals", "value": 1}]}
    assert check(six_step_json(), exit_rules=rules) == {("", "exit_rules")}


def test_reentry_after_n_days_needs_n():
    assert check(six_step_json(), reentry="after", reentry_days=0) == {("", "reentry_days")}


def test_a_campaign_send_window_needs_both_ends_and_weekdays_1_to_7():
    assert check(six_step_json(), send_window_start=time(9)) == {("", "send_window")}
    assert check(six_step_json(), send_window_days=[0, 8]) == {("", "send_window_days")}


def test_a_control_group_is_under_100_percent():
    assert check(six_step_json(), holdout_percent=100) == {("", "holdout_percent")}


# --- the graph -------------------------------------------------------------------------------


def test_a_graph_needs_steps_and_an_existing_start():
    assert check({"start": "", "steps": []}) == {("", "steps")}
    assert check({**six_step_json(), "start": "s9"}) == {("", "start")}


def test_a_graph_has_at_most_journey_max_steps(settings):
    settings.JOURNEY_MAX_STEPS = 5
    assert check(six_step_json()) == {("", "steps")}


def test_an_unknown_kind_is_reported_on_its_step():
    assert check(with_step(six_step_json(), "s6", kind="teleport")) == {("s6", "kind")}


def test_an_exit_the_kind_does_not_have_is_reported():
    data = with_step(six_step_json(), "s5", exits={"next": None, "yes": None})
    assert check(data) == {("s5", "exits.yes")}


def test_a_dangling_exit_is_reported():
    assert check(with_step(six_step_json(), "s5", exits={"next": "s42"})) == {("s5", "exits.next")}


def test_a_loop_is_reported_on_the_exit_that_closes_it():
    data = with_step(six_step_json(), "s5", exits={"next": "s2"})
    assert check(data) == {("s5", "exits.next")}


def test_an_unreachable_step_is_reported():
    data = with_step(six_step_json(), "s3", exits={"yes": "s4", "no": None})
    data = with_step(data, "s4", config={"branches": [{"name": "A", "weight": 1},
                                                      {"name": "B", "weight": 1}]},
                     exits={"A": "s5", "B": None})
    assert check(data) == {("s6", "")}


# --- each kind -------------------------------------------------------------------------------


@pytest.mark.parametrize("config, field", [
    ({"mode": "duration", "seconds": 0}, "config.seconds"),
    ({"mode": "duration", "seconds": 91 * 86_400}, "config.seconds"),
    ({"mode": "duration", "seconds": "3600"}, "config.seconds"),
    ({"mode": "until", "time": "25:00"}, "config.time"),
    ({"mode": "until", "time": "09:30", "weekdays": [8]}, "config.weekdays"),
    ({"mode": "event", "event": "", "timeout_seconds": 3600}, "config.event"),
    ({"mode": "event", "event": "purchase"}, "config.timeout_seconds"),
    ({"mode": "sometime"}, "config.mode"),
])
def test_a_wait_is_checked_per_mode(config, field):
    exits = {"event": None, "timeout": None} if config["mode"] == "event" else {"next": "s3"}
    assert check(with_step(six_step_json(), "s2", config=config, exits=exits)) - {
        ("s3", "")  # an event wait with null exits leaves the rest unreachable
    } - {("s4", ""), ("s5", ""), ("s6", "")} == {("s2", field)}


def test_a_wait_is_within_journey_max_wait_days(settings):
    settings.JOURNEY_MAX_WAIT_DAYS = 1
    data = with_step(six_step_json(), "s2", config={"mode": "duration", "seconds": 86_401})
    assert check(data) == {("s2", "config.seconds")}


def test_valid_waits_until_a_time_and_until_an_event():
    until = with_step(six_step_json(), "s2",
                      config={"mode": "until", "time": "09:30", "weekdays": [1, 5]})
    event = with_step(six_step_json(), "s2", exits={"event": "s3", "timeout": "s3"}, config={
        "mode": "event", "event": "purchase", "timeout_seconds": 3600,
        "where": [{"property": "total", "op": "gt", "value": 10}],
    })
    assert check(until) == check(event) == set()


def test_condition_rules_are_checked_as_rules():
    rules = {"all": [{"type": "event", "name": "purchase", "op": "sometimes"}]}
    assert check(with_step(six_step_json(), "s3", config={"rules": rules})) == {
        ("s3", "config.rules")
    }


def test_a_condition_has_rules_or_engagement_not_both():
    config = {"rules": {"all": []}, "engagement": {"step": "s1", "action": "opened"}}
    assert check(with_step(six_step_json(), "s3", config=config)) == {("s3", "config")}


def test_engagement_must_name_an_earlier_message_step():
    later = with_step(six_step_json(), "s3", config={"engagement": {"step": "s6",
                                                                    "action": "received"}})
    not_a_message = with_step(six_step_json(), "s3", config={"engagement": {"step": "s2",
                                                                            "action": "opened"}})
    assert check(later) == check(not_a_message) == {("s3", "config.engagement.step")}


def test_engagement_must_be_on_every_path():
    # s4 splits: A sends a webhook (s5) then asks about it (s6); B goes to s6 directly.
    data = six_step_json()
    data["steps"][4] = {"key": "s5", "kind": "webhook", "template": webhook_template().pk,
                        "exits": {"next": "s6"}}
    data["steps"][5] = {"key": "s6", "kind": "condition",
                        "config": {"engagement": {"step": "s5", "action": "received"}},
                        "exits": {"yes": None, "no": None}}
    assert check(data) == {("s6", "config.engagement.step")}
    data = with_step(data, "s6", config={"engagement": {"step": "s1", "action": "received"}})
    assert check(data) == set()


def test_opens_are_not_tracked_for_sms():
    sms = email_template(channel="sms", kind="transactional", content={"body": "Hi"})
    data = with_step(six_step_json(), "s1", template=sms.pk, config={})
    assert check(data) == {("s3", "config.engagement.action")}


@pytest.mark.parametrize("branches, field", [
    ([{"name": "A", "weight": 1}], "config.branches"),
    ([{"name": "A", "weight": 1}, {"name": "A", "weight": 1}], "config.branches[1].name"),
    ([{"name": "A", "weight": 0}, {"name": "B", "weight": 1}], "config.branches[0].weight"),
    ([{"name": "A", "weight": 1.5}, {"name": "B", "weight": 1}], "config.branches[0].weight"),
    ([{"name": "", "weight": 1}, {"name": "B", "weight": 1}], "config.branches[0].name"),
])
def test_a_split_has_two_or_more_uniquely_named_positive_branches(branches, field):
    data = with_step(six_step_json(), "s4", config={"branches": branches},
                     exits={b["name"]: None for b in branches if b["name"]})
    assert ("s4", field) in check(data)


def test_update_attribute_value_must_fit_the_declared_type():
    AttributeDefinitionFactory(key="score", type="number")
    data = with_step(six_step_json(), "s5", config={"attribute": "score", "value": "lots"})
    assert check(data) == {("s5", "config.value")}
    data = with_step(six_step_json(), "s5", config={"attribute": "score", "value": 12})
    assert check(data) == set()


def test_update_attribute_key_must_be_allowed_by_the_schema(settings):
    data = with_step(six_step_json(), "s5", config={"attribute": "undeclared", "value": 1})
    assert check(data) == set()  # undeclared attributes are stored untyped by default
    settings.PROFILE_UNKNOWN_ATTRIBUTES = "reject"
    assert check(data) == {("s5", "config.attribute")}
    bad_key = with_step(six_step_json(), "s5", config={"attribute": "1st", "value": 1})
    assert check(bad_key) == {("s5", "config.attribute")}


def test_a_message_step_needs_an_existing_template():
    assert check(with_step(six_step_json(), "s1", template=None)) == {("s1", "template")}
    assert check(with_step(six_step_json(), "s1", template=999_999)) == {("s1", "template")}


def test_a_message_step_template_must_match_its_step():
    hook = webhook_template()
    email = email_template()
    data = with_step(with_step(six_step_json(), "s1", template=hook.pk), "s6", template=email.pk)
    assert check(data) == {
        ("s1", "template"), ("s6", "template"), ("s3", "config.engagement.action")
    }


def test_a_marketing_email_template_needs_an_unsubscribe_link():
    bare = email_template(content={"subject": "Hi", "html": "<p>Hi</p>"})
    problems = validate(audience_campaign(), graph(with_step(six_step_json(), "s1",
                                                             template=bare.pk)))
    assert fields(problems) == {("s1", "template")}
    assert "unsubscribe" in problems[0].message


def test_an_inline_email_needs_valid_content_and_an_unsubscribe_link():
    def inline(html):
        return one_step(kind="send_email", config={"subject": "Hi", "html_body": html})

    assert check(inline(MARKETING_HTML)) == set()
    assert check(inline("<p>Hi</p>")) == {("s1", "config.html_body")}
    assert check(inline("<p>{% if %}</p>")) == {("s1", "config.html_body")}
    assert check(one_step(kind="send_email", config={"html_body": MARKETING_HTML})) == {
        ("s1", "config.subject")
    }


def test_a_step_send_window_is_checked():
    data = with_step(six_step_json(), "s1", config={"window": {"start": "9", "end": "18:00"}})
    assert check(data) == {("s1", "config.window.start")}


def test_condition_rules_may_refer_to_existing_segments_only():
    rules = {"all": [{"type": "segment", "op": "in", "segment": SegmentFactory().pk + 1000}]}
    assert check(with_step(six_step_json(), "s3", config={"rules": rules})) == {
        ("s3", "config.rules")
    }


# --- as CampaignError fields -----------------------------------------------------------------


def test_problems_become_step_keyed_errors():
    problems = [Problem("", "segment", "Choose a segment."), Problem("s2", "config.seconds", "x"),
                Problem("s2", "exits.next", "y"), Problem("", "", "z")]

    assert problems_as_errors(problems) == {
        "segment": "Choose a segment.", "steps": {"s2": ["x", "y"]}, "__all__": "z",
    }
