"""The delivery policy: the one place that decides whether a message may leave now.

Every send path (campaign steps, journeys, the transactional API, proofs) calls `evaluate`
on a claimed batch just before rendering. Checks run in this order, the first that refuses
wins, and every refusal names its typed Reason:

1. profile erased            → skip profile_erased
2. consent (channel, topic)  → skip unsubscribed (an explicit opt-out) or no_consent
3. suppression, quarantine   → skip suppressed / quarantined
4. address present and valid → skip missing_address / invalid_address
5. frequency caps            → skip frequency_capped
6. quiet hours (sms, push)   → defer to the next allowed local time, quiet_hours_deferred

Transactional messages (a receipt, a password reset) are exempt from consent, caps and
quiet hours — a channel opt-out is an opt-out of marketing, and a one-time code deferred to
the morning is useless — but never from suppression, quarantine or address checks: an address
that bounced or complained is not written to again, whatever the message.
Proof sends go to a seed list by an explicit flag: they skip consent, caps and quiet hours
(and need no profile), but a suppressed or invalid address still refuses them.

Each check is one query for the whole batch (never one per message).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection

from channels.models import (
    AddressHealth,
    Channel,
    Delivery,
    MessageKind,
    Reason,
    Suppression,
    TemplateRevision,
)
from channels.suppression import ADDRESS_KINDS
from profiles.consent import ALLOWED, OPTED_OUT, consent_decision
from profiles.models import Consent, ConsentChannel

SEND, SKIP, DEFER = "send", "skip", "defer"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Verdict:
    action: str
    reason: str = ""
    until: datetime | None = None

    @property
    def sends(self) -> bool:
        return self.action == SEND


ALLOW = Verdict(SEND)


def skip(reason: str) -> Verdict:
    return Verdict(SKIP, reason)


def defer(until: datetime, reason: str) -> Verdict:
    return Verdict(DEFER, reason, until)


def evaluate(deliveries: Sequence[Delivery], now: datetime) -> dict[int, Verdict]:
    """Decide for each delivery: send, skip(reason) or defer(until, reason).

    Deliveries come with their profile loaded (select_related), as claims return them.
    """
    verdicts: dict[int, Verdict] = {}
    pending = list(deliveries)

    def decide(check) -> None:
        nonlocal pending
        still = []
        for delivery in pending:
            verdict = check(delivery)
            if verdict is None:
                still.append(delivery)
            else:
                verdicts[delivery.id] = verdict
        pending = still

    decide(_erased)
    consent = _ConsentCheck(pending)
    decide(consent)
    blocked = _blocked_addresses(pending)
    decide(lambda d: blocked.get((ADDRESS_KINDS.get(d.channel), _address_key(d))))
    decide(_address_problem)
    caps = _CapCheck(pending, now)
    decide(caps)
    decide(lambda d: _quiet_hours(d, now))
    verdicts.update((d.id, ALLOW) for d in pending)
    return verdicts


def _exempt(delivery: Delivery) -> bool:
    """Proofs and transactional messages skip consent, caps and quiet hours."""
    return delivery.is_proof or delivery.kind == MessageKind.TRANSACTIONAL


def _erased(delivery: Delivery) -> Verdict | None:
    # An address-only transactional message or a proof never had a profile; an erased
    # profile's delivery lost both its profile and its address (channels.privacy_hooks).
    if delivery.profile_id is not None or delivery.is_proof:
        return None
    if delivery.kind == MessageKind.MARKETING or not delivery.address:
        return skip(Reason.PROFILE_ERASED)
    return None


class _ConsentCheck:
    """profiles.consent.consent_allows, for a batch: one query for every consent row."""

    def __init__(self, deliveries: Sequence[Delivery]):
        wanted = [d for d in deliveries if not _exempt(d) and d.channel in ConsentChannel.values]
        self._topics = _topics(wanted)
        self._states: dict[tuple[int, str, int | None], str] = {}
        if wanted:
            rows = Consent.objects.filter(
                profile_id__in={d.profile_id for d in wanted},
                channel__in={d.channel for d in wanted},
            ).values_list("profile_id", "channel", "topic_id", "state")
            self._states = {(p, c, t): s for p, c, t, s in rows}

    def __call__(self, delivery: Delivery) -> Verdict | None:
        if _exempt(delivery) or delivery.channel not in ConsentChannel.values:
            return None  # webhooks reach an integrator, not a person
        topic_id = self._topics.get(delivery.template_revision_id)
        return consent_verdict(
            channel=delivery.channel,
            channel_state=self._states.get((delivery.profile_id, delivery.channel, None)),
            topic_state=(self._states.get((delivery.profile_id, delivery.channel, topic_id))
                         if topic_id else None),
            has_topic=topic_id is not None,
        )


def consent_verdict(*, channel: str, channel_state: str | None, topic_state: str | None,
                    has_topic: bool) -> Verdict | None:
    """The consent_allows rules on already-read states (None = no row = unknown): an opt-out
    of the channel beats a topic; a topic's explicit state beats the channel's; otherwise
    the channel's opt-in, else its regime (settings.CONSENT_REGIMES)."""
    decision = consent_decision(channel=channel, channel_state=channel_state,
                                topic_state=topic_state, has_topic=has_topic)
    if decision == ALLOWED:
        return None
    return skip(Reason.UNSUBSCRIBED if decision == OPTED_OUT else Reason.NO_CONSENT)


def _topics(deliveries: Sequence[Delivery]) -> dict[int, int | None]:
    """Template revision id → the template's topic id, for the batch's revisions."""
    revisions = {d.template_revision_id for d in deliveries if d.template_revision_id}
    if not revisions:
        return {}
    return dict(
        TemplateRevision.objects.filter(id__in=revisions).values_list("id", "template__topic_id")
    )


