from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Value
from django.db.models.functions import Concat, Lower


def full_name_search_key() -> Lower:
    """lower(first_name || ' ' || last_name): the expression the name search index covers.

    A query must use this very expression for PostgreSQL to match it against the index.
    """
    return Lower(Concat("first_name", Value(" "), "last_name"))


class Profile(models.Model):
    """One person (or device before identification) the product can reach."""

    # Null for an anonymous profile (known only by an anonymous_id alias until identified).
    external_id = models.CharField(
        max_length=255, unique=True, null=True, blank=True, help_text="The integrator's key."
    )
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=32, blank=True, help_text="E.164, e.g. +33612345678")
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    timezone = models.CharField(
        max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Paris"
    )
    locale = models.CharField(max_length=35, blank=True, help_text="BCP 47, e.g. fr-FR")
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # text_pattern_ops serves both lower(email) = x and lower(email) LIKE 'x%' (prefix
            # search) whatever the database collation.
            models.Index(
                OpClass(Lower("email"), name="text_pattern_ops"), name="profile_email_lower_pattern"
            ),
            GinIndex(
                fields=["attributes"], name="profile_attributes_gin", opclasses=["jsonb_path_ops"]
            ),
            # Substring search on the full name (profiles.search): a trigram index (pg_trgm).
            GinIndex(
                OpClass(full_name_search_key(), name="gin_trgm_ops"), name="profile_name_trgm"
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or self.external_id or f"anonymous #{self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Event(models.Model):
    """Something a profile did.

    The table is partitioned by month on occurred_at (migration 0002, profiles.partitions):
    its real primary key is (id, occurred_at). Idempotency by (source, message_id) lives in
    EventReceipt, because a unique index on a partitioned table must include occurred_at.
    """

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=200)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=100, default="api")
    message_id = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["profile", "name", "occurred_at"], name="event_profile_name_time"),
            # "Who did X in the window" reads profile ids from the index alone.
            models.Index(fields=["name", "occurred_at"], include=["profile"],
                         name="event_name_time_profile"),
            # A profile's newest events across names (the timeline, GDPR export).
            models.Index(fields=["profile", "-occurred_at"], name="event_profile_time"),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class Segment(models.Model):
    """A named audience: dynamic (rules compiled to one SQL query by profiles.rules) or a
    static list of profiles (SegmentMember)."""

    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", "Rules"
        STATIC = "static", "Static list"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DYNAMIC)
    rules = models.JSONField(default=dict, help_text="See profiles.rules.schema for the format.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_static(self) -> bool:
        return self.kind == self.Kind.STATIC


class SegmentMember(models.Model):
    """A profile on a static list."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="segment_memberships"
    )
    source = models.CharField(max_length=100, blank=True, help_text="csv, selection, api…")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "profile"], name="member_unique")
        ]
        indexes = [models.Index(fields=["profile"], name="member_profile")]

    def __str__(self) -> str:
        return f"{self.profile_id} in {self.segment_id}"


class SegmentCountSnapshot(models.Model):
    """A segment's size on a day (the daily snapshot job), for its count history."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="snapshots")
    day = models.DateField()
    count = models.PositiveBigIntegerField()
    taken_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["segment", "day"], name="snapshot_unique_day")
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} on {self.day}: {self.count}"


class ApiToken(models.Model):
    """An integrator's credential. Only a SHA-256 of the secret is stored."""

    SCOPES = [
        ("profiles:read", "Read profiles"),
        ("profiles:write", "Create, update and erase profiles, and change their consent"),
        ("profiles:export", "Export everything held about a profile (GDPR)"),
        ("events:write", "Send events"),
        ("segments:read", "Read segments"),
        ("segments:write", "Create and change segments, and the members of static lists"),
        ("campaigns:read", "Read, export, validate and simulate campaigns, with their "
                           "versions, enrollments and counts"),
        ("campaigns:write", "Create, change, publish, pause, resume, archive and import "
                            "campaigns"),
        ("decisions:read", "Ask which offer a placement shows a profile (records impressions)"),
        ("offers:read", "Read placements and offers"),
        ("offers:write", "Create, change and delete placements and offers"),
        ("messages:write", "Send transactional messages"),
        ("deliveries:read", "Read deliveries and their status"),
    ]

    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ProfileAlias(models.Model):
    """Another key that reaches a profile: the anonymous_id of a device or browser."""

    class Kind(models.TextChoices):
        ANONYMOUS_ID = "anonymous_id", "Anonymous id"

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="aliases")
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.ANONYMOUS_ID)
    value = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "profile aliases"
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="alias_unique_kind_value")
        ]

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"


