"""Writes to profiles, segments and API tokens. Views, API and jobs call these."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from profiles.attributes import AttributeErrors, AttributeSpec, coerce_attributes
from profiles.fields import (
    FieldError,
    normalize_email,
    normalize_locale,
    normalize_phone,
    region_of_locale,
    validate_timezone,
)
from profiles.models import ApiToken, AttributeDefinition, Profile, Segment
from profiles.segments import validate_rules

PROFILE_FIELDS = ("email", "phone", "first_name", "last_name", "timezone", "locale")
TOKEN_PREFIX_LENGTH = 8


class ProfileDataError(ValueError):
    """Field → message for every unusable value; nothing was written."""

    def __init__(self, errors: dict[str, Any]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def clean_profile_data(
    data: dict[str, Any], *, specs=None, stored_locale: str = ""
) -> dict[str, Any]:
    """Validate and normalize profile fields and attributes (against the attribute schema).

    A national phone number is read in the region of the locale sent with it, else of the
    profile's stored locale. Returns only the keys present in `data`; raises
    ProfileDataError listing every problem.
    """
    clean, errors = {}, {}
    region = region_of_locale(data.get("locale") or stored_locale)
    normalizers = {
        "email": normalize_email,
        "phone": lambda v: normalize_phone(v, region=region),
        "timezone": validate_timezone,
        "locale": normalize_locale,
    }
    for key in PROFILE_FIELDS:
        if key not in data:
            continue
        limit = Profile._meta.get_field(key).max_length
        if data[key] is not None and len(str(data[key])) > limit:
            errors[key] = f"At most {limit} characters."
            continue
        value = data[key] if data[key] is not None else ""
        try:
            clean[key] = normalizers[key](value) if key in normalizers else str(value).strip()
        except FieldError as exc:
            errors[key] = str(exc)
    if "attributes" in data and data["attributes"] is not None:
        try:
            clean["attributes"] = coerce_attributes(
                data["attributes"], specs if specs is not None else attribute_specs(),
                unknown=settings.PROFILE_UNKNOWN_ATTRIBUTES,
            )
        except AttributeErrors as exc:
            errors["attributes"] = exc.errors
    if errors:
        raise ProfileDataError(errors)
    return clean


def merge_attributes(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Last write wins per key; a None value removes the key."""
    merged = {**current, **changes}
    return {k: v for k, v in merged.items() if v is not None}


def profile_upsert(*, external_id: str, data: dict[str, Any]) -> tuple[Profile, bool]:
    """Create or update the profile with this external_id; attributes are merged."""
    clean = clean_profile_data(data)
    attributes = clean.pop("attributes", {})
    with transaction.atomic():
        profile, created = Profile.objects.select_for_update().get_or_create(
            external_id=external_id,
            defaults={**clean, "attributes": merge_attributes({}, attributes)},
        )
        if not created:
            _apply(profile, clean, attributes)
    return profile, created


def profile_update(*, profile: Profile, data: dict[str, Any]) -> Profile:
    """Change some fields of an existing profile (PATCH); attributes are merged."""
    clean = clean_profile_data(data, stored_locale=profile.locale)
    attributes = clean.pop("attributes", {})
    with transaction.atomic():
        profile = Profile.objects.select_for_update().get(pk=profile.pk)
        _apply(profile, clean, attributes)
    return profile


def _apply(profile: Profile, fields: dict[str, Any], attributes: dict[str, Any]) -> None:
    for key, value in fields.items():
        setattr(profile, key, value)
    profile.attributes = merge_attributes(profile.attributes, attributes)
    profile.save(update_fields=[*fields, "attributes", "updated_at"])


def attribute_specs() -> dict[str, AttributeSpec]:
    return {
        d.key: AttributeSpec(d.key, d.type, tuple(d.allowed_values or ()))
        for d in AttributeDefinition.objects.all()
    }


def segment_save(*, segment: Segment | None = None, name: str, description: str = "",
                 rules: Any, user=None) -> Segment:
    """Create or update a segment; raises RuleError on rules that do not compile."""
    rules = validate_rules(rules, segment_id=segment.pk if segment else None)
    if segment is None:
        return Segment.objects.create(
            name=name, description=description, rules=rules, created_by=user
        )
    segment.name, segment.description, segment.rules = name, description, rules
    segment.save(update_fields=["name", "description", "rules", "updated_at"])
    return segment


def api_token_create(*, name: str, scopes: list[str], user=None) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is shown once and never stored."""
    unknown = set(scopes) - {code for code, _ in ApiToken.SCOPES}
    if unknown:
        raise ValueError(f"Unknown scopes: {', '.join(sorted(unknown))}")
    prefix = secrets.token_hex(TOKEN_PREFIX_LENGTH // 2)
    secret = f"itn_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        name=name, prefix=prefix, key_hash=api_token_hash(secret), scopes=sorted(scopes),
        created_by=user,
    )
    return token, secret


def api_token_hash(secret: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_revoke(*, token: ApiToken) -> None:
    from profiles.authentication import forget_token

    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    forget_token(token.pk)
