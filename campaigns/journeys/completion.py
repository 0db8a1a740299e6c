"""When a campaign is done: running → completed, never early.

An audience campaign without recurrence is done once it has run, every run has finished
enrolling, no enrollment is still active (walking or waiting), and no delivery is queued,
deferred (quiet hours, a retry) or being sent. Event and segment-entry journeys, and
recurring audiences, run until they are paused or archived: they never complete by
themselves. One UPDATE … WHERE NOT EXISTS for every campaign at once.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, CampaignStatus, Enrollment, EntryKind
from channels.models import Delivery, DeliveryStatus

PENDING = [DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING]


def complete_finished(*, campaign_id: int | None = None) -> int:
    """Complete every finished campaign (or the one); returns how many were completed."""
    runs = CampaignRun.objects.filter(campaign=OuterRef("pk"))
    done = (
        Campaign.objects.filter(status=CampaignStatus.RUNNING, entry_kind=EntryKind.AUDIENCE,
                                recurrence="", next_run_at__isnull=True)
        .filter(Exists(runs))
        .exclude(Exists(runs.filter(finished_at__isnull=True)))
        .exclude(Exists(Enrollment.objects.filter(campaign=OuterRef("pk"), state="active")))
        .exclude(Exists(Delivery.objects.filter(campaign_step__campaign=OuterRef("pk"),
                                                status__in=PENDING)))
    )
    if campaign_id is not None:
        done = done.filter(pk=campaign_id)
    now = timezone.now()
    return done.update(status=CampaignStatus.COMPLETED, completed_at=now, updated_at=now)
