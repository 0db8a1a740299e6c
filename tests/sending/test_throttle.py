"""The per-channel send rate, counted in real Redis, with a fake clock."""

import uuid
from types import SimpleNamespace

import pytest

from channels.models import DeliveryStatus
from channels.sending import send_claimed
from channels.services import deliveries_claim
from channels.throttle import RateLimiter
from tests.factories import DeliveryFactory, StepFactory


def fresh_second() -> int:
    """A whole second no earlier run counted in (Redis keys live 2 s)."""
    return 1_000_000 + uuid.uuid4().int % 1_000_000_000


class FakeClock:
    def __init__(self, start: float):
        self.now, self.slept = start, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_a_limiter_lets_n_per_second_through_then_waits_for_the_next_second(redis_conn):
    clock = FakeClock(fresh_second() + 0.25)
    limiter = RateLimiter("sms", 3, connection=redis_conn, clock=clock, sleep=clock.sleep)

    for _ in range(7):
        limiter.wait()

    # 3 in the first second, 3 after waiting for the next, 1 more after another wait.
    assert clock.slept == [0.75, 1.0]


def test_two_limiters_share_one_allowance(redis_conn):
    clock = FakeClock(fresh_second() + 0.5)
    first = RateLimiter("push", 2, connection=redis_conn, clock=clock, sleep=clock.sleep)
    second = RateLimiter("push", 2, connection=redis_conn, clock=clock, sleep=clock.sleep)

    first.wait()
    first.wait()
    second.wait()

    assert clock.slept == [0.5]


@pytest.mark.django_db
def test_the_pipeline_waits_on_a_limited_channel(outbox, settings, redis_conn, monkeypatch):
    settings.SEND_RATE_LIMITS = {"email": 2}
    clock = FakeClock(fresh_second() + 0.5)
    monkeypatch.setattr("channels.throttle.time", SimpleNamespace(time=clock,
                                                                  sleep=clock.sleep))
    step = StepFactory()
    for _ in range(3):
        DeliveryFactory(campaign_step=step)

    outcomes = send_claimed(deliveries=deliveries_claim(campaign_step_id=step.pk, limit=10),
                            renderer=lambda d: {"subject": "Hi", "html": "<p>Hi</p>"})

    assert [o.status for o in outcomes] == [DeliveryStatus.SENT] * 3
    assert clock.slept == [0.5]  # the third message waited for the next second
    assert len(outbox["email"]) == 3
