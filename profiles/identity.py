"""Identity: who a profile is (external_id, email, anonymous_id aliases), the devices that
reach it, and merging two profiles that turn out to be one person.

An identify call that links an anonymous_id (a browser, an app install) to an external_id or
email already held by another profile merges the device's profile and the one named — unless
both have an external_id: two people the integrator knows are never merged, the device's
alias moves to the one named instead. On a merge the merged profile's events, aliases,
consent, push subscriptions and every app's rows (merge handlers of profiles.hooks) move to
the survivor, attributes merge last-write-wins, the merged profile is deleted and a
ProfileMerge + AuditLog row record it.

Concurrency: both profile rows are locked in id order (SELECT … FOR UPDATE) and re-read
before anything moves, so two identify calls racing on the same pair merge once; the loser
finds the merged profile gone, follows its ProfileMerge row and returns the survivor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, OperationalError, transaction
from django.db.models.functions import Lower

from profiles.consent import ConsentUpdate, consent_set
from profiles.hooks import merge_handlers
from profiles.models import (
    AuditLog,
    Consent,
    ConsentChange,
    ConsentChannel,
    ConsentState,
    Event,
    Profile,
    ProfileAlias,
    ProfileMerge,
    PushSubscription,
    Topic,
)
from profiles.services import ProfileDataError, clean_profile_data, merge_attributes

ATTEMPTS = 4
MAX_MERGE_HOPS = 10
MAX_PUSH_TOKEN = 1024
# Copied from the merged profile only where the survivor has nothing.
FILLED_FIELDS = ("email", "phone", "first_name", "last_name", "locale")


class IdentifyError(ValueError):
    """Field → message for every unusable value; nothing was written."""

    def __init__(self, errors: dict[str, Any]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class ProfileMergeError(RuntimeError):
    pass


class _Stale(Exception):
    """What we resolved changed under us (merged, or created by a concurrent call): replay."""


@dataclass(frozen=True)
class IdentifyOutcome:
    profile: Profile
    created: bool
    merge: ProfileMerge | None  # the merge this call caused or found already done


@dataclass(frozen=True)
class MergeOutcome:
    survivor: Profile
    merge: ProfileMerge
    performed: bool  # False: a concurrent or earlier call had already merged them


# --- identify -------------------------------------------------------------------------------


def profile_identify(
    *,
    external_id: str = "",
    anonymous_id: str = "",
    email: str = "",
    data: dict[str, Any] | None = None,
    consent: list[dict[str, Any]] | tuple = (),
    push: dict[str, Any] | None = None,
    source: str = "api",
    actor_token=None,
    actor_user=None,
) -> IdentifyOutcome:
    """Create or update the profile these keys name, merging an anonymous one into it."""
    if not (external_id or anonymous_id or email):
        raise IdentifyError({"external_id": "Name the profile: external_id, anonymous_id or "
                                            "email."})
    fields = dict(data or {})
    if email:
        fields["email"] = email
    try:
        clean = clean_profile_data(fields)
    except ProfileDataError as exc:
        raise IdentifyError(exc.errors) from None
    errors: dict[str, Any] = {}
    updates = _clean_consent(consent, source, errors)
    device = _clean_push(push, errors) if push is not None else None
    if errors:
        raise IdentifyError(errors)
    email = clean.get("email", "") if email else ""
    attributes = clean.pop("attributes", {})
    actor = {"actor_token": actor_token, "actor_user": actor_user}
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic():
                profile, created, merge = _resolve(external_id, anonymous_id, email, actor)
                profile = _locked(profile.pk)
                _apply(profile, external_id, clean, attributes)
                for update in updates:
                    consent_set(profile=profile, update=update)
                if device:
                    push_subscription_register(profile=profile, **device)
            return IdentifyOutcome(profile, created, merge)
        except (_Stale, IntegrityError, OperationalError) as exc:
            # A concurrent call created or merged what we had resolved, or a batch writing
            # events for these profiles deadlocked with the merge: the replay sees it.
            if attempt == ATTEMPTS or not _replayable(exc):
                raise
    raise AssertionError("unreachable")


def _replayable(exc: Exception) -> bool:
    from psycopg import errors as pg

    return not isinstance(exc, OperationalError) or isinstance(
        exc.__cause__, pg.DeadlockDetected | pg.SerializationFailure)


def _resolve(external_id: str, anonymous_id: str, email: str,
             actor: dict) -> tuple[Profile, bool, ProfileMerge | None]:
    known = Profile.objects.filter(external_id=external_id).first() if external_id else None
    if known is None and email:
        candidate = profile_by_email(email)
        # An email-only profile is adopted by the external_id; one with another external_id is
        # someone else sharing the address.
        if candidate and (not external_id or candidate.external_id is None):
            known = candidate
    anon = profile_by_alias(anonymous_id) if anonymous_id else None

    if known and anon and known.pk != anon.pk:
        try:
            outcome = profile_merge(
                profile_ids=(known.pk, anon.pk), prefer=known.pk, refuse_two_external_ids=True,
                reason=f"identify: anonymous_id {anonymous_id} linked", **actor,
            )
        except ProfileMergeError:
            raise _Stale from None  # one of them was erased meanwhile: resolve again
        except _TwoExternalIds:
            # The anonymous_id belongs to another person the integrator knows (a shared
            # device): it now reaches this one. Two external_ids are never merged by identify.
            _alias_point(anonymous_id, known)
            return known, False, None
        return outcome.survivor, False, outcome.merge
    if known:
        if anonymous_id and anon is None:
            _alias_point(anonymous_id, known)
        return known, False, None
    if anon is not None and (not external_id or anon.external_id in (None, external_id)):
        return anon, False, None  # the anonymous profile becomes the identified one
    if email and not external_id:
        from profiles.ingestion import lock_emails, raw_cursor

        with raw_cursor() as cursor:
            lock_emails(cursor, [email.lower()])
        if profile_by_email(email) is not None:
            raise _Stale
    profile = Profile.objects.create(external_id=external_id or None, email=email)
    if anonymous_id:
        _alias_point(anonymous_id, profile)
    return profile, True, None


def _apply(profile: Profile, external_id: str, fields: dict[str, Any],
           attributes: dict[str, Any]) -> None:
    changed = []
    if external_id and profile.external_id != external_id:
        if profile.external_id is not None:
            raise _Stale  # adopted by another external_id since we resolved it
        profile.external_id = external_id
        changed.append("external_id")
    for key, value in fields.items():
        setattr(profile, key, value)
        changed.append(key)
    if attributes:
        profile.attributes = merge_attributes(profile.attributes, attributes)
        changed.append("attributes")
    if changed:
        profile.save(update_fields=[*changed, "updated_at"])


def _locked(profile_id: int) -> Profile:
    profile = Profile.objects.select_for_update().filter(pk=profile_id).first()
    if profile is None:
        raise _Stale  # merged into another profile since we resolved it
    return profile


def profile_by_email(email: str) -> Profile | None:
    """The oldest profile with this address (case-insensitive, on the profile_email_lower index)."""
    return (
        Profile.objects.alias(email_lower=Lower("email"))
        .filter(email_lower=email.lower()).order_by("pk").first()
    )


def profile_by_alias(anonymous_id: str) -> Profile | None:
    alias = (
        ProfileAlias.objects.select_related("profile")
        .filter(kind=ProfileAlias.Kind.ANONYMOUS_ID, value=anonymous_id).first()
    )
    return alias.profile if alias else None


def _alias_point(anonymous_id: str, profile: Profile) -> None:
    ProfileAlias.objects.update_or_create(
        kind=ProfileAlias.Kind.ANONYMOUS_ID, value=anonymous_id, defaults={"profile": profile}
    )


# --- validation of the identify extras ----------------------------------------------------


def _clean_consent(items, source: str, errors: dict) -> list[ConsentUpdate]:
    if not items:
        return []
    topic_keys = {i.get("topic") for i in items if isinstance(i.get("topic"), str)}
    topics = dict(Topic.objects.filter(key__in=topic_keys).values_list("key", "channel"))
    updates, problems = [], {}
    for n, item in enumerate(items):
        topic, state = item.get("topic") or None, item.get("state")
        channel = item.get("channel") or (topics.get(topic) if topic else None)
        if topic is not None and topic not in topics:
            problems[str(n)] = f"Unknown topic {topic!r}."
        elif channel not in ConsentChannel.values:
            problems[str(n)] = (f"Unknown channel {channel!r}: use one of "
                                f"{', '.join(ConsentChannel.values)}.")
        elif topic and topics[topic] != channel:
            problems[str(n)] = f"Topic {topic!r} is on the {topics[topic]} channel."
        elif state not in ConsentState.values:
            problems[str(n)] = (f"Unknown state {state!r}: use one of "
                                f"{', '.join(ConsentState.values)}.")
        else:
            occurred_at = _moment(item.get("occurred_at"))
            if occurred_at is False:
                problems[str(n)] = "occurred_at must be ISO 8601 with its UTC offset."
                continue
            updates.append(ConsentUpdate(channel=channel, state=state, topic=topic,
                                         source=str(item.get("source") or source)[:100],
                                         occurred_at=occurred_at))
    if problems:
        errors["consent"] = problems
    return updates


def _moment(value) -> datetime | None | bool:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return moment if moment.tzinfo else False


def _clean_push(raw: dict, errors: dict) -> dict[str, Any] | None:
    kind = raw.get("kind") or ("webpush" if "subscription" in raw else "fcm")
    platforms = PushSubscription.Platform.values
    platform = raw.get("platform") or ("web" if kind == "webpush" else "android")
    problem = None
    if platform not in platforms:
        problem = f"Unknown platform {platform!r}: use one of {', '.join(platforms)}."
    elif kind == PushSubscription.Kind.WEBPUSH:
        sub = raw.get("subscription")
        keys = sub.get("keys") if isinstance(sub, dict) else None
        endpoint = sub.get("endpoint") if isinstance(sub, dict) else None
        if not isinstance(endpoint, str) or not endpoint.startswith("https://") \
                or len(endpoint) > MAX_PUSH_TOKEN:
            problem = ("Web Push needs the browser's subscription JSON: "
                       '{"endpoint": "https://…", "keys": {"p256dh": …, "auth": …}}.')
        elif not isinstance(keys, dict) or not all(
            isinstance(keys.get(k), str) and keys[k] for k in ("p256dh", "auth")
        ):
            problem = "The Web Push subscription needs keys.p256dh and keys.auth."
        else:
            subscription = {"endpoint": endpoint,
                            "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}
            if sub.get("expirationTime") is not None:
                subscription["expirationTime"] = sub["expirationTime"]
            return {"kind": kind, "platform": platform, "token": endpoint,
                    "subscription": subscription}
    elif kind == PushSubscription.Kind.FCM:
        token = raw.get("token")
        if not isinstance(token, str) or not token.strip() or len(token) > MAX_PUSH_TOKEN:
            problem = "FCM needs the device's registration token."
        else:
            return {"kind": kind, "platform": platform, "token": token.strip(),
                    "subscription": {}}
    else:
        problem = f"Unknown kind {kind!r}: use webpush or fcm."
    errors["push"] = problem
    return None


def push_subscription_register(*, profile: Profile, kind: str, platform: str, token: str,
                               subscription: dict) -> PushSubscription:
    """Attach a device to the profile; a known device (token) moves to it (a new owner)."""
    device, _ = PushSubscription.objects.update_or_create(
        kind=kind, token=token,
        defaults={"profile": profile, "platform": platform, "subscription": subscription},
    )
    return device


# --- merge ------------------------------------------------------------------------------


class _TwoExternalIds(Exception):
    """refuse_two_external_ids: both profiles have an external_id (two known people)."""


def choose_survivor(first: Profile, second: Profile, *,
                    prefer: int | None = None) -> tuple[Profile, Profile]:
    """(survivor, merged): the more identified profile survives — an external_id beats none,
    then the preferred one (the profile an identify call named), then one with an email —
    and between equals, the older."""
    survivor = min(first, second, key=lambda p: (
        p.external_id is None, p.pk != prefer, not p.email, p.created_at, p.pk))
    return (survivor, second if survivor is first else first)


def profile_merge(*, profile_ids: tuple[int, int], reason: str = "", prefer: int | None = None,
                  refuse_two_external_ids: bool = False, actor_token=None,
                  actor_user=None) -> MergeOutcome:
    """Merge two profiles into one; idempotent (a second call returns the first's result)."""
    a, b = profile_ids
    with transaction.atomic():
        for _ in range(MAX_MERGE_HOPS):
            # Locked in id order, so two merges of the same pair queue instead of deadlocking.
            rows = {p.pk: p for p in
                    Profile.objects.select_for_update().filter(pk__in=[a, b]).order_by("pk")}
            if a != b and len(rows) == 2:
                break
            current_a, current_b = _current(a, rows), _current(b, rows)
            if current_a == current_b:
                gone = b if b not in rows else a
                record = ProfileMerge.objects.filter(merged_profile_id=gone).first()
                return MergeOutcome(_locked_or_error(current_a), record, performed=False)
            a, b = current_a, current_b
        else:
            raise ProfileMergeError("Too many merges in a row: giving up.")
        survivor, merged = choose_survivor(rows[a], rows[b], prefer=prefer)
        if refuse_two_external_ids and merged.external_id is not None:
            raise _TwoExternalIds
        record = _merge(survivor, merged, reason, actor_token, actor_user)
    return MergeOutcome(survivor, record, performed=True)


def _current(profile_id: int, rows: dict[int, Profile]) -> int:
    """Where a profile lives now: itself, or the end of its chain of merges."""
    for _ in range(MAX_MERGE_HOPS):
        if profile_id in rows:
            return profile_id
        survivor_id = (ProfileMerge.objects.filter(merged_profile_id=profile_id)
                       .values_list("survivor_id", flat=True).first())
        if survivor_id is None:
            raise ProfileMergeError(f"Profile #{profile_id} no longer exists.")
        profile_id = survivor_id
        if Profile.objects.filter(pk=profile_id).exists():
            return profile_id
    raise ProfileMergeError("Too many merges in a row: giving up.")


def _locked_or_error(profile_id: int) -> Profile:
    profile = Profile.objects.select_for_update().filter(pk=profile_id).first()
    if profile is None:
        raise ProfileMergeError(f"Profile #{profile_id} no longer exists.")
    return profile


def _merge(survivor: Profile, merged: Profile, reason: str, actor_token,
           actor_user) -> ProfileMerge:
    s, m = survivor.pk, merged.pk
    aliases = list(ProfileAlias.objects.filter(profile_id=m).values_list("value", flat=True))
    moved = {
        # One UPDATE across the partitions of the events table.
        "events": Event.objects.filter(profile_id=m).update(profile_id=s),
        "aliases": ProfileAlias.objects.filter(profile_id=m).update(profile_id=s),
        "consents": _merge_consents(survivor, merged),
        "consent_changes": ConsentChange.objects.filter(profile_id=m).update(profile_id=s),
        "push_subscriptions": PushSubscription.objects.filter(profile_id=m).update(profile_id=s),
    }
    for name, handler in merge_handlers():
        moved[name] = handler(survivor_id=s, merged_id=m)
    changed = _merge_fields(survivor, merged)
    # Earlier merges into the merged profile now point at the survivor (chains stay followable).
    ProfileMerge.objects.filter(survivor_id=m).update(survivor_id=s)
    # Deleted before the survivor is saved: the survivor may inherit its external_id.
    Profile.objects.filter(pk=m).delete()
    survivor.save(update_fields=[*changed, "updated_at"])
    record = ProfileMerge.objects.create(
        survivor=survivor, merged_profile_id=m, merged_external_id=merged.external_id or "",
        merged_email=merged.email, merged_aliases=aliases, reason=reason[:200], moved=moved,
    )
    AuditLog.objects.create(
        actor_token=actor_token, actor_user=actor_user, actor=_actor(actor_token, actor_user),
        action="profile.merge", target_type="profile", target_id=str(s),
        detail={"merged_profile_id": m, "reason": reason, "moved": moved},
    )
    return record


def _merge_consents(survivor: Profile, merged: Profile) -> int:
    """Per (channel, topic) the most recent change wins; returns rows moved or applied."""
    ours = {(c.channel, c.topic_id): c
            for c in Consent.objects.select_for_update().filter(profile=survivor)}
    count = 0
    for theirs in Consent.objects.filter(profile=merged):
        mine = ours.get((theirs.channel, theirs.topic_id))
        if mine is None:
            theirs.profile = survivor
            theirs.save(update_fields=["profile"])
            count += 1
            continue
        if theirs.updated_at > mine.updated_at:
            mine.state, mine.source = theirs.state, theirs.source
            mine.updated_at = theirs.updated_at
            mine.save(update_fields=["state", "source", "updated_at"])
            count += 1
        theirs.delete()
    return count


def _merge_fields(survivor: Profile, merged: Profile) -> list[str]:
    """Attributes: last write wins (the more recently updated profile's values). Fields:
    the survivor's values stay, blanks are filled from the merged profile."""
    changed = []
    newer, older = ((merged, survivor) if merged.updated_at > survivor.updated_at
                    else (survivor, merged))
    attributes = merge_attributes(older.attributes, newer.attributes)
    if attributes != survivor.attributes:
        survivor.attributes = attributes
        changed.append("attributes")
    if survivor.external_id is None and merged.external_id is not None:
        survivor.external_id = merged.external_id
        changed.append("external_id")
    for key in FILLED_FIELDS:
        if not getattr(survivor, key) and getattr(merged, key):
            setattr(survivor, key, getattr(merged, key))
            changed.append(key)
    # "UTC" is every new profile's default, not something the person told us.
    if survivor.timezone == "UTC" and merged.timezone != "UTC":
        survivor.timezone = merged.timezone
        changed.append("timezone")
    if merged.last_seen_at and (survivor.last_seen_at is None
                                or merged.last_seen_at > survivor.last_seen_at):
        survivor.last_seen_at = merged.last_seen_at
        changed.append("last_seen_at")
    return changed


def _actor(actor_token, actor_user) -> str:
    if actor_user is not None:
        return str(actor_user.get_username())
    if actor_token is not None:
        return f"token:{actor_token.name}"
    return "system"
