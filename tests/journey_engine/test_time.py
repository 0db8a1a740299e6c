"""Send windows and "wait until" moments in the profile's zone, across DST (pure)."""

from datetime import UTC, datetime

from campaigns.engine import Complete, Fail, Send, Visit, WaitUntil
from tests.journey_engine.helpers import facts, graph, run, state

PARIS = "Europe/Paris"


def _utc(*args):
    return datetime(*args, tzinfo=UTC)


def _until(time, weekdays=()):
    return graph({"key": "w", "kind": "wait",
                  "config": {"mode": "until", "time": time, "weekdays": list(weekdays)},
                  "exits": {"next": None}})


def test_wait_until_time_today_in_the_profiles_zone():
    # Wed 10 June 2026, 12:00 UTC = 14:00 in Paris (CEST, +2): 18:00 Paris is 16:00 UTC.
    now = _utc(2026, 6, 10, 12, 0)
    decision = run(_until("18:00"), state("w", entered_at=now), facts(timezone=PARIS), now=now)
    assert decision.actions[-1].at == _utc(2026, 6, 10, 16, 0)


def test_wait_until_time_already_past_today_is_tomorrow():
    now = _utc(2026, 6, 10, 12, 0)
    decision = run(_until("09:00"), state("w", entered_at=now), facts(timezone=PARIS), now=now)
    assert decision.actions[-1].at == _utc(2026, 6, 11, 7, 0)


def test_wait_until_weekday_across_spring_forward():
    # Fri 27 March 2026 10:00 UTC (11:00 CET); Monday 09:00 Paris is after the clocks moved
    # on Sunday 29 March, so it is 07:00 UTC, not 08:00.
    now = _utc(2026, 3, 27, 10, 0)
    decision = run(_until("09:00", [1]), state("w", entered_at=now), facts(timezone=PARIS),
                   now=now)
    assert decision.actions[-1].at == _utc(2026, 3, 30, 7, 0)


def test_wait_until_across_fall_back():
    # Sat 24 Oct 2026 (CEST) → Mon 26 Oct 09:00 CET = 08:00 UTC.
    now = _utc(2026, 10, 24, 10, 0)
    decision = run(_until("09:00", [1]), state("w", entered_at=now), facts(timezone=PARIS),
                   now=now)
    assert decision.actions[-1].at == _utc(2026, 10, 26, 8, 0)


def test_wait_until_a_time_that_does_not_exist_that_night():
    # 02:30 on 29 March 2026 does not exist in Paris: it is read as 03:30 CEST (01:30 UTC).
    now = _utc(2026, 3, 28, 22, 0)
    decision = run(_until("02:30"), state("w", entered_at=now), facts(timezone=PARIS), now=now)
    assert decision.actions[-1].at == _utc(2026, 3, 29, 1, 30)


def test_wait_until_goes_on_once_the_moment_is_reached():
    entered = _utc(2026, 6, 10, 12, 0)
    decision = run(_until("18:00"), state("w", entered_at=entered), facts(timezone=PARIS),
                   now=_utc(2026, 6, 10, 16, 0))
    assert decision.actions == (Visit("w", "next"), Complete("w"))


def test_an_unknown_zone_reads_as_utc():
    now = _utc(2026, 6, 10, 12, 0)
    decision = run(_until("18:00"), state("w", entered_at=now), facts(timezone="Mars/Olympus"),
                   now=now)
    assert decision.actions[-1].at == _utc(2026, 6, 10, 18, 0)


# --- send windows ---------------------------------------------------------------------

def _send(window=None):
    config = {"window": window} if window else {}
    return graph({"key": "s1", "kind": "send_message", "template": 1, "config": config,
                  "exits": {"next": None}})


OFFICE = {"start": "09:00", "end": "18:00", "days": [1, 2, 3, 4, 5]}


def test_inside_the_campaign_window_sends():
    now = _utc(2026, 6, 10, 12, 0)  # Wed 14:00 Paris
    decision = run(_send(), state(), facts(timezone=PARIS), now=now, send_window=OFFICE)
    assert decision.actions[0] == Send("s1")


def test_outside_the_window_waits_for_the_next_opening_then_sends():
    now = _utc(2026, 6, 12, 17, 0)  # Fri 19:00 Paris → Mon 09:00 Paris = 07:00 UTC
    decision = run(_send(), state(), facts(timezone=PARIS), now=now, send_window=OFFICE)
    assert decision.actions == (WaitUntil("s1", _utc(2026, 6, 15, 7, 0)),)
    assert decision.step_key == "s1"
    later = run(_send(), state(), facts(timezone=PARIS), now=_utc(2026, 6, 15, 7, 0),
                send_window=OFFICE)
    assert later.actions[0] == Send("s1")


def test_step_window_wrapping_past_midnight():
    night = {"start": "22:00", "end": "02:00", "days": [3]}  # opens Wednesdays only (UTC)
    inside_after_midnight = run(_send(night), now=_utc(2026, 6, 11, 1, 0))  # Thu 01:00
    assert inside_after_midnight.actions[0] == Send("s1")
    outside = run(_send(night), now=_utc(2026, 6, 11, 3, 0))  # Thu 03:00 → next Wed 22:00
    assert outside.actions[-1].at == _utc(2026, 6, 17, 22, 0)
    thursday_night = run(_send(night), now=_utc(2026, 6, 11, 23, 0))  # Thu is not a day
    assert isinstance(thursday_night.actions[-1], WaitUntil)


def test_campaign_and_step_windows_both_apply():
    morning = {"start": "08:00", "end": "12:00", "days": []}
    afternoon_overlap = {"start": "11:00", "end": "20:00", "days": []}
    decision = run(_send(afternoon_overlap), now=_utc(2026, 6, 10, 7, 0), send_window=morning)
    assert decision.actions[-1].at == _utc(2026, 6, 10, 11, 0)


def test_windows_that_never_meet_fail():
    decision = run(_send({"start": "13:00", "end": "14:00"}), now=_utc(2026, 6, 10, 7, 0),
                   send_window={"start": "08:00", "end": "09:00"})
    assert isinstance(decision.actions[-1], Fail)


def test_webhooks_ignore_the_campaign_window():
    hook = graph({"key": "s1", "kind": "webhook", "template": 2, "exits": {"next": None}})
    decision = run(hook, now=_utc(2026, 6, 10, 23, 0), send_window=OFFICE)
    assert decision.actions[0] == Send("s1")


def test_holdout_does_not_wait_for_the_window():
    now = _utc(2026, 6, 12, 17, 0)
    decision = run(_send(), state(is_control=True), facts(timezone=PARIS), now=now,
                   send_window=OFFICE)
    assert decision.actions == (Visit("s1", "next", "holdout"), Complete("s1"))


def test_window_opening_on_a_spring_forward_day():
    # Sunday 29 March 2026, window 09:00–10:00 Paris: opens at 07:00 UTC (CEST), not 08:00.
    window = {"start": "09:00", "end": "10:00", "days": [7]}
    decision = run(_send(window), state(), facts(timezone=PARIS), now=_utc(2026, 3, 28, 12, 0))
    assert decision.actions[-1].at == _utc(2026, 3, 29, 7, 0)
    assert run(_send(window), state(), facts(timezone=PARIS),
               now=_utc(2026, 3, 29, 7, 30)).actions[0] == Send("s1")
    assert isinstance(run(_send(window), state(), facts(timezone=PARIS),
                          now=_utc(2026, 3, 29, 8, 0)).actions[-1], WaitUntil)
