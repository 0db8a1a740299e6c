"""Reading integrators' items: track and identify payloads, checked field by field."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from profiles.fields import FieldError, normalize_email
from profiles.partitions import retention_horizon

log = logging.getLogger(__name__)


TRACK_KEYS = frozenset({
    "type", "name", "properties", "occurred_at", "message_id", "source",
    "external_id", "anonymous_id", "email",
})
IDENTITY_KEYS = ("external_id", "anonymous_id", "email")
MAX_NAME = 200
MAX_SOURCE = 100
MAX_KEY = 255
MAX_EMAIL = 254


class ItemError(ValueError):
    """One item is unusable: field → message. Nothing of the item was written."""

    def __init__(self, errors: dict[str, Any]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(slots=True)
class TrackItem:
    index: int
    name: str
    properties: str  # JSON text, checked storable
    occurred_at: datetime
    source: str
    message_id: str
    external_id: str = ""
    anonymous_id: str = ""
    email: str = ""


@dataclass(slots=True)
class ItemResult:
    index: int
    status: str  # created | duplicate | updated (identify) | error
    id: int | None = None
    errors: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.id is not None:
            out["id"] = self.id
        if self.errors is not None:
            out["errors"] = self.errors
        out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The occurred_at values ingestion accepts: the retention horizon to a little ahead."""

    earliest: datetime
    latest: datetime
    now: datetime

    @classmethod
    def at(cls, now: datetime | None = None) -> TimeWindow:
        now = now or timezone.now()
        return cls(
            earliest=retention_horizon(now),
            latest=now + timedelta(seconds=settings.EVENT_MAX_FUTURE_SECONDS),
            now=now,
        )


# --- parsing -----------------------------------------------------------------------------


def parse_track(raw: Any, *, index: int, default_source: str, window: TimeWindow) -> TrackItem:
    """Validate one event; raise ItemError naming every bad field."""
    if not isinstance(raw, dict):
        raise ItemError({"item": "Expected a JSON object."})
    errors: dict[str, Any] = {}
    for key in raw.keys() - TRACK_KEYS:
        errors[str(key)] = "Unknown field."
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = "Required: the event's name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"At most {MAX_NAME} characters."
    elif "\x00" in name:
        errors["name"] = NUL_MESSAGE
    properties = raw.get("properties")
    if properties is None:
        properties = "{}"
    elif not isinstance(properties, dict):
        errors["properties"] = "Must be a JSON object."
    else:
        try:
            properties = storable_json(properties)
        except ValueError as exc:
            errors["properties"] = str(exc)
    occurred_at = _occurred_at(raw.get("occurred_at"), window, errors)
    source = _key(raw, "source", MAX_SOURCE, errors) or default_source
    message_id = _key(raw, "message_id", MAX_KEY, errors)
    external_id = _key(raw, "external_id", MAX_KEY, errors)
    anonymous_id = _key(raw, "anonymous_id", MAX_KEY, errors)
    email = raw.get("email") or ""
    if email:
        try:
            email = normalize_email(email) if isinstance(email, str) else _bad_email(email)
            if len(email) > MAX_EMAIL:
                raise FieldError(f"At most {MAX_EMAIL} characters.")
        except FieldError as exc:
            errors["email"] = str(exc)
    if not (external_id or anonymous_id or email) and not errors.keys() & set(IDENTITY_KEYS):
        errors["external_id"] = "Name the profile: external_id, anonymous_id or email."
    if errors:
        raise ItemError(errors)
    return TrackItem(index, name.strip(), properties, occurred_at, source[:MAX_SOURCE],
                     message_id, external_id, anonymous_id, email)


def _bad_email(value: Any) -> str:
    raise FieldError("Must be a string.")


def _key(raw: dict, key: str, limit: int, errors: dict) -> str:
    """An identifier: a string (or an integer, which integrators often send) of bounded size."""
    value = raw.get(key)
    if value is None or value == "":
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors[key] = "Must be a string."
        return ""
    if len(value) > limit:
        errors[key] = f"At most {limit} characters."
        return ""
    if "\x00" in value:
        errors[key] = NUL_MESSAGE
        return ""
    return value


