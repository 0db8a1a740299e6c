"""Rendering a delivery's content from its template revision (or a transactional request's
inline content), for any channel. A revision is compiled once per process (message_templates
caches it by id: revisions are immutable) and rendered per delivery.

The context is curated (channels.templating): `profile` (fields and attributes), `campaign`
(id, name) and `data` (a transactional request's extra data).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from channels.message_templates import html_to_text, render_template
from channels.models import Channel, Delivery, MessageTemplate, TemplateRevision
from channels.templating import CompiledTemplate, compile_template, profile_context
from profiles.models import Profile

__all__ = ["CompiledContent", "DeliveryRenderer", "delivery_context", "html_to_text",
           "template_revision_current"]

# Reserved keys of Delivery.data (a transactional request's): its inline content and its
# fingerprint (channels.messages). Everything else there is the request's `data`.
INLINE_KEY, REQUEST_KEY = "_inline", "_request"


def template_revision_current(*, template: MessageTemplate) -> TemplateRevision:
    """The revision of the template's current version, created the first time it is used."""
    revision, _ = TemplateRevision.objects.get_or_create(
        template=template, version=template.version, defaults={"content": template.content}
    )
    return revision


class CompiledContent:
    """One content dict (channel fields → Liquid source) compiled once."""

    def __init__(self, channel: str, content: dict[str, Any], *, sender=None):
        self.channel = channel
        self._sender = sender
        self._fields: dict[str, CompiledTemplate] = {}
        self._static: dict[str, Any] = {}
        for field, value in content.items():
            if field == "mjml":
                continue  # the html field holds what MJML compiled to
            if isinstance(value, str):
                is_html = channel == Channel.EMAIL and field == "html"
                self._fields[field] = compile_template(value, html=is_html)
            else:
                self._static[field] = value

    def render(self, context: dict[str, Any]) -> dict[str, Any]:
        out = dict(self._static)
        out.update((field, t.render(context)) for field, t in self._fields.items())
        if self.channel == Channel.EMAIL:
            out["subject"] = " ".join(out.get("subject", "").split())
            if not out.get("text", "").strip():
                out["text"] = html_to_text(out.get("html", ""))
            if self._sender is not None:
                out["from_email"] = f"{self._sender.from_name} <{self._sender.from_email}>"
                if self._sender.reply_to:
                    out["reply_to"] = self._sender.reply_to
            else:
                out.setdefault("from_email", settings.DEFAULT_FROM_EMAIL)
        return out


class DeliveryRenderer:
    """`renderer(delivery) -> content`: from the delivery's template revision, or from the
    inline content a transactional request stored in `delivery.data["_inline"]`."""

    def __init__(self, *, campaign: dict[str, Any] | None = None):
        self._campaign = campaign or {}
        self._proof_profiles: dict[int, Profile | None] = {}

    def __call__(self, delivery: Delivery) -> dict[str, Any]:
        data = delivery.data or {}
        if delivery.template_revision_id:
            # As message_templates renders a saved template: CSS inlined, links tracked, open
            # pixel, List-Unsubscribe for marketing; compiled once per revision (cached).
            # (An unsaved stand-in for the revision: render_template needs its id only, and
            # reading delivery.template_revision would cost a query per message.)
            content = render_template(
                revision=TemplateRevision(pk=delivery.template_revision_id),
                profile=self._profile(delivery), data=delivery_context(delivery)["data"],
                delivery_id=delivery.id, campaign=self._campaign,
            )
        elif data.get(INLINE_KEY):
            compiled = CompiledContent(delivery.channel, data[INLINE_KEY])
            content = compiled.render(delivery_context(delivery, campaign=self._campaign))
        else:
            raise ValueError("The delivery has neither a template nor content.")
        if delivery.is_proof and content.get("subject"):
            content["subject"] = f"[Proof] {content['subject']}"
        return content

    def _profile(self, delivery: Delivery) -> Profile | None:
        if delivery.profile_id is not None:
            return delivery.profile
        # A proof goes to a seed address, rendered for the profile the marketer chose.
        chosen = (delivery.data or {}).get("proof_profile_id") if delivery.is_proof else None
        if chosen is None:
            return None
        if chosen not in self._proof_profiles:
            self._proof_profiles[chosen] = Profile.objects.filter(pk=chosen).first()
        return self._proof_profiles[chosen]


def delivery_context(delivery: Delivery, *, campaign: dict[str, Any] | None = None) -> dict:
    if delivery.profile_id is not None:
        profile = profile_context(delivery.profile)
    else:  # an address-only transactional message or a proof
        profile = {"attributes": {},
                   "email": delivery.address if delivery.channel == Channel.EMAIL else "",
                   "phone": delivery.address if delivery.channel == Channel.SMS else ""}
    # Keys starting with "_" are bookkeeping (INLINE_KEY, REQUEST_KEY), not render data.
    data = {k: v for k, v in (delivery.data or {}).items() if not k.startswith("_")}
    return {"profile": profile, "campaign": campaign or {}, "data": data}
