"""Hourly rollups of the delivery status log (channels.models.DeliveryRollup), and their
daily sums (DeliveryRollupDaily, what the dashboard reads).

Why a trigger and not Python in deliveries_record: the log is written by at least eight
paths (the send pipeline, set-based launches, deferral releases, tracking, feedback,
unsubscribes, erasure, direct-mail exports, the transactional API, the journey runtime).
One statement-level AFTER INSERT trigger with a transition table sees every one of them,
adds one INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE per statement (not per row), and
commits or rolls back with the events it counts. bench/reports.py measures its cost on
send throughput.

Buckets are UTC hours of the event's occurred_at. Groups are written in key order so two
workers recording batches at once lock the same rows in the same order (no deadlock).

Unique deliveries: `firsts` counts an event only when no earlier log row of the same status
exists for its delivery. The check runs for the engagement statuses (delivered, opened,
clicked, bounced, complained, unsubscribed), which arrive one request at a time; the send
path's statuses (queued, sending, sent, skipped, failed, …) are logged once per delivery per
attempt, so there `firsts` = `count` and the hot path pays no extra lookup.
"""

from __future__ import annotations

from django.db import connection, transaction

UNIQUE_CHECKED = ("delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")
# Final statuses only: a deferred delivery's reason is cleared when it is sent, so counting it
# here would make a rebuild disagree with what the trigger counted.
WITH_REASON = ("skipped", "failed", "unknown")

_IN_CHECKED = ", ".join(f"'{s}'" for s in UNIQUE_CHECKED)
_IN_REASON = ", ".join(f"'{s}'" for s in WITH_REASON)

# The bucket of one log row `n` joined to its delivery `d` (and step `s`, sender `si`).
_BUCKET = f"""
    date_trunc('hour', n.occurred_at, 'UTC'), s.campaign_id, d.campaign_step_id, d.channel,
    n.status, CASE WHEN n.status IN ({_IN_REASON}) THEN d.reason ELSE '' END,
    COALESCE(lower(split_part(si.from_email, '@', 2)), ''),
    CASE WHEN n.status = 'clicked' THEN left(n.detail, 1000) ELSE '' END
"""
_JOINS = """
    JOIN channels_delivery d ON d.id = n.delivery_id
    LEFT JOIN campaigns_step s ON s.id = d.campaign_step_id
    LEFT JOIN channels_templaterevision tr ON tr.id = d.template_revision_id
    LEFT JOIN channels_messagetemplate t ON t.id = tr.template_id
    LEFT JOIN channels_senderidentity si ON si.id = t.sender_id
"""
_COLUMNS = "hour, campaign_id, step_id, channel, status, reason, domain, url, count, firsts"
_UPSERT = """
    ON CONFLICT (hour, campaign_id, step_id, channel, status, reason, domain, url) DO UPDATE
       SET count = r.count + EXCLUDED.count, firsts = r.firsts + EXCLUDED.firsts
"""

_DAILY_COLUMNS = "day, campaign_id, channel, status, domain, count, firsts"
# The day buckets of hourly buckets `b`.
_DAILY_SELECT = """
    SELECT date_trunc('day', b.hour, 'UTC'), b.campaign_id, b.channel, b.status, b.domain,
           sum(b.count), sum(b.firsts)
      FROM {source} b
     GROUP BY 1, 2, 3, 4, 5
"""
_DAILY_UPSERT = """
    ON CONFLICT (day, campaign_id, channel, status, domain) DO UPDATE
       SET count = r.count + EXCLUDED.count, firsts = r.firsts + EXCLUDED.firsts
"""

