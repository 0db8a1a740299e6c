"""Report and dashboard server time over 10,000,000 delivery events, and what the rollup
trigger costs the send pipeline.

    python bench/reports.py [--quick] [--events N] [--repeats R] [--send N]

Given 50 journey campaigns (send s1 → split s2 A/B → send s3a | s3b, 5% control group) with
their enrollments, step visits, deliveries and N delivery events (INSERT … SELECT
generate_series, the rollup trigger off; then `rollups_rebuild`, timed, and VACUUM ANALYZE),
the campaign report (/campaigns/<id>/report/) and the dashboard (/) are served by gunicorn
(2 sync workers, production settings, a marketer's session) and requested one at a time
over loopback; server time is gunicorn's own request time (%(D)s). Median over R rounds of
the report of 5 campaigns and the dashboard.

Floor: the SQL those pages run, captured from the views and replayed raw through psycopg on
one connection (the database's own cost of the page).

Rollup overhead: bench/send.py's run (a campaign launched to M profiles, 2 rqworker
processes, SMTP to a sink process) with the trigger disabled and enabled, alternated; the
overhead is 1 − rate(on) / rate(off) of the medians (M = 20,000, two pairs). --quick:
300,000 events, M = 3,000, one pair.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import harness
from harness import bench_environment, django_setup, free_port, manage, median, report, timed
from profiles_page import _gunicorn
from send import _copy_profiles, _run_once, _start_sink

CAMPAIGNS = 50
# Redis db 8 (the reports helper's), not the shared 15: other benches may run meanwhile.
harness.BENCH_REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "8"))
EVENTS_PER_ENROLLMENT = 6.3  # two messages each, ~3.3 log rows per message, 5% control
LOG_LINE = re.compile(r"^GET (?P<path>\S+) HTTP/[\d.]+ (?P<micros>\d+)$")
TRIGGER = "channels_deliveryevent_rollup"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--send", type=int)
    args = parser.parse_args()
    n_events = args.events or (300_000 if args.quick else 10_000_000)
    repeats = args.repeats or (3 if args.quick else 7)
    n_send = args.send or (3_000 if args.quick else 20_000)
    send_pairs = 1 if args.quick else 2

    with bench_environment("reports") as env, tempfile.TemporaryDirectory() as tmp:
        env["STATIC_ROOT"] = os.environ["STATIC_ROOT"] = str(Path(tmp) / "static")
        manage(env, "collectstatic", "--noinput", quiet=True)
        django_setup()
        from reports_world import generate

        world = generate(n_events, CAMPAIGNS)
        rebuild_s, buckets = _rebuild()
        print(f"rollups rebuilt from {world['events']:,} events in {rebuild_s:.1f}s "
              f"({buckets:,} hourly buckets)")
        session = _marketer_session()
        urls = {"report": [f"/campaigns/{pk}/report/" for pk in world["report_ids"]],
                "dashboard": ["/"]}
        floors = {kind: _floor(pages, repeats) for kind, pages in urls.items()}
        log = Path(tmp) / "access.log"
        with _gunicorn(env, log) as port:
            server = _measure(port, session, urls, repeats, log)
        overhead = _send_overhead(env, n_send, send_pairs)

    for kind in urls:
        print(f"{kind:10} server p50 {median(server[kind]):7.1f} ms   raw SQL "
              f"{floors[kind]:6.1f} ms")
    print(f"send with the rollup trigger: {overhead['on']:,.0f} msgs/s; without: "
          f"{overhead['off']:,.0f} msgs/s; overhead {overhead['overhead'] * 100:.1f}%")
    worst = max(urls, key=lambda k: median(server[k]))
    report("reports", median(server[worst]), "ms", floors[worst], n=world["events"],
           campaigns=CAMPAIGNS, repeats=repeats, worst=worst, target_ms=300,
           report_ms=round(median(server["report"]), 1),
           dashboard_ms=round(median(server["dashboard"]), 1),
           raw_sql_ms={k: round(v, 1) for k, v in floors.items()},
           rebuild_s=round(rebuild_s, 1), buckets=buckets, send_n=n_send,
           send_on=round(overhead["on"], 1), send_off=round(overhead["off"], 1),
           send_overhead=round(overhead["overhead"], 3), send_pairs=send_pairs,
           generate_s=round(world["seconds"], 1))


def _rebuild() -> tuple[float, int]:
    from django.db import connection

    from channels.rollups import rollups_rebuild

    seconds, buckets = timed(rollups_rebuild)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE channels_deliveryevent ENABLE TRIGGER {TRIGGER}")
    _vacuum()
    return seconds, buckets


def _vacuum() -> None:
    import psycopg

    with psycopg.connect(_libpq(), autocommit=True) as raw:
        raw.execute("VACUUM ANALYZE")


def _libpq() -> str:
    return os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)


def _marketer_session() -> str:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from profiles.roles import ensure_marketer_group

    user = get_user_model().objects.create_user("bench-marketer")
    user.groups.add(ensure_marketer_group())
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


# --- the floor: the pages' SQL, raw ----------------------------------------------------------

def _floor(urls: list[str], repeats: int) -> float:
    import psycopg

    times = []
    for url in urls:
        statements = _captured_sql(url)
        with psycopg.connect(_libpq(), autocommit=True) as raw:
            _replay(raw, statements)
            runs = []
            for _ in range(repeats):
                started = time.perf_counter()
                _replay(raw, statements)
                runs.append((time.perf_counter() - started) * 1000)
        times.append(median(runs))
    return median(times)


def _replay(raw, statements: list[str]) -> None:
    for statement in statements:
        cursor = raw.execute(statement)
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            cursor.fetchall()


def _captured_sql(url: str) -> list[str]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-marketer"))
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, secure=True)
    assert response.status_code == 200, (url, response.status_code)
    # The page's own reads (not the session, user and permission lookups every page makes).
    keep = ("campaigns_", "channels_", "profiles_", "pg_class")
    return [q["sql"] for q in captured.captured_queries
            if any(k in q["sql"] for k in keep) and "auth_" not in q["sql"]
            and "django_session" not in q["sql"]]


# --- the server ------------------------------------------------------------------------------

def _measure(port: int, session: str, urls: dict[str, list[str]], repeats: int,
             log: Path) -> dict[str, list[float]]:
    headers = {"Cookie": f"sessionid={session}", "X-Forwarded-Proto": "https"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(url: str) -> None:
        connection.request("GET", url, headers=headers)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200 and b"Itinera" in body, (url, response.status)

    for _ in range(2):  # both workers warm
        for pages in urls.values():
            for url in pages:
                get(url)
    marks = []
    for _ in range(repeats):
        for kind, pages in urls.items():
            for url in pages:
                get(url)
                marks.append(kind)
    connection.close()
    time.sleep(0.5)  # the access log is written after the response
    lines = [m for m in map(LOG_LINE.match, log.read_text().splitlines()) if m]
    server = [int(m["micros"]) / 1000 for m in lines][-len(marks):]
    assert len(server) == len(marks), (len(server), len(marks))
    measured: dict[str, list[float]] = {kind: [] for kind in urls}
    for kind, millis in zip(marks, server, strict=True):
        measured[kind].append(millis)
    return measured


# --- the send pipeline with and without the trigger ------------------------------------------

def _send_overhead(env: dict, n: int, pairs: int) -> dict[str, float]:
    from django.db import connection

    port = free_port()
    sink, _ = _start_sink(port)
    env["EMAIL_URL"] = f"smtp://127.0.0.1:{port}"
    rates: dict[str, list[float]] = {"off": [], "on": []}
    try:
        _copy_profiles(n)
        for index in range(pairs):
            for state in ("off", "on"):
                with connection.cursor() as cursor:
                    verb = "DISABLE" if state == "off" else "ENABLE"
                    cursor.execute(f"ALTER TABLE channels_deliveryevent {verb} TRIGGER {TRIGGER}")
                run = _run_once(env, 2, n, 100 + index * 2 + (state == "on"))
                rates[state].append(run["rate"])
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE channels_deliveryevent ENABLE TRIGGER {TRIGGER}")
        sink.terminate()
        sink.wait(10)
    on, off = median(rates["on"]), median(rates["off"])
    return {"on": on, "off": off, "overhead": 1 - on / off if off else 0.0}


if __name__ == "__main__":
    sys.exit(main())
