"""Message templates: saving (validated, one revision per save), rendering per channel,
snippets, seed lists and proof sends.

A revision is immutable, so what it compiles to is cached by its id: a batch compiles once.
"""

from __future__ import annotations

import contextlib
import html as html_lib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import css_inline
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from liquid.exceptions import LiquidError

from channels import tracking
from channels.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    MessageKind,
    MessageTemplate,
    SeedList,
    SenderIdentity,
    Snippet,
    TemplateRevision,
    TrackedLink,
)
from channels.policy import email_is_valid
from channels.sms_encoding import sms_segments  # noqa: F401  (re-exported for the editor)
from channels.templating import (
    CompiledTemplate,
    TemplateRenderError,
    TemplateSyntaxError,
    check_template,
    compile_template,
    profile_context,
    snippets_changed,
)
from channels.unsubscribe import unsubscribe_headers, unsubscribe_token
from profiles.models import Topic

try:  # MJML is optional: without mjml-python, templates are written in HTML.
    from mjml import mjml2html
except ImportError:  # pragma: no cover
    mjml2html = None

SEED_LIST_MAX = 100


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    required: bool = False
    html: bool = False
    multiline: bool = False


# The content fields of each channel, in the order the editor shows them.
CHANNEL_FIELDS: dict[str, tuple[Field, ...]] = {
    Channel.EMAIL: (
        Field("subject", "Subject", required=True),
        Field("preheader", "Preheader"),
        Field("html", "HTML", html=True, multiline=True),
        Field("mjml", "MJML (optional; compiled to the HTML on save)", multiline=True),
        Field("text", "Plain text (generated from the HTML when empty)", multiline=True),
    ),
    Channel.SMS: (Field("body", "Message", required=True, multiline=True),),
    Channel.PUSH: (
        Field("title", "Title", required=True),
        Field("body", "Body", required=True, multiline=True),
        Field("url", "Link (opened on tap)"),
        Field("icon", "Icon URL"),
    ),
    Channel.MAIL: (Field("letter", "Letter text", required=True, multiline=True),),
    Channel.WEBHOOK: (
        Field("url", "URL", required=True),
        Field("payload", "JSON payload", required=True, multiline=True),
    ),
}
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
_UNSUBSCRIBE_LINK = re.compile(r"\{\{-?\s*(unsubscribe_url|preferences_url)\b")
_SAMPLE_DATA = {"profile": {"attributes": {}}, "campaign": {}, "data": {},
                "unsubscribe_url": "https://example.com/u/x",
                "preferences_url": "https://example.com/u/x"}


