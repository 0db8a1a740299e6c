"""Unsubscribing (RFC 8058 one-click) and the preference center behind a delivery's token.

Every marketing email names `List-Unsubscribe: <https://…/u/<token>>, <mailto:…>` and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`. A POST to the link unsubscribes at once,
with no login or cookie (mail providers post it for the recipient); a GET only shows a page,
because link scanners fetch every URL of a message and must not unsubscribe anyone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from channels.models import Delivery, DeliveryEvent, DeliveryStatus, MessageKind
from channels.tracking import public_url, read_token, sign_token
from profiles.consent import ConsentUpdate, consent_set
from profiles.models import Consent, ConsentChannel, ConsentState, Topic

SOURCE = "unsubscribe"
PURPOSE = "unsubscribe"


def unsubscribe_url(delivery_id: int) -> str:
    return public_url("unsubscribe", unsubscribe_token(delivery_id))


def _mailto(token: str) -> str:
    domain = getattr(settings, "UNSUBSCRIBE_MAILTO_DOMAIN", "") or (
        urlsplit(settings.BASE_URL).hostname or "localhost"
    )
    return f"mailto:unsubscribe+{token}@{domain}"


def email_headers(delivery: Delivery) -> dict[str, str]:
    """The RFC 8058 headers a marketing email carries ({} for a transactional one)."""
    return unsubscribe_headers(delivery_id=delivery.pk, kind=delivery.kind)


def unsubscribe_token(delivery_id: int) -> str:
    return sign_token(PURPOSE, delivery_id)


def unsubscribe_headers(*, delivery_id: int, kind: str, token: str | None = None) -> dict[str, str]:
    if kind != MessageKind.MARKETING:
        return {}
    token = token or unsubscribe_token(delivery_id)
    links = f"<{public_url('unsubscribe', token)}>, <{_mailto(token)}>"
    return {
        "List-Unsubscribe": links,
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def delivery_for_token(token: str) -> Delivery | None:
    ids = read_token(PURPOSE, token, count=1)
    if ids is None:
        return None
    return (
        Delivery.objects.select_related("profile", "template_revision__template__topic")
        .filter(pk=ids[0])
        .first()
    )


_MAILTO_LOCAL = re.compile(r"^unsubscribe\+([^@]+)@", re.IGNORECASE)


def unsubscribe_from_address(recipient: str) -> bool:
    """Unsubscribe for a mail sent to the List-Unsubscribe mailto (`unsubscribe+<token>@…`),
    for whatever receives that mailbox (an inbound-mail webhook). False for a bad token."""
    match = _MAILTO_LOCAL.match(recipient.strip().strip("<>"))
    delivery = delivery_for_token(match.group(1)) if match else None
    if delivery is None:
        return False
    unsubscribe(delivery=delivery)
    return True


def _scope(delivery: Delivery) -> tuple[str | None, Topic | None]:
    """The consent channel and topic an unsubscribe from this delivery applies to."""
    channel = delivery.channel if delivery.channel in ConsentChannel.values else None
    revision = delivery.template_revision
    topic = revision.template.topic if revision is not None else None
    if topic is not None and topic.channel != channel:
        topic = None
    return channel, topic


def unsubscribe(*, delivery: Delivery) -> bool:
    """Opt the profile out of the delivery's topic (or its channel without one); idempotent.

    Returns True when something changed.
    """
    channel, topic = _scope(delivery)
    if delivery.profile is None or channel is None:
        return False
    with transaction.atomic():
        changed = consent_set(
            profile=delivery.profile,
            update=ConsentUpdate(
                channel=channel, state=ConsentState.OPTED_OUT,
                topic=topic.key if topic else None, source=SOURCE,
            ),
        )
        if not delivery.events.filter(status=DeliveryStatus.UNSUBSCRIBED).exists():
            DeliveryEvent.objects.create(
                delivery=delivery, status=DeliveryStatus.UNSUBSCRIBED,
                occurred_at=timezone.now(), detail=f"topic {topic.key}" if topic else channel,
            )
            Delivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.UNSUBSCRIBED, updated_at=timezone.now()
            )
    return changed


@dataclass(frozen=True)
class TopicChoice:
    key: str
    name: str
    description: str
    subscribed: bool


def preferences(*, delivery: Delivery) -> list[TopicChoice]:
    """The topics of the delivery's channel, with whether the profile gets each."""
    channel, _ = _scope(delivery)
    if delivery.profile is None or channel is None:
        return []
    # The profile's topic states on the channel in one query, not one per topic.
    states = dict(
        Consent.objects.filter(profile=delivery.profile, channel=channel, topic__isnull=False)
        .values_list("topic_id", "state")
    )
    return [
        TopicChoice(
            key=topic.key, name=topic.name, description=topic.description,
            subscribed=states.get(topic.pk) != ConsentState.OPTED_OUT,
        )
        for topic in Topic.objects.filter(channel=channel).order_by("name")
    ]


def preferences_save(*, delivery: Delivery, subscribed: set[str]) -> int:
    """Turn topics on or off as ticked; returns how many changed.

    Only a topic whose box differs from what the page showed changes: leaving a box as it was
    never turns an unknown consent into an opt-in.
    """
    channel, _ = _scope(delivery)
    if delivery.profile is None or channel is None:
        return 0
    changed = 0
    for choice in preferences(delivery=delivery):
        wanted = choice.key in subscribed
        if wanted == choice.subscribed:
            continue
        state = ConsentState.OPTED_IN if wanted else ConsentState.OPTED_OUT
        changed += consent_set(
            profile=delivery.profile,
            update=ConsentUpdate(channel=channel, state=state, topic=choice.key, source=SOURCE),
        )
    return changed
