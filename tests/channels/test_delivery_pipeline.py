"""The delivery pipeline against real PostgreSQL and a real SMTP server on 127.0.0.1."""

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from channels.backends.base import EmailContent
from channels.models import Delivery, DeliveryEvent, DeliveryStatus, Reason
from channels.services import (
    INTERRUPTED,
    NO_EMAIL,
    deliveries_claim,
    deliveries_create_for_enrollments,
    deliveries_fail_interrupted,
    email_send_batch,
)
from tests.factories import DeliveryFactory, ProfileFactory, StepFactory
from tests.sending.test_audience import sends
from tests.smtp import SmtpSink, closed_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def _point_django_at(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp(settings, smtp_sink):
    _point_django_at(settings, smtp_sink.port)
    return smtp_sink


@pytest.fixture
def step():
    return StepFactory()


def queued(step, n: int) -> list[Delivery]:
    return [DeliveryFactory(campaign_step=step) for _ in range(n)]


def content_for(delivery: Delivery) -> EmailContent:
    name = delivery.profile.first_name
    return EmailContent(subject=f"Hello {name}", html=f"<p>Hello <b>{name}</b></p>",
                        text=f"Hello {name}")


def events_of(delivery: Delivery) -> list[str]:
    return list(DeliveryEvent.objects.filter(delivery=delivery).values_list("status", flat=True))


# --- claim --------------------------------------------------------------------------------


def test_claims_never_return_the_same_delivery_twice(step):
    deliveries = queued(step, 5)

    first = deliveries_claim(campaign_step_id=step.pk, limit=3)
    second = deliveries_claim(campaign_step_id=step.pk, limit=3)
    third = deliveries_claim(campaign_step_id=step.pk, limit=3)

    first_ids, second_ids = {d.id for d in first}, {d.id for d in second}
    assert len(first_ids) == 3
    assert len(second_ids) == 2
    assert not first_ids & second_ids
    assert first_ids | second_ids == {d.id for d in deliveries}
    assert third == []


def test_a_claim_moves_deliveries_to_sending_with_a_claim_time(step):
    queued(step, 2)

    claimed = deliveries_claim(campaign_step_id=step.pk, limit=10)

    assert {d.status for d in claimed} == {DeliveryStatus.SENDING}
    assert all(d.claimed_at is not None for d in claimed)
    assert Delivery.objects.filter(status=DeliveryStatus.QUEUED).count() == 0


def test_a_claim_takes_only_queued_deliveries_of_its_step(step):
    mine = DeliveryFactory(campaign_step=step)
    DeliveryFactory(campaign_step=step, status=DeliveryStatus.SENT)
    DeliveryFactory(campaign_step=step, status=DeliveryStatus.FAILED)
    DeliveryFactory()  # another step's

    claimed = deliveries_claim(campaign_step_id=step.pk, limit=10)

    assert [d.id for d in claimed] == [mine.id]


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_skip_rows_another_claim_holds():
    step = StepFactory()
    queued(step, 6)
    held, release = threading.Event(), threading.Event()
    claimed_by_other: list[int] = []

    def other_worker():
        try:
            with transaction.atomic():  # its claim stays uncommitted until released
                claimed_by_other.extend(
                    d.id for d in deliveries_claim(campaign_step_id=step.pk, limit=4)
                )
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert held.wait(10)
        with connection.cursor() as cursor:  # waiting for the other claim's locks is a failure
            cursor.execute("SET lock_timeout = '2s'")
        mine = deliveries_claim(campaign_step_id=step.pk, limit=10)
    finally:
        release.set()
        thread.join(10)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert len(claimed_by_other) == 4
    assert len(mine) == 2
    assert not {d.id for d in mine} & set(claimed_by_other)


# --- send ---------------------------------------------------------------------------------


def test_a_batch_is_sent_as_multipart_alternative_with_the_delivery_message_id(smtp, step):
    deliveries = queued(step, 3)
    claimed = deliveries_claim(campaign_step_id=step.pk, limit=10)

    outcomes = email_send_batch(deliveries=claimed, render=content_for)

    assert [o.status for o in outcomes] == [DeliveryStatus.SENT] * 3
    received = smtp.by_recipient()
    for delivery in deliveries:
        [message] = received[delivery.address]
        assert message.get_content_type() == "multipart/alternative"
        assert re.fullmatch(rf"<delivery-{delivery.id}@[^>]+>", message["Message-ID"])
        assert message["Subject"] == f"Hello {delivery.profile.first_name}"
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        assert text.strip() == f"Hello {delivery.profile.first_name}"
        assert f"<b>{delivery.profile.first_name}</b>" in html


def test_a_sent_batch_is_recorded_with_one_sent_event_each(smtp, step):
    deliveries = queued(step, 3)

    email_send_batch(deliveries=deliveries_claim(campaign_step_id=step.pk, limit=10),
                     render=content_for)

    by_message_id = {m.parsed()["Message-ID"]: m for m in smtp.messages}
    for delivery in deliveries:
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SENT
        assert delivery.sent_at is not None
        assert delivery.error == ""
        assert delivery.provider_message_id in by_message_id
        assert events_of(delivery) == [DeliveryStatus.SENT]


def test_a_batch_uses_one_smtp_connection(smtp, step):
    queued(step, 4)

    email_send_batch(deliveries=deliveries_claim(campaign_step_id=step.pk, limit=10),
                     render=content_for)

    assert len(smtp.messages) == 4
    assert len({m.peer for m in smtp.messages}) == 1


def test_a_refused_recipient_fails_with_the_smtp_reply_and_the_others_are_sent(smtp, step):
    first, refused, last = queued(step, 3)
    smtp.refuse.add(refused.address)

    email_send_batch(deliveries=deliveries_claim(campaign_step_id=step.pk, limit=10),
                     render=content_for)

    refused.refresh_from_db()
    assert refused.status == DeliveryStatus.FAILED
    assert refused.reason == Reason.PROVIDER_ERROR
    assert refused.error.startswith("SMTP 550: ")
    assert "Recipient address rejected" in refused.error
    assert events_of(refused) == [DeliveryStatus.FAILED]
    assert DeliveryEvent.objects.get(delivery=refused).detail == refused.error
    for delivery in (first, last):
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SENT
    assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == sorted(
        [first.address, last.address]
    )


def test_a_template_that_fails_for_one_profile_fails_only_that_delivery(smtp, step):
    good, bad = queued(step, 2)

    def render(delivery):
        if delivery.id == bad.id:
            raise ValueError("loop iteration limit reached")
        return content_for(delivery)

    email_send_batch(deliveries=deliveries_claim(campaign_step_id=step.pk, limit=10),
                     render=render)

    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == DeliveryStatus.SENT
    assert bad.status == DeliveryStatus.FAILED
    assert bad.reason == Reason.TEMPLATE_ERROR
    assert bad.error == "Template error: loop iteration limit reached"
    assert [m.rcpt_tos for m in smtp.messages] == [(good.address,)]


def test_an_unreachable_server_defers_every_claimed_delivery_with_the_reason(settings, step):
    _point_django_at(settings, closed_port())
    deliveries = queued(step, 3)

    outcomes = email_send_batch(
        deliveries=deliveries_claim(campaign_step_id=step.pk, limit=10), render=content_for
    )

    assert len(outcomes) == 3
    assert not Delivery.objects.filter(status=DeliveryStatus.SENDING).exists()
    for delivery in deliveries:
        delivery.refresh_from_db()
        # Retryable: tried again after the backoff (tests/sending covers the last attempt).
        assert delivery.status == DeliveryStatus.DEFERRED
        assert delivery.reason == Reason.PROVIDER_ERROR
        assert delivery.next_attempt_at is not None
        assert delivery.attempts == 1
        assert "mail server" in delivery.error
        assert "refused" in delivery.error.lower()
        assert events_of(delivery) == [DeliveryStatus.DEFERRED]


# --- interrupted sends --------------------------------------------------------------------


def test_stale_sending_deliveries_become_unknown_once(settings, step):
    settings.SEND_LEASE_SECONDS = 600
    stale = DeliveryFactory(campaign_step=step, status=DeliveryStatus.SENDING,
                            claimed_at=timezone.now() - timedelta(minutes=11))
    fresh = DeliveryFactory(campaign_step=step, status=DeliveryStatus.SENDING,
                            claimed_at=timezone.now() - timedelta(minutes=1))

    first = deliveries_fail_interrupted()
    second = deliveries_fail_interrupted()

    assert (first, second) == (1, 0)
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == DeliveryStatus.UNKNOWN
    assert stale.reason == Reason.INTERRUPTED
    assert stale.error == INTERRUPTED
    assert events_of(stale) == [DeliveryStatus.UNKNOWN]
    assert fresh.status == DeliveryStatus.SENDING
    assert events_of(fresh) == []


def test_an_interrupted_delivery_that_was_recorded_meanwhile_is_left_alone(step):
    delivery = DeliveryFactory(campaign_step=step, status=DeliveryStatus.SENT,
                               claimed_at=timezone.now() - timedelta(hours=1))

    assert deliveries_fail_interrupted(older_than=timedelta(minutes=1)) == 0

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


# --- a journey batch's email deliveries ----------------------------------------------------
# (Audience materialization moved to the journey runtime: an audience run enrolls profiles and
# the walk creates each batch's deliveries through deliveries_create_for_enrollments.)


def test_one_queued_delivery_per_enrollment_with_its_first_log_row(step):
    members = [ProfileFactory() for _ in range(3)]

    created = deliveries_create_for_enrollments(sends=sends(step, members))

    assert len(created) == 3
    deliveries = Delivery.objects.filter(campaign_step=step)
    assert {(d.profile_id, d.address, d.status, d.channel) for d in deliveries} == {
        (p.id, p.email, DeliveryStatus.QUEUED, "email") for p in members
    }
    for delivery in deliveries:
        assert delivery.enrollment_id is not None
        assert events_of(delivery) == [DeliveryStatus.QUEUED]


def test_members_without_email_are_recorded_as_skipped(step):
    nomail = ProfileFactory(email="")

    deliveries_create_for_enrollments(sends=sends(step, [ProfileFactory(), nomail]))

    skipped = Delivery.objects.get(profile=nomail)
    assert skipped.status == DeliveryStatus.SKIPPED
    assert skipped.reason == Reason.MISSING_ADDRESS
    assert skipped.error == NO_EMAIL
    assert events_of(skipped) == [DeliveryStatus.SKIPPED]
    assert Delivery.objects.filter(status=DeliveryStatus.QUEUED).count() == 1


def test_a_later_enrollment_gets_its_delivery_and_a_replay_creates_nothing(step):
    first = sends(step, [ProfileFactory(), ProfileFactory()])
    deliveries_create_for_enrollments(sends=first)
    late = sends(step, [ProfileFactory()])

    again = deliveries_create_for_enrollments(sends=first + late)

    assert [status for _, _, status in again] == ["queued"]
    assert Delivery.objects.count() == DeliveryEvent.objects.count() == 3


def test_an_empty_batch_creates_nothing():
    assert deliveries_create_for_enrollments(sends=[]) == []
