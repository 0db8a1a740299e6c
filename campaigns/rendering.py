"""A send-email step's content, compiled once and rendered per profile."""

from __future__ import annotations

import html
import re

from django.utils.html import strip_tags

from channels.backends.base import EmailContent
from channels.templating import check_template, compile_template, profile_context

_BLANK_LINES = re.compile(r"\n\s*\n+")
_SPACES = re.compile(r"[ \t]+")


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
    def __init__(self, step):
        self._campaign = {"id": step.campaign_id, "name": step.campaign.name}
        self._subject = compile_template(step.subject)
        self._html = compile_template(step.html_body, html=True)
        self._text = compile_template(step.text_body) if step.text_body.strip() else None

    def render(self, profile) -> EmailContent:
        context = {"profile": profile_context(profile), "campaign": self._campaign}
        body = self._html.render(context)
        text = self._text.render(context) if self._text else html_to_text(body)
        subject = " ".join(self._subject.render(context).split())
        return EmailContent(subject=subject, html=body, text=text)


def html_to_text(body: str) -> str:
    """A readable plain-text alternative for clients that do not show HTML."""
    body = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</h[1-6]>|</li>|</tr>", "\n", body)
    body = re.sub(r'(?is)<a\s[^>]*href="([^"]+)"[^>]*>(.*?)</a>', r"\2 (\1)", body)
    body = re.sub(r"(?is)<(style|script)[^>]*>.*?</\1>", "", body)
    text = html.unescape(strip_tags(body))
    text = _SPACES.sub(" ", text)
    return _BLANK_LINES.sub("\n\n", "\n".join(line.strip() for line in text.splitlines())).strip()