# One statement: the new log rows are joined and grouped once, then added to the hourly and
# the daily buckets.
TRIGGER_SQL = f"""
CREATE OR REPLACE FUNCTION channels_rollup_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    WITH buckets (hour, campaign_id, step_id, channel, status, reason, domain, url, count,
                  firsts) AS (
        SELECT {_BUCKET}, count(*),
               count(*) FILTER (
                   WHERE n.status NOT IN ({_IN_CHECKED}) OR NOT EXISTS (
                       SELECT 1 FROM channels_deliveryevent e
                        WHERE e.delivery_id = n.delivery_id AND e.status = n.status
                          AND e.id < n.id))
          FROM new_events n {_JOINS}
         WHERE NOT d.is_proof
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ), hourly AS (
        INSERT INTO channels_deliveryrollup AS r ({_COLUMNS})
        SELECT * FROM buckets ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
        {_UPSERT}
    )
    INSERT INTO channels_deliveryrollupdaily AS r ({_DAILY_COLUMNS})
    SELECT * FROM ({_DAILY_SELECT.format(source="buckets")}) daily ORDER BY 1, 2, 3, 4, 5
    {_DAILY_UPSERT};
    RETURN NULL;
END
$$;
CREATE TRIGGER channels_deliveryevent_rollup
    AFTER INSERT ON channels_deliveryevent
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION channels_rollup_events();
"""  # noqa: S608 — constants only, no input

DROP_TRIGGER_SQL = """
DROP TRIGGER IF EXISTS channels_deliveryevent_rollup ON channels_deliveryevent;
DROP FUNCTION IF EXISTS channels_rollup_events();
"""

# The same buckets from the whole log: a first is the lowest id of its (delivery, status).
_RAW_SELECT = f"""
    SELECT {_BUCKET}, count(*),
           count(*) FILTER (WHERE n.status NOT IN ({_IN_CHECKED}) OR n.is_first)
      FROM (SELECT ev.*, ev.id = min(ev.id) OVER (PARTITION BY ev.delivery_id, ev.status)
                   AS is_first
              FROM channels_deliveryevent ev) n {_JOINS}
     WHERE NOT d.is_proof
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
"""  # noqa: S608 — constants only, no input
# Into an emptied table: the GROUP BY already makes each bucket one row.
_REBUILD_SQL = f"INSERT INTO channels_deliveryrollup ({_COLUMNS}) {_RAW_SELECT}"
_REBUILD_DAILY_SQL = (f"INSERT INTO channels_deliveryrollupdaily ({_DAILY_COLUMNS}) "
                      + _DAILY_SELECT.format(source="channels_deliveryrollup"))


def rollups_rebuild() -> int:
    """Recompute every rollup from the status log; returns the number of buckets.

    The log is locked against inserts meanwhile (SHARE mode lets reads go on), so no event
    is counted twice or missed.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE channels_deliveryevent IN SHARE MODE")
        cursor.execute("DELETE FROM channels_deliveryrollup")
        cursor.execute("DELETE FROM channels_deliveryrollupdaily")
        cursor.execute(_REBUILD_SQL)
        buckets = cursor.rowcount
        cursor.execute(_REBUILD_DAILY_SQL)
        return buckets


def rollups_raw_counts() -> dict[tuple, tuple[int, int]]:
    """The buckets computed straight from the log without writing (for checks and tests):
    {(hour, campaign_id, step_id, channel, status, reason, domain, url): (count, firsts)}."""
    return _buckets_read(_RAW_SELECT, keys=8)


def rollups_daily_stored() -> dict[tuple, tuple[int, int]]:
    """{(day, campaign_id, channel, status, domain): (count, firsts)} as stored."""
    return _buckets_read(f"SELECT {_DAILY_COLUMNS} FROM channels_deliveryrollupdaily", keys=5)  # noqa: S608


def rollups_daily_from_hourly() -> dict[tuple, tuple[int, int]]:
    return _buckets_read(_DAILY_SELECT.format(source="channels_deliveryrollup"), keys=5)


def rollups_stored() -> dict[tuple, tuple[int, int]]:
    return _buckets_read(
        f"SELECT {_COLUMNS} FROM channels_deliveryrollup WHERE count > 0", keys=8)  # noqa: S608


def _buckets_read(sql: str, *, keys: int) -> dict[tuple, tuple[int, int]]:
    """{bucket key (the first `keys` columns): (count, firsts)} of a query's rows."""
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {tuple(row[:keys]): (row[keys], row[keys + 1]) for row in cursor.fetchall()}
