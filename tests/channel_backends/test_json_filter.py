"""`| json` in webhook payload templates: whatever a profile holds, the payload stays valid
JSON and carries the exact value (quotes, backslashes, newlines, markup, unicode)."""

import json

import pytest

from channels.backends.base import Outbound
from channels.backends.webhook import WebhookBackend
from channels.rendering import CompiledContent, delivery_context
from channels.templating import check_template, compile_template
from tests.factories import DeliveryFactory, ProfileFactory

HOSTILE = 'Ada "the" \\ Countess\n</script>{{ x }} ☕ \u2028'
PAYLOAD = ('{"name": {{ profile.first_name | json }}, "plan": {{ profile.attributes.plan | json }},'
           ' "score": {{ profile.attributes.score | json }}, "tags": {{ profile.attributes.tags'
           ' | json }}, "missing": {{ profile.attributes.nope | json }},'
           ' "attributes": {{ profile.attributes | json }}}')
ATTRIBUTES = {"plan": "pro", "score": 1.5, "tags": ["a", "b\"c"], "vip": True}


def render(source: str, **profile) -> str:
    return compile_template(source).render({"profile": {"attributes": {}, **profile}})


def test_values_become_json_literals():
    rendered = render(PAYLOAD, first_name=HOSTILE, attributes=ATTRIBUTES)

    assert json.loads(rendered) == {"name": HOSTILE, "plan": "pro", "score": 1.5,
                                    "tags": ["a", "b\"c"], "missing": None,
                                    "attributes": ATTRIBUTES}


def test_without_the_filter_the_same_payload_breaks():
    # (why the filter exists: a quote in a name ends the JSON string early)
    with pytest.raises(json.JSONDecodeError):
        json.loads(render('{"name": "{{ profile.first_name }}"}', first_name=HOSTILE))


def test_numbers_json_cannot_hold_become_null():
    assert render("{{ profile.attributes.x | json }}", attributes={"x": float("nan")}) == "null"


def test_a_template_using_the_filter_passes_the_save_check():
    check_template(PAYLOAD)


@pytest.mark.django_db
def test_the_webhook_receiver_gets_the_exact_value(settings, provider):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_SIGNING_SECRET = "s"
    profile = ProfileFactory(first_name=HOSTILE, attributes=ATTRIBUTES)
    delivery = DeliveryFactory(profile=profile, channel="webhook",
                               address=provider.url("/hook"))
    content = CompiledContent("webhook", {"url": provider.url("/hook"), "payload": PAYLOAD})

    rendered = content.render(delivery_context(delivery))
    with WebhookBackend() as backend:
        backend.send(Outbound(delivery_id=delivery.pk, channel="webhook",
                              address=provider.url("/hook"), content=rendered,
                              message_id=f"itinera-delivery-{delivery.pk}"))

    (request,) = provider.requests
    assert request.json()["name"] == HOSTILE
    assert request.json()["attributes"] == ATTRIBUTES
