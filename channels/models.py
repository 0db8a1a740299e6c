from django.db import models

from profiles.models import Profile, Segment


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PUSH = "push", "Push"
    MAIL = "mail", "Direct mail"
    WEBHOOK = "webhook", "Webhook"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    DEFERRED = "deferred", "Deferred"  # waits for next_attempt_at (quiet hours, retry)
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    EXPORTED = "exported", "Exported"  # direct mail: written to a print-house file
    DELIVERED = "delivered", "Delivered"
    OPENED = "opened", "Opened"
    CLICKED = "clicked", "Clicked"
    BOUNCED = "bounced", "Bounced"
    COMPLAINED = "complained", "Complained"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    # A worker died mid-batch: the message may or may not have left. Listed for an operator,
    # never resent blindly.
    UNKNOWN = "unknown", "Unknown"


class Reason(models.TextChoices):
    """Why a message was not sent (or not yet): the answer to "why didn't they get it?"."""

    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    NO_CONSENT = "no_consent", "No consent"
    SUPPRESSED = "suppressed", "Suppressed address"
    QUARANTINED = "quarantined", "Quarantined address"
    FREQUENCY_CAPPED = "frequency_capped", "Frequency cap reached"
    QUIET_HOURS_DEFERRED = "quiet_hours_deferred", "Deferred by quiet hours"
    MISSING_ADDRESS = "missing_address", "No address"
    INVALID_ADDRESS = "invalid_address", "Invalid address"
    TEMPLATE_ERROR = "template_error", "Template error"
    PROVIDER_ERROR = "provider_error", "Provider error"
    PROVIDER_THROTTLED = "provider_throttled", "Provider throttled"
    CAMPAIGN_PAUSED = "campaign_paused", "Campaign paused"
    INTERRUPTED = "interrupted", "Worker stopped mid-send"
    PROFILE_ERASED = "profile_erased", "Profile erased"


class MessageKind(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    TRANSACTIONAL = "transactional", "Transactional"


# Once in one of these, a delivery's sending is over (later statuses come from feedback).
FINAL_STATUSES = (
    DeliveryStatus.SENT, DeliveryStatus.EXPORTED, DeliveryStatus.DELIVERED,
    DeliveryStatus.OPENED, DeliveryStatus.CLICKED, DeliveryStatus.BOUNCED,
    DeliveryStatus.COMPLAINED, DeliveryStatus.UNSUBSCRIBED, DeliveryStatus.FAILED,
    DeliveryStatus.SKIPPED, DeliveryStatus.UNKNOWN,
)


class SenderIdentity(models.Model):
    """Who an email comes from: managed by admins, chosen per template."""

    name = models.CharField(max_length=200)
    from_name = models.CharField(max_length=200)
    from_email = models.EmailField()
    reply_to = models.EmailField(blank=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "sender identities"

    def __str__(self) -> str:
        return f"{self.from_name} <{self.from_email}>"


class MessageTemplate(models.Model):
    """A message for one channel, in Liquid. Each save makes a new TemplateRevision, and a
    delivery points at the revision it was rendered from."""

    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    kind = models.CharField(
        max_length=16, choices=MessageKind.choices, default=MessageKind.MARKETING
    )
    topic = models.ForeignKey(
        "profiles.Topic", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The subscription group a marketing message belongs to.",
    )
    sender = models.ForeignKey(
        SenderIdentity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The channel's fields, e.g. email: subject, preheader, html, mjml, text; sms: body;
    # push: title, body, url, icon; mail: letter; webhook: url, payload.
    content = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_channel_display()})"


class TemplateRevision(models.Model):
    template = models.ForeignKey(
        MessageTemplate, on_delete=models.CASCADE, related_name="revisions"
    )
    version = models.PositiveIntegerField()
    content = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["template", "version"], name="revision_unique")
        ]

    def __str__(self) -> str:
        return f"{self.template} v{self.version}"


class Snippet(models.Model):
    """Shared Liquid, included with {% render 'key' %} (the only thing a template can include)."""

    key = models.SlugField(max_length=64, unique=True)
    content = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.key


