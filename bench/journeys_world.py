"""The data of bench/journeys.py: profiles, a segment, three campaigns, and the raw floors.

Profiles are written by one INSERT … SELECT generate_series (external ids j1…jN, all on the
"pro" plan, so the segment matches every one of them). Campaigns, versions and steps are
created directly through the models, published and running, as the lifecycle would leave
them: the bench measures the runtime, not the designer.
"""

from __future__ import annotations

import time
from datetime import timedelta

PLAN_RULES = {"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]}
ENTRY_EVENT = "bench_signup"
SUBJECT = "Welcome {{ profile.first_name | default: 'there' }}"
HTML = ("<h1>Hello {{ profile.first_name | default: 'there' }}</h1>"
        "<p>Thanks for joining on the {{ profile.attributes.plan }} plan.</p>")


def create_profiles(n: int) -> float:
    """N profiles in one statement; returns seconds."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO profiles_profile (external_id, email, phone, first_name, last_name,"
            " timezone, locale, attributes, created_at, updated_at)"
            " SELECT 'j' || g, 'j' || g || '@example.com', '', 'Ada', 'Lovelace', 'UTC',"
            " 'en-GB', '{\"plan\": \"pro\"}'::jsonb, now(), now()"
            " FROM generate_series(1, %s) g", [n])
        cursor.execute("VACUUM ANALYZE profiles_profile")
    return time.perf_counter() - started


def plan_segment():
    from profiles.services import segment_save

    return segment_save(name="bench journeys: pro plan", rules=PLAN_RULES)


def _campaign(name: str, steps: list[dict], **entry):
    """A running campaign with one published version holding `steps` (dicts of Step fields)."""
    from django.utils import timezone

    from campaigns.models import Campaign, CampaignStatus, CampaignVersion, Step

    now = timezone.now()
    campaign = Campaign.objects.create(name=name, status=CampaignStatus.RUNNING,
                                       launched_at=now, **entry)
    version = CampaignVersion.objects.create(campaign=campaign, number=1,
                                             start_key=steps[0]["key"], published_at=now)
    Step.objects.bulk_create(
        Step(campaign=campaign, version=version, position=i, **fields)
        for i, fields in enumerate(steps, start=1)
    )
    campaign.current_version = version
    campaign.save(update_fields=["current_version"])
    return campaign


def audience_campaign(segment):
    """Audience entry: the segment read once. A day's wait first, so nothing walks on."""
    return _campaign("bench journeys: audience", [
        {"key": "wait", "kind": "wait", "config": {"mode": "duration", "seconds": 86400},
         "exits": {"next": "mail"}},
        {"key": "mail", "kind": "send_email", "subject": SUBJECT, "html_body": HTML,
         "exits": {"next": None}},
    ], entry_kind="audience", segment=segment)


def event_campaign():
    """Event entry on ENTRY_EVENT; its first step sends an email; re-entry never."""
    return _campaign("bench journeys: real time", [
        {"key": "welcome", "kind": "send_email", "subject": SUBJECT, "html_body": HTML,
         "exits": {"next": None}},
    ], entry_kind="event", entry_event=ENTRY_EVENT, reentry="never")


def sweep_campaign():
    """A wait that is over, then an attribute update, then the end."""
    return _campaign("bench journeys: sweep", [
        {"key": "wait", "kind": "wait", "config": {"mode": "duration", "seconds": 60},
         "exits": {"next": "mark"}},
        {"key": "mark", "kind": "update_attribute",
         "config": {"attribute": "journey_seen", "value": True}, "exits": {"next": None}},
    ], entry_kind="audience")


def due_enrollments(campaign, n: int) -> None:
    """N enrollments of the sweep campaign parked at its wait, entered two minutes ago (the
    60 s wait is over): all due at once. The table is emptied first."""
    from django.db import connection
    from django.utils import timezone

    entered = timezone.now() - timedelta(minutes=2)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE campaigns_enrollment CASCADE")
        cursor.execute(
            "INSERT INTO campaigns_enrollment (campaign_id, version_id, profile_id, entry_key,"
            " step_key, state, next_due_at, wait_event, step_entered_at, is_control, data,"
            " entered_at, exit_reason, updated_at)"
            " SELECT %s, %s, p.id, 'once', 'wait', 'active', %s, '', %s, false,"
            "  '{}'::jsonb, %s, '', %s"
            " FROM profiles_profile p ORDER BY p.id LIMIT %s",
            [campaign.pk, campaign.current_version_id, entered + timedelta(seconds=60), entered,
             entered, entered, n])
        cursor.execute("VACUUM ANALYZE campaigns_enrollment")


def reset_enrollments() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE campaigns_enrollment, campaigns_campaignrun CASCADE")
        cursor.execute("VACUUM ANALYZE campaigns_enrollment")


# --- floors --------------------------------------------------------------------------------


def launch_floor(campaign, *, into: str) -> tuple[float, int]:
    """The segment's rows INSERT … SELECT'ed as enrollment rows; returns (seconds, rows).

    into "bare": a scratch table shaped like campaigns_enrollment, no index (the issue's
    floor); "indexed": the same with the enrollment table's indexes; "table":
    campaigns_enrollment itself (its indexes and four foreign keys), emptied afterwards.
    """
    from django.db import connection, transaction

    table = "campaigns_enrollment" if into == "table" else "bench_enrollment_floor"
    like = "INCLUDING DEFAULTS INCLUDING IDENTITY" + (" INCLUDING INDEXES"
                                                      if into == "indexed" else "")
    with connection.cursor() as cursor:
        if into != "table":
            cursor.execute("DROP TABLE IF EXISTS bench_enrollment_floor")
            cursor.execute(f"CREATE TABLE bench_enrollment_floor (LIKE campaigns_enrollment "
                           f"{like})")
        started = time.perf_counter()
        with transaction.atomic():  # the deferred foreign keys are checked at commit
            cursor.execute(
                f"INSERT INTO {table} (campaign_id, version_id, profile_id, entry_key,"  # noqa: S608 — a fixed name
                " step_key, state, next_due_at, wait_event, step_entered_at, is_control, data,"
                " entered_at, exit_reason, updated_at)"
                " SELECT %s, %s, p.id, 'run:floor', 'wait', 'active', now(), '', now(), false,"
                "  '{}'::jsonb, now(), '', now()"
                " FROM profiles_profile p WHERE p.attributes @> '{\"plan\": \"pro\"}'::jsonb",
                [campaign.pk, campaign.current_version_id])
            rows = cursor.rowcount
        elapsed = time.perf_counter() - started
        if into == "table":
            cursor.execute("TRUNCATE campaigns_enrollment CASCADE")
        else:
            cursor.execute("DROP TABLE bench_enrollment_floor")
    return elapsed, rows


def sweep_floor(campaign) -> float:
    """One plain UPDATE moving the due enrollments past their wait to completed (seconds)."""
    from django.db import connection

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            "UPDATE campaigns_enrollment SET step_key = 'mark', state = 'completed',"
            " next_due_at = NULL, finished_at = now(), updated_at = now()"
            " WHERE campaign_id = %s AND state = 'active' AND next_due_at <= now()",
            [campaign.pk])
        return time.perf_counter() - started
