"""Writes to profiles, segments and API tokens. Views, API and jobs call these."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from profiles.models import ApiToken, Profile, Segment
from profiles.segments import validate_rules

PROFILE_FIELDS = ("email", "phone", "first_name", "last_name", "timezone", "locale")
TOKEN_PREFIX_LENGTH = 8


def profile_upsert(*, external_id: str, data: dict[str, Any]) -> tuple[Profile, bool]:
    """Create or update the profile with this external_id; attributes are merged."""
    values = {key: data[key] for key in PROFILE_FIELDS if key in data}
    attributes = data.get("attributes") or {}
    with transaction.atomic():
        profile, created = Profile.objects.select_for_update().get_or_create(
            external_id=external_id, defaults={**values, "attributes": attributes}
        )
        if not created:
            for key, value in values.items():
                setattr(profile, key, value)
            profile.attributes = {**profile.attributes, **attributes}
            profile.save(update_fields=[*values, "attributes", "updated_at"])
    return profile, created


def segment_save(*, segment: Segment | None = None, name: str, description: str = "",
                 rules: Any, user=None) -> Segment:
    """Create or update a segment; raises RuleError on rules that do not compile."""
    rules = validate_rules(rules)
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
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
