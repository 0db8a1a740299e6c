"""The delivery policy, one reason at a time, against real PostgreSQL."""

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels.models import (
    AddressHealth,
    AddressKind,
    Delivery,
    DeliveryStatus,
    MessageKind,
    Reason,
    Suppression,
    TemplateRevision,
)
from channels.policy import DEFER, SEND, SKIP, consent_verdict, evaluate
from profiles.consent import ConsentUpdate, consent_allows, consent_set
from profiles.models import ConsentState, Profile
from tests.factories import DeliveryFactory, MessageTemplateFactory, ProfileFactory, TopicFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 11, 30, tzinfo=UTC)


def verdict_for(delivery: Delivery, now: datetime = NOW):
    loaded = Delivery.objects.select_related("profile").get(pk=delivery.pk)
    return evaluate([loaded], now)[delivery.pk]


def opt(profile, channel: str, state: str, topic=None) -> None:
    consent_set(profile=profile, update=ConsentUpdate(
        channel=channel, state=state, topic=topic.key if topic else None))


def revision_with_topic(topic) -> TemplateRevision:
    template = MessageTemplateFactory(topic=topic)
    return TemplateRevision.objects.create(template=template, version=1, content=template.content)


# --- consent ---------------------------------------------------------------------------------


def test_a_profile_that_opted_out_of_email_is_skipped_as_unsubscribed():
    delivery = DeliveryFactory()
    opt(delivery.profile, "email", ConsentState.OPTED_OUT)

    verdict = verdict_for(delivery)

    assert (verdict.action, verdict.reason) == (SKIP, Reason.UNSUBSCRIBED)


def test_an_email_without_any_consent_row_is_sent_under_the_opt_out_regime():
    assert verdict_for(DeliveryFactory()).action == SEND


def test_an_unsubscribed_topic_skips_its_messages_but_not_the_channels_others():
    topic = TopicFactory(key="promotions")
    profile = ProfileFactory()
    opt(profile, "email", ConsentState.OPTED_OUT, topic=topic)
    promo = DeliveryFactory(profile=profile, template_revision=revision_with_topic(topic))
    other = DeliveryFactory(profile=profile)

    assert (verdict_for(promo).action, verdict_for(promo).reason) == (SKIP, Reason.UNSUBSCRIBED)
    assert verdict_for(other).action == SEND


def test_sms_without_an_opt_in_is_skipped_for_lack_of_consent():
    profile = ProfileFactory(phone="+33612345678")
    delivery = DeliveryFactory(profile=profile, channel="sms", address=profile.phone)

    verdict = verdict_for(delivery)

    assert (verdict.action, verdict.reason) == (SKIP, Reason.NO_CONSENT)


def test_the_batch_consent_rules_agree_with_consent_allows():
    disagreements = []
    for channel, channel_state in product(["email", "sms"], [None, *ConsentState.values]):
        profile = ProfileFactory()
        if channel_state:
            opt(profile, channel, channel_state)
        verdict = consent_verdict(channel=channel, channel_state=channel_state,
                                  topic_state=None, has_topic=False)
        if (verdict is None) != consent_allows(profile=profile, channel=channel):
            disagreements.append((channel, channel_state))

    assert disagreements == []


def test_an_explicit_sms_opt_in_allows_sms():
    profile = ProfileFactory(phone="+33612345678")
    opt(profile, "sms", ConsentState.OPTED_IN)
    delivery = DeliveryFactory(profile=profile, channel="sms", address=profile.phone)

    assert verdict_for(delivery, NOW.replace(hour=12)).action == SEND


def test_a_channel_opt_out_beats_a_topic_opt_in():
    topic = TopicFactory(key="news")
    profile = ProfileFactory()
    opt(profile, "email", ConsentState.OPTED_IN, topic=topic)
    opt(profile, "email", ConsentState.OPTED_OUT)

    verdict = verdict_for(DeliveryFactory(profile=profile,
                                          template_revision=revision_with_topic(topic)))

    assert verdict.reason == Reason.UNSUBSCRIBED


def test_a_topic_opt_in_allows_sms_without_a_channel_opt_in():
    topic = TopicFactory(key="alerts", channel="sms")
    profile = ProfileFactory()
    opt(profile, "sms", ConsentState.OPTED_IN, topic=topic)
    template = MessageTemplateFactory(topic=topic, channel="sms", content={"body": "Hi"})
    revision = TemplateRevision.objects.create(template=template, version=1, content={})

    verdict = verdict_for(DeliveryFactory(profile=profile, channel="sms", address="+33612345678",
                                          template_revision=revision), NOW.replace(hour=12))

    assert verdict.action == SEND