class TemplateError(ValueError):
    """A template that cannot be saved: `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


# --- saving ----------------------------------------------------------------------------------


def template_errors(*, channel: str, kind: str, content: dict[str, Any]) -> dict[str, str]:
    """Field → message (with the line of a Liquid error) for everything that would not work."""
    if channel not in CHANNEL_FIELDS:
        return {"channel": "Choose a channel."}
    errors: dict[str, str] = {}
    for field in CHANNEL_FIELDS[channel]:
        source = content.get(field.name, "") or ""
        if not isinstance(source, str):
            errors[field.name] = "Must be text."
            continue
        if field.required and not source.strip():
            errors[field.name] = "This field is required."
            continue
        if field.name == "mjml" and source.strip():
            error = _mjml_error(source)
            if error:
                errors[field.name] = error
            continue
        try:
            check_template(source, html=field.html)
        except TemplateSyntaxError as exc:
            errors[field.name] = str(exc)
    if channel == Channel.EMAIL:
        body = content.get("html", "") or content.get("mjml", "")
        if not body.strip() and "html" not in errors:
            errors["html"] = "Write the email's HTML (or MJML)."
        elif (
            kind == MessageKind.MARKETING and "html" not in errors
            and not _UNSUBSCRIBE_LINK.search(body)
        ):
            errors["html"] = (
                "A marketing email must contain an unsubscribe link: "
                "{{ unsubscribe_url }} or {{ preferences_url }}."
            )
        utm = content.get("utm") or {}
        if not isinstance(utm, dict) or any(k not in UTM_KEYS for k in utm):
            errors["utm"] = f"UTM parameters are {', '.join(UTM_KEYS)}."
    if channel == Channel.WEBHOOK and "payload" not in errors:
        errors.update(_payload_error(content.get("payload", "")))
    if channel == Channel.WEBHOOK and "url" not in errors:
        errors.update(_url_error("url", content.get("url", "")))
    return errors


def _mjml_error(source: str) -> str | None:
    if mjml2html is None:
        return "MJML is not available on this server; write HTML instead."
    try:
        mjml2html(source)
    except Exception as exc:  # noqa: BLE001  the compiler's errors have no common type
        return f"MJML: {exc}"
    return None


def _payload_error(source: str) -> dict[str, str]:
    try:
        rendered = compile_template(source).render(_SAMPLE_DATA)
        json.loads(rendered)
    except (ValueError, LiquidError) as exc:
        return {"payload": f"The payload must render to JSON: {exc}"}
    return {}


def _url_error(field: str, source: str) -> dict[str, str]:
    if "{{" in source or "{%" in source:
        return {}
    try:
        URLValidator(schemes=["https", "http"])(source)
    except ValidationError:
        return {field: "Enter a full http(s) URL."}
    return {}


def template_save(
    *,
    template: MessageTemplate | None = None,
    name: str,
    channel: str,
    kind: str = MessageKind.MARKETING,
    topic: Topic | None = None,
    sender: SenderIdentity | None = None,
    content: dict[str, Any],
) -> MessageTemplate:
    """Create or update a template and record its new revision (with its tracked links).

    Raises TemplateError with an error per field.
    """
    if template is not None:
        channel = template.channel  # a template's channel never changes: deliveries point at it
    content = _normalized(channel, content)
    errors = template_errors(channel=channel, kind=kind, content=content)
    if not name.strip():
        errors["name"] = "A name is required."
    if kind not in MessageKind.values:
        errors["kind"] = "Choose marketing or transactional."
    if topic is not None and topic.channel != channel:
        errors["topic"] = f"This topic belongs to the {topic.channel} channel."
    if errors:
        raise TemplateError(errors)
    if channel == Channel.EMAIL and content.get("mjml", "").strip():
        content["html"] = mjml2html(content["mjml"])
    with transaction.atomic():
        if template is None:
            template = MessageTemplate.objects.create(
                name=name.strip(), channel=channel, kind=kind, topic=topic, sender=sender,
                content=content, version=1,
            )
        else:
            MessageTemplate.objects.filter(pk=template.pk).update(
                name=name.strip(), kind=kind, topic=topic, sender=sender, content=content,
                version=F("version") + 1, updated_at=timezone.now(),
            )
            template.refresh_from_db()
        revision = TemplateRevision.objects.create(
            template=template, version=template.version, content=content
        )
        if channel == Channel.EMAIL:
            _track_links(revision, content)
    return template


def _normalized(channel: str, content: dict[str, Any]) -> dict[str, Any]:
    names = [f.name for f in CHANNEL_FIELDS.get(channel, ())]
    result: dict[str, Any] = {
        name: content.get(name, "") if isinstance(content.get(name, ""), str)
        else content.get(name)
        for name in names
    }
    if channel == Channel.EMAIL:
        utm = content.get("utm") or {}
        result["utm"] = (
            {k: str(v).strip() for k, v in utm.items() if str(v).strip()}
            if isinstance(utm, dict) else utm
        )
    return result


def _track_links(revision: TemplateRevision, content: dict[str, Any]) -> None:
    utm = content.get("utm") or {}
    TrackedLink.objects.bulk_create(
        TrackedLink(revision=revision, url=tracking.with_utm(url, utm), position=position)
        for position, url in enumerate(tracking.trackable_links(content.get("html", "")))
        if len(url) <= 2000
    )


def template_latest_revision(template: MessageTemplate) -> TemplateRevision:
    return template.revisions.get(version=template.version)


# --- rendering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    channel: str
    kind: str
    fields: dict[str, CompiledTemplate]
    links: dict[str, int]  # URL as written → TrackedLink id
    from_email: str
    reply_to: str


@lru_cache(maxsize=256)
def _compiled_revision(revision_id: int) -> _Compiled:
    revision = TemplateRevision.objects.select_related("template__sender").get(pk=revision_id)
    template = revision.template
    links = {}
    utm = revision.content.get("utm") or {}
    stored = {link.url: link.pk for link in revision.links.order_by("position")}
    for url in tracking.trackable_links(revision.content.get("html", "")):
        link_id = stored.get(tracking.with_utm(url, utm))
        if link_id is not None:
            links.setdefault(url, link_id)
    return _compile(
        channel=template.channel, kind=template.kind, content=revision.content, links=links,
        sender=template.sender,
    )


def _compile(*, channel, kind, content, links, sender) -> _Compiled:
    fields = {}
    for field in CHANNEL_FIELDS[channel]:
        source = content.get(field.name, "") or ""
        if field.name == "mjml" or not source.strip():
            continue
        fields[field.name] = compile_template(source, html=field.html)
    return _Compiled(
        channel=channel, kind=kind, fields=fields, links=links,
        from_email=str(sender) if sender else "", reply_to=sender.reply_to if sender else "",
    )


def render_template(
    *,
    revision: TemplateRevision,
    profile,
    data: dict[str, Any] | None = None,
    delivery_id: int | None = None,
    campaign: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The channel's rendered content for one profile (the `content` of an Outbound).

    The context is `profile` (profile_context, or empty for an address-only message),
    `campaign` (e.g. id and name), `data` (a transactional request's), `unsubscribe_url` and
    `preferences_url` (signed for the delivery).

    Email: subject, preheader, html (CSS inlined, links tracked, open pixel), text, headers
    (List-Unsubscribe for marketing), from_email and reply_to ("" = the default sender).
    Raises TemplateRenderError when the template fails for this profile (a limit, a snippet).
    """
    return _render(_compiled_revision(revision.pk), profile=profile, data=data,
                   delivery_id=delivery_id, campaign=campaign)


