"""Saved email templates and their deliveries, for the template, tracking and unsubscribe tests."""

from __future__ import annotations

from channels.message_templates import template_latest_revision, template_save
from channels.models import Channel, Delivery, DeliveryStatus, MessageKind
from tests.factories import ProfileFactory

NEWSLETTER_HTML = (
    "<html><head><style>p { color: #123456 }</style></head><body>"
    "<p>Hello {{ profile.first_name }}</p>"
    '<p><a href="https://shop.example/spring?x=1&amp;y=2">Spring sale</a></p>'
    '<p><a href="https://shop.example/profile/{{ profile.external_id }}">Your page</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
    "</body></html>"
)


def email_template(*, html: str = NEWSLETTER_HTML, kind: str = MessageKind.MARKETING,
                   topic=None, utm: dict | None = None, **content):
    return template_save(
        name="Newsletter", channel=Channel.EMAIL, kind=kind, topic=topic, sender=None,
        content={"subject": "Hi {{ profile.first_name }}", "preheader": "Spring is here",
                 "html": html, "text": "", "utm": utm or {}, **content},
    )


def sent_delivery(*, template=None, profile=None, status: str = DeliveryStatus.SENT) -> Delivery:
    """A delivery of the template's latest revision, as the pipeline leaves it once sent."""
    template = template or email_template()
    profile = profile or ProfileFactory()
    return Delivery.objects.create(
        profile=profile, channel=template.channel, address=profile.email, status=status,
        kind=template.kind, template_revision=template_latest_revision(template),
    )