class MailExport(models.Model):
    """One print-house file of a direct-mail run."""

    file = models.FileField(upload_to="mail-exports/%Y/%m/")
    count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Mail export {self.pk} ({self.count})"


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
    # The journey walk that sent it (campaigns.Enrollment, named by label like the step).
    enrollment = models.ForeignKey(
        "campaigns.Enrollment", null=True, blank=True, on_delete=models.CASCADE,
        related_name="deliveries",
    )
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    address = models.CharField(max_length=320, blank=True)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    provider_message_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    # Database defaults too: deliveries are also created by set-based INSERT … SELECT.
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True, db_default="")
    kind = models.CharField(
        max_length=16, choices=MessageKind.choices, default=MessageKind.MARKETING,
        db_default=MessageKind.MARKETING,
    )
    is_proof = models.BooleanField(
        default=False, db_default=False, help_text="A proof to the seed list."
    )
    template_revision = models.ForeignKey(
        TemplateRevision, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Extra render data (transactional requests); with the revision, enough to re-render.
    data = models.JSONField(default=dict, blank=True, db_default={})
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    mail_export = models.ForeignKey(
        MailExport, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-id"]
        constraints = [
            # A retried batch is a no-op: one delivery per enrollment per campaign step.
            models.UniqueConstraint(
                fields=["enrollment", "campaign_step"], name="delivery_unique_enrollment_step"
            )
        ]
        indexes = [
            models.Index(fields=["campaign_step", "status"], name="delivery_step_status"),
            # The claim reads a step's queued deliveries in id order, batch after batch.
            models.Index(fields=["campaign_step", "id"], name="delivery_queued_claim",
                         condition=models.Q(status="queued")),
            # The delivery log's filters and the feedback webhooks' lookups.
            models.Index(fields=["address"], name="delivery_address"),
            models.Index(fields=["status", "id"], name="delivery_status_id"),
            models.Index(fields=["reason", "id"], name="delivery_reason_id",
                         condition=~models.Q(reason="")),
            models.Index(fields=["provider_message_id"], name="delivery_provider_id",
                         condition=~models.Q(provider_message_id="")),
            # Frequency caps: a profile's recent sends on a channel.
            models.Index(fields=["profile", "channel", "sent_at"], name="delivery_profile_sent"),
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due",
                         condition=models.Q(status="deferred")),
            models.Index(fields=["created_at"], name="delivery_created"),
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


class AddressKind(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"


class Suppression(models.Model):
    """An address nothing is sent to, whichever profile holds it (re-imports included)."""

    class Cause(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", "Hard bounce"
        SOFT_BOUNCES = "soft_bounces", "Repeated soft bounces"
        COMPLAINT = "complaint", "Complaint"
        MANUAL = "manual", "Added by hand"
        IMPORT = "import", "Imported"

    kind = models.CharField(max_length=8, choices=AddressKind.choices)
    address = models.CharField(max_length=320, help_text="Lower-cased email or E.164 phone.")
    cause = models.CharField(max_length=16, choices=Cause.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "address"], name="suppression_unique")
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.get_cause_display()})"


class AddressHealth(models.Model):
    """Soft bounces counted per address, toward quarantine."""

    kind = models.CharField(max_length=8, choices=AddressKind.choices)
    address = models.CharField(max_length=320)
    soft_bounces = models.PositiveIntegerField(default=0)
    last_bounce_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "address"], name="address_health_unique")
        ]

    def __str__(self) -> str:
        return f"{self.address}: {self.soft_bounces} soft bounces"


class SeedList(models.Model):
    """Where proofs go: at most 100 addresses."""

    name = models.CharField(max_length=200, unique=True)
    addresses = models.JSONField(default=list)

    def __str__(self) -> str:
        return self.name


class TrackedLink(models.Model):
    """A link of a template revision; clicks go through its id, never through a URL."""

    revision = models.ForeignKey(TemplateRevision, on_delete=models.CASCADE, related_name="links")
    url = models.URLField(max_length=2000)
    position = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["revision", "position"], name="link_unique_position")
        ]

    def __str__(self) -> str:
        return self.url


class DeliveryRollup(models.Model):
    """Hourly counters of the delivery status log, so reports never aggregate raw logs.

    Maintained by a statement-level trigger on channels_deliveryevent (migration 0008,
    SQL in channels.rollups): every insert path, set-based or row by row, adds its rows
    here in the same transaction. Proof sends are not counted. `count` is log rows;
    `firsts` is deliveries reaching that status for the first time (unique opens and
    clicks: a delivery clicking three links is three clicks and one first click).
    `reason` is the delivery's reason for skipped/failed/unknown, else "".
    `domain` is the sending domain of the template's sender ("" = the default sender);
    `url` the link of a click.
    Rebuilt from the log by `manage.py rebuild_rollups`.
    """

    id = models.BigAutoField(primary_key=True)
    hour = models.DateTimeField()
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    step = models.ForeignKey(
        "campaigns.Step", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    reason = models.CharField(max_length=32, blank=True, db_default="")
    domain = models.CharField(max_length=255, blank=True, db_default="")
    # The link of a click (its stored URL, the log's detail; first 1,000 characters, so the
    # unique index entry stays under its size limit), for per-link counts.
    url = models.CharField(max_length=1000, blank=True, db_default="")
    count = models.BigIntegerField(default=0, db_default=0)
    firsts = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "campaign", "step", "channel", "status", "reason", "domain",
                        "url"],
                name="rollup_unique_bucket", nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["campaign", "hour"], name="rollup_campaign_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.channel} {self.status}: {self.count}"


class DeliveryRollupDaily(models.Model):
    """The hourly rollups summed per UTC day, campaign, channel, status and sending domain
    (no step, reason or link): what the dashboard reads, ~24× fewer rows. Kept by the same
    trigger statement as DeliveryRollup; rebuilt with it."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateTimeField()
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    domain = models.CharField(max_length=255, blank=True, db_default="")
    count = models.BigIntegerField(default=0, db_default=0)
    firsts = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "campaign", "channel", "status", "domain"],
                name="rollup_daily_unique_bucket", nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.channel} {self.status}: {self.count}"
