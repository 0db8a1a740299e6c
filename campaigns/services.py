"""Campaign writes: create, edit, schedule, launch, send, complete.

Launch and send are idempotent and driven by row state, so the RQ job that runs them is
only a nudge: the sweep (config/cron.py) finds anything a lost job left behind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from campaigns.errors import CampaignError  # noqa: F401 — raised by and imported from here
from campaigns.models import Campaign, CampaignStatus, Step, StepKind
from campaigns.rendering import StepRenderer, step_content_errors, step_renderer
from channels.backends.base import EmailContent
from channels.message_templates import render_template
from channels.models import Channel, Delivery, DeliveryStatus, MessageKind
from channels.rendering import template_revision_current
from channels.services import deliveries_claim, deliveries_create_for_audience, send_claimed
from profiles.selectors import segment_members


def campaign_save(
    *, campaign: Campaign | None = None, name: str, description: str = "", segment=None,
    subject: str = "", html_body: str = "", text_body: str = "", template=None, user=None,
) -> Campaign:
    """Create a draft campaign with its message step, or edit a draft.

    The message is either a saved channel template (email, SMS, push, direct mail, webhook;
    checked when it was saved) or an email written inline here, checked now.
    """
    errors = {} if template is not None else step_content_errors(
        subject=subject, html_body=html_body, text_body=text_body
    )
    if not name.strip():
        errors["name"] = "A name is required."
    if campaign is not None and not campaign.is_editable:
        errors["__all__"] = f"A {campaign.get_status_display().lower()} campaign cannot be edited."
    if errors:
        raise CampaignError(errors)
    with transaction.atomic():
        if campaign is None:
            campaign = Campaign.objects.create(
                name=name, description=description, segment=segment, created_by=user
            )
        else:
            campaign.name, campaign.description, campaign.segment = name, description, segment
            campaign.save(update_fields=["name", "description", "segment", "updated_at"])
        Step.objects.update_or_create(campaign=campaign, position=1, defaults=_step_fields(
            template=template, subject=subject, html_body=html_body, text_body=text_body
        ))
    return campaign


def _step_fields(*, template, subject: str, html_body: str, text_body: str) -> dict[str, Any]:
    if template is not None:
        return {"kind": StepKind.SEND_MESSAGE, "channel": template.channel, "template": template,
                "subject": "", "html_body": "", "text_body": ""}
    return {"kind": StepKind.SEND_EMAIL, "channel": Channel.EMAIL, "template": None,
            "subject": subject, "html_body": html_body, "text_body": text_body}


def campaign_preview(*, campaign: Campaign, profile) -> EmailContent:
    """What the profile would receive, shown as subject, HTML and text whatever the channel."""
    step = campaign.steps.select_related("campaign", "template").get(position=1)
    if step.template is None:
        return StepRenderer(step).render(profile)
    content = render_template(
        revision=template_revision_current(template=step.template), profile=profile,
        campaign={"id": campaign.pk, "name": campaign.name},
    )
    return EmailContent(
        subject=content.get("subject") or content.get("title") or "",
        html=content.get("html", ""),
        text=content.get("text") or content.get("body") or content.get("letter")
        or str(content.get("payload", "")),
    )


def campaign_schedule(*, campaign: Campaign, at: datetime) -> Campaign:
    """Draft → scheduled. The launch job is enqueued for `at` once this commits."""
    problems = _launch_problems(campaign)
    if problems:
        raise CampaignError(problems)
    with transaction.atomic():
        updated = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
            status=CampaignStatus.SCHEDULED, scheduled_at=at, updated_at=timezone.now()
        )
        if not updated:
            raise CampaignError("Only a draft campaign can be scheduled.")
        from campaigns import jobs  # jobs import services; the cycle is broken here

        transaction.on_commit(lambda: jobs.enqueue_launch(campaign.pk, at))
    campaign.refresh_from_db()
    return campaign


def _launch_problems(campaign: Campaign) -> dict[str, str]:
    problems: dict[str, str] = {}
    if campaign.segment_id is None:
        problems["segment"] = "Choose an audience segment before scheduling."
    step = campaign.steps.filter(position=1).first()
    if step is None:
        problems["__all__"] = "The campaign has no email to send."
    elif step.template_id is None:  # a template was checked when it was saved
        problems.update(step_content_errors(
            subject=step.subject, html_body=step.html_body, text_body=step.text_body
        ))
    return problems


def campaign_unschedule(*, campaign: Campaign) -> Campaign:
    """Scheduled → draft, as long as the launch has not started."""
    updated = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SCHEDULED).update(
        status=CampaignStatus.DRAFT, scheduled_at=None, updated_at=timezone.now()
    )
    if not updated:
        raise CampaignError("Only a scheduled campaign that has not launched can be unscheduled.")
    campaign.refresh_from_db()
    return campaign


def campaign_launch(*, campaign_id: int, now: datetime | None = None) -> int:
    """Scheduled and due → running, with every member's delivery created set-based.

    The state change and the deliveries commit together: a crash leaves the campaign
    scheduled, and the sweep launches it again. Returns how many deliveries were created.
    """
    now = now or timezone.now()
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(skip_locked=True)
            .filter(pk=campaign_id, status=CampaignStatus.SCHEDULED, scheduled_at__lte=now)
            .first()
        )
        if campaign is None:
            return 0  # not due, already launched, unscheduled, or being launched right now
        step = campaign.steps.select_related("template").get(position=1)
        # Deliveries name the template revision current at launch: an edit while the
        # campaign runs does not change what its remaining deliveries say.
        revision = template_revision_current(template=step.template) if step.template else None
        created = deliveries_create_for_audience(
            campaign_step_id=step.pk, members=segment_members(segment=campaign.segment),
            channel=step.template.channel if step.template else step.channel,
            template_revision_id=revision.pk if revision else None,
            fixed_address=(step.template.content.get("url", "") if step.template else ""),
            kind=step.template.kind if step.template else MessageKind.MARKETING,
        )
        campaign.status, campaign.launched_at = CampaignStatus.RUNNING, now
        campaign.save(update_fields=["status", "launched_at", "updated_at"])
        from campaigns import jobs

        transaction.on_commit(lambda: jobs.enqueue_send(step.pk))
    return created


def step_send(*, step_id: int, batch_size: int | None = None) -> int:
    """Send the step's queued deliveries, batch after batch, until none is left."""
    step = Step.objects.select_related("campaign").get(pk=step_id)
    if step.campaign.status != CampaignStatus.RUNNING:
        return 0
    renderer = step_renderer(step)  # templates compiled once for every batch of this job
    attempted = 0
    while batch := deliveries_claim(
        campaign_step_id=step_id, limit=batch_size or settings.SEND_BATCH_SIZE
    ):
        send_claimed(deliveries=batch, renderer=renderer)
        attempted += len(batch)
    campaign_complete_if_done(campaign_id=step.campaign_id)
    return attempted


