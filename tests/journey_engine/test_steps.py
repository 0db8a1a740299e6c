"""campaigns.engine.advance, step kind by step kind (pure: no database, no clock)."""

from datetime import timedelta

from campaigns.engine import (
    Complete,
    Exit,
    Fail,
    Send,
    UpdateAttribute,
    Visit,
    WaitUntil,
)
from tests.journey_engine.helpers import NOW, facts, graph, kinds, run, state

SEND = {"key": "s1", "kind": "send_message", "template": 1, "exits": {"next": "s2"}}
END = {"key": "s2", "kind": "exit"}


def test_send_then_exit_step_completes_in_one_call():
    decision = run(graph(SEND, END))
    assert decision.actions == (Send("s1"), Visit("s1", "next"), Visit("s2", "end"),
                                Complete("s2"))
    assert decision.step_key == "s2"


def test_null_exit_completes_at_that_step():
    decision = run(graph({**SEND, "exits": {"next": None}}))
    assert decision.actions[-1] == Complete("s1")


def test_control_group_gets_no_message_and_a_holdout_visit():
    decision = run(graph(SEND, END), state(is_control=True))
    assert Send("s1") not in decision.actions
    assert Visit("s1", "next", "holdout") in decision.actions
    assert decision.actions[-1] == Complete("s2")


def test_webhook_is_a_send():
    hook = {"key": "s1", "kind": "webhook", "template": 9, "exits": {"next": None}}
    assert run(graph(hook)).actions[0] == Send("s1")


def test_dangling_exit_fails_on_the_missing_key():
    decision = run(graph({**SEND, "exits": {"next": "gone"}}))
    assert decision.actions[-1] == Fail("gone", "Step 'gone' is not in the graph.")
    assert decision.step_key == "gone"


def test_cycle_fails_instead_of_spinning():
    a = {"key": "a", "kind": "update_attribute", "config": {"attribute": "x", "value": 1},
         "exits": {"next": "b"}}
    b = {"key": "b", "kind": "update_attribute", "config": {"attribute": "y", "value": 2},
         "exits": {"next": "a"}}
    decision = run(graph(a, b))
    assert isinstance(decision.actions[-1], Fail)
    assert kinds(decision).count("UpdateAttribute") == 2


def test_long_chain_past_the_step_limit_fails():
    chain = [{"key": f"u{i}", "kind": "update_attribute",
              "config": {"attribute": "n", "value": i}, "exits": {"next": f"u{i + 1}"}}
             for i in range(70)]
    decision = run(graph(*chain))
    assert isinstance(decision.actions[-1], Fail)
    assert "More than 60" in decision.actions[-1].reason


# --- wait: duration -----------------------------------------------------------------------

WAIT = {"key": "w", "kind": "wait", "config": {"mode": "duration", "seconds": 3600},
        "exits": {"next": "s2"}}


def test_duration_wait_stores_its_deadline_then_goes_on_past_it():
    g = graph({**SEND, "exits": {"next": "w"}}, WAIT, END)
    first = run(g)
    wait = first.actions[-1]
    assert wait == WaitUntil("w", NOW + timedelta(hours=1),
                             data={"step": "w", "until": (NOW + timedelta(hours=1)).isoformat()})
    assert first.step_key == "w"

    early = run(g, state("w", step_entered_at=NOW, data=wait.data), now=NOW + timedelta(minutes=59))
    assert early.actions == (wait,)
    late = run(g, state("w", step_entered_at=NOW, data=wait.data), now=NOW + timedelta(hours=1))
    assert late.actions == (Visit("w", "next"), Visit("s2", "end"), Complete("s2"))


def test_stored_deadline_wins_over_a_recomputed_one():
    g = graph(WAIT, END)
    data = {"step": "w", "until": (NOW + timedelta(hours=5)).isoformat()}
    decision = run(g, state("w", data=data), now=NOW + timedelta(hours=2))
    assert decision.actions[-1].at == NOW + timedelta(hours=5)


