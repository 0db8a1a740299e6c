from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Lower


class Profile(models.Model):
    """One person (or device before identification) the product can reach."""

    external_id = models.CharField(max_length=255, unique=True, help_text="The integrator's key.")
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

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(Lower("email"), name="profile_email_lower"),
            GinIndex(
                fields=["attributes"], name="profile_attributes_gin", opclasses=["jsonb_path_ops"]
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or self.external_id

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Event(models.Model):
    """Something a profile did. Issue #3 partitions this table by month."""

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
            models.Index(fields=["name", "occurred_at"], name="event_name_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "message_id"],
                condition=~models.Q(message_id=""),
                name="event_unique_source_message",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class Segment(models.Model):
    """A named audience: rules compiled to one SQL query by profiles.segments."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    rules = models.JSONField(default=dict, help_text="See profiles.segments for the rule format.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """An integrator's credential. Only a SHA-256 of the secret is stored."""

    SCOPES = [
        ("profiles:read", "Read profiles"),
        ("profiles:write", "Create and update profiles"),
        ("events:write", "Send events"),
        ("segments:read", "Read segments"),
        ("campaigns:read", "Read campaigns and their delivery counts"),
        ("campaigns:write", "Create and schedule campaigns"),
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
