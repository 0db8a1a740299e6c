"""Reads of campaigns: lists, their email step, deliveries and delivery counts."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Lower

from campaigns.models import (
    Campaign,
    CampaignVersion,
    Enrollment,
    EnrollmentState,
    Step,
    StepVisit,
)
from channels.models import Delivery, DeliveryStatus
from channels.selectors import delivery_counts
from profiles.models import Profile
from profiles.selectors import segment_members

# A step's live counts before anyone reached it (step_live_counts leaves such steps out).
ZERO_COUNTS = {"entered": 0, "waiting": 0, "passed": 0, "ended": 0}


def campaign_list(*, status: str = "") -> QuerySet[Campaign]:
    """Campaigns with their segment and `email_steps` (position 1, without the bodies)."""
    email_steps = Step.objects.filter(position=1).only("id", "campaign_id", "position", "subject")
    campaigns = Campaign.objects.select_related("segment").prefetch_related(
        Prefetch("steps", queryset=email_steps, to_attr="email_steps")
    )
    if status:
        campaigns = campaigns.filter(status=status)
    return campaigns


def _count_of(queryset: QuerySet, *, by: str = "campaign") -> Coalesce:
    """A correlated COUNT(*) per campaign (no join fan-out between the counted tables)."""
    counted = (queryset.filter(**{by: OuterRef("pk")}).order_by().values(by)
               .annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def campaign_rows(*, status: str = "") -> QuerySet[Campaign]:
    """The campaign list: each campaign with its entry, next run and key numbers
    (enrolled, in the journey now, converted, messages sent, failed)."""
    deliveries = Delivery.objects.all()
    campaigns = Campaign.objects.select_related("segment", "current_version").annotate(
        enrolled=_count_of(Enrollment.objects.all()),
        active=_count_of(Enrollment.objects.filter(state=EnrollmentState.ACTIVE)),
        converted=_count_of(Enrollment.objects.filter(converted_at__isnull=False)),
        sent=_count_of(deliveries.filter(status=DeliveryStatus.SENT), by="campaign_step__campaign"),
        failed=_count_of(deliveries.filter(status=DeliveryStatus.FAILED),
                         by="campaign_step__campaign"),
    )
    return campaigns.filter(status=status) if status else campaigns


def step_live_counts(*, version: CampaignVersion) -> dict[str, dict[str, int]]:
    """Per step key of the version: entered (visits), waiting here (active enrollments at
    the step), passed (visits that left it), ended (enrollments that finished there)."""
    counts: dict[str, dict[str, int]] = {}

    def row(key: str) -> dict[str, int]:
        return counts.setdefault(key, dict(ZERO_COUNTS))

    visits = (StepVisit.objects.filter(step__version=version).order_by().values("step__key")
              .annotate(entered=Count("pk"), passed=Count("pk", filter=Q(left_at__isnull=False))))
    for v in visits:
        row(v["step__key"]).update(entered=v["entered"], passed=v["passed"])
    here = (Enrollment.objects.filter(version=version).order_by().values("step_key")
            .annotate(waiting=Count("pk", filter=Q(state=EnrollmentState.ACTIVE)),
                      ended=Count("pk", filter=~Q(state=EnrollmentState.ACTIVE))))
    for e in here:
        row(e["step_key"]).update(waiting=e["waiting"], ended=e["ended"])
    return counts


def campaign_versions(*, campaign: Campaign) -> QuerySet[CampaignVersion]:
    """The campaign's versions, newest first, with how many enrollments are in each now."""
    return campaign.versions.annotate(
        # distinct: the two joins multiply rows (each enrollment once per step otherwise).
        in_flight=Count("enrollments", filter=Q(enrollments__state=EnrollmentState.ACTIVE),
                        distinct=True),
        steps_count=Count("steps", distinct=True),
    ).order_by("-number")


def campaign_deliveries(*, campaign: Campaign) -> QuerySet[Delivery]:
    return Delivery.objects.filter(campaign_step__campaign=campaign)


def campaign_delivery_counts(*, campaign: Campaign) -> dict[str, int]:
    return delivery_counts(deliveries=campaign_deliveries(campaign=campaign))


def campaigns_delivery_counts(*, campaign_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """The same counts as campaign_delivery_counts for many campaigns, in one query."""
    campaign_ids = list(campaign_ids)
    counts = {pk: dict.fromkeys(DeliveryStatus.values, 0) for pk in campaign_ids}
    rows = (
        Delivery.objects.filter(campaign_step__campaign_id__in=campaign_ids)
        .order_by()
        .values("campaign_step__campaign_id", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        counts[row["campaign_step__campaign_id"]][row["status"]] = row["n"]
    for by_status in counts.values():
        by_status["total"] = sum(by_status[s] for s in DeliveryStatus.values)
    return counts


def campaign_preview_profile(*, campaign: Campaign, profile_key: str = "") -> Profile | None:
    """The profile named by external id, email or number; else a member of the audience."""
    if profile_key:
        return profile_by_reference(profile_key)
    members = segment_members(segment=campaign.segment) if campaign.segment_id else None
    return (members.first() if members is not None else None) or Profile.objects.first()


def profile_by_reference(reference: str) -> Profile | None:
    """The profile named by external id, email (any case) or number."""
    profiles = Profile.objects.alias(email_lower=Lower("email"))
    return (
        profiles.filter(external_id=reference).first()
        or profiles.filter(email_lower=reference.lower()).first()
        or (profiles.filter(pk=int(reference)).first() if reference.isdigit() else None)
    )