def test_data_of_another_step_is_ignored():
    g = graph(WAIT, END)
    data = {"step": "other", "until": (NOW + timedelta(hours=5)).isoformat()}
    decision = run(g, state("w", data=data), now=NOW + timedelta(hours=2))
    assert decision.actions[-1] == Complete("s2")


# --- wait: until event ----------------------------------------------------------------

EVENT_WAIT = {"key": "w", "kind": "wait",
              "config": {"mode": "event", "event": "purchase", "timeout_seconds": 86400,
                         "where": [{"property": "total", "op": "gt", "value": 50}]},
              "exits": {"event": "yes", "timeout": "no"}}
YES = {"key": "yes", "kind": "exit"}
NO = {"key": "no", "kind": "exit"}


def _event_wait(events, now):
    return run(graph(EVENT_WAIT, YES, NO), state("w", step_entered_at=NOW),
               facts(events=events), now=now)


def test_event_wait_waits_for_the_event_with_its_name():
    decision = _event_wait([], NOW + timedelta(hours=1))
    assert decision.actions[-1] == WaitUntil(
        "w", NOW + timedelta(days=1), event="purchase",
        data={"step": "w", "until": (NOW + timedelta(days=1)).isoformat()})


def test_event_wait_takes_the_event_exit_on_a_matching_event_since_arrival():
    events = [("purchase", NOW + timedelta(hours=2), {"total": 80})]
    decision = _event_wait(events, NOW + timedelta(hours=2))
    assert decision.actions[0] == Visit("w", "event")


def test_event_wait_ignores_events_before_arrival_or_not_matching_the_filter():
    events = [("purchase", NOW - timedelta(hours=1), {"total": 80}),
              ("purchase", NOW + timedelta(hours=1), {"total": 20}),
              ("purchase", NOW + timedelta(hours=1), {"amount": 80}),
              ("refund", NOW + timedelta(hours=1), {"total": 80})]
    assert isinstance(_event_wait(events, NOW + timedelta(hours=2)).actions[-1], WaitUntil)


def test_event_wait_times_out():
    decision = _event_wait([], NOW + timedelta(days=1))
    assert decision.actions[0] == Visit("w", "timeout")
    assert decision.actions[-1] == Complete("no")


def test_event_after_the_deadline_is_a_timeout():
    events = [("purchase", NOW + timedelta(days=2), {"total": 80})]
    assert _event_wait(events, NOW + timedelta(days=3)).actions[0] == Visit("w", "timeout")


# --- condition ------------------------------------------------------------------------

def _condition(config):
    return graph({"key": "c", "kind": "condition", "config": config,
                  "exits": {"yes": "yes", "no": "no"}}, YES, NO)


BOUGHT = {"all": [{"type": "event", "name": "purchase", "op": "at_least", "count": 1,
                   "within_days": 7}]}


def test_rules_condition_reads_event_history():
    g = _condition({"rules": BOUGHT})
    bought = facts(events=[("purchase", NOW - timedelta(days=2), {})])
    old = facts(events=[("purchase", NOW - timedelta(days=9), {})])
    assert run(g, state("c"), bought).actions[0] == Visit("c", "yes")
    assert run(g, state("c"), old).actions[0] == Visit("c", "no")


def test_engagement_condition_reads_the_earlier_step():
    g = _condition({"engagement": {"step": "s1", "action": "opened"}})
    opened = facts(engagement={"s1": frozenset({"received", "opened"})})
    received = facts(engagement={"s1": frozenset({"received"})})
    assert run(g, state("c"), opened).actions[0] == Visit("c", "yes")
    assert run(g, state("c"), received).actions[0] == Visit("c", "no")
    assert run(g, state("c"), facts()).actions[0] == Visit("c", "no")


def test_condition_without_a_test_fails():
    assert isinstance(run(_condition({}), state("c")).actions[-1], Fail)


