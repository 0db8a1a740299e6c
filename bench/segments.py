"""Segment counts over 1,000,000 profiles and 10,000,000 events; one-profile match; decisions.

    python bench/segments.py [--quick] [--keep] [--profiles N] [--events M] [--repeats 5]
                             [--worker-class sync|gthread|both] [--threads 4] [--duration S]
                             [--explain] [--skip-http]

Data (COPY'd in, secondary indexes rebuilt after, then ANALYZE): N profiles with a plan
(free 60 % / pro 30 % / enterprise 10 %), a country (FR, DE, US, GB, … weighted), a lifetime
value (a long tail from 0 to ~20,000) and a signup date over three years, all declared in the
attribute schema; M events of ten names (page views most, orders ~4 %) over the last 180 days,
spread over the profiles with a long tail of heavy users; email and newsletter consent for
~40 % of profiles; two campaigns with ~6,000 deliveries and their status logs (sent,
delivered, opened, clicked, bounced); a dynamic segment (recent buyers) and a static list
(1 % of profiles, "suppressed"). The data is kept in its own database
(itinera_bench_segments_<N>) and reused by the next run when it is present and complete (a
marker table records what was loaded); --keep keeps it at the end, otherwise it is dropped.

Timed, each as the median of R runs after one warm-up:
  counts   profiles.audiences.audience_queryset(rules).count() for five shapes:
           (a) two attribute conditions   (b) an event count within 30 days
           (c) any/all nesting (a) and (b)   (d) in a segment and not in a list
           (e) consent and message engagement
           floor: the same count written by hand in SQL, run raw through psycopg (the two
           counts must be equal: the bench checks it).
  match    profiles.audiences.profile_matches(profile, shape c) for random profiles, p50/p95;
           floor: a hand-written one-profile query of the same rules.
  decide   GET /api/v1/decisions/homepage_banner?profile=… through gunicorn (2 workers, sync
           and gthread) under 100 concurrent connections from wrk (Debian's package, a Lua
           script picks a random profile per request; an asyncio client stands in when wrk
           is missing), p50/p95/p99; floor: the SQL one decision runs, replayed raw.
--quick: 100,000 profiles and 1,000,000 events, shorter load windows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

from harness import (
    BENCH_REDIS_DB,
    ROOT,
    django_setup,
    free_port,
    manage,
    median,
    report,
    wait_until_serving,
    with_database,
    with_redis_db,
)

PLACEMENT = "homepage_banner"
TARGET_COUNT_MS, TARGET_MATCH_MS, TARGET_DECISION_P95_MS = 1000, 20, 50
SHAPES = ("a", "b", "c", "d", "e")
SHAPE_NAMES = {
    "a": "two attributes",
    "b": "event count in 30 days",
    "c": "nested any/all of a and b",
    "d": "in segment, not in list",
    "e": "consent and engagement",
}
COUNTRIES = (["FR"] * 30 + ["DE"] * 20 + ["US"] * 20 + ["GB"] * 10 + ["IT"] * 8 + ["ES"] * 6
             + ["NL"] * 3 + ["BE"] * 2 + ["IS"])
PLANS = ["free"] * 6 + ["pro"] * 3 + ["enterprise"]
# (name, weight %, properties) — a shop's event mix.
EVENT_NAMES = [
    ("page_viewed", 38, lambda r: f'{{"path": "/p/{r.randrange(500)}"}}'),
    ("product_viewed", 20, lambda r: f'{{"sku": "SKU-{r.randrange(2000)}", "price": '
                                     f'{r.randrange(5, 300)}}}'),
    ("session_started", 12, lambda r: '{"device": "' + r.choice(["web", "ios", "android"]) + '"}'),
    ("add_to_cart", 8, lambda r: f'{{"sku": "SKU-{r.randrange(2000)}"}}'),
    ("search", 7, lambda r: '{"q": "' + r.choice(["shoes", "bag", "coat", "hat"]) + '"}'),
    ("order_completed", 4, lambda r: f'{{"total": {r.randrange(10, 500)}.5, "items": '
                                      f'{r.randrange(1, 6)}}}'),
    ("email_clicked", 4, lambda r: "{}"),
    ("newsletter_signup", 3, lambda r: "{}"),
    ("review_posted", 3, lambda r: f'{{"stars": {r.randrange(1, 6)}}}'),
    ("refund_requested", 1, lambda r: "{}"),
]
EVENT_DAYS = 180
MARKER_VERSION = 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--profiles", type=int)
    parser.add_argument("--events", type=int)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker-class", default="both", choices=["sync", "gthread", "both"])
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--duration", type=int, help="seconds of load per run")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE plans")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--covering-index", action="store_true",
                        help="time with a proposed index: events (name, occurred_at) INCLUDE "
                        "(profile_id), built for the run and dropped after")
    parser.add_argument("--jit", choices=["server", "off"], default="server",
                        help="off: every connection (this process, gunicorn) runs jit=off")
    args = parser.parse_args()
    if args.jit == "off":
        # libpq reads PGOPTIONS: Django, psycopg and the gunicorn workers all inherit it.
        os.environ["PGOPTIONS"] = (os.environ.get("PGOPTIONS", "") + " -c jit=off").strip()
    n = args.profiles or (100_000 if args.quick else 1_000_000)
    m = args.events or (n * 10)
    duration = args.duration or (6 if args.quick else 20)

    with _bench_database(f"segments_{n}", keep=args.keep) as env:
        django_setup()
        world = _ensure_data(n, m)
        if args.covering_index:
            _covering_index()
        counts = {shape: _time_count(shape, world, args.repeats, args.explain)
                  for shape in SHAPES}
        match = _time_match(world, 100 if args.quick else 300)
        decision = None
        if not args.skip_http:
            decision = _time_decisions(env, world, args, duration)

    print(f"\n{'shape':34} {'count':>10} {'itinera':>10} {'raw SQL':>10} {'ratio':>6}")
    for shape, result in counts.items():
        print(f"({shape}) {SHAPE_NAMES[shape]:29} {result['count']:>10,} "
              f"{result['ms']:8.1f}ms {result['floor_ms']:8.1f}ms "
              f"{result['ms'] / result['floor_ms']:6.2f}")
    print(f"one-profile match (c): p50 {match['p50']:.2f} ms, p95 {match['p95']:.2f} ms "
          f"(raw SQL p50 {match['floor_p50']:.2f} ms) over {match['n']} profiles")
    if decision:
        for worker_class, run in decision["runs"].items():
            print(f"decisions, {worker_class:8}: {run['rps']:,.0f} req/s, p50 {run['p50']:.1f} ms,"
                  f" p95 {run['p95']:.1f} ms, p99 {run['p99']:.1f} ms, {run['requests']:,} "
                  f"requests ({run['non_2xx']} non-2xx, {run['errors']} errors)")
        for worker_class, results in decision["paced"].items():
            for r in results:
                print(f"decisions, {worker_class:8} paced at {r['rate']:.0f} req/s: p50 "
                      f"{r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms")
        print(f"  floor (the SQL of one decision, raw): {decision['floor_ms']:.2f} ms")
    worst = max(counts, key=lambda s: counts[s]["ms"])
    extra = {}
    if decision:
        best = decision["best"]
        run = decision["runs"][best]
        extra = {"decision_worker_class": best, "decision_p50_ms": run["p50"],
                 "decision_p95_ms": run["p95"], "decision_p99_ms": run["p99"],
                 "decision_rps": round(run["rps"]), "decision_floor_ms": decision["floor_ms"],
                 "decision_connections": args.connections,
                 "decision_runs": {k: {"p95": v["p95"], "rps": round(v["rps"])}
                                   for k, v in decision["runs"].items()},
                 "decision_paced": {k: [{"rate": r["rate"], "p50": r["p50"], "p95": r["p95"],
                                         "p99": r["p99"]} for r in v]
                                    for k, v in decision["paced"].items()}}
    report("segments", counts[worst]["ms"], "ms", counts[worst]["floor_ms"], n=n, events=m,
           repeats=args.repeats, jit=args.jit, covering_index=args.covering_index,
           worst_shape=worst, target_ms=TARGET_COUNT_MS,
           count_ms={s: round(r["ms"], 1) for s, r in counts.items()},
           raw_sql_ms={s: round(r["floor_ms"], 1) for s, r in counts.items()},
           counts={s: r["count"] for s, r in counts.items()},
           match_p50_ms=round(match["p50"], 2), match_p95_ms=round(match["p95"], 2),
           match_floor_p50_ms=round(match["floor_p50"], 2), **extra)


# --- the database --------------------------------------------------------------------------


def _covering_index() -> None:
    """The index proposed for event windows: counts read it alone, never the event rows."""
    started = time.perf_counter()
    with _connect() as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("CREATE INDEX IF NOT EXISTS bench_event_name_time_profile ON "
                     "profiles_event (name, occurred_at) INCLUDE (profile_id)")
        conn.execute("VACUUM ANALYZE profiles_event")
    print(f"covering index built in {time.perf_counter() - started:.1f}s")


def _drop_covering_index() -> None:
    with _connect() as conn:
        conn.execute("DROP INDEX IF EXISTS bench_event_name_time_profile")


@contextmanager
def _bench_database(name: str, keep: bool):
    """Like harness.bench_environment, but a database holding complete data is reused."""
    from config.embedded import services

    with services() as base_env:
        db_name = f"itinera_bench_{name}"
        admin_url = with_database(base_env["DATABASE_URL"], "postgres")
        with _connect(admin_url) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  [db_name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{db_name}"')
        env = dict(base_env)
        env.update(
            DATABASE_URL=with_database(base_env["DATABASE_URL"], db_name),
            REDIS_URL=with_redis_db(base_env["REDIS_URL"], BENCH_REDIS_DB),
            DJANGO_SETTINGS_MODULE="config.settings.production",
            SECRET_KEY="bench-" + "x" * 60, SECURE_SSL_REDIRECT="0", ALLOWED_HOSTS="*",
            LOG_LEVEL="WARNING",
        )
        try:
            manage(env, "migrate", "--noinput", quiet=True)
        except subprocess.CalledProcessError:
            if not exists:
                raise
            # Kept from a run whose migrations have since changed: start over.
            print(f"{db_name} no longer migrates: recreating it")
            with _connect(admin_url) as conn:
                conn.execute(f'DROP DATABASE "{db_name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{db_name}"')
            manage(env, "migrate", "--noinput", quiet=True)
        os.environ.update(env)
        try:
            yield env
        finally:
            from django.db import connections

            connections.close_all()
            _drop_covering_index()  # the kept data stays as the product ships it
            if keep:
                print(f"kept database {db_name} (reused by the next run)")
            else:
                with _connect(admin_url) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def _connect(url: str | None = None):
    import psycopg

    url = url or os.environ["DATABASE_URL"]
    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True)


# --- the data ------------------------------------------------------------------------------


def _ensure_data(n: int, m: int) -> dict:
    with _connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_segments_marker (profiles int, "
                     "events bigint, version int, world jsonb, loaded_at timestamptz)")
        row = conn.execute("SELECT profiles, events, version, world FROM "
                           "bench_segments_marker").fetchone()
    if row and row[:3] == (n, m, MARKER_VERSION):
        print(f"reusing {n:,} profiles and {m:,} events loaded earlier")
        return row[3]
    _empty_tables()  # whatever a run stopped half-way left
    world = _load_data(n, m)
    with _connect() as conn:
        conn.execute("DELETE FROM bench_segments_marker")
        conn.execute("INSERT INTO bench_segments_marker VALUES (%s, %s, %s, %s, now())",
                     [n, m, MARKER_VERSION, json.dumps(world)])
    return world


def _empty_tables() -> None:
    with _connect() as conn:
        conn.execute(
            "TRUNCATE profiles_profile, profiles_event, profiles_consent, profiles_topic, "
            "profiles_segment, profiles_segmentmember, profiles_attributedefinition, "
            "campaigns_campaign, campaigns_step, channels_delivery, channels_deliveryevent, "
            "channels_placement, channels_offer, channels_offerimpression CASCADE"
        )


def _load_data(n: int, m: int) -> dict:
    from campaigns.models import Campaign, Step
    from profiles.models import AttributeDefinition, Segment, Topic
    from profiles.partitions import ensure_event_partitions
    from profiles.services import segment_save

    started = time.perf_counter()
    for key, label, kind in (("plan", "Plan", "string"), ("country", "Country", "string"),
                             ("ltv", "Lifetime value", "number"),
                             ("signup_date", "Signed up", "date")):
        AttributeDefinition.objects.create(key=key, label=label, type=kind)
    topic = Topic.objects.create(key="newsletter", name="Newsletter", channel="email")
    ensure_event_partitions()
    now = datetime.now(UTC).replace(microsecond=0)
    with _connect() as conn, _indexes_dropped(conn, ["profiles_profile", "profiles_event"]):
        _copy_profiles(conn, n)
        first = conn.execute("SELECT min(id) FROM profiles_profile").fetchone()[0]
        copied_profiles = time.perf_counter() - started
        _copy_events(conn, first, n, m, now)
        copied_events = time.perf_counter() - started - copied_profiles
        _copy_consents(conn, first, n, topic.pk, now)
    indexed = time.perf_counter() - started - copied_profiles - copied_events
    campaigns = [Step.objects.create(campaign=Campaign.objects.create(name=name), position=1,
                                     subject="News", html_body="<p>News</p>")
                 for name in ("Spring sale", "Weekly digest")]
    with _connect() as conn:
        _copy_deliveries(conn, first, n, [s.pk for s in campaigns], now)
    recent = segment_save(name="Recent buyers", rules={"all": [
        {"type": "event", "name": "order_completed", "op": "at_least", "count": 1,
         "within_days": 90}]})
    suppressed = Segment.objects.create(name="Suppressed", kind=Segment.Kind.STATIC)
    with _connect() as conn:
        with conn.cursor().copy("COPY profiles_segmentmember (segment_id, profile_id, source, "
                                "added_at) FROM STDIN") as copy:
            rng = random.Random(5)
            copy.write("".join(f"{suppressed.pk}\t{first + i}\tcsv\t{now.isoformat()}\n"
                               for i in sorted(rng.sample(range(n), n // 100))))
        conn.execute("VACUUM ANALYZE")
    print(f"loaded {n:,} profiles in {copied_profiles:.1f}s, {m:,} events in "
          f"{copied_events:.1f}s (COPY: {m / copied_events:,.0f} rows/s), consents and "
          f"indexes in {indexed:.1f}s; total with VACUUM ANALYZE "
          f"{time.perf_counter() - started:.1f}s")
    return {"first": first, "n": n, "campaign": campaigns[0].campaign_id,
            "segment": recent.pk, "list": suppressed.pk, "topic": topic.key}


@contextmanager
def _indexes_dropped(conn, tables: list[str]):
    """Secondary indexes and foreign keys are dropped for the COPY and rebuilt after: one
    sort per index and one join per key instead of a lookup per row."""
    indexes = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c "
        "ON c.relname = i.indexname WHERE i.tablename = ANY(%s) AND NOT EXISTS ("
        "SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)", [tables]
    ).fetchall()
    keys = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s) "
        "AND conparentid = 0", [tables]
    ).fetchall()
    for table, name, _ in keys:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    yield
    conn.execute("SET maintenance_work_mem = '1GB'")
    for _, definition in indexes:
        # A partitioned table's index reads "ON ONLY" (the parent alone): build it everywhere.
        conn.execute(definition.replace(" ON ONLY ", " ON ", 1))
    for table, name, definition in keys:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _copy_profiles(conn, n: int) -> None:
    rng = random.Random(3)
    today = date.today()
    with conn.cursor().copy(
        "COPY profiles_profile (external_id, email, phone, first_name, last_name, timezone, "
        "locale, attributes, created_at, updated_at) FROM STDIN"
    ) as copy:
        chunk = []
        for i in range(n):
            signup = today - timedelta(days=rng.randrange(3 * 365))
            ltv = round(rng.paretovariate(1.6) * 40 - 40, 2) if rng.random() < 0.7 else 0
            attributes = (f'{{"plan": "{rng.choice(PLANS)}", "country": '
                          f'"{rng.choice(COUNTRIES)}", "ltv": {min(ltv, 20000)}, '
                          f'"signup_date": "{signup.isoformat()}"}}')
            chunk.append(f"crm-{i:07d}\tc{i}@example.com\t\tAda\tLovelace\tEurope/Paris\t"
                         f"fr-FR\t{attributes}\t{signup.isoformat()}\t{signup.isoformat()}\n")
            if len(chunk) == 50_000:
                copy.write("".join(chunk))
                chunk = []
        copy.write("".join(chunk))


def _copy_events(conn, first: int, n: int, m: int, now: datetime) -> None:
    """Events over EVENT_DAYS; who did them has a long tail (a few heavy users)."""
    rng = random.Random(4)
    names, weights = zip(*[(name, weight) for name, weight, _ in EVENT_NAMES], strict=True)
    properties = {name: make for name, _, make in EVENT_NAMES}
    # A pool of (name, properties, time) endings reused across rows keeps generation in
    # Python cheap; which profile did them is drawn per row.
    pool = []
    for name in rng.choices(names, weights, k=200_000):
        moment = (now - timedelta(seconds=rng.randrange(EVENT_DAYS * 86_400))).isoformat()
        pool.append(f"\t{name}\t{properties[name](rng)}\t{moment}\t{moment}\tbench\t\n")
    ids = [str(first + i) for i in range(n)]
    with conn.cursor().copy(
        "COPY profiles_event (profile_id, name, properties, occurred_at, received_at, source, "
        "message_id) FROM STDIN"
    ) as copy:
        done = 0
        while done < m:
            size = min(200_000, m - done)
            who = [ids[int(n * rng.random() ** 1.5)] for _ in range(size)]
            copy.write("".join(map(str.__add__, who, rng.choices(pool, k=size))))
            done += size


def _copy_consents(conn, first: int, n: int, topic_id: int, now: datetime) -> None:
    rng = random.Random(6)
    stamp = now.isoformat()
    rows = []
    for i in range(n):
        draw = rng.random()
        if draw < 0.40:
            state = "opted_out" if draw < 0.05 else "opted_in"
            rows.append(f"{first + i}\temail\t\\N\t{state}\tbench\t{stamp}\n")
        draw = rng.random()
        if draw < 0.25:
            state = "opted_out" if draw < 0.08 else "opted_in"
            rows.append(f"{first + i}\temail\t{topic_id}\t{state}\tbench\t{stamp}\n")
    with conn.cursor().copy("COPY profiles_consent (profile_id, channel, topic_id, state, "
                            "source, updated_at) FROM STDIN") as copy:
        copy.write("".join(rows))


def _copy_deliveries(conn, first: int, n: int, step_ids: list[int], now: datetime) -> None:
    """~6,000 deliveries of two campaigns over 60 days, each with its status log."""
    rng = random.Random(8)
    deliveries = []
    for step_id, size in zip(step_ids, (4000, 2000), strict=True):
        for i in rng.sample(range(n), size):
            sent = now - timedelta(seconds=rng.randrange(60 * 86_400))
            deliveries.append((first + i, step_id, sent))
    with conn.cursor().copy("COPY channels_delivery (profile_id, campaign_step_id, channel, "
                            "address, status, provider_message_id, error, created_at, sent_at, "
                            "updated_at) FROM STDIN") as copy:
        copy.write("".join(f"{p}\t{s}\temail\tc{p}@example.com\tsent\t\t\t{t.isoformat()}\t"
                           f"{t.isoformat()}\t{t.isoformat()}\n" for p, s, t in deliveries))
    ids = [r[0] for r in conn.execute(
        "SELECT id FROM channels_delivery WHERE status = 'sent' ORDER BY id").fetchall()]
    log = []
    for delivery_id, (_, _, sent) in zip(ids, deliveries, strict=True):
        log.append((delivery_id, "sent", sent))
        if rng.random() < 0.03:
            log.append((delivery_id, "bounced", sent + timedelta(minutes=1)))
            continue
        log.append((delivery_id, "delivered", sent + timedelta(seconds=20)))
        if rng.random() < 0.35:
            log.append((delivery_id, "opened", sent + timedelta(hours=rng.randrange(1, 72))))
            if rng.random() < 0.25:
                log.append((delivery_id, "clicked", sent + timedelta(hours=73)))
    with conn.cursor().copy("COPY channels_deliveryevent (delivery_id, status, occurred_at, "
                            "detail) FROM STDIN") as copy:
        copy.write("".join(f"{d}\t{s}\t{t.isoformat()}\t\n" for d, s, t in log))


# --- the five shapes, and their floors -------------------------------------------------------


def _attribute(key, op, value, value_type="string"):
    return {"type": "attribute", "key": key, "op": op, "value": value, "value_type": value_type}


def _rules(shape: str, world: dict) -> dict:
    a = [_attribute("plan", "equals", "pro"), _attribute("ltv", "gt", 500, "number")]
    b = {"type": "event", "name": "order_completed", "op": "at_least", "count": 2,
         "within_days": 30}
    if shape == "a":
        return {"all": a}
    if shape == "b":
        return {"all": [b]}
    if shape == "c":
        return {"any": [{"all": a}, {"all": [b, _attribute("country", "in", ["FR", "DE"])]}]}
    if shape == "d":
        return {"all": [{"type": "segment", "segment": world["segment"], "op": "in"},
                        {"type": "segment", "segment": world["list"], "op": "not_in"}]}
    return {"all": [
        {"type": "consent", "channel": "email", "topic": world["topic"], "op": "subscribed"},
        {"type": "engagement", "action": "opened", "campaign": world["campaign"],
         "within_days": 30},
    ]}


def _floor_sql(shape: str, world: dict, now: datetime) -> tuple[str, list]:
    """The count as one would write it by hand for this data."""
    a = "p.attributes ->> 'plan' = 'pro' AND (p.attributes ->> 'ltv')::numeric > 500"
    b = ("p.id IN (SELECT profile_id FROM profiles_event WHERE name = 'order_completed' AND "
         "occurred_at >= %s GROUP BY profile_id HAVING count(*) >= 2)")
    month = now - timedelta(days=30)
    if shape == "a":
        return f"SELECT count(*) FROM profiles_profile p WHERE {a}", []  # noqa: S608
    if shape == "b":
        return ("SELECT count(*) FROM (SELECT profile_id FROM profiles_event WHERE "
                "name = 'order_completed' AND occurred_at >= %s GROUP BY profile_id "
                "HAVING count(*) >= 2) t", [month])
    if shape == "c":
        return (f"SELECT count(*) FROM profiles_profile p WHERE ({a}) OR ({b} AND "  # noqa: S608
                "p.attributes ->> 'country' IN ('FR', 'DE'))", [month])
    if shape == "d":
        return ("SELECT count(*) FROM profiles_profile p WHERE p.id IN (SELECT profile_id "
                "FROM profiles_event WHERE name = 'order_completed' AND occurred_at >= %s) "
                "AND p.id NOT IN (SELECT profile_id FROM profiles_segmentmember "
                "WHERE segment_id = %s)", [now - timedelta(days=90), world["list"]])
    return ("SELECT count(*) FROM profiles_profile p WHERE p.id IN ("
            "SELECT d.profile_id FROM channels_delivery d JOIN channels_deliveryevent e "
            "ON e.delivery_id = d.id JOIN campaigns_step s ON s.id = d.campaign_step_id "
            "WHERE s.campaign_id = %s AND e.status = 'opened' AND e.occurred_at >= %s) "
            "AND p.id NOT IN (SELECT c.profile_id FROM profiles_consent c JOIN profiles_topic t "
            "ON t.id = c.topic_id WHERE t.key = %s AND c.state = 'opted_out') "
            "AND p.id NOT IN (SELECT profile_id FROM profiles_consent WHERE channel = 'email' "
            "AND topic_id IS NULL AND state = 'opted_out')",
            [world["campaign"], month, world["topic"]])


def _time_count(shape: str, world: dict, repeats: int, explain: bool) -> dict:
    from django.db import connection

    from profiles.audiences import audience_queryset

    rules = _rules(shape, world)

    def itinera() -> int:
        return audience_queryset(rules).count()

    count, runs = _repeat(itinera, repeats)
    now = datetime.now(UTC)
    sql, params = _floor_sql(shape, world, now)
    with _connect() as raw:
        floor_count, floor_runs = _repeat(lambda: raw.execute(sql, params).fetchone()[0],
                                          repeats)
    if count != floor_count:
        raise AssertionError(f"shape {shape}: itinera counted {count}, the raw SQL "
                             f"{floor_count}")
    if explain:
        query = audience_queryset(rules).order_by().values("id").query  # as count() runs it
        with connection.cursor() as cursor:
            compiled, compiled_params = query.sql_with_params()
            # Django's own SQL for the audience, wrapped.
            explain_sql = f"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM ({compiled}) q"  # noqa: S608
            cursor.execute(explain_sql, compiled_params)
            print(f"--- ({shape}) {SHAPE_NAMES[shape]}\n"
                  + "\n".join(r[0] for r in cursor.fetchall()))
    print(f"({shape}) {SHAPE_NAMES[shape]}: {count:,} profiles, itinera {median(runs):.1f} ms "
          f"(runs {', '.join(f'{r:.0f}' for r in runs)}), raw SQL {median(floor_runs):.1f} ms")
    return {"count": count, "ms": median(runs), "floor_ms": median(floor_runs)}


def _repeat(fn, repeats: int) -> tuple[object, list[float]]:
    result = fn()  # warm: plans and pages cached as on a live server
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        again = fn()
        runs.append((time.perf_counter() - started) * 1000)
        assert again == result
    return result, runs


# --- one-profile match --------------------------------------------------------------------


def _time_match(world: dict, samples: int) -> dict:
    from profiles.audiences import profile_matches
    from profiles.models import Profile

    rules = _rules("c", world)
    rng = random.Random(11)
    # Both ends of the activity tail: the heaviest users are the first profiles.
    ids = [world["first"] + int(world["n"] * rng.random() ** 1.5) for _ in range(samples)]
    sql = (
        "SELECT (p.attributes ->> 'plan' = 'pro' AND (p.attributes ->> 'ltv')::numeric > 500) "
        "OR (p.attributes ->> 'country' IN ('FR', 'DE') AND (SELECT count(*) FROM "
        "profiles_event e WHERE e.profile_id = p.id AND e.name = 'order_completed' AND "
        "e.occurred_at >= %s) >= 2) FROM profiles_profile p WHERE p.id = %s"
    )
    profile_matches(Profile.objects.get(pk=ids[0]), rules)  # warm
    times, floor, disagreements = [], [], 0
    with _connect() as raw:
        for pk in ids:
            profile = Profile.objects.get(pk=pk)  # as a real-time path holds it
            started = time.perf_counter()
            matched = profile_matches(profile, rules)
            times.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            expected = raw.execute(sql, [datetime.now(UTC) - timedelta(days=30), pk]).fetchone()[0]
            floor.append((time.perf_counter() - started) * 1000)
            disagreements += matched != expected
    assert disagreements == 0, f"{disagreements} one-profile answers differ from the SQL"
    return {"p50": median(times), "p95": _percentile(times, 95), "n": len(ids),
            "floor_p50": median(floor)}


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


# --- decisions through gunicorn --------------------------------------------------------------


def _decision_world(world: dict) -> str:
    """The placement (re)made for this run, with offers of every kind; returns a token."""
    from channels.decisions import OfferData, offer_save, placement_save
    from channels.models import OfferImpression, Placement
    from profiles.models import Segment
    from profiles.services import api_token_create

    Placement.objects.all().delete()
    OfferImpression.objects.all().delete()
    placement = placement_save(key=PLACEMENT, name="Homepage banner")
    recent = Segment.objects.get(pk=world["segment"])
    offers = [
        ("Enterprise concierge", 90, None, {"all": [_attribute("plan", "equals", "enterprise")]},
         recent),
        ("Cart reminder", 70, 3, {"all": [
            {"type": "event", "name": "add_to_cart", "op": "at_least", "count": 1,
             "within_days": 7},
            {"type": "event", "name": "order_completed", "op": "none", "within_days": 7}]}, None),
        ("Engaged reader", 60, 5, {"all": [
            {"type": "engagement", "action": "opened", "campaign": world["campaign"],
             "within_days": 30}]}, None),
        ("Pro upsell", 40, None, {"all": [
            _attribute("plan", "equals", "free"), _attribute("ltv", "gt", 200, "number"),
            _attribute("country", "in", ["FR", "DE", "GB"])]}, None),
        ("Newsletter signup", 20, 2, {"all": [
            {"type": "consent", "channel": "email", "topic": world["topic"],
             "op": "unsubscribed"}]}, None),
        ("Welcome", 0, None, {}, None),
    ]
    for name, priority, cap, rules, segment in offers:
        offer_save(placement=placement, data=OfferData(
            name=name, priority=priority, cap_per_profile=cap, rules=rules, segment=segment,
            content={"title": name, "cta": "/go"}, html=f"<strong>{name}</strong>"))
    fallback = offer_save(placement=placement, data=OfferData(name="House ad", priority=-1,
                                                             rules={}, is_active=True))
    placement_save(placement=placement, key=PLACEMENT, name="Homepage banner",
                   fallback=fallback)
    _, secret = api_token_create(name="bench", scopes=["decisions:read"])
    return secret


def _time_decisions(env: dict, world: dict, args, duration: int) -> dict:
    secret = _decision_world(world)
    floor = _decision_floor(world, secret)
    classes = ["sync", "gthread"] if args.worker_class == "both" else [args.worker_class]
    runs, paced = {}, {}
    for worker_class in classes:
        with _gunicorn(env, worker_class, args.threads) as port:
            _warm(port, secret, world)
            run = _generate_load(port, secret, world, args.connections, duration)
            runs[worker_class] = run
            print(f"decisions, {worker_class}, {args.connections} connections: {json.dumps(run)}")
            # The same server at a steady pace below what it can serve, through the same
            # number of connections: the latency a client sees when the server keeps up.
            paced[worker_class] = []
            for share in (0.25, 0.5, 0.75):
                rate = max(1.0, round(run["rps"] * share))
                result = _generate_load(port, secret, world, args.connections, duration, rate)
                result["rate"] = rate
                paced[worker_class].append(result)
                print(f"decisions, {worker_class}, paced at {rate:.0f}/s: {json.dumps(result)}")
    best = max(runs, key=lambda c: runs[c]["rps"])
    return {"runs": runs, "paced": paced, "best": best, "floor_ms": round(floor, 2)}


def _decision_floor(world: dict, secret: str) -> float:
    """The SQL a decision runs (captured in-process), replayed raw, per decision (median)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    rng = random.Random(13)
    client = Client()
    times = []
    with _connect() as raw:
        for _ in range(50):
            ref = f"crm-{int(world['n'] * rng.random() ** 1.5):07d}"
            with CaptureQueriesContext(connection) as captured:
                response = client.get(f"/api/v1/decisions/{PLACEMENT}", {"profile": ref},
                                      HTTP_AUTHORIZATION=f"Bearer {secret}",
                                      HTTP_X_FORWARDED_PROTO="https")
            assert response.status_code in (200, 204), response.status_code
            statements = [q["sql"] for q in captured.captured_queries]
            started = time.perf_counter()
            for statement in statements:
                cursor = raw.execute(statement)
                if cursor.description is not None:
                    cursor.fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return median(times[5:])


