"""Consent: the single source the delivery policy reads.

A profile's consent is kept per channel (email, sms, push, mail) and per topic on a channel.
Each change updates the current row and appends to the history, in one transaction. What an
unknown consent means is the channel's regime (settings.CONSENT_REGIMES): "opt_out" channels
may send until the profile opts out, "opt_in" channels only after an explicit opt-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from profiles.models import Consent, ConsentChange, ConsentChannel, ConsentState, Profile, Topic


class ConsentError(ValueError):
    pass


@dataclass(frozen=True)
class ConsentUpdate:
    channel: str
    state: str
    topic: str | None = None  # a Topic key
    source: str = ""
    occurred_at: datetime | None = None


def consent_set(*, profile: Profile, update: ConsentUpdate) -> bool:
    """Apply one consent change; return True when the state changed (history appended)."""
    channel, state = update.channel, update.state
    if channel not in ConsentChannel.values:
        choices = ", ".join(ConsentChannel.values)
        raise ConsentError(f"Unknown channel {channel!r}: use one of {choices}.")
    if state not in ConsentState.values:
        raise ConsentError(f"Unknown state {state!r}: use one of {', '.join(ConsentState.values)}.")
    topic = _topic(update.topic) if update.topic else None
    if topic is not None and topic.channel != channel:
        raise ConsentError(f"Topic {topic.key!r} belongs to the {topic.channel} channel.")
    when = update.occurred_at or timezone.now()
    with transaction.atomic():
        current = (
            Consent.objects.select_for_update()
            .filter(profile=profile, channel=channel, topic=topic)
            .first()
        )
        previous = current.state if current else ConsentState.UNKNOWN
        if previous == state:
            return False
        Consent.objects.update_or_create(
            profile=profile, channel=channel, topic=topic,
            defaults={"state": state, "source": update.source, "updated_at": when},
        )
        ConsentChange.objects.create(
            profile=profile, channel=channel, topic=topic, state=state,
            previous_state=previous, source=update.source, occurred_at=when,
        )
    return True


def _topic(key: str) -> Topic:
    topic = Topic.objects.filter(key=key).first()
    if topic is None:
        raise ConsentError(f"Unknown topic {key!r}.")
    return topic


def consent_state(*, profile: Profile, channel: str, topic: Topic | None = None) -> str:
    row = Consent.objects.filter(profile=profile, channel=channel, topic=topic).first()
    return row.state if row else ConsentState.UNKNOWN


def consent_allows(*, profile: Profile, channel: str, topic: Topic | None = None) -> bool:
    """May this channel (and topic) reach the profile? Opt-out of the channel beats a topic."""
    states = dict(
        # The channel row (topic NULL) and the topic's row; `topic__in=[None, …]` would never
        # match NULL.
        Consent.objects.filter(Q(topic__isnull=True) | Q(topic=topic), profile=profile,
                               channel=channel)
        .values_list("topic_id", "state")
    )
    return _allows(channel, topic, states)


ALLOWED, OPTED_OUT, NO_CONSENT = "allowed", "opted_out", "no_consent"


def consent_decision(*, channel: str, channel_state: str | None, topic_state: str | None,
                     has_topic: bool) -> str:
    """The consent rules on already-read states (None = no row = unknown): an opt-out of the
    channel beats a topic; a topic's explicit state beats the channel's; otherwise the
    channel's opt-in, else its regime. ALLOWED, OPTED_OUT (someone said no) or NO_CONSENT."""
    channel_state = channel_state or ConsentState.UNKNOWN
    topic_state = topic_state or ConsentState.UNKNOWN
    if channel_state == ConsentState.OPTED_OUT:
        return OPTED_OUT
    if has_topic and topic_state != ConsentState.UNKNOWN:
        return ALLOWED if topic_state == ConsentState.OPTED_IN else OPTED_OUT
    if channel_state == ConsentState.OPTED_IN:
        return ALLOWED
    if settings.CONSENT_REGIMES.get(channel, "opt_in") == "opt_out":
        return ALLOWED
    return NO_CONSENT


def _allows(channel: str, topic: Topic | None, states: dict[int | None, str]) -> bool:
    """consent_allows on already-read states: topic id (None for the channel's row) → state."""
    return consent_decision(
        channel=channel, channel_state=states.get(None),
        topic_state=states.get(topic.pk) if topic is not None else None,
        has_topic=topic is not None,
    ) == ALLOWED


def consent_summary(*, profile: Profile) -> list[dict]:
    """Every channel and topic with its state and whether sending is allowed, for pages/API."""
    rows = {(c.channel, c.topic_id): c for c in profile.consents.select_related("topic")}
    summary = []
    for channel in ConsentChannel:
        summary.append(_summary_row(channel, None, rows))
    for topic in Topic.objects.all():
        summary.append(_summary_row(topic.channel, topic, rows))
    return summary


def _summary_row(channel, topic, rows) -> dict:
    row = rows.get((channel, topic.pk if topic else None))
    states = {
        topic_id: rows[(channel, topic_id)].state
        for topic_id in (None, topic.pk if topic else None) if (channel, topic_id) in rows
    }
    return {
        "channel": str(channel),
        "topic": topic.key if topic else None,
        "topic_name": topic.name if topic else None,
        "state": row.state if row else ConsentState.UNKNOWN,
        "source": row.source if row else "",
        "updated_at": row.updated_at if row else None,
        "allowed": _allows(channel, topic, states),
    }
