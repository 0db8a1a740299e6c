"""Inbound SMS: STOP/START keywords from a provider's webhook become sms consent changes.

Two providers' webhooks, each with its own signature:
- the JSON provider (HttpSmsBackend's): body {"from": "+33…", "body": "STOP"}, header
  `X-Itinera-Signature: sha256=<hex HMAC-SHA256(SMS_INBOUND_SECRET, "<ts>." + body)>` and
  `X-Itinera-Timestamp: <ts>` (Unix seconds, at most INBOUND_MAX_AGE_SECONDS old);
- Twilio: form fields From/Body, `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, the
  full URL + each POST parameter name and value, sorted by name)).

A STOP from a number no profile has is remembered on the suppression list (so a profile
imported later with that number is not texted); a START from the number lifts that
suppression (and only that one: a suppression for another cause stays).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import time
from dataclasses import dataclass

from django.conf import settings

from channels.backends import webhook
from channels.models import AddressKind, Suppression
from channels.suppression import suppress
from profiles.consent import ConsentUpdate, consent_set
from profiles.fields import FieldError, normalize_phone
from profiles.models import ConsentChannel, ConsentState, Profile

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
# The note of a suppression made by a STOP: how a START finds the one it may lift.
UNKNOWN_STOP_NOTE = "SMS STOP from a number no profile had"
INBOUND_MAX_AGE_SECONDS = 300


@dataclass(frozen=True)
class InboundResult:
    keyword: str  # the recognised keyword, "" when the message is not one
    profiles_changed: int
    suppressed: bool = False  # a STOP from an unknown number went on the suppression list


def sms_inbound_apply(*, phone: str, text: str) -> InboundResult:
    """Apply a STOP/START-like message from `phone` to every profile with that number."""
    keyword = (text or "").strip().upper()
    if keyword in OPT_OUT_KEYWORDS:
        state, source = ConsentState.OPTED_OUT, "sms:STOP"
    elif keyword in OPT_IN_KEYWORDS:
        state, source = ConsentState.OPTED_IN, "sms:START"
    else:
        return InboundResult(keyword="", profiles_changed=0)
    number = _e164(phone)
    changed, known = 0, False
    for profile in Profile.objects.filter(phone=number).only("pk"):
        known = True
        update = ConsentUpdate(channel=ConsentChannel.SMS, state=state, source=source)
        changed += consent_set(profile=profile, update=update)
    suppressed = False
    if state == ConsentState.OPTED_OUT and not known:
        with contextlib.suppress(FieldError):  # not a phone number: nothing to remember
            _, suppressed = suppress(kind=AddressKind.PHONE, address=number,
                                     cause=Suppression.Cause.MANUAL, note=f"{UNKNOWN_STOP_NOTE}.")
    elif state == ConsentState.OPTED_IN:
        Suppression.objects.filter(kind=AddressKind.PHONE, address=number,
                                   note__startswith=UNKNOWN_STOP_NOTE).delete()
    return InboundResult(keyword=keyword, profiles_changed=changed, suppressed=suppressed)


def _e164(phone: str) -> str:
    """Profiles keep E.164; some providers send the sender without its "+"."""
    phone = (phone or "").strip()
    try:
        return normalize_phone(phone if phone.startswith("+") else f"+{phone}")
    except FieldError:
        return phone


def itinera_signature_valid(*, body: bytes, timestamp: str, header: str,
                            now: float | None = None) -> bool:
    secret = settings.SMS_INBOUND_SECRET
    if not secret or not timestamp.isdigit():
        return False
    if abs((now or time.time()) - int(timestamp)) > INBOUND_MAX_AGE_SECONDS:
        return False
    # The same signature our webhooks carry.
    return webhook.signature_valid(secret, timestamp, body, header)


def twilio_signature(*, token: str, url: str, params: dict[str, str]) -> str:
    signed = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_signature_valid(*, url: str, params: dict[str, str], header: str) -> bool:
    token = settings.TWILIO_AUTH_TOKEN
    if not token:
        return False
    expected = twilio_signature(token=token, url=url, params=params)
    return hmac.compare_digest(expected, header or "")