def render_delivery(
    delivery: Delivery, *, campaign: dict[str, Any] | None = None
) -> dict[str, Any]:
    """render_template for a Delivery of a template revision (what a send batch calls).

    Keys of `delivery.data` starting with "_" are bookkeeping, not render data.
    """
    data = {k: v for k, v in (delivery.data or {}).items() if not k.startswith("_")}
    return render_template(revision=delivery.template_revision, profile=delivery.profile,
                           data=data, delivery_id=delivery.pk, campaign=campaign)


def render_preview(
    *, channel: str, kind: str, content: dict[str, Any], profile, sender=None
) -> dict[str, Any]:
    """Render unsaved content for a profile (the editor's preview): no tracking, no cache."""
    content = _normalized(channel, content)
    if channel == Channel.EMAIL and content.get("mjml", "").strip() and mjml2html:
        content["html"] = mjml2html(content["mjml"])
    try:
        compiled = _compile(channel=channel, kind=kind, content=content, links={}, sender=sender)
    except TemplateSyntaxError as exc:
        raise TemplateRenderError(str(exc)) from exc
    return _render(compiled, profile=profile, data=None, delivery_id=None, campaign=None)


def _render(compiled: _Compiled, *, profile, data, delivery_id, campaign) -> dict[str, Any]:
    token = unsubscribe_token(delivery_id) if delivery_id else ""
    link = (tracking.public_url("unsubscribe", token) if delivery_id
            else tracking.absolute_url("/u/preview"))
    context = {
        "profile": profile_context(profile) if profile is not None else {"attributes": {}},
        "campaign": campaign or {},
        "data": data or {},
        "unsubscribe_url": link,
        "preferences_url": link,
    }
    rendered = {name: template.render_safely(context) for name, template in compiled.fields.items()}
    if compiled.channel != Channel.EMAIL:
        return {f.name: rendered.get(f.name, "") for f in CHANNEL_FIELDS[compiled.channel]}
    return _email(compiled, rendered, delivery_id=delivery_id, token=token)


