"""Validation and normalization of a profile's own fields. Pure: no database."""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import available_timezones

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


class FieldError(ValueError):
    """One field's value is unusable; the message says why, for the API and the forms."""


def normalize_email(value: str) -> str:
    """Trim, validate, and lower-case the domain (the local part is case-sensitive by RFC)."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        validate_email(value)
    except ValidationError:
        raise FieldError(f"{value!r} is not a valid email address.") from None
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalize_phone(value: str, *, region: str | None = None) -> str:
    """Parse a phone number (international, or national with a region) to E.164."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise FieldError(
            f"{value!r} is not a phone number; use the international form, e.g. +33612345678."
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError(f"{value!r} is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(value: str) -> str:
    value = (value or "").strip()
    if value not in _timezones():
        raise FieldError(f"Unknown time zone {value!r}: use an IANA name such as Europe/Paris.")
    return value


def normalize_locale(value: str) -> str:
    value = (value or "").strip().replace("_", "-")
    if value and not LOCALE.match(value):
        raise FieldError(f"{value!r} is not a locale; use a BCP 47 tag such as fr-FR.")
    return value


def region_of_locale(locale: str) -> str | None:
    """fr-FR → FR: the region used to read a national phone number."""
    parts = (locale or "").replace("_", "-").split("-")
    return parts[1].upper() if len(parts) > 1 and len(parts[1]) == 2 else None
