"""A journey batch's messages materialized for other channels than email."""

import pytest

from campaigns.models import Enrollment
from channels.models import Delivery, DeliveryEvent, DeliveryStatus, Reason, TemplateRevision
from channels.services import EnrollmentSend, deliveries_create_for_enrollments
from profiles.models import PushSubscription
from tests.factories import MessageTemplateFactory, ProfileFactory, StepFactory

pytestmark = pytest.mark.django_db


def enrolled(step, profile) -> Enrollment:
    from campaigns.models import CampaignVersion

    version = CampaignVersion.objects.get_or_create(campaign=step.campaign, number=1)[0]
    return Enrollment.objects.create(campaign=step.campaign, version=version, profile=profile,
                                     entry_key="once", step_key=step.key)


def sends(step, profiles, **fields) -> list[EnrollmentSend]:
    return [EnrollmentSend(enrollment_id=enrolled(step, p).pk, step_id=step.pk,
                           profile_id=p.pk, **fields) for p in profiles]


def test_an_sms_step_addresses_each_members_phone_and_skips_those_without_one():
    template = MessageTemplateFactory(channel="sms", content={"body": "Hi"})
    revision = TemplateRevision.objects.create(template=template, version=1, content={})
    step = StepFactory(template=template, channel="sms")
    with_phone = ProfileFactory(phone="+33612345678")
    without = ProfileFactory(phone="")

    created = deliveries_create_for_enrollments(sends=sends(
        step, [with_phone, without], channel="sms", template_revision_id=revision.pk))

    assert sorted(status for _, _, status in created) == ["queued", "skipped"]
    sms = Delivery.objects.get(profile=with_phone)
    assert (sms.channel, sms.address, sms.status, sms.template_revision_id) == (
        "sms", "+33612345678", DeliveryStatus.QUEUED, revision.pk)
    skipped = Delivery.objects.get(profile=without)
    assert (skipped.status, skipped.reason) == (DeliveryStatus.SKIPPED, Reason.MISSING_ADDRESS)
    assert DeliveryEvent.objects.filter(delivery=skipped).get().status == "skipped"


def test_a_push_step_addresses_the_members_newest_subscription():
    step = StepFactory(channel="push")
    profile = ProfileFactory()
    for token in ("old-token", "new-token"):
        PushSubscription.objects.create(profile=profile, kind="fcm", platform="android",
                                        token=token)

    deliveries_create_for_enrollments(sends=sends(step, [profile], channel="push"))

    assert Delivery.objects.get(profile=profile).address == "new-token"


def test_a_transactional_templates_deliveries_are_transactional():
    template = MessageTemplateFactory(kind="transactional")
    step = StepFactory(template=template)

    deliveries_create_for_enrollments(sends=sends(step, [ProfileFactory()], kind=template.kind))

    assert Delivery.objects.get().kind == "transactional"


def test_a_replayed_batch_creates_nothing_twice():
    step = StepFactory()
    batch = sends(step, [ProfileFactory(), ProfileFactory()])
    deliveries_create_for_enrollments(sends=batch)

    again = deliveries_create_for_enrollments(sends=batch)

    assert again == []
    assert Delivery.objects.count() == DeliveryEvent.objects.count() == 2