_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)


def _email(compiled: _Compiled, rendered: dict[str, str], *, delivery_id, token) -> dict[str, Any]:
    body = rendered.get("html", "")
    preheader = " ".join(rendered.get("preheader", "").split())
    if delivery_id:
        body = tracking.rewrite_links(body, delivery_id=delivery_id, links=compiled.links)
    text = rendered.get("text", "").strip() or html_to_text(body)
    if preheader:
        body = _with_preheader(body, preheader)
    with contextlib.suppress(ValueError):  # CSS it cannot parse: send the HTML as written
        body = _INLINER.inline(body)
    if delivery_id:
        body = tracking.append_open_pixel(body, delivery_id=delivery_id)
    return {
        "subject": " ".join(rendered.get("subject", "").split()),
        "preheader": preheader,
        "html": body,
        "text": text,
        "headers": unsubscribe_headers(delivery_id=delivery_id, kind=compiled.kind, token=token)
        if delivery_id else {},
        "from_email": compiled.from_email,
        "reply_to": compiled.reply_to,
    }


def _with_preheader(body: str, preheader: str) -> str:
    span = (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">'
        f"{html_lib.escape(preheader)}</div>"
    )
    match = re.search(r"<body[^>]*>", body, re.IGNORECASE)
    if match is None:
        return span + body
    return body[: match.end()] + span + body[match.end():]


_BLANK_LINES = re.compile(r"\n\s*\n+")
_COMMENTS = re.compile(r"<!--.*?-->", re.DOTALL)
_TAGS = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t]+")


def html_to_text(body: str) -> str:
    """A readable plain-text alternative for clients that do not show HTML."""
    body = re.sub(r"(?is)<(style|script|head|title)[^>]*>.*?</\1>", "", body)
    body = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</h[1-6]>|</li>|</tr>", "\n", body)
    body = re.sub(r'(?is)<a\s[^>]*href="([^"]+)"[^>]*>(.*?)</a>', r"\2 (\1)", body)
    # A plain-text part is never parsed as HTML, so a regex is enough (strip_tags' HTMLParser
    # took a third of a render).
    text = html_lib.unescape(_TAGS.sub("", _COMMENTS.sub("", body)))
    text = _SPACES.sub(" ", text)
    return _BLANK_LINES.sub("\n\n", "\n".join(line.strip() for line in text.splitlines())).strip()


# --- snippets and seed lists -----------------------------------------------------------------


def snippet_save(*, snippet: Snippet | None = None, key: str, content: str) -> Snippet:
    errors: dict[str, str] = {}
    if not re.fullmatch(r"[-a-zA-Z0-9_]{1,64}", key or ""):
        errors["key"] = "Use letters, digits, - and _ (at most 64)."
    elif Snippet.objects.filter(key=key).exclude(pk=snippet.pk if snippet else None).exists():
        errors["key"] = "Another snippet has this key."
    try:
        check_template(content, html=True)
    except TemplateSyntaxError as exc:
        errors["content"] = str(exc)
    if errors:
        raise TemplateError(errors)
    snippet = snippet or Snippet()
    snippet.key, snippet.content = key, content
    snippet.save()
    transaction.on_commit(snippets_changed)
    return snippet


def seed_list_save(
    *, seed_list: SeedList | None = None, name: str, addresses: list[str]
) -> SeedList:
    errors: dict[str, str] = {}
    cleaned = list(dict.fromkeys(a.strip().lower() for a in addresses if a.strip()))
    if not name.strip():
        errors["name"] = "A name is required."
    if not cleaned:
        errors["addresses"] = "Add at least one address."
    elif len(cleaned) > SEED_LIST_MAX:
        errors["addresses"] = f"A seed list holds at most {SEED_LIST_MAX} addresses."
    else:
        bad = [a for a in cleaned if not email_is_valid(a)]
        if bad:
            errors["addresses"] = f"Not an email address: {', '.join(bad[:5])}"
    if errors:
        raise TemplateError(errors)
    seed_list = seed_list or SeedList()
    seed_list.name, seed_list.addresses = name.strip(), cleaned
    seed_list.save()
    return seed_list


