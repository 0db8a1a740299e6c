"""The demo's journeys (part of campaigns.demo): a scheduled multi-step series and a running
real-time journey, each built from channel templates and published like a marketer would.

- "Spring series": the newsletter readers, read tomorrow at 09:00 UTC; an email, a two-day
  wait, a condition on whether it was opened, and an A/B split of the offer for those who
  did (a reminder for those who did not).
- "Cart reminder": enters on each `cart_abandoned` event, waits an hour and sends an email,
  unless an order comes first (its exit event).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from campaigns.lifecycle import publish
from campaigns.models import Campaign, EntryKind, Reentry
from campaigns.versions import draft_version, graph_save
from channels.message_templates import template_save
from channels.models import Channel, MessageTemplate
from profiles.models import Segment, Topic

SERIES_NAME = "Spring series"
CART_NAME = "Cart reminder"
CART_EVENT = "cart_abandoned"

_LAYOUT = """\
<div style="max-width:600px;margin:0 auto;font-family:Helvetica,Arial,sans-serif;color:#1f2a24;">
  <p style="background:#1f6f50;color:#fff;padding:16px 24px;font-weight:bold;">
    Fernwood Outfitters</p>
  <div style="padding:8px 24px;line-height:1.55;">
    <p>Hello {{ profile.first_name | default: "there" }},</p>
    %s
    <p><a href="https://example.com/%s">%s</a></p>
  </div>
  <p style="padding:8px 24px;font-size:12px;color:#66736c;">
    <a href="{{ unsubscribe_url }}">Unsubscribe</a> ·
    <a href="{{ preferences_url }}">Email preferences</a></p>
</div>
"""
# name → (subject, body paragraph, link path, link text)
TEMPLATES = {
    "Spring picks": ("{{ profile.first_name | default: 'Hello' }}, spring has landed",
                     "<p>Lighter layers, new trail shoes and a tent the size of a loaf.</p>",
                     "spring", "See the spring collection"),
    "Spring offer: 20% off": ("20% off everything new, for you",
                              "<p>Use code <strong>SPRING20</strong> until Sunday.</p>",
                              "spring?code=SPRING20", "Shop with 20% off"),
    "Spring offer: free shipping": ("Free shipping on the spring collection",
                                    "<p>Every order ships free until Sunday.</p>",
                                    "spring?ship=free", "Shop with free shipping"),
    "Spring reminder": ("Did you see what is new this spring?",
                        "<p>Our spring picks are still waiting for you.</p>",
                        "spring", "Have a look"),
    "Your cart is waiting": ("You left something in your cart",
                             "<p>Your cart is saved: pick up where you left off.</p>",
                             "cart", "Back to my cart"),
}


def create_journeys(now: datetime) -> list[Campaign]:
    templates = _create_templates()
    return [_spring_series(templates, now), _cart_reminder(templates)]


def _create_templates() -> dict[str, MessageTemplate]:
    topic = Topic.objects.filter(key="promotions", channel=Channel.EMAIL).first()
    return {
        name: template_save(name=name, channel=Channel.EMAIL, topic=topic, content={
            "subject": subject, "html": _LAYOUT % (body, path, link),
        })
        for name, (subject, body, path, link) in TEMPLATES.items()
    }


def _send(key: str, template: MessageTemplate, following: str | None, name: str) -> dict:
    return {"key": key, "kind": "send_message", "name": name, "template": template.pk,
            "exits": {"next": following}}


def _spring_series(templates: dict[str, MessageTemplate], now: datetime) -> Campaign:
    tomorrow = (now + timedelta(days=1)).date()
    campaign = Campaign.objects.create(
        name=SERIES_NAME, entry_kind=EntryKind.AUDIENCE,
        description="Demo: an email, a wait, a condition on the open, and an A/B split.",
        segment=Segment.objects.get(name="Newsletter readers"),
        scheduled_at=datetime.combine(tomorrow, time(9), tzinfo=now.tzinfo),
        goal_event="order_completed", goal_days=7, holdout_percent=5,
        send_window_start=time(9), send_window_end=time(20),
    )
    graph_save(draft_version(campaign), {"start": "s1", "steps": [
        _send("s1", templates["Spring picks"], "s2", "Spring picks"),
        {"key": "s2", "kind": "wait", "name": "Two days",
         "config": {"mode": "duration", "seconds": 2 * 86_400}, "exits": {"next": "s3"}},
        {"key": "s3", "kind": "condition", "name": "Opened the picks?",
         "config": {"engagement": {"step": "s1", "action": "opened"}},
         "exits": {"yes": "s4", "no": "s7"}},
        {"key": "s4", "kind": "split", "name": "Which offer",
         "config": {"branches": [{"name": "20% off", "weight": 50},
                                 {"name": "Free shipping", "weight": 50}]},
         "exits": {"20% off": "s5", "Free shipping": "s6"}},
        _send("s5", templates["Spring offer: 20% off"], None, "20% off"),
        _send("s6", templates["Spring offer: free shipping"], None, "Free shipping"),
        _send("s7", templates["Spring reminder"], None, "Reminder"),
    ]})
    return publish(campaign, now=now)


def _cart_reminder(templates: dict[str, MessageTemplate]) -> Campaign:
    campaign = Campaign.objects.create(
        name=CART_NAME, entry_kind=EntryKind.EVENT, entry_event=CART_EVENT,
        description="Demo: a real-time journey, an hour after a cart is abandoned.",
        reentry=Reentry.AFTER, reentry_days=7, exit_event="order_completed",
        goal_event="order_completed", goal_days=3,
    )
    graph_save(draft_version(campaign), {"start": "s1", "steps": [
        {"key": "s1", "kind": "wait", "name": "One hour",
         "config": {"mode": "duration", "seconds": 3600}, "exits": {"next": "s2"}},
        _send("s2", templates["Your cart is waiting"], None, "Cart email"),
    ]})
    return publish(campaign)