def test_a_transactional_message_ignores_a_marketing_opt_out():
    delivery = DeliveryFactory(kind=MessageKind.TRANSACTIONAL)
    opt(delivery.profile, "email", ConsentState.OPTED_OUT)

    assert verdict_for(delivery).action == SEND


# --- suppression and quarantine -----------------------------------------------------------


def test_a_suppressed_address_stays_suppressed_when_its_profile_is_re_created():
    Suppression.objects.create(kind=AddressKind.EMAIL, address="ada@example.com",
                               cause=Suppression.Cause.HARD_BOUNCE)
    ProfileFactory(email="ada@example.com").delete()
    again = ProfileFactory(email="Ada@Example.com")
    delivery = DeliveryFactory(profile=again)

    verdict = verdict_for(delivery)

    assert (verdict.action, verdict.reason) == (SKIP, Reason.SUPPRESSED)


def test_a_transactional_message_to_a_suppressed_address_is_skipped_too():
    Suppression.objects.create(kind=AddressKind.EMAIL, address="bob@example.com",
                               cause=Suppression.Cause.COMPLAINT)
    delivery = DeliveryFactory(profile=ProfileFactory(email="bob@example.com"),
                               kind=MessageKind.TRANSACTIONAL)

    assert verdict_for(delivery).reason == Reason.SUPPRESSED


def test_an_address_is_quarantined_once_its_soft_bounces_reach_the_setting(settings):
    settings.SOFT_BOUNCE_QUARANTINE = 3
    below = DeliveryFactory()
    at = DeliveryFactory()
    AddressHealth.objects.create(kind=AddressKind.EMAIL, address=below.address, soft_bounces=2)
    AddressHealth.objects.create(kind=AddressKind.EMAIL, address=at.address, soft_bounces=3)

    assert verdict_for(below).action == SEND
    assert (verdict_for(at).action, verdict_for(at).reason) == (SKIP, Reason.QUARANTINED)


# --- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(("channel", "address", "reason"), [
    ("email", "", Reason.MISSING_ADDRESS),
    ("email", "not-an-email", Reason.INVALID_ADDRESS),
    ("email", "a@b@example.com", Reason.INVALID_ADDRESS),
    ("sms", "0612345678", Reason.INVALID_ADDRESS),  # national form, not E.164
    ("sms", "+3361234", Reason.INVALID_ADDRESS),  # too short for France
    ("sms", "", Reason.MISSING_ADDRESS),
])
def test_missing_and_invalid_addresses_are_skipped_with_their_reason(channel, address, reason):
    delivery = DeliveryFactory(channel=channel, address=address, kind=MessageKind.TRANSACTIONAL)

    verdict = verdict_for(delivery)

    assert (verdict.action, verdict.reason) == (SKIP, reason)


def test_a_valid_e164_phone_is_sent():
    delivery = DeliveryFactory(channel="sms", address="+33612345678",
                               kind=MessageKind.TRANSACTIONAL)

    assert verdict_for(delivery).action == SEND


def test_an_erased_profiles_delivery_is_skipped():
    delivery = DeliveryFactory()
    Delivery.objects.filter(pk=delivery.pk).update(profile=None, address="")

    assert verdict_for(delivery).reason == Reason.PROFILE_ERASED


# --- frequency caps --------------------------------------------------------------------------


def sent_at(profile: Profile, when: datetime, **kwargs) -> Delivery:
    return DeliveryFactory(profile=profile, status=DeliveryStatus.SENT, sent_at=when, **kwargs)


def test_three_marketing_emails_in_seven_days_cap_the_fourth(settings):
    settings.FREQUENCY_CAPS = {"email": (3, 7)}
    profile = ProfileFactory(timezone="UTC")
    for days_ago in (1, 3, 6):
        sent_at(profile, NOW - timedelta(days=days_ago))
    sent_at(profile, NOW - timedelta(days=8))  # out of the window
    sent_at(profile, NOW - timedelta(days=1), kind=MessageKind.TRANSACTIONAL)  # not counted

    verdict = verdict_for(DeliveryFactory(profile=profile))

    assert (verdict.action, verdict.reason) == (SKIP, Reason.FREQUENCY_CAPPED)


def test_caps_count_days_from_midnight_in_the_profiles_time_zone(settings):
    # 11:30 UTC on the 10th is already 00:30 on the 11th in Auckland (UTC+13 in March):
    # a message sent at 10:00 UTC was sent "yesterday" there, but "today" in UTC.
    settings.FREQUENCY_CAPS = {"email": (1, 1)}
    auckland = ProfileFactory(timezone="Pacific/Auckland")
    utc = ProfileFactory(timezone="UTC")
    earlier = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    sent_at(auckland, earlier)
    sent_at(utc, earlier)

    assert verdict_for(DeliveryFactory(profile=auckland)).action == SEND
    assert verdict_for(DeliveryFactory(profile=utc)).reason == Reason.FREQUENCY_CAPPED