# --- proofs ----------------------------------------------------------------------------------


def proofs_send(*, revision: TemplateRevision, seed_list: SeedList, profile=None) -> dict[str, int]:
    """Send an email template's proof to a seed list, rendered for `profile`; counts of sent
    and failed. Only email has seed lists (of email addresses)."""
    if revision.template.channel != Channel.EMAIL:
        raise TemplateError({"channel": "Proofs go to email seed lists: preview other channels."})
    deliveries = proof_deliveries_create(revision=revision, seed_list=seed_list, profile=profile)
    return proofs_send_email(deliveries=deliveries, profile=profile)


def proof_deliveries_create(
    *, revision: TemplateRevision, seed_list: SeedList, profile=None
) -> list[Delivery]:
    """One proof Delivery per seed address (is_proof: kept out of reports and exempt from
    consent and caps). The seeds are not profiles: the delivery has none, so its unsubscribe
    link changes nobody's consent; the profile rendered for is noted in `data`."""
    addresses = list(seed_list.addresses)[:SEED_LIST_MAX]
    template = revision.template
    now = timezone.now()
    # Created already claimed (sending): this request sends them, and the sweep, which sends
    # queued deliveries outside campaigns, must never pick them up as well. A crash mid-send
    # leaves them to the lease, which marks them unknown — never sent twice.
    return Delivery.objects.bulk_create(
        Delivery(
            channel=template.channel, address=address, kind=template.kind, is_proof=True,
            template_revision=revision, data={"_proof_profile_id": profile.pk if profile else None},
            status=DeliveryStatus.SENDING, claimed_at=now,
        )
        for address in addresses
    )


def proofs_send_email(*, deliveries: list[Delivery], profile=None) -> dict[str, int]:
    """Send email proofs now, over one connection of the email backend (CHANNEL_BACKENDS),
    not through the pipeline: its renderer knows neither the profile chosen for a proof nor
    the [Proof] subject. Returns counts of sent and failed; an unreachable server fails all.
    """
    from channels.backends.base import DeliveryError, get_backend
    from channels.sending import Outcome, deliveries_record

    now = timezone.now()
    results: dict[int, tuple[str, str]] = {}  # delivery id → (status, message id or error)
    try:
        with get_backend(Channel.EMAIL) as backend:
            for delivery in deliveries:
                try:
                    sent_id = _send_proof(backend, delivery, profile)
                    results[delivery.pk] = (DeliveryStatus.SENT, sent_id)
                except (DeliveryError, TemplateRenderError) as exc:
                    results[delivery.pk] = (DeliveryStatus.FAILED, str(exc)[:2000])
    except DeliveryError as exc:  # the server could not be reached: nothing left
        for delivery in deliveries:
            results.setdefault(delivery.pk, (DeliveryStatus.FAILED, str(exc)[:2000]))
    # Recorded as the pipeline records a batch: one UPDATE and one log insert.
    deliveries_record([
        Outcome(delivery_id, status, provider_message_id=detail)
        if status == DeliveryStatus.SENT else Outcome(delivery_id, status, error=detail)
        for delivery_id, (status, detail) in results.items()
    ], now=now)
    sent = sum(1 for status, _ in results.values() if status == DeliveryStatus.SENT)
    return {"sent": sent, "failed": len(results) - sent}


def _send_proof(backend, delivery: Delivery, profile) -> str:
    from channels.backends.base import Outbound
    from channels.sending import delivery_message_id

    content = render_template(
        revision=delivery.template_revision, profile=profile, delivery_id=delivery.pk
    )
    content["subject"] = f"[Proof] {content['subject']}"
    return backend.send(Outbound(
        delivery_id=delivery.pk, channel=Channel.EMAIL, address=delivery.address,
        content=content, message_id=delivery_message_id(delivery.pk, Channel.EMAIL),
    ))