def _address_key(delivery: Delivery) -> str:
    # Suppressions are keyed lower-cased whole for email (channels.suppression.address_key).
    address = delivery.address.strip()
    return address.lower() if delivery.channel == Channel.EMAIL else address


def _blocked_addresses(deliveries: Sequence[Delivery]) -> dict[tuple[str, str], Verdict]:
    """(kind, key) → skip verdict for every suppressed or quarantined address of the batch."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for delivery in deliveries:
        kind = ADDRESS_KINDS.get(delivery.channel)
        if kind and delivery.address:
            wanted[kind].add(_address_key(delivery))
    blocked: dict[tuple[str, str], Verdict] = {}
    for kind, addresses in wanted.items():
        for address in AddressHealth.objects.filter(
            kind=kind, address__in=addresses,
            soft_bounces__gte=settings.SOFT_BOUNCE_QUARANTINE,
        ).values_list("address", flat=True):
            blocked[(kind, address)] = skip(Reason.QUARANTINED)
        # A suppression (hard bounce, complaint, by hand) is the stronger answer.
        for address in Suppression.objects.filter(kind=kind, address__in=addresses).values_list(
            "address", flat=True
        ):
            blocked[(kind, address)] = skip(Reason.SUPPRESSED)
    return blocked


def _address_problem(delivery: Delivery) -> Verdict | None:
    address = delivery.address.strip()
    if not address:
        return skip(Reason.MISSING_ADDRESS)
    if delivery.channel == Channel.EMAIL and not email_is_valid(address):
        return skip(Reason.INVALID_ADDRESS)
    if delivery.channel == Channel.SMS and not phone_is_valid(address):
        return skip(Reason.INVALID_ADDRESS)
    return None


def email_is_valid(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def phone_is_valid(address: str) -> bool:
    """E.164 as stored (+ and digits) and a number that exists in its numbering plan."""
    if not _E164.match(address):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(address, None))
    except phonenumbers.NumberParseException:
        return False


def _zone(delivery: Delivery) -> ZoneInfo:
    name = getattr(delivery.profile, "timezone", "") if delivery.profile_id else ""
    try:
        return ZoneInfo(name) if name else _UTC
    except (ZoneInfoNotFoundError, ValueError):
        return _UTC


class _CapCheck:
    """settings.FREQUENCY_CAPS, e.g. {"email": (3, 7)}: at most 3 marketing messages sent on
    the channel over the last 7 days, days counted in the profile's time zone (today and the
    6 days before it, from local midnight). One query for the batch; what this batch lets
    through counts toward the cap of the next delivery to the same profile."""

    def __init__(self, deliveries: Sequence[Delivery], now: datetime):
        self._caps = settings.FREQUENCY_CAPS
        self._counts: dict[tuple[int, str], int] = {}
        wanted = [d for d in deliveries if self._capped(d)]
        if not wanted:
            return
        since: dict[tuple[int, str], datetime] = {}
        for delivery in wanted:
            days = self._caps[delivery.channel][1]
            local = now.astimezone(_zone(delivery))
            midnight = datetime.combine(local.date() - timedelta(days=days - 1), time(),
                                        tzinfo=local.tzinfo)
            since[(delivery.profile_id, delivery.channel)] = midnight
        keys = list(since)
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT w.profile_id, w.channel, count(d.id)
                  FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[])
                       AS w(profile_id, channel, since)
                  JOIN channels_delivery AS d
                    ON d.profile_id = w.profile_id AND d.channel = w.channel
                   AND d.sent_at >= w.since AND d.kind = 'marketing' AND NOT d.is_proof
                 GROUP BY w.profile_id, w.channel
                """,
                [[k[0] for k in keys], [k[1] for k in keys], [since[k] for k in keys]],
            )
            self._counts = {(p, c): n for p, c, n in cursor.fetchall()}

    def _capped(self, delivery: Delivery) -> bool:
        return (not _exempt(delivery) and delivery.profile_id is not None
                and delivery.channel in self._caps)

    def __call__(self, delivery: Delivery) -> Verdict | None:
        if not self._capped(delivery):
            return None
        key = (delivery.profile_id, delivery.channel)
        sent = self._counts.get(key, 0)
        if sent >= self._caps[delivery.channel][0]:
            return skip(Reason.FREQUENCY_CAPPED)
        self._counts[key] = sent + 1
        return None


def _quiet_hours(delivery: Delivery, now: datetime) -> Verdict | None:
    window = settings.QUIET_HOURS.get(delivery.channel)
    if window is None or _exempt(delivery):
        return None
    until = quiet_hours_end(now=now, zone=_zone(delivery), start=window[0], end=window[1])
    return defer(until, Reason.QUIET_HOURS_DEFERRED) if until else None


def quiet_hours_end(*, now: datetime, zone: ZoneInfo, start: str, end: str) -> datetime | None:
    """When `now` falls in the local window [start, end) (it may span midnight), the next
    local `end` as an aware UTC datetime; None outside the window."""
    local = now.astimezone(zone)
    begin, finish = time.fromisoformat(start), time.fromisoformat(end)
    clock = local.time().replace(tzinfo=None)
    # A window such as 21:00–08:00 spans midnight.
    inside = begin <= clock < finish if begin <= finish else (clock >= begin or clock < finish)
    if not inside:
        return None
    day = local.date() if clock < finish else local.date() + timedelta(days=1)
    return datetime.combine(day, finish, tzinfo=zone).astimezone(_UTC)
