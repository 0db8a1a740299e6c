"""The data bench/reports.py reads: 50 journey campaigns and their delivery log, generated
set-based (INSERT … SELECT over generate_series and cross joins) with the rollup trigger off.

Each campaign: send s1 → split s2 (A/B by profile parity) → send s3a | s3b; 5% of entrants
in the control group (visits, no messages). Per message a pseudo-random r in 0..999 decides
its fate: skipped (3%), bounced (2%), complained (0.2%), unsubscribed (0.3%), clicked (8%,
half of them two links), opened (38%), else delivered. Branch B converts at 6%, A at 4%,
the control group at 3%. Times spread over each campaign's first three days.
"""

from __future__ import annotations

import time
from datetime import timedelta

EVENTS_PER_ENROLLMENT = 6.5
R = "((d.enrollment_id * 7919 + d.campaign_step_id * 104729) % 1000)"


def generate(n_events: int, campaigns: int) -> dict:
    from django.db import connection

    started = time.perf_counter()
    per_campaign = max(100, int(n_events / campaigns / EVENTS_PER_ENROLLMENT))
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE channels_deliveryevent DISABLE TRIGGER "
                       "channels_deliveryevent_rollup")
        _profiles(cursor, per_campaign)
        ids = _campaigns(campaigns)
        for label, sql in (("enrollments", ENROLLMENTS), ("step visits", VISITS),
                           ("deliveries", DELIVERIES), ("delivery events", EVENTS)):
            step_started = time.perf_counter()
            cursor.execute(sql)
            print(f"  {cursor.rowcount:>11,} {label} in {time.perf_counter() - step_started:.1f}s")
            if label == "delivery events":
                events = cursor.rowcount
    seconds = time.perf_counter() - started
    print(f"generated {campaigns} campaigns × {per_campaign:,} entrants, {events:,} events "
          f"in {seconds:.1f}s")
    return {"events": events, "seconds": seconds, "report_ids": ids[:: max(1, len(ids) // 5)][:5]}


def _profiles(cursor, n: int) -> None:
    cursor.execute(
        """
        INSERT INTO profiles_profile (external_id, email, phone, first_name, last_name,
                                      timezone, locale, attributes, created_at, updated_at)
        SELECT 'g' || i, 'g' || i || '@example.com', '', 'Gen', 'Erated', 'UTC', '',
               '{"plan": "generated"}', now(), now()
          FROM generate_series(1, %s) AS i
        """, [n])


def _campaigns(n: int) -> list[int]:
    from django.utils import timezone

    from campaigns.models import Campaign, CampaignStatus, CampaignVersion, Step

    now = timezone.now()
    ids = []
    for k in range(n):
        start = now - timedelta(days=k % 25 + 1, hours=k)
        status = (CampaignStatus.RUNNING if k < 10 else CampaignStatus.SCHEDULED if k < 15
                  else CampaignStatus.COMPLETED)
        campaign = Campaign.objects.create(
            name=f"Bench {k}", status=status, holdout_percent=5, launched_at=start,
            next_run_at=now + timedelta(hours=k) if status != CampaignStatus.COMPLETED else None)
        version = CampaignVersion.objects.create(campaign=campaign, number=1, start_key="s1",
                                                 published_at=start)
        campaign.current_version = version
        campaign.save(update_fields=["current_version"])
        mail = {"kind": "send_email", "subject": "Hi", "html_body": "<p>Hi</p>"}
        Step.objects.create(campaign=campaign, version=version, key="s1", position=1, **mail)
        Step.objects.create(campaign=campaign, version=version, key="s2", position=2,
                            kind="split", config={"branches": [{"name": "A", "weight": 50},
                                                               {"name": "B", "weight": 50}]})
        Step.objects.create(campaign=campaign, version=version, key="s3a", position=3, **mail)
        Step.objects.create(campaign=campaign, version=version, key="s3b", position=4, **mail)
        ids.append(campaign.pk)
    return ids


ENROLLMENTS = """
INSERT INTO campaigns_enrollment (campaign_id, version_id, profile_id, entry_key, step_key,
                                  state, is_control, entered_at, finished_at, converted_at)
SELECT c.id, c.current_version_id, p.id, 'once', 's3', 'completed', p.id % 20 = 0, t.at,
       t.at + interval '1 day',
       CASE WHEN (p.id * 31 + c.id * 17) % 100 <
                 CASE WHEN p.id % 20 = 0 THEN 3 WHEN p.id % 2 = 0 THEN 4 ELSE 6 END
            THEN t.at + interval '30 hours' END
  FROM campaigns_campaign c
 CROSS JOIN profiles_profile p
 CROSS JOIN LATERAL (SELECT c.launched_at + (p.id % 4320) * interval '1 minute' AS at) t
 WHERE c.name LIKE 'Bench %%' AND p.external_id LIKE 'g%%'
""".replace("%%", "%")

VISITS = """
INSERT INTO campaigns_stepvisit (enrollment_id, step_id, campaign_id, entered_at, left_at,
                                 outcome, detail)
SELECT e.id, s.id, e.campaign_id, e.entered_at, e.entered_at,
       CASE WHEN s.key = 's2' THEN CASE WHEN e.profile_id % 2 = 0 THEN 'A' ELSE 'B' END
            ELSE 'next' END,
       CASE WHEN e.is_control AND s.kind = 'send_email' THEN 'holdout' ELSE '' END
  FROM campaigns_enrollment e
  JOIN campaigns_step s ON s.campaign_id = e.campaign_id
 WHERE s.key IN ('s1', 's2') OR (s.key = 's3a' AND e.profile_id % 2 = 0)
    OR (s.key = 's3b' AND e.profile_id % 2 = 1)
"""

DELIVERIES = f"""
INSERT INTO channels_delivery (profile_id, campaign_step_id, enrollment_id, channel, address,
                               status, reason, provider_message_id, error, created_at,
                               updated_at, sent_at)
SELECT d.profile_id, d.campaign_step_id, d.enrollment_id, 'email', d.address,
       CASE WHEN {R} < 30 THEN 'skipped' WHEN {R} < 50 THEN 'bounced'
            WHEN {R} < 52 THEN 'complained' WHEN {R} < 55 THEN 'unsubscribed'
            WHEN {R} < 135 THEN 'clicked' WHEN {R} < 435 THEN 'opened' ELSE 'delivered' END,
       CASE WHEN {R} < 20 THEN 'unsubscribed' WHEN {R} < 30 THEN 'frequency_capped' ELSE '' END,
       '', '', d.at, d.at, CASE WHEN {R} >= 30 THEN d.at + interval '1 minute' END
  FROM (SELECT e.profile_id, s.id AS campaign_step_id, e.id AS enrollment_id,
               'g' || e.profile_id || '@example.com' AS address,
               e.entered_at + CASE WHEN s.key = 's1' THEN interval '0' ELSE interval '1 day' END
                 AS at
          FROM campaigns_stepvisit v
          JOIN campaigns_step s ON s.id = v.step_id AND s.kind = 'send_email'
          JOIN campaigns_enrollment e ON e.id = v.enrollment_id AND NOT e.is_control) d
"""  # noqa: S608 — constants only

EVENTS = f"""
INSERT INTO channels_deliveryevent (delivery_id, status, occurred_at, detail)
SELECT d.id, v.status, d.created_at + v.after, v.detail
  FROM channels_delivery d
 CROSS JOIN LATERAL (VALUES
   ('queued', interval '0', '', true),
   ('skipped', interval '1 minute', 'Skipped', {R} < 30),
   ('sent', interval '1 minute', '', {R} >= 30),
   ('bounced', interval '3 minutes', 'bench: hard bounce', {R} >= 30 AND {R} < 50),
   ('delivered', interval '2 minutes', '', {R} >= 50),
   ('complained', interval '1 hour', 'bench: complained', {R} >= 50 AND {R} < 52),
   ('opened', ({R} % 48) * interval '1 hour' + interval '5 minutes', '', {R} >= 52 AND {R} < 435),
   ('unsubscribed', ({R} % 48) * interval '1 hour' + interval '9 minutes', 'email',
    {R} >= 52 AND {R} < 55),
   ('clicked', ({R} % 48) * interval '1 hour' + interval '7 minutes',
    'https://shop.example/p' || ({R} % 5), {R} >= 55 AND {R} < 135),
   ('clicked', ({R} % 48) * interval '1 hour' + interval '8 minutes',
    'https://shop.example/q' || ({R} % 3), {R} >= 55 AND {R} < 95)
 ) AS v(status, after, detail, applies)
 WHERE v.applies AND d.enrollment_id IS NOT NULL
"""  # noqa: S608 — constants only
