"""The side-panel forms: each kind's inputs become the step config campaigns.graph names,
and a saved config reads back into the same inputs."""

import pytest

from campaigns.step_forms import step_form

GRAPH = {"steps": [{"key": "s1", "kind": "send_message", "name": "Welcome"},
                   {"key": "s2", "kind": "condition"}]}


def _values(kind: str, data: dict, key: str = "") -> dict:
    form = step_form(kind, {f"step-{k}": v for k, v in data.items()}, graph=GRAPH, key=key)
    assert form.is_valid(), form.errors
    return form.values()


def _round_trip(kind: str, values: dict) -> dict:
    """Save the values as a step, read the step back into the form, save again."""
    step = {"key": "s9", "kind": kind, **values}
    form = step_form(kind, step=step, graph=GRAPH)
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None:
            continue
        data[name] = [str(v) for v in value] if isinstance(value, list) else (
            value.strftime("%H:%M") if hasattr(value, "strftime") else str(value))
    bound = step_form(kind, {f"step-{k}": v for k, v in data.items()}, graph=GRAPH)
    assert bound.is_valid(), bound.errors
    return bound.values()


@pytest.mark.parametrize("data, config", [
    ({"mode": "duration", "amount": "3", "unit": "hours"},
     {"mode": "duration", "seconds": 10800}),
    ({"mode": "until", "time": "09:30", "weekdays": ["1", "3"]},
     {"mode": "until", "time": "09:30", "weekdays": [1, 3]}),
    ({"mode": "event", "event": "purchase", "timeout_amount": "2", "timeout_unit": "days"},
     {"mode": "event", "event": "purchase", "where": [], "timeout_seconds": 172800}),
])
def test_wait_modes(data, config):
    values = _values("wait", data)

    assert values["config"] == config
    assert _round_trip("wait", values)["config"] == config


def test_a_wait_for_an_event_needs_its_timeout():
    form = step_form("wait", {"step-mode": "event", "step-event": "purchase"})

    assert not form.is_valid()
    assert "timeout_amount" in form.errors


@pytest.mark.parametrize("data, config", [
    ({"mode": "event", "event": "purchase", "within_days": "7"},
     {"rules": {"all": [{"type": "event", "name": "purchase", "op": "at_least", "count": 1,
                         "within_days": 7}]}}),
    ({"mode": "engagement", "engagement_step": "s1", "engagement_action": "clicked"},
     {"engagement": {"step": "s1", "action": "clicked"}}),
    ({"mode": "rules", "rules": '{"any": [{"type": "attribute", "key": "plan", "op": "eq", '
                                '"value": "pro"}]}'},
     {"rules": {"any": [{"type": "attribute", "key": "plan", "op": "eq", "value": "pro"}]}}),
])
def test_condition_modes(data, config):
    values = _values("condition", data, key="s2")

    assert values["config"] == config
    assert _round_trip("condition", values)["config"] == config


def test_engagement_offers_only_message_steps():
    form = step_form("condition", graph=GRAPH, key="s2")

    assert [value for value, _ in form.fields["engagement_step"].choices] == ["s1"]


def test_condition_rules_must_be_a_json_object():
    form = step_form("condition", {"step-mode": "rules", "step-rules": "[1, 2"})

    assert not form.is_valid() and "Not JSON" in str(form.errors["rules"])


def test_split_branches_one_a_line():
    values = _values("split", {"branches": "Control 20\nOffer 80"})

    assert values["config"] == {"branches": [{"name": "Control", "weight": 20},
                                             {"name": "Offer", "weight": 80}]}
    assert not step_form("split", {"step-branches": "Only 100"}).is_valid()


def test_update_attribute_reads_json_values_or_text():
    assert _values("update_attribute", {"attribute": "vip", "value": "true"})["config"] == {
        "attribute": "vip", "value": True}
    assert _values("update_attribute", {"attribute": "tier", "value": "gold"})["config"] == {
        "attribute": "tier", "value": "gold"}


@pytest.mark.django_db
def test_send_message_takes_a_template_and_a_step_window():
    from tests.factories import MessageTemplateFactory

    template = MessageTemplateFactory(channel="sms", content={"body": "Hi"})

    values = _values("send_message", {"template": str(template.pk), "window_start": "09:00",
                                      "window_end": "18:00", "window_days": ["1", "2"]})

    assert values == {"name": "", "template": template.pk, "channel": "sms",
                      "config": {"window": {"start": "09:00", "end": "18:00", "days": [1, 2]}}}
    assert _round_trip("send_message", values) == values
