from django.conf import settings
from django.db import models
from django.db.models.functions import Now

from channels.models import Channel, MessageTemplate
from profiles.models import Segment


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    ARCHIVED = "archived", "Archived"


class EntryKind(models.TextChoices):
    AUDIENCE = "audience", "Audience (segments read at a time)"
    EVENT = "event", "Event (enters when the event is ingested)"
    SEGMENT_ENTRY = "segment_entry", "Segment entry (enters on coming to match a segment)"


class Reentry(models.TextChoices):
    NEVER = "never", "Never"
    AFTER = "after", "After N days"
    ALWAYS = "always", "Always"


class Campaign(models.Model):
    """One model for batch campaigns and real-time journeys: an entry, a versioned step graph.

    Entry settings live here (not versioned); the step graph lives in CampaignVersion.
    """

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    priority = models.SmallIntegerField(default=0, db_default=0,
                                        help_text="Higher first when several are due at once.")
    entry_kind = models.CharField(max_length=16, choices=EntryKind.choices,
                                  default=EntryKind.AUDIENCE, db_default=EntryKind.AUDIENCE)
    # audience: `segment` ∪ extra_segments − excluded_segments; segment_entry: `segment`;
    # event: `segment` (optional) qualifies the profile at the moment of the event.
    segment = models.ForeignKey(
        Segment, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns",
        help_text="The audience, read when the campaign launches.",
    )
    extra_segments = models.ManyToManyField(Segment, blank=True, related_name="+")
    excluded_segments = models.ManyToManyField(Segment, blank=True, related_name="+")
    # audience: once at scheduled_at, or on `recurrence` (a cron expression, UTC) from then.
    scheduled_at = models.DateTimeField(null=True, blank=True)
    recurrence = models.CharField(max_length=100, blank=True, db_default="")
    next_run_at = models.DateTimeField(null=True, blank=True)
    # event entry: the event's name and a filter on its properties (a rules `where` list).
    entry_event = models.CharField(max_length=200, blank=True, db_default="")
    entry_event_filter = models.JSONField(default=list, blank=True, db_default=[])
    reentry = models.CharField(max_length=8, choices=Reentry.choices, default=Reentry.NEVER,
                               db_default=Reentry.NEVER)
    reentry_days = models.PositiveIntegerField(default=0, db_default=0)
    # Exit criteria, checked at every step: a rules tree the profile comes to match, or an event.
    exit_rules = models.JSONField(default=dict, blank=True, db_default={})
    exit_event = models.CharField(max_length=200, blank=True, db_default="")
    # Conversion goal: this event within goal_days of entry.
    goal_event = models.CharField(max_length=200, blank=True, db_default="")
    goal_days = models.PositiveIntegerField(default=7, db_default=7)
    holdout_percent = models.PositiveSmallIntegerField(
        default=0, db_default=0, help_text="Control group: enters, receives no messages."
    )
    # Send window in the profile's time zone; messages outside it wait for the next opening.
    send_window_start = models.TimeField(null=True, blank=True)
    send_window_end = models.TimeField(null=True, blank=True)
    send_window_days = models.JSONField(default=list, blank=True, db_default=[],
                                        help_text="ISO weekdays 1–7; empty means every day.")
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    current_version = models.ForeignKey(
        "CampaignVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The published version new entries take.",
    )
    launched_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=300, blank=True, db_default="")
    completed_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "scheduled_at"], name="campaign_due"),
            models.Index(fields=["status", "next_run_at"], name="campaign_next_run"),
            models.Index(fields=["entry_kind", "entry_event"], name="campaign_entry_event",
                         condition=models.Q(status="running")),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status == CampaignStatus.DRAFT


