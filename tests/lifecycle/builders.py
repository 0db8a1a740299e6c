"""Campaigns and graphs for the lifecycle tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from campaigns.graph import Graph, graph_from_json
from campaigns.models import Campaign
from tests.factories import AttributeDefinitionFactory, CampaignFactory, MessageTemplateFactory

MARKETING_HTML = (
    "<p>Hello {{ profile.first_name }}</p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>"
)


def email_template(**overrides):
    values = {"content": {"subject": "Hi {{ profile.first_name }}", "html": MARKETING_HTML}}
    return MessageTemplateFactory(**{**values, **overrides})


def webhook_template(**overrides):
    values = {"channel": "webhook", "kind": "transactional",
              "content": {"url": "https://example.com/hook", "payload": '{"id": 1}'}}
    return MessageTemplateFactory(**{**values, **overrides})


def audience_campaign(**overrides) -> Campaign:
    values = {"scheduled_at": timezone.now() + timedelta(hours=1)}
    return CampaignFactory(**{**values, **overrides})


def six_step_json() -> dict[str, Any]:
    """send → wait → engagement condition → split → (update attribute | webhook)."""
    AttributeDefinitionFactory(key="tier", type="string")
    return {"start": "s1", "steps": [
        {"key": "s1", "kind": "send_message", "name": "Welcome", "template": email_template().pk,
         "config": {"window": {"start": "09:00", "end": "18:00", "days": [1, 2, 3, 4, 5]}},
         "exits": {"next": "s2"}},
        {"key": "s2", "kind": "wait", "config": {"mode": "duration", "seconds": 86_400},
         "exits": {"next": "s3"}},
        {"key": "s3", "kind": "condition",
         "config": {"engagement": {"step": "s1", "action": "opened"}},
         "exits": {"yes": "s4", "no": None}},
        {"key": "s4", "kind": "split",
         "config": {"branches": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]},
         "exits": {"A": "s5", "B": "s6"}},
        {"key": "s5", "kind": "update_attribute", "config": {"attribute": "tier", "value": "gold"},
         "exits": {"next": None}},
        {"key": "s6", "kind": "webhook", "template": webhook_template().pk,
         "exits": {"next": None}},
    ]}


def graph(data: dict[str, Any]) -> Graph:
    return graph_from_json(data)


def with_step(data: dict[str, Any], key: str, **changes) -> dict[str, Any]:
    """A copy of the graph JSON with step `key` changed (config/exits replaced whole)."""
    steps = [dict(s, **changes) if s["key"] == key else s for s in data["steps"]]
    return {**data, "steps": steps}