class PushSubscription(models.Model):
    """One device that can receive push: a Web Push subscription or an FCM token."""

    class Kind(models.TextChoices):
        WEBPUSH = "webpush", "Web Push"
        FCM = "fcm", "Firebase Cloud Messaging"

    class Platform(models.TextChoices):
        WEB = "web", "Web"
        ANDROID = "android", "Android"
        IOS = "ios", "iOS"

    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    # The FCM registration token, or the Web Push endpoint URL.
    token = models.CharField(max_length=1024)
    # Web Push: the browser's subscription JSON ({endpoint, keys: {p256dh, auth}}).
    subscription = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "token"], name="push_unique_kind_token")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.get_platform_display()}"


class AttributeType(models.TextChoices):
    STRING = "string", "Text"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Yes / no"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time"
    LIST = "list", "List of text"


class AttributeDefinition(models.Model):
    """A declared custom attribute: writes are validated and coerced against it."""

    key = models.CharField(
        max_length=64, unique=True,
        validators=[RegexValidator(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                                   "Letters, digits and _; not starting with a digit.")],
    )
    label = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=AttributeType.choices)
    allowed_values = models.JSONField(
        default=list, blank=True, help_text="Optional: the only values accepted."
    )
    description = models.TextField(blank=True)
    # An admin asks for an expression index on a hot attribute; a job builds it concurrently.
    indexed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"


class ConsentChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PUSH = "push", "Push"
    MAIL = "mail", "Direct mail"


class ConsentState(models.TextChoices):
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"
    UNKNOWN = "unknown", "Unknown"


class Topic(models.Model):
    """A subscription group (newsletter, promotions…) a profile can join or leave."""

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    channel = models.CharField(
        max_length=16, choices=ConsentChannel.choices, default=ConsentChannel.EMAIL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Consent(models.Model):
    """The current consent of a profile for a channel, or for a topic on a channel."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=16, choices=ConsentChannel.choices)
    topic = models.ForeignKey(
        Topic, null=True, blank=True, on_delete=models.CASCADE, related_name="consents"
    )
    state = models.CharField(max_length=16, choices=ConsentState.choices)
    source = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "channel", "topic"], nulls_distinct=False,
                name="consent_unique_profile_channel_topic",
            )
        ]

    def __str__(self) -> str:
        scope = f"{self.channel}/{self.topic.key}" if self.topic_id else self.channel
        return f"{scope}: {self.state}"


class ConsentChange(models.Model):
    """Consent history: every change appended, never edited."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="consent_changes")
    channel = models.CharField(max_length=16, choices=ConsentChannel.choices)
    topic = models.ForeignKey(
        Topic, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=16, choices=ConsentState.choices)
    previous_state = models.CharField(max_length=16, choices=ConsentState.choices)
    source = models.CharField(max_length=100, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["profile", "occurred_at"], name="consent_change_time")]

    def __str__(self) -> str:
        return f"{self.channel}: {self.previous_state} → {self.state} ({self.source})"


class EventReceipt(models.Model):
    """One row per (source, message_id) ever ingested: a resent event is recognised."""

    source = models.CharField(max_length=100)
    message_id = models.CharField(max_length=255)
    event_id = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "message_id"], name="receipt_unique_message")
        ]
        indexes = [models.Index(fields=["received_at"], name="receipt_received")]

    def __str__(self) -> str:
        return f"{self.source}/{self.message_id}"


class ProfileMerge(models.Model):
    """The record of two profiles becoming one (an anonymous visitor identified, say)."""

    survivor = models.ForeignKey(
        Profile, null=True, on_delete=models.SET_NULL, related_name="merges"
    )
    merged_profile_id = models.BigIntegerField()
    merged_external_id = models.CharField(max_length=255, blank=True)
    merged_email = models.EmailField(max_length=254, blank=True)
    merged_aliases = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    moved = models.JSONField(default=dict, blank=True, help_text="Rows moved, by kind.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["merged_profile_id"], name="merge_unique_merged")
        ]

    def __str__(self) -> str:
        return f"#{self.merged_profile_id} → #{self.survivor_id}"


class AuditLog(models.Model):
    """Who did what to whom: GDPR exports and erasures, merges, imports."""

    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=200, help_text="Who, as shown when the action happened.")
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=255, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target_type}:{self.target_id}"


class ProfileImport(models.Model):
    """A CSV of profiles, mapped to fields and loaded by an RQ job (profiles.imports)."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class UpsertKey(models.TextChoices):
        EXTERNAL_ID = "external_id", "External id"
        EMAIL = "email", "Email"

    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    delimiter = models.CharField(max_length=1, default=",")
    upsert_key = models.CharField(
        max_length=16, choices=UpsertKey.choices, default=UpsertKey.EXTERNAL_ID
    )
    # column header → target ("email", "attributes.plan", "consent.email", "topic.newsletter"…)
    mapping = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveBigIntegerField(default=0)
    processed_rows = models.PositiveBigIntegerField(default=0)
    imported_rows = models.PositiveBigIntegerField(default=0)
    error_rows = models.PositiveBigIntegerField(default=0)
    error_file = models.FileField(upload_to="imports/errors/%Y/%m/", blank=True)
    message = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.status})"
