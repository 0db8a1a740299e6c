"""Campaign writes: create, edit, schedule, launch, send, complete.

Launch and send are idempotent and driven by row state, so the RQ job that runs them is
only a nudge: the sweep (config/cron.py) finds anything a lost job left behind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from campaigns import lifecycle, versions
from campaigns.errors import CampaignError  # noqa: F401 — raised by and imported from here
from campaigns.graph import SEND_KINDS
from campaigns.journeys import completion, entry, sending
from campaigns.models import Campaign, CampaignStatus, Step, StepKind
from campaigns.rendering import StepRenderer, step_content_errors
from campaigns.validation import Problem, validate
from channels.backends.base import EmailContent
from channels.message_templates import render_template
from channels.models import Channel
from channels.rendering import template_revision_current


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
        _first_step_save(versions.draft_version(campaign, user), _step_fields(
            template=template, subject=subject, html_body=html_body, text_body=text_body
        ))
    return campaign


def _first_step_save(version, fields: dict[str, Any]) -> Step:
    """The simple form edits the draft version's first step (its start), a message step."""
    key = version.start_key or "s1"
    step = version.steps.filter(key=key).first()
    if step is not None and step.kind not in SEND_KINDS:
        raise CampaignError("This campaign is a multi-step journey: edit it in the designer.")
    step, _ = Step.objects.update_or_create(
        version=version, key=key, defaults={"campaign_id": version.campaign_id, **fields}
    )
    if version.start_key != key:
        version.start_key = key
        version.save(update_fields=["start_key"])
    return step


def _step_fields(*, template, subject: str, html_body: str, text_body: str) -> dict[str, Any]:
    if template is not None:
        # A webhook template is sent by a webhook step (the validator refuses it elsewhere).
        kind = StepKind.WEBHOOK if template.channel == Channel.WEBHOOK else StepKind.SEND_MESSAGE
        return {"kind": kind, "channel": template.channel, "template": template,
                "subject": "", "html_body": "", "text_body": ""}
    return {"kind": StepKind.SEND_EMAIL, "channel": Channel.EMAIL, "template": None,
            "subject": subject, "html_body": html_body, "text_body": text_body}


def campaign_preview(*, campaign: Campaign, profile, step_key: str = "") -> EmailContent:
    """What the profile would receive from a message step (by default the first one of the
    version being edited, else the current one), as subject, HTML and text whatever the
    channel."""
    step = _message_step(campaign, step_key)
    if step is None:
        raise CampaignError("The campaign has no message step to preview.")
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


def _message_step(campaign: Campaign, step_key: str = "") -> Step | None:
    version = versions.draft_of(campaign) or campaign.current_version
    steps = (version.steps if version else campaign.steps.filter(version__isnull=True))
    steps = steps.select_related("campaign", "template").filter(kind__in=SEND_KINDS)
    if step_key:
        return steps.filter(key=step_key).first()
    start = version.start_key if version else ""
    return steps.filter(key=start).first() or steps.order_by("position", "id").first()


def campaign_schedule(*, campaign: Campaign, at: datetime) -> Campaign:
    """Draft → scheduled at `at` (the simple form's path): the draft version is validated
    and published (campaigns.lifecycle.publish); the launch job is enqueued on commit."""
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignError("Only a draft campaign can be scheduled.")
    return lifecycle.publish(campaign, at=at)


def campaign_problems(campaign: Campaign) -> list[Problem]:
    """What would stop the campaign's draft (else current) version from being published
    (steps made before versions are adopted into version 1 first, as publish does)."""
    version = (versions.draft_of(campaign) or campaign.current_version
               or versions.draft_version(campaign))
    return validate(campaign, versions.graph_of(campaign, version))


def campaign_unschedule(*, campaign: Campaign) -> Campaign:
    """Scheduled → draft, as long as the launch has not started."""
    return lifecycle.unschedule(campaign)


def campaign_launch(*, campaign_id: int, now: datetime | None = None) -> int:
    """Start the campaign's due audience run: the audience enrolled set-based, the campaign
    running, the walk nudged (campaigns.journeys.entry). Returns how many profiles entered;
    0 when not due, not scheduled any more, or already launched."""
    return entry.launch_due(campaign_id=campaign_id, now=now)


def step_send(*, step_id: int, batch_size: int | None = None) -> int:
    """Walk the step's campaign's due enrollments (their messages sent batch by batch),
    then send what the step still has queued; returns the messages attempted."""
    return sending.step_send(step_id=step_id, batch_size=batch_size)


def campaign_complete_if_done(*, campaign_id: int) -> bool:
    """Running → completed once the campaign is done (campaigns.journeys.completion)."""
    return bool(completion.complete_finished(campaign_id=campaign_id))


def campaign_data(campaign: Campaign) -> dict[str, Any]:
    """The editable fields of a campaign and its first message, for the simple form."""
    step = _message_step(campaign)
    return {
        "name": campaign.name,
        "description": campaign.description,
        "segment": campaign.segment,
        "subject": step.subject if step else "",
        "html_body": step.html_body if step else "",
        "text_body": step.text_body if step else "",
        "template": step.template if step else None,
    }
