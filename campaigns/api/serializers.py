"""Campaign API payloads: the campaign with its entry settings and graph, what the actions
take and answer, enrollments, versions and per-step counts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import Campaign, CampaignStatus, Enrollment, EnrollmentState
from channels.models import DeliveryStatus
from profiles.models import Segment

ENTRY_FIELDS = [
    "name", "description", "priority", "entry_kind", "segment", "extra_segments",
    "excluded_segments", "scheduled_at", "recurrence", "entry_event", "entry_event_filter",
    "reentry", "reentry_days", "exit_rules", "exit_event", "goal_event", "goal_days",
    "holdout_percent", "send_window_start", "send_window_end", "send_window_days",
]
STATE_FIELDS = [
    "status", "owner", "current_version", "next_run_at", "launched_at", "paused_at",
    "pause_reason", "completed_at", "archived_at", "created_at", "updated_at",
]

GRAPH_SCHEMA = {
    "type": "object",
    "description": "The step graph in campaigns.graph's JSON form: {start, steps: [{key, kind, "
                   "name, template, channel, config, exits, position}]}.",
    "properties": {"start": {"type": "string"},
                   "steps": {"type": "array", "items": {"type": "object"}}},
}
DELIVERY_COUNTS_SCHEMA = {
    "type": "object",
    "properties": {key: {"type": "integer"} for key in [*DeliveryStatus.values, "total"]},
}
ANY_OBJECT = {"type": "object", "additionalProperties": True}


class CampaignSerializer(serializers.ModelSerializer):
    """A campaign as read: entry settings, state and (detail only) the graph being edited."""

    owner = serializers.PrimaryKeyRelatedField(read_only=True)
    current_version = serializers.SlugRelatedField(
        slug_field="number", read_only=True, help_text="The published version new entries take.")

    class Meta:
        model = Campaign
        fields = ["id", *ENTRY_FIELDS, *STATE_FIELDS]
        read_only_fields = fields


class CampaignListSerializer(CampaignSerializer):
    """Needs `delivery_counts` in its context: campaign id → counts by status."""

    delivery_counts = serializers.SerializerMethodField()

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "delivery_counts"]
        read_only_fields = fields

    @extend_schema_field(DELIVERY_COUNTS_SCHEMA)
    def get_delivery_counts(self, campaign: Campaign) -> dict[str, int]:
        return self.context["delivery_counts"][campaign.pk]


class CampaignDetailSerializer(CampaignListSerializer):
    """Needs `graph` (JSON form) and `draft_version` (number or None) in its context."""

    graph = serializers.SerializerMethodField()
    draft_version = serializers.SerializerMethodField()

    class Meta(CampaignListSerializer.Meta):
        fields = [*CampaignListSerializer.Meta.fields, "draft_version", "graph"]
        read_only_fields = fields

    @extend_schema_field(GRAPH_SCHEMA)
    def get_graph(self, campaign: Campaign) -> dict[str, Any]:
        return self.context["graph"]

    @extend_schema_field(serializers.IntegerField(
        allow_null=True, help_text="The unpublished version being edited, if any; `graph` is "
                                   "that version's, else the current version's."))
    def get_draft_version(self, campaign: Campaign) -> int | None:
        return self.context["draft_version"]


class CampaignWriteSerializer(serializers.ModelSerializer):
    """Entry settings, plus `graph`: writing it saves the draft version (on a running or
    paused campaign, version N+1, published by POST …/publish)."""

    segment = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all(),
                                                 allow_null=True, required=False)
    extra_segments = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all(),
                                                        many=True, required=False)
    excluded_segments = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all(),
                                                           many=True, required=False)
    graph = serializers.JSONField(required=False, help_text=GRAPH_SCHEMA["description"])

    class Meta:
        model = Campaign
        fields = [*ENTRY_FIELDS, "graph"]

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        # A misspelt key ("segments", "entry") would otherwise be dropped without a word.
        unknown = sorted(set(self.initial_data) - set(self.fields) - {"id"})
        if unknown:
            raise serializers.ValidationError({key: "Unknown field." for key in unknown})
        if "graph" in data and not isinstance(data["graph"], dict):
            raise serializers.ValidationError({"graph": "A graph is a JSON object."})
        return data


class ProblemSerializer(serializers.Serializer):
    step = serializers.CharField(help_text="The step's key; empty for the campaign itself.")
    field = serializers.CharField()
    message = serializers.CharField()


class ValidationResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    problems = ProblemSerializer(many=True)


class SimulateRequestSerializer(serializers.Serializer):
    profile = serializers.CharField(required=False, help_text="One profile's id or external_id: "
                                    "answers with the path it would take.")
    by = serializers.ChoiceField(choices=["id", "external_id"], required=False,
                                 help_text="Read `profile` as an id or an external_id.")
    sample = serializers.IntegerField(required=False, min_value=1, max_value=100_000,
                                      help_text="Simulate this many profiles of the audience.")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "profile" in data and "sample" in data:
            raise serializers.ValidationError("Give a profile or a sample, not both.")
        return data


class PublishSerializer(serializers.Serializer):
    at = serializers.DateTimeField(required=False, help_text="An audience campaign's reading "
                                   "time (sets scheduled_at); in the past or absent: now.")


class PauseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class VersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    published_at = serializers.DateTimeField(allow_null=True,
                                             help_text="null: the draft being edited.")
    created_at = serializers.DateTimeField()
    step_count = serializers.IntegerField()
    active_enrollments = serializers.IntegerField()
    is_current = serializers.BooleanField()


class MovedSerializer(serializers.Serializer):
    moved = serializers.IntegerField(help_text="Active enrollments moved to the current version.")
    to_version = serializers.IntegerField()


class EnrollmentSerializer(serializers.ModelSerializer):
    version = serializers.SlugRelatedField(slug_field="number", read_only=True)

    class Meta:
        model = Enrollment
        fields = [
            "id", "profile", "version", "entry_key", "step_key", "state", "next_due_at",
            "wait_event", "step_entered_at", "is_control", "entered_at", "finished_at",
            "converted_at", "exit_reason",
        ]
        read_only_fields = fields


class EnrollmentFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=EnrollmentState.choices, required=False)
    step = serializers.CharField(max_length=32, required=False, help_text="A step's key.")
    profile = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False,
                                       help_text="A profile's id.")


class StepStatsSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    entered = serializers.IntegerField(help_text="Visits of the step.")
    waiting = serializers.IntegerField(help_text="Active enrollments at the step now.")
    passed = serializers.IntegerField(help_text="Visits that left the step.")
    ended = serializers.IntegerField(help_text="Enrollments that finished at the step: "
                                               "completed, exited by the exit criteria, or failed.")


class StatsSerializer(serializers.Serializer):
    version = serializers.IntegerField(allow_null=True, help_text="Whose steps are counted.")
    enrollments = serializers.DictField(child=serializers.IntegerField(), help_text="The "
                                        "campaign's enrollments (every version) by state, and "
                                        "their total.")
    steps = StepStatsSerializer(many=True)


class StatusFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CampaignStatus.choices, required=False)