def test_a_batch_counts_what_it_lets_through_toward_the_cap(settings):
    settings.FREQUENCY_CAPS = {"email": (1, 7)}
    profile = ProfileFactory()
    first, second = DeliveryFactory(profile=profile), DeliveryFactory(profile=profile)

    verdicts = evaluate(list(Delivery.objects.select_related("profile").order_by("id")), NOW)

    assert verdicts[first.pk].action == SEND
    assert verdicts[second.pk].reason == Reason.FREQUENCY_CAPPED


# --- quiet hours -----------------------------------------------------------------------------


def sms_to(profile: Profile, **kwargs) -> Delivery:
    opt(profile, "sms", ConsentState.OPTED_IN)
    return DeliveryFactory(profile=profile, channel="sms", address="+33612345678", **kwargs)


def test_an_sms_in_quiet_hours_is_deferred_to_the_next_local_morning(settings):
    settings.QUIET_HOURS = {"sms": ("21:00", "08:00")}
    # 09:30 UTC is 22:30 in Auckland: deferred to 08:00 there, 19:00 UTC.
    auckland = sms_to(ProfileFactory(timezone="Pacific/Auckland"))
    paris = sms_to(ProfileFactory(timezone="Europe/Paris"))  # 10:30 there: fine

    deferred = verdict_for(auckland, datetime(2026, 3, 10, 9, 30, tzinfo=UTC))
    sent = verdict_for(paris, datetime(2026, 3, 10, 9, 30, tzinfo=UTC))

    assert (deferred.action, deferred.reason) == (DEFER, Reason.QUIET_HOURS_DEFERRED)
    assert deferred.until == datetime(2026, 3, 10, 19, 0, tzinfo=UTC)
    assert sent.action == SEND


def test_quiet_hours_after_midnight_defer_to_the_same_mornings_end(settings):
    settings.QUIET_HOURS = {"sms": ("21:00", "08:00")}
    paris = sms_to(ProfileFactory(timezone="Europe/Paris"))

    verdict = verdict_for(paris, datetime(2026, 3, 10, 2, 0, tzinfo=UTC))  # 03:00 in Paris

    assert verdict.until == datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # 08:00 in Paris


def test_emails_and_transactional_sms_ignore_quiet_hours(settings):
    settings.QUIET_HOURS = {"sms": ("21:00", "08:00")}
    night = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    profile = ProfileFactory(timezone="UTC")
    code = DeliveryFactory(profile=profile, channel="sms", address="+33612345678",
                           kind=MessageKind.TRANSACTIONAL)

    assert verdict_for(DeliveryFactory(profile=profile), night).action == SEND
    assert verdict_for(code, night).action == SEND


# --- proofs ----------------------------------------------------------------------------------


def test_a_proof_bypasses_consent_caps_and_quiet_hours(settings):
    settings.FREQUENCY_CAPS = {"sms": (0, 7)}
    settings.QUIET_HOURS = {"sms": ("00:00", "23:59")}
    profile = ProfileFactory()
    opt(profile, "sms", ConsentState.OPTED_OUT)
    proof = DeliveryFactory(profile=profile, channel="sms", address="+33612345678",
                            is_proof=True)
    seed = DeliveryFactory(profile=None, campaign_step=None, address="seed@example.com",
                           is_proof=True)

    assert verdict_for(proof).action == SEND
    assert verdict_for(seed).action == SEND


def test_a_proof_to_an_invalid_or_suppressed_address_is_still_skipped():
    Suppression.objects.create(kind=AddressKind.EMAIL, address="gone@example.com",
                               cause=Suppression.Cause.HARD_BOUNCE)
    invalid = DeliveryFactory(profile=None, campaign_step=None, address="nope", is_proof=True)
    gone = DeliveryFactory(profile=None, campaign_step=None, address="gone@example.com",
                           is_proof=True)

    assert verdict_for(invalid).reason == Reason.INVALID_ADDRESS
    assert verdict_for(gone).reason == Reason.SUPPRESSED


# --- set-based -------------------------------------------------------------------------------


def test_the_policy_runs_the_same_number_of_queries_for_10_or_200_deliveries(settings):
    settings.FREQUENCY_CAPS = {"email": (3, 7)}
    topic = TopicFactory(key="news")
    revision = revision_with_topic(topic)

    def queries_for(n: int) -> int:
        ids = [DeliveryFactory(template_revision=revision).pk for _ in range(n)]
        batch = list(Delivery.objects.select_related("profile").filter(pk__in=ids))
        with CaptureQueriesContext(connection) as captured:
            verdicts = evaluate(batch, NOW)
        assert len(verdicts) == n
        return len(captured)

    assert queries_for(10) == queries_for(200)
