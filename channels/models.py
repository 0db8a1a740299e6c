from django.db import models

from profiles.models import Profile, Segment


class Channel(models.TextChoices):
    EMAIL = "email", "Email"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


FINAL_STATUSES = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)


class Delivery(models.Model):
    """One message to one profile, with the address it went to and where it stands.

    `campaign_step` is named by label only: channels never imports campaigns; a delivery
    from the transactional API (later) has no step.
    """

    # Null once the profile is erased (GDPR): the row and its log stay for campaign counts.
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    campaign_step = models.ForeignKey(
        "campaigns.Step", null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    address = models.CharField(max_length=320, blank=True)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    provider_message_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-id"]
        constraints = [
            # A retried launch is a no-op: one delivery per profile per campaign step.
            models.UniqueConstraint(
                fields=["campaign_step", "profile"], name="delivery_unique_step_profile"
            )
        ]
        indexes = [
            models.Index(fields=["campaign_step", "status"], name="delivery_step_status"),
            models.Index(
                fields=["claimed_at"],
                name="delivery_sending_claimed",
                condition=models.Q(status="sending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.address or '—'} ({self.status})"


class DeliveryEvent(models.Model):
    """The status log of a delivery: every change is appended, never edited."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    occurred_at = models.DateTimeField()
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["delivery", "occurred_at"], name="delivery_event_time")]

    def __str__(self) -> str:
        return f"{self.status} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class Placement(models.Model):
    """A spot in an app or site that asks Itinera what to show (e.g. homepage_banner)."""

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    fallback = models.ForeignKey(
        "Offer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Shown when no offer is eligible.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class Offer(models.Model):
    """Content a placement may show to the profiles its rules or segment admit."""

    placement = models.ForeignKey(Placement, on_delete=models.CASCADE, related_name="offers")
    name = models.CharField(max_length=200)
    content = models.JSONField(default=dict, blank=True)
    html = models.TextField(blank=True)
    rules = models.JSONField(default=dict, blank=True, help_text="Eligibility; empty = everyone.")
    segment = models.ForeignKey(
        Segment, null=True, blank=True, on_delete=models.PROTECT, related_name="offers"
    )
    priority = models.IntegerField(default=0, help_text="Higher wins among eligible offers.")
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    cap_per_profile = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most impressions per profile; empty = no cap."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["placement", "-priority", "id"]

    def __str__(self) -> str:
        return self.name


class OfferImpression(models.Model):
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="impressions")
    profile = models.ForeignKey(
        Profile, null=True, on_delete=models.SET_NULL, related_name="offer_impressions"
    )
    shown_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["profile", "offer"], name="impression_profile_offer")]

    def __str__(self) -> str:
        return f"{self.offer_id} to {self.profile_id}"