def test_malformed_rules_fail_rather_than_raise():
    g = _condition({"rules": {"all": [{"type": "attribute", "key": "plan"}]}})
    assert isinstance(run(g, state("c")).actions[-1], Fail)


# --- update attribute -----------------------------------------------------------------

def test_update_attribute_is_seen_by_the_next_condition():
    update = {"key": "u", "kind": "update_attribute",
              "config": {"attribute": "plan", "value": "pro"}, "exits": {"next": "c"}}
    is_pro = {"all": [{"type": "attribute", "key": "plan", "value_type": "string",
                       "op": "equals", "value": "pro"}]}
    g = graph(update, {"key": "c", "kind": "condition", "config": {"rules": is_pro},
                       "exits": {"yes": "yes", "no": "no"}}, YES, NO)
    decision = run(g, state("u"), facts(attributes={"plan": "free"}))
    assert decision.actions[0] == UpdateAttribute("u", "plan", "pro")
    assert Visit("c", "yes") in decision.actions


# --- exit criteria and conversion -----------------------------------------------------

def test_exit_event_since_entry_exits_before_the_step():
    g = graph(SEND, END)
    fa = facts(events=[("unsubscribe", NOW + timedelta(minutes=5), {})])
    decision = run(g, state(), fa, now=NOW + timedelta(minutes=10), exit_event="unsubscribe")
    assert decision.actions == (Exit("s1", "exit_criteria"),)


def test_exit_event_before_entry_does_not_exit():
    fa = facts(events=[("unsubscribe", NOW - timedelta(days=1), {})])
    decision = run(graph(SEND, END), state(), fa, exit_event="unsubscribe")
    assert decision.actions[0] == Send("s1")


def test_exit_rules_checked_before_each_step_see_updates():
    update = {"key": "u", "kind": "update_attribute",
              "config": {"attribute": "churned", "value": True}, "exits": {"next": "s1"}}
    churned = {"all": [{"type": "attribute", "key": "churned", "value_type": "boolean",
                        "op": "equals", "value": True}]}
    decision = run(graph(update, SEND, END), state("u"), exit_rules=churned)
    assert decision.actions == (UpdateAttribute("u", "churned", True), Visit("u", "next"),
                                Exit("s1", "exit_criteria"))


def test_conversion_is_recorded_once_within_the_goal_days():
    g = graph(WAIT, END)
    fa = facts(events=[("purchase", NOW + timedelta(days=3), {}),
                       ("purchase", NOW + timedelta(days=2), {}),
                       ("purchase", NOW + timedelta(days=9), {})])
    st = state("w", step_entered_at=NOW)
    decision = run(g, st, fa, now=NOW + timedelta(minutes=1), goal_event="purchase", goal_days=7)
    assert decision.actions[0].at == NOW + timedelta(days=2)
    assert isinstance(decision.actions[-1], WaitUntil)  # and the walk goes on as usual

    already = state("w", step_entered_at=NOW, converted_at=NOW + timedelta(days=2))
    again = run(g, already, fa, now=NOW + timedelta(minutes=1), goal_event="purchase")
    assert "Convert" not in kinds(again)


def test_goal_event_outside_the_window_is_no_conversion():
    fa = facts(events=[("purchase", NOW - timedelta(hours=1), {}),
                       ("purchase", NOW + timedelta(days=8), {})])
    assert "Convert" not in kinds(run(graph(SEND, END), state(), fa, goal_event="purchase",
                                      goal_days=7))


def test_conversion_is_recorded_even_when_the_walk_exits():
    fa = facts(events=[("purchase", NOW + timedelta(hours=1), {}),
                       ("stop", NOW + timedelta(hours=1), {})])
    decision = run(graph(SEND, END), state(), fa, now=NOW + timedelta(hours=2),
                   goal_event="purchase", exit_event="stop")
    assert kinds(decision) == ["Convert", "Exit"]
