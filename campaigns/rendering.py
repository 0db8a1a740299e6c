"""A send-email step's content, compiled once and rendered per profile."""

from __future__ import annotations

from django.conf import settings

from channels.backends.base import EmailContent
from channels.rendering import DeliveryRenderer, html_to_text
from channels.templating import check_template, compile_template, profile_context
from channels.tracking import absolute_url
from channels.unsubscribe import email_headers, unsubscribe_url

__all__ = ["StepRenderer", "html_to_text", "step_content_errors", "step_renderer"]


def step_content_errors(*, subject: str, html_body: str, text_body: str) -> dict[str, str]:
    """Field → message for every template that would not render (empty dict when fine)."""
    errors: dict[str, str] = {}
    if not subject.strip():
        errors["subject"] = "A subject is required."
    if not html_body.strip():
        errors["html_body"] = "An email body is required."
    for field, source, is_html in (
        ("subject", subject, False),
        ("html_body", html_body, True),
        ("text_body", text_body, False),
    ):
        if field in errors:
            continue
        try:
            check_template(source, html=is_html)
        except ValueError as exc:
            errors[field] = str(exc)
    return errors


class StepRenderer:
    """An inline (pre-template) email step, compiled once: `render(profile)` for previews,
    `renderer(delivery)` as the sending pipeline's content function."""

    def __init__(self, step):
        self._campaign = {"id": step.campaign_id, "name": step.campaign.name}
        self._subject = compile_template(step.subject)
        self._html = compile_template(step.html_body, html=True)
        self._text = compile_template(step.text_body) if step.text_body.strip() else None

    def render(self, profile, delivery_id: int | None = None) -> EmailContent:
        # An inline email is a marketing email: its unsubscribe link (required at publish)
        # is the delivery's, or the preview page's before any delivery exists.
        link = unsubscribe_url(delivery_id) if delivery_id else absolute_url("/u/preview")
        context = {"profile": profile_context(profile), "campaign": self._campaign,
                   "unsubscribe_url": link, "preferences_url": link}
        body = self._html.render(context)
        text = self._text.render(context) if self._text else html_to_text(body)
        subject = " ".join(self._subject.render(context).split())
        return EmailContent(subject=subject, html=body, text=text)

    def __call__(self, delivery) -> dict:
        content = self.render(delivery.profile, delivery.pk)
        return {"subject": content.subject, "html": content.html, "text": content.text,
                "headers": email_headers(delivery), "from_email": settings.DEFAULT_FROM_EMAIL}


def step_renderer(step):
    """The content function for a step's deliveries: its template's revisions (each
    delivery names the one it was created with), or its inline email."""
    if step.template_id:
        return DeliveryRenderer(campaign={"id": step.campaign_id, "name": step.campaign.name})
    return StepRenderer(step)
