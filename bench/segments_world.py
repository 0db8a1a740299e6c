"""The data of bench/segments.py: its own database, and 1M profiles / 10M events in it.

N profiles (plan, country, lifetime value, signup date), M events of ten names over
EVENT_DAYS, consents, two campaigns' deliveries with their status logs, a dynamic segment and
a static list, COPY'd in with secondary indexes rebuilt after; a marker table records what was
loaded so the next run reuses complete data.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

from harness import BENCH_REDIS_DB, manage, with_database, with_redis_db

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

