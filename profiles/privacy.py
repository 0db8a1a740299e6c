"""GDPR: export everything held about a profile, and erase a profile.

Both are called from the marketer UI, the API and the admin, and each leaves an AuditLog row
saying who, when and what; an erasure's row holds counts of what was removed, never the
erased data itself. Other apps take part through profiles.hooks: export contributors add
their data to an export, erase handlers remove or anonymize theirs before the profile goes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from profiles.hooks import erase_handlers, export_contributors
from profiles.models import (
    ApiToken,
    AuditLog,
    Consent,
    ConsentChange,
    Event,
    Profile,
    ProfileAlias,
    ProfileMerge,
    PushSubscription,
)

EXPORT_FORMAT = "itinera.profile-export/1"
EVENT_CHUNK = 2000
Actor = AbstractBaseUser | ApiToken | str


class EventStream:
    """A profile's events, read in chunks only when the export is written out."""

    def __init__(self, profile_id: int):
        self.profile_id = profile_id

    def __iter__(self) -> Iterator[dict[str, Any]]:
        events = Event.objects.filter(profile_id=self.profile_id).order_by("occurred_at", "id")
        for event in events.iterator(chunk_size=EVENT_CHUNK):
            yield {
                "name": event.name, "properties": event.properties,
                "occurred_at": event.occurred_at, "received_at": event.received_at,
                "source": event.source, "message_id": event.message_id,
            }


def profile_export(*, profile: Profile, actor: Actor) -> dict[str, Any]:
    """Everything held about the profile. `events` is an EventStream: write it with
    export_json(), which streams it, or list() it when the profile is known to be small."""
    core = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now(),
        "profile": _profile_fields(profile),
        "aliases": list(
            ProfileAlias.objects.filter(profile=profile).order_by("created_at")
            .values("kind", "value", "created_at")
        ),
        "push_subscriptions": list(
            PushSubscription.objects.filter(profile=profile).order_by("created_at")
            .values("kind", "platform", "token", "subscription", "created_at", "last_used_at")
        ),
        "consent": {
            "current": _with_topic_keys(
                Consent.objects.filter(profile=profile).order_by("channel", "topic__key")
                .values("channel", "topic__key", "state", "source", "updated_at")
            ),
            "history": _with_topic_keys(
                ConsentChange.objects.filter(profile=profile).order_by("occurred_at", "id")
                .values("channel", "topic__key", "state", "previous_state", "source",
                        "occurred_at")
            ),
        },
        "merges": list(
            ProfileMerge.objects.filter(survivor=profile).order_by("created_at")
            .values("merged_profile_id", "merged_external_id", "merged_email", "merged_aliases",
                    "reason", "created_at")
        ),
        "events": EventStream(profile.pk),
    }
    for name, contributor in export_contributors():
        if name in core:
            raise ValueError(f"Export contributor {name!r} would replace a part of the export.")
        core[name] = contributor(profile_id=profile.pk)
    _audit(actor, "profile.export", profile.pk, {"parts": sorted(core)})
    return core


def _profile_fields(profile: Profile) -> dict[str, Any]:
    return {
        "id": profile.pk, "external_id": profile.external_id, "email": profile.email,
        "phone": profile.phone, "first_name": profile.first_name, "last_name": profile.last_name,
        "timezone": profile.timezone, "locale": profile.locale, "attributes": profile.attributes,
        "created_at": profile.created_at, "updated_at": profile.updated_at,
        "last_seen_at": profile.last_seen_at,
    }


def _with_topic_keys(rows) -> list[dict[str, Any]]:
    return [{("topic" if k == "topic__key" else k): v for k, v in row.items()} for row in rows]


def export_json(export: dict[str, Any]) -> Iterator[str]:
    """The export as JSON text, in pieces: events are written as they are read."""
    encoder = DjangoJSONEncoder(ensure_ascii=False, indent=None)
    yield "{"
    for index, (key, value) in enumerate(export.items()):
        yield ("," if index else "") + json.dumps(key) + ":"
        if isinstance(value, EventStream):
            yield "["
            for position, item in enumerate(value):
                yield ("," if position else "") + encoder.encode(item)
            yield "]"
        else:
            yield encoder.encode(value)
    yield "}\n"


def profile_erase(*, profile: Profile, actor: Actor) -> dict[str, Any]:
    """Delete the profile and everything about it; other apps anonymize first (handlers).

    Returns what was removed, as counts (also what the audit row records).
    """
    with transaction.atomic():
        # Locked: an identify or merge running now waits, then finds no profile.
        profile = Profile.objects.select_for_update().get(pk=profile.pk)
        handled = {name: handler(profile_id=profile.pk) for name, handler in erase_handlers()}
        removed = {
            "events": Event.objects.filter(profile_id=profile.pk).delete()[0],
            "aliases": ProfileAlias.objects.filter(profile=profile).delete()[0],
            "push_subscriptions": PushSubscription.objects.filter(profile=profile).delete()[0],
            "consents": Consent.objects.filter(profile=profile).delete()[0],
            "consent_changes": ConsentChange.objects.filter(profile=profile).delete()[0],
            # A merge record names the merged profile's email and aliases: the same person.
            "merges": ProfileMerge.objects.filter(survivor=profile).delete()[0],
        }
        profile_id = profile.pk
        _, cascaded = profile.delete()
        # Rows other apps still held through a cascade (their handlers kept nothing of them).
        removed.update({
            label: count for label, count in cascaded.items()
            if label != Profile._meta.label and count
        })
        detail = {"removed": removed, "handlers": handled}
        _audit(actor, "profile.erase", profile_id, detail)
    return detail


def _audit(actor: Actor, action: str, profile_id: int, detail: dict[str, Any]) -> AuditLog:
    user = actor if isinstance(actor, AbstractBaseUser) else None
    token = actor if isinstance(actor, ApiToken) else None
    if user is not None:
        shown = user.get_username()
    elif token is not None:
        shown = f"token {token.name} ({token.prefix}…)"
    else:
        shown = str(actor)
    return AuditLog.objects.create(
        actor_user=user, actor_token=token, actor=shown[:200], action=action,
        target_type="profile", target_id=str(profile_id), detail=detail,
    )