def campaign_complete_if_done(*, campaign_id: int) -> bool:
    """Running → completed once no delivery of the campaign is queued, deferred (quiet
    hours, a retry) or being sent."""
    return bool(campaigns_complete_if_done(campaign_id=campaign_id))


def campaigns_complete_if_done(*, campaign_id: int | None = None) -> int:
    """campaign_complete_if_done for every running campaign (or the one), in one UPDATE."""
    pending = Delivery.objects.filter(
        campaign_step__campaign=OuterRef("pk"),
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING],
    )
    running = Campaign.objects.filter(status=CampaignStatus.RUNNING)
    if campaign_id is not None:
        running = running.filter(pk=campaign_id)
    now = timezone.now()
    return running.filter(~Exists(pending)).update(
        status=CampaignStatus.COMPLETED, completed_at=now, updated_at=now
    )


def campaign_data(campaign: Campaign) -> dict[str, Any]:
    """The editable fields of a campaign and its email, for forms."""
    step = campaign.steps.filter(position=1).first()
    return {
        "name": campaign.name,
        "description": campaign.description,
        "segment": campaign.segment,
        "subject": step.subject if step else "",
        "html_body": step.html_body if step else "",
        "text_body": step.text_body if step else "",
        "template": step.template if step else None,
    }