# \u0000 as JSON escapes it, not a literal backslash followed by "u0000" (an even run of
# backslashes before it is escaped backslashes).
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
NUL_MESSAGE = "Contains a NUL character (\\u0000), which cannot be stored."


def storable_json(value: Any) -> str:
    """JSON text PostgreSQL's jsonb accepts, or ValueError saying why not.

    Checked per item, because one unstorable value would otherwise fail the statement of the
    whole batch: jsonb refuses \\u0000 and lone surrogates, and JSON has no Infinity/NaN
    (a number like 1e400 parses as infinity).
    """
    try:
        text = _encode(value)
    except ValueError:
        raise ValueError("Numbers must be finite (no Infinity or NaN).") from None
    if "\\u0000" in text and _ESCAPED_NUL.search(text):
        raise ValueError(NUL_MESSAGE)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("Contains an unpaired surrogate (\\ud800–\\udfff): not valid text.") \
            from None
    return text


def _occurred_at(value: Any, window: TimeWindow, errors: dict) -> datetime:
    if value is None or value == "":
        return window.now
    if not isinstance(value, str):
        errors["occurred_at"] = "Must be an ISO 8601 string, e.g. 2026-05-01T09:30:00+02:00."
        return window.now
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        errors["occurred_at"] = (
            f"{value!r} is not an ISO 8601 date and time, e.g. 2026-05-01T09:30:00+02:00."
        )
        return window.now
    if moment.tzinfo is None:
        errors["occurred_at"] = "Needs its UTC offset, e.g. 2026-05-01T09:30:00+02:00 or …Z."
    elif moment < window.earliest:
        errors["occurred_at"] = (
            f"Older than the retention horizon ({settings.EVENT_RETENTION_DAYS} days): events "
            f"before {window.earliest:%Y-%m-%dT%H:%M:%SZ} are not accepted."
        )
    elif moment > window.latest:
        errors["occurred_at"] = (
            f"More than {settings.EVENT_MAX_FUTURE_SECONDS} seconds ahead of the server clock "
            f"({window.now:%Y-%m-%dT%H:%M:%SZ}); check the sender's clock."
        )
    return moment




IDENTIFY_KEYS = frozenset({
    "type", "external_id", "anonymous_id", "email", "phone", "first_name", "last_name",
    "timezone", "locale", "attributes", "consent", "push", "source",
})
IDENTIFY_FIELDS = ("phone", "first_name", "last_name", "timezone", "locale", "attributes")


def parse_identify(raw: Any, *, default_source: str) -> dict[str, Any]:
    """The keyword arguments of profiles.identity.profile_identify, or ItemError."""
    if not isinstance(raw, dict):
        raise ItemError({"item": "Expected a JSON object."})
    errors: dict[str, Any] = {str(k): "Unknown field." for k in raw.keys() - IDENTIFY_KEYS}
    for key, value in raw.items():
        try:
            storable_json(value)
        except ValueError as exc:
            errors[str(key)] = str(exc)
    keys = {k: _key(raw, k, MAX_KEY, errors) for k in ("external_id", "anonymous_id")}
    email = raw.get("email")
    if email is not None and not isinstance(email, str):
        errors["email"] = "Must be a string."
    source = _key(raw, "source", MAX_SOURCE, errors) or default_source
    consent = raw.get("consent") or []
    if not isinstance(consent, list) or not all(isinstance(c, dict) for c in consent):
        errors["consent"] = 'A list of {"channel", "topic" (optional), "state"} objects.'
    push = raw.get("push")
    if push is not None and not isinstance(push, dict):
        errors["push"] = "Must be a JSON object."
    for key in ("first_name", "last_name", "phone", "timezone", "locale"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            errors[key] = "Must be a string."
    if errors:
        raise ItemError(errors)
    data = {k: raw[k] for k in IDENTIFY_FIELDS if k in raw}
    return {
        "external_id": keys["external_id"], "anonymous_id": keys["anonymous_id"],
        "email": (email or "").strip(), "data": data, "consent": consent, "push": push,
        "source": source,
    }




def parse_datetime(value: str) -> datetime | None:
    """ISO 8601; a date alone or a time without offset is read as UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
