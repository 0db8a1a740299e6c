"""Saving templates (every field checked, a revision per save) and rendering them per channel."""

import pytest

from channels.message_templates import (
    TemplateError,
    html_to_text,
    render_delivery,
    render_template,
    seed_list_save,
    template_latest_revision,
    template_save,
)
from channels.models import Channel, MessageKind, TemplateRevision
from channels.sms_encoding import sms_segments
from tests.factories import ProfileFactory, TopicFactory
from tests.message_helpers import email_template, sent_delivery

pytestmark = pytest.mark.django_db


def test_each_save_makes_a_new_revision():
    template = email_template()

    template_save(template=template, name="Newsletter", channel=Channel.EMAIL,
                  content={**template.content, "subject": "Second"})

    template.refresh_from_db()
    assert template.version == 2
    assert list(template.revisions.values_list("version", flat=True).order_by("version")) == [1, 2]
    assert template_latest_revision(template).content["subject"] == "Second"


def test_a_syntax_error_is_refused_per_field_with_its_line():
    with pytest.raises(TemplateError) as raised:
        template_save(
            name="Bad", channel=Channel.EMAIL, kind=MessageKind.TRANSACTIONAL,
            content={"subject": "{{ profile.first_name", "html": "<p>a</p>\n{% if %}x{% endif %}"},
        )

    assert set(raised.value.errors) == {"subject", "html"}
    assert raised.value.errors["html"].startswith("Line 2: ")
    assert not TemplateRevision.objects.exists()


def test_a_marketing_email_without_an_unsubscribe_link_is_refused():
    with pytest.raises(TemplateError) as raised:
        email_template(html="<p>Buy now</p>")

    assert "unsubscribe" in raised.value.errors["html"]


def test_the_preference_link_counts_as_an_unsubscribe_link():
    template = email_template(html='<p>Buy</p><a href="{{ preferences_url }}">Preferences</a>')

    assert template.pk


def test_a_transactional_email_needs_no_unsubscribe_link():
    assert email_template(kind=MessageKind.TRANSACTIONAL, html="<p>Your receipt</p>").pk


def test_a_topic_of_another_channel_is_refused():
    with pytest.raises(TemplateError) as raised:
        email_template(topic=TopicFactory(key="sms-news", channel="sms"))

    assert "topic" in raised.value.errors


@pytest.mark.parametrize(
    ("channel", "content", "field"),
    [
        (Channel.SMS, {"body": ""}, "body"),
        (Channel.PUSH, {"title": "Hi", "body": "{% for %}"}, "body"),
        (Channel.MAIL, {"letter": "   "}, "letter"),
        (Channel.WEBHOOK, {"url": "https://hooks.example/x", "payload": "{not json"}, "payload"),
        (Channel.WEBHOOK, {"url": "ftp://x", "payload": "{}"}, "url"),
    ],
)
def test_every_channel_checks_its_fields(channel, content, field):
    with pytest.raises(TemplateError) as raised:
        template_save(name="x", channel=channel, kind=MessageKind.TRANSACTIONAL, content=content)

    assert field in raised.value.errors


def test_an_email_renders_subject_preheader_inlined_css_and_generated_text():
    # Given a newsletter and a profile
    delivery = sent_delivery(profile=ProfileFactory(first_name="Ada"))

    # When it is rendered for the delivery
    content = render_template(
        revision=delivery.template_revision, profile=delivery.profile, delivery_id=delivery.pk
    )

    # Then the subject is personalized, CSS is inlined, the preheader leads the body (hidden),
    # the text part is generated and the unsubscribe headers are there
    assert content["subject"] == "Hi Ada"
    assert '<p style="color: #123456;">Hello Ada</p>' in content["html"]
    assert content["html"].index("Spring is here") < content["html"].index("Hello Ada")
    assert content["text"].startswith("Hello Ada")
    assert "Spring sale (" in content["text"]
    assert content["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_written_text_part_is_kept():
    template = email_template(text="Plain {{ profile.first_name }}")

    content = render_template(
        revision=template_latest_revision(template), profile=ProfileFactory(first_name="Bo")
    )

    assert content["text"] == "Plain Bo"


def test_an_mjml_source_is_compiled_to_the_html():
    template = email_template(
        html="",
        mjml="<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ profile.first_name }} "
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text></mj-column></mj-section>'
        "</mj-body></mjml>",
    )

    content = render_template(
        revision=template_latest_revision(template), profile=ProfileFactory(first_name="Cy")
    )

    assert "Hi Cy" in content["html"] and "<table" in content["html"]


def test_an_sms_renders_its_body():
    template = template_save(name="s", channel=Channel.SMS, kind=MessageKind.TRANSACTIONAL,
                             content={"body": "Code for {{ profile.first_name }}: {{ data.code }}"})

    content = render_template(revision=template_latest_revision(template),
                              profile=ProfileFactory(first_name="Di"), data={"code": "42"})

    assert content == {"body": "Code for Di: 42"}


def test_render_delivery_renders_the_delivery_with_its_data_and_links():
    # Given a delivery of a template using request data, with bookkeeping keys in its data
    template = email_template(text="Order {{ data.order }}{{ data._inline }}")
    delivery = sent_delivery(template=template)
    delivery.data = {"order": "A-1", "_inline": "secret"}

    # When it is rendered for sending
    content = render_delivery(delivery, campaign={"name": "Spring"})

    # Then the data shows, bookkeeping does not, and the links are signed for this delivery
    assert content["text"] == "Order A-1"
    assert f"/u/{delivery.pk}." in content["headers"]["List-Unsubscribe"]


def test_html_to_text_keeps_links_and_drops_styles():
    text = html_to_text('<style>p{}</style><p>Hi</p><a href="https://x.example">Go</a>')

    assert text == "Hi\nGo (https://x.example)"


def test_a_seed_list_holds_at_most_100_valid_addresses():
    with pytest.raises(TemplateError):
        seed_list_save(name="big", addresses=[f"s{i}@example.com" for i in range(101)])
    with pytest.raises(TemplateError):
        seed_list_save(name="bad", addresses=["not-an-address"])

    assert seed_list_save(name="ok", addresses=["A@Example.com", "a@example.com"]).addresses == [
        "a@example.com"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("GSM-7", 1)),
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("a" * 306, ("GSM-7", 2)),
        ("a" * 307, ("GSM-7", 3)),
        ("€" * 80, ("GSM-7", 1)),  # an extension character takes two septets
        ("€" * 81, ("GSM-7", 2)),
        ("é" * 160, ("GSM-7", 1)),
        ("ê" * 70, ("UCS-2", 1)),
        ("ê" * 71, ("UCS-2", 2)),
        ("😀" * 35, ("UCS-2", 1)),  # a surrogate pair counts twice
        ("😀" * 36, ("UCS-2", 2)),
    ],
)
def test_sms_segments(text, expected):
    assert sms_segments(text) == expected