class _gunicorn:  # noqa: N801 — a context manager that reads like a function
    def __init__(self, env: dict, worker_class: str, threads: int):
        self.env, self.worker_class, self.threads = env, worker_class, threads

    def __enter__(self) -> int:

        self.port = free_port()
        argv = [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2",
                "--worker-class", self.worker_class, "--bind", f"127.0.0.1:{self.port}",
                "--log-level", "warning", "--backlog", "2048", "--keep-alive", "30"]
        if self.worker_class == "gthread":
            argv += ["--threads", str(self.threads)]
        # An empty STATIC_ROOT keeps WhiteNoise quiet: the API serves no static files.
        self.static = tempfile.mkdtemp(prefix="itinera-bench-static-")
        self.process = subprocess.Popen(argv, cwd=ROOT, env={**self.env,  # noqa: S603
                                                              "STATIC_ROOT": self.static})
        wait_until_serving(self.process, self.port)
        return self.port

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(15)
        shutil.rmtree(self.static, ignore_errors=True)


def _warm(port: int, secret: str, world: dict) -> None:
    """Every worker (and thread) has its connection, plan and code paths warm."""
    _generate_load(port, secret, world, 8, 2)


LUA = """
local first, n, token, path = %(first)d, %(n)d, "%(token)s", "%(path)s"
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
function init(args)
  math.randomseed(os.time() * 100 + seed)
end
function request()
  -- the same long tail of activity as the data: heavy users are the first profiles
  local i = math.floor(n * math.random() ^ 1.5)
  return wrk.format("GET", string.format("%%s?profile=crm-%%07d", path, i),
                    {["Authorization"] = "Bearer " .. token,
                     ["X-Forwarded-Proto"] = "https"})
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "p50": %%.3f, "p95": %%.3f, "p99": %%.3f, '
    .. '"max": %%.3f, "non_2xx": %%d, "errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def _generate_load(port: int, secret: str, world: dict, connections: int, duration: int,
                   rate: float | None = None) -> dict:
    """Load from a separate process: wrk with a Lua script (closed loop), or the asyncio
    client below (closed loop without wrk; open loop at `rate` requests/s)."""
    path = f"/api/v1/decisions/{PLACEMENT}"
    if shutil.which("wrk") and rate is None:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(LUA % {"first": world["first"], "n": world["n"], "token": secret,
                                "path": path})
        try:
            out = subprocess.run(  # noqa: S603
                ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s",  # noqa: S607
                 "--timeout", "10s", "-s", script.name, f"http://127.0.0.1:{port}"],
                check=True, capture_output=True, text=True,
            ).stdout
        finally:
            os.unlink(script.name)
        result = json.loads(next(line for line in out.splitlines()
                                 if line.startswith("RESULT "))[7:])
    else:
        config = {"port": port, "token": secret, "path": path, "n": world["n"],
                  "connections": connections, "duration": duration, "rate": rate}
        out = subprocess.run(  # noqa: S603
            [sys.executable, __file__, "--load-generator", json.dumps(config)],
            check=True, capture_output=True, text=True, cwd=ROOT,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}


def _asyncio_load(config: dict) -> None:
    """Keep-alive HTTP/1.1 connections; prints the same figures as the Lua script.

    Closed loop (no "rate"): each connection sends its next request when the last is answered.
    Open loop (a "rate" in requests/s): requests are due at a fixed pace whatever the server
    does, taken by whichever connection is free; latency counts from when a request was due,
    so time spent waiting for a free connection is not hidden (no coordinated omission).
    """

    async def connection(due: asyncio.Queue | None, stop: float, latencies: list[float],
                         counts: dict) -> None:
        rng = random.Random()
        reader, writer = await asyncio.open_connection("127.0.0.1", config["port"])
        while True:
            if due is None:
                at = time.monotonic()
                if at >= stop:
                    break
            else:
                at = await due.get()
                if at is None:
                    break
                await asyncio.sleep(max(0.0, at - time.monotonic()))
            i = int(config["n"] * rng.random() ** 1.5)
            writer.write((f"GET {config['path']}?profile=crm-{i:07d} HTTP/1.1\r\n"
                          f"Host: 127.0.0.1\r\nAuthorization: Bearer {config['token']}\r\n"
                          "X-Forwarded-Proto: https\r\n\r\n").encode())
            status_line = await reader.readline()
            length, close = 0, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                close |= name.lower() == "connection" and "close" in value.lower()
            await reader.readexactly(length)
            latencies.append(time.monotonic() - at)
            counts["non_2xx"] += not status_line.split()[1].startswith(b"2")
            if close:  # a sync gunicorn worker closes after each response
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", config["port"])
        writer.close()

    async def run() -> dict:
        latencies: list[float] = []
        counts = {"non_2xx": 0}
        started = time.monotonic()
        stop = started + config["duration"]
        due = None
        if config.get("rate"):
            due = asyncio.Queue()
            for k in range(int(config["rate"] * config["duration"])):
                due.put_nowait(started + k / config["rate"])
            for _ in range(config["connections"]):
                due.put_nowait(None)
        await asyncio.gather(*(connection(due, stop, latencies, counts)
                               for _ in range(config["connections"])))
        elapsed = time.monotonic() - started
        ms = [x * 1000 for x in latencies]
        return {"requests": len(ms), "duration_us": int(elapsed * 1e6),
                "p50": _percentile(ms, 50), "p95": _percentile(ms, 95),
                "p99": _percentile(ms, 99), "max": max(ms), "errors": 0, **counts}

    print(json.dumps(asyncio.run(run())))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--load-generator":
        _asyncio_load(json.loads(sys.argv[2]))
    else:
        main()