class CampaignVersion(models.Model):
    """A campaign's step graph as of one edit. Unpublished = the draft being edited; a
    published version is frozen: its enrollments finish it even after N+1 is published."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(default=1)
    start_key = models.CharField(max_length=32, blank=True, db_default="",
                                 help_text="The step entrants start at.")
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "number"]
        constraints = [models.UniqueConstraint(fields=["campaign", "number"],
                                               name="campaign_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.campaign} · v{self.number}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class StepKind(models.TextChoices):
    SEND_EMAIL = "send_email", "Send email"  # inline subject/html/text (the first campaigns)
    SEND_MESSAGE = "send_message", "Send a message"  # a channel template
    WAIT = "wait", "Wait"  # config: duration | until weekday/time | until event (+ timeout)
    CONDITION = "condition", "Condition"  # config: rules tree; exits yes / no
    SPLIT = "split", "Random split"  # config: branch weights; one exit per branch
    UPDATE_ATTRIBUTE = "update_attribute", "Update profile attribute"
    WEBHOOK = "webhook", "Call webhook"  # a webhook template, sent through channels
    EXIT = "exit", "Exit"


class Step(models.Model):
    """One node of a campaign version's graph. `key` is stable across versions (so in-flight
    enrollments can move to a new version and reports can follow a step); `exits` maps each
    exit of the step (see campaigns.graph) to the key of the step it leads to, or null for
    the end of the journey; `config` holds the kind's settings."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="steps")
    version = models.ForeignKey(
        CampaignVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="steps"
    )
    key = models.CharField(max_length=32, default="s1", db_default="s1")
    name = models.CharField(max_length=200, blank=True, db_default="")
    position = models.PositiveSmallIntegerField(default=1, help_text="Display order.")
    kind = models.CharField(max_length=32, choices=StepKind.choices, default=StepKind.SEND_EMAIL)
    config = models.JSONField(default=dict, blank=True, db_default={})
    exits = models.JSONField(default=dict, blank=True, db_default={})
    # A send-message step names a channel template; the first email steps kept their
    # content inline (subject, html_body, text_body) and still send as before.
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    template = models.ForeignKey(
        MessageTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="steps"
    )
    subject = models.CharField(max_length=500, blank=True)
    html_body = models.TextField(blank=True)
    text_body = models.TextField(blank=True, help_text="Generated from the HTML when empty.")

    class Meta:
        ordering = ["campaign", "version", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="step_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.key} {self.name or self.get_kind_display()}"


class CampaignRun(models.Model):
    """One reading of an audience campaign's segments (once, or each recurrence): the
    enrollments it created are the audience snapshot of that run."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(CampaignVersion, on_delete=models.PROTECT, related_name="runs")
    scheduled_for = models.DateTimeField()
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    enrolled = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-scheduled_for"]
        constraints = [models.UniqueConstraint(fields=["campaign", "scheduled_for"],
                                               name="campaign_run_unique_time")]

    def __str__(self) -> str:
        return f"{self.campaign_id} run at {self.scheduled_for:%Y-%m-%d %H:%M}Z"


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", "Active"  # has work due at next_due_at (now, or after a wait)
    COMPLETED = "completed", "Completed"  # walked off the end of the graph or an exit step
    EXITED = "exited", "Exited"  # taken out by the exit criteria
    FAILED = "failed", "Failed"  # the engine could not go on (e.g. a step removed)


class Enrollment(models.Model):
    """One profile's walk through one campaign version, for one entry occurrence.

    `entry_key` names the occurrence: "once" (re-entry never), "run:<id>" for an audience
    run, "event:<id>" for an event, "seg:<date>" for a segment entry; unique per
    (campaign, profile, entry_key), so a replayed entry does nothing.
    """

    id = models.BigAutoField(primary_key=True)
    # No single-column FK indexes: each is the leading column of a composite one below, and
    # every index costs the set-based launch (1,000,000 rows at once) its share of time.
    # Nor a database check of `campaign` (the version implies it; checking both cost the
    # launch a foreign-key lookup per row for nothing); Django still cascades the delete.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="enrollments",
                                 db_index=False, db_constraint=False)
    version = models.ForeignKey(CampaignVersion, on_delete=models.PROTECT,
                                related_name="enrollments", db_index=False)
    profile = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE,
                                related_name="enrollments", db_index=False)
    entry_key = models.CharField(max_length=64)
    # Which run enrolled it, for reports: not checked per row either (runs are only deleted
    # with their campaign, and Django sets this to null first).
    run = models.ForeignKey(CampaignRun, null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="enrollments", db_index=False, db_constraint=False)
    step_key = models.CharField(max_length=32, help_text="The current step.")
    state = models.CharField(max_length=12, choices=EnrollmentState.choices,
                             default=EnrollmentState.ACTIVE, db_default=EnrollmentState.ACTIVE)
    next_due_at = models.DateTimeField(null=True, blank=True)
    # A "wait until event" step: the event that wakes this enrollment before its timeout.
    wait_event = models.CharField(max_length=200, blank=True, db_default="")
    step_entered_at = models.DateTimeField(null=True, blank=True)
    is_control = models.BooleanField(default=False, db_default=False)
    data = models.JSONField(default=dict, blank=True, db_default={},
                            help_text="Engine state between steps.")
    entered_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=64, blank=True, db_default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "profile", "entry_key"],
                                               name="enrollment_unique_entry")]
        indexes = [
            # The sweep: active enrollments in due order.
            models.Index(fields=["next_due_at"], name="enrollment_due",
                         condition=models.Q(state="active")),
            models.Index(fields=["campaign", "state", "step_key"], name="enrollment_step_state"),
            models.Index(fields=["profile", "wait_event"], name="enrollment_wait_event",
                         condition=models.Q(state="active") & ~models.Q(wait_event="")),
            models.Index(fields=["profile", "campaign"], name="enrollment_profile"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.profile_id} at {self.step_key} ({self.state})"


class StepVisit(models.Model):
    """An enrollment passing through a step: for counts, reports and "why" answers.

    Unique per (enrollment, step): a retried batch records nothing twice (the graph is
    acyclic, so a walk visits a step at most once).
    """

    id = models.BigAutoField(primary_key=True)
    # Covered by the unique (enrollment, step) and the (step, outcome) indexes.
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="visits",
                                   db_index=False)
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="visits",
                             db_index=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    entered_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    # The exit taken ("next", "yes", "no", a split branch, "event", "timeout"), or "" while here.
    outcome = models.CharField(max_length=32, blank=True, db_default="")
    detail = models.CharField(max_length=300, blank=True, db_default="",
                              help_text="Why: e.g. holdout (no message), skipped reason.")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["enrollment", "step"],
                                               name="step_visit_unique")]
        indexes = [models.Index(fields=["step", "outcome"], name="step_visit_outcome")]

    def __str__(self) -> str:
        return f"enrollment {self.enrollment_id} at step {self.step_id} → {self.outcome or '…'}"
