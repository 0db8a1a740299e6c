"""Reads of campaigns: lists, their email step, deliveries and delivery counts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Step
from channels.models import Delivery, DeliveryStatus
from channels.selectors import delivery_counts
from profiles.models import Profile
from profiles.selectors import segment_members


def campaign_list(*, status: str = "") -> QuerySet[Campaign]:
    """Campaigns with their segment and `email_steps` (position 1, without the bodies)."""
    email_steps = Step.objects.filter(position=1).only("id", "campaign_id", "position", "subject")
    campaigns = Campaign.objects.select_related("segment").prefetch_related(
        Prefetch("steps", queryset=email_steps, to_attr="email_steps")
    )
    if status:
        campaigns = campaigns.filter(status=status)
    return campaigns


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
        profiles = Profile.objects.alias(email_lower=Lower("email"))
        return (
            profiles.filter(external_id=profile_key).first()
            or profiles.filter(email_lower=profile_key.lower()).first()
            or (profiles.filter(pk=int(profile_key)).first() if profile_key.isdigit() else None)
        )
    members = segment_members(segment=campaign.segment) if campaign.segment_id else None
    return (members.first() if members is not None else None) or Profile.objects.first()


def dashboard_figures(*, days: int = 30) -> dict[str, Any]:
    by_status = dict.fromkeys(CampaignStatus.values, 0)
    for row in Campaign.objects.order_by().values("status").annotate(n=Count("id")):
        by_status[row["status"]] = row["n"]
    since = timezone.now() - timedelta(days=days)
    recent_deliveries = Delivery.objects.filter(created_at__gte=since)
    return {
        "days": days,
        "profiles": Profile.objects.count(),
        "campaigns_by_status": by_status,
        "deliveries": delivery_counts(deliveries=recent_deliveries),
        "upcoming": campaign_list(status=CampaignStatus.SCHEDULED).order_by("scheduled_at")[:5],
        "recent": Campaign.objects.select_related("segment").order_by("-updated_at")[:5],
    }
