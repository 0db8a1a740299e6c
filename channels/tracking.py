"""Opens, clicks and the signed tokens every public link carries.

A token is `<ids>.<hmac>`: the ids it names (a delivery, a link) and an HMAC-SHA256 over them
keyed by SECRET_KEY and salted per purpose, compared in constant time. Lower-case hex only, so
a token also survives in an email local part (the List-Unsubscribe mailto) and in a URL.
A click goes to the URL stored for the (delivery, link id) pair: never to one from the request.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from channels.models import Delivery, DeliveryEvent, DeliveryStatus, TrackedLink

_SALT = "itinera.channels.token."
_TOKEN = re.compile(r"^(\d{1,19}(?:-\d{1,19})*)\.([0-9a-f]{32})$")
# Statuses an open (or a click) may move a delivery on from: never backwards from a click,
# a bounce, a complaint or an unsubscribe.
OPENABLE = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
CLICKABLE = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.OPENED)
_HREF = re.compile(r"""(\shref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


def sign_token(purpose: str, *ids: int) -> str:
    payload = "-".join(str(int(i)) for i in ids)
    return f"{payload}.{_signature(purpose, payload)}"


def read_token(purpose: str, token: str, *, count: int) -> tuple[int, ...] | None:
    """The ids a genuine token names, or None for anything forged, altered or malformed."""
    match = _TOKEN.match((token or "").lower())
    if not match:
        return None
    payload, signature = match.groups()
    if not constant_time_compare(signature, _signature(purpose, payload)):
        return None
    ids = tuple(int(part) for part in payload.split("-"))
    return ids if len(ids) == count else None


def _signature(purpose: str, payload: str) -> str:
    # salted_hmac's construction (key = sha256(salt + SECRET_KEY)), with the key derived once:
    # a render signs several links and this runs per message.
    mac = _keyed(_SALT + purpose, settings.SECRET_KEY).copy()
    mac.update(payload.encode())
    return mac.hexdigest()[:32]


@lru_cache(maxsize=16)
def _keyed(salt: str, secret: str):
    return hmac.new(hashlib.sha256((salt + secret).encode()).digest(), digestmod=hashlib.sha256)


def absolute_url(path: str) -> str:
    return settings.BASE_URL + path


def public_url(name: str, token: str) -> str:
    """The absolute URL of a public route for a token (reverse() once per route, not per
    message: a render builds several)."""
    prefix, suffix = _route(name)
    return f"{settings.BASE_URL}{prefix}{token}{suffix}"


@lru_cache(maxsize=8)
def _route(name: str) -> tuple[str, str]:
    path = reverse(name, args=["TOKEN"])
    prefix, _, suffix = path.partition("TOKEN")
    return prefix, suffix


def open_pixel_url(delivery_id: int) -> str:
    return public_url("track_open", sign_token("open", delivery_id))


def click_url(delivery_id: int, link_id: int) -> str:
    return public_url("track_click", sign_token("click", delivery_id, link_id))


# --- at save: the links of a revision ---------------------------------------------------------


def trackable_links(source_html: str) -> list[str]:
    """The absolute http(s) links written literally in a template's HTML, in order.

    A link with Liquid in it differs per profile; it is left as written (not tracked).
    """
    links = []
    for _, _, raw in _HREF.findall(source_html):
        url = html.unescape(raw).strip()
        if "{{" in url or "{%" in url or not _is_web_url(url):
            continue
        links.append(url)
    return links


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and "\\" not in url


def with_utm(url: str, utm: dict[str, str]) -> str:
    """The URL with the template's UTM parameters, keeping any the link already sets."""
    if not utm:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    query += [(key, value) for key, value in utm.items() if key not in present and value]
    return urlunsplit(parts._replace(query=urlencode(query)))


# --- at render: rewriting --------------------------------------------------------------------


def rewrite_links(rendered_html: str, *, delivery_id: int, links: dict[str, int]) -> str:
    """Point each tracked link (URL as written → TrackedLink id) at its click redirect."""
    if not links:
        return rendered_html

    def replace(match: re.Match) -> str:
        prefix, quote, raw = match.groups()
        link_id = links.get(html.unescape(raw).strip())
        if link_id is None:
            return match.group(0)
        return f"{prefix}{quote}{html.escape(click_url(delivery_id, link_id))}{quote}"

    return _HREF.sub(replace, rendered_html)


def append_open_pixel(rendered_html: str, *, delivery_id: int) -> str:
    pixel = (
        f'<img src="{html.escape(open_pixel_url(delivery_id))}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px">'
    )
    closing = rendered_html.lower().rfind("</body>")
    if closing < 0:
        return rendered_html + pixel
    return rendered_html[:closing] + pixel + rendered_html[closing:]


# --- on a request ----------------------------------------------------------------------------


def open_record(*, token: str) -> bool:
    """Record the first open of a genuine token's delivery; False for a bad token."""
    ids = read_token("open", token, count=1)
    if ids is None:
        return False
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=ids[0]).first()
        if delivery is None:
            return False
        _log_once(delivery, DeliveryStatus.OPENED, moves_from=OPENABLE)
    return True


def click_record(*, token: str) -> str | None:
    """The stored URL a genuine click token leads to (logging the click), or None."""
    ids = read_token("click", token, count=2)
    if ids is None:
        return None
    delivery_id, link_id = ids
    link = (
        TrackedLink.objects.filter(
            pk=link_id, revision__isnull=False,
            revision_id__in=Delivery.objects.filter(pk=delivery_id).values("template_revision"),
        )
        .only("url")
        .first()
    )
    if link is None or not _is_web_url(link.url):
        return None
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        _log_once(delivery, DeliveryStatus.CLICKED, moves_from=CLICKABLE, detail=link.url)
    return link.url


def _log_once(delivery: Delivery, status: str, *, moves_from: tuple, **match: str) -> None:
    """Log `status` once per delivery (and per `match`, e.g. a click's URL), then move the
    delivery on to it if it is still at one of `moves_from` (the caller holds its row lock)."""
    if not delivery.events.filter(status=status, **match).exists():
        DeliveryEvent.objects.create(
            delivery=delivery, status=status, occurred_at=timezone.now(), **match
        )
    Delivery.objects.filter(pk=delivery.pk, status__in=moves_from).update(
        status=status, updated_at=timezone.now()
    )
