"""A real send plus tracking, feedback, an unsubscribe and a proof: the mix reports count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from campaigns.models import CampaignStatus
from campaigns.services import campaign_launch, step_send
from channels.feedback import FeedbackEvent, feedback_apply_one
from channels.message_templates import proofs_send, seed_list_save, template_save
from channels.models import (
    Delivery,
    DeliveryStatus,
    MessageTemplate,
    SenderIdentity,
    TemplateRevision,
    TrackedLink,
)
from channels.tracking import click_record, open_record, sign_token
from channels.unsubscribe import unsubscribe
from profiles.consent import ConsentUpdate, consent_set
from profiles.models import ConsentState
from tests.factories import ProfileFactory, SegmentFactory, StepFactory


@dataclass
class Mix:
    step: object
    deliveries: list[Delivery]


def template_with_links() -> MessageTemplate:
    sender = SenderIdentity.objects.create(name="news", from_name="News",
                                           from_email="news@Mail.Example.org")
    return template_save(name="Newsletter", channel="email", sender=sender, content={
        "subject": "Hi {{ profile.first_name }}",
        "html": '<p>Hi <a href="https://a.example/x">x</a> <a href="https://b.example/y">y</a> '
                '<a href="{{ unsubscribe_url }}">stop</a></p>',
    })


def send_and_engage(*, profiles: int = 8) -> Mix:
    """Given a campaign of `profiles` pro profiles (one opted out, one without an email),
    when it is sent and its recipients open, click, bounce, complain and unsubscribe, and a
    proof goes to a seed list, then the log holds every kind of status the reports count."""
    segment = SegmentFactory()
    people = [ProfileFactory(attributes={"plan": "pro"}) for _ in range(profiles)]
    consent_set(profile=people[0], update=ConsentUpdate(channel="email",
                                                        state=ConsentState.OPTED_OUT))
    people[1].email = ""
    people[1].save(update_fields=["email"])
    template = template_with_links()
    step = StepFactory(campaign__segment=segment, template=template, kind="send_message")
    step.campaign.status = CampaignStatus.SCHEDULED
    step.campaign.scheduled_at = timezone.now()
    step.campaign.save(update_fields=["status", "scheduled_at"])
    campaign_launch(campaign_id=step.campaign_id)
    step_send(step_id=step.pk)
    deliveries = list(Delivery.objects.filter(campaign_step=step).order_by("id"))
    sent = [d for d in deliveries if d.status == DeliveryStatus.SENT]
    _engage(sent)
    revision = TemplateRevision.objects.get(template=template)
    proofs_send(revision=revision, seed_list=seed_list_save(name="seeds",
                                                            addresses=["seed@example.com"]))
    return Mix(step=step, deliveries=deliveries)


def _engage(sent: list[Delivery]) -> None:
    links = list(TrackedLink.objects.filter(revision_id=sent[0].template_revision_id))
    assert len(links) == 2
    now = timezone.now()
    for delivery in sent[:4]:
        open_record(token=sign_token("open", delivery.pk))
        open_record(token=sign_token("open", delivery.pk))  # a second open is not logged
    for delivery in sent[:2]:
        for link in links:  # two links each: two clicks, one first click
            click_record(token=sign_token("click", delivery.pk, link.pk))
    for index, delivery in enumerate(sent[:5]):
        feedback_apply_one(provider="test", event=FeedbackEvent(
            message_id=f"<delivery-{delivery.pk}@example.com>", type="delivered",
            occurred_at=now - timedelta(hours=index)))
    feedback_apply_one(provider="test", event=FeedbackEvent(
        message_id=f"<delivery-{sent[-1].pk}@example.com>", type="bounced", bounce_type="hard",
        occurred_at=now))
    feedback_apply_one(provider="test", event=FeedbackEvent(
        message_id=f"<delivery-{sent[-2].pk}@example.com>", type="complained",
        occurred_at=now))
    unsubscribe(delivery=Delivery.objects.get(pk=sent[2].pk))
