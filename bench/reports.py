"""Report and dashboard server time over 10,000,000 delivery events, and what the rollup
trigger costs the send pipeline.

    python bench/reports.py [--quick] [--events N] [--repeats R] [--send M] [--pairs P]
                            [--parts pages,send]

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
wall-clock overhead is 1 − rate(on) / rate(off) of the medians (M = 20,000, two pairs) —
too noisy on a shared machine to resolve 10% — so the trigger's own cost is also measured
where the send path pays it: deliveries_record of 200-message batches, trigger off and on
alternately (40 each, in-process); its added µs per message over the workers' measured time
per message (2 / rate without the trigger) is `send_overhead`. --quick: 300,000 events,
M = 3,000, one pair.
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
    parser.add_argument("--pairs", type=int)
    parser.add_argument("--parts", default="pages,send",
                        help="pages (report and dashboard), send (trigger overhead), or both")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    n_events = args.events or (300_000 if args.quick else 10_000_000)
    repeats = args.repeats or (3 if args.quick else 7)
    n_send = args.send or (3_000 if args.quick else 20_000)
    send_pairs = args.pairs or (1 if args.quick else 2)

    with bench_environment("reports") as env, tempfile.TemporaryDirectory() as tmp:
        env["STATIC_ROOT"] = os.environ["STATIC_ROOT"] = str(Path(tmp) / "static")
        manage(env, "collectstatic", "--noinput", quiet=True)
        django_setup()
        pages = _pages(env, tmp, n_events, repeats) if "pages" in parts else None
        overhead = _send_overhead(env, n_send, send_pairs) if "send" in parts else None
    if overhead:
        print(f"send with the rollup trigger: {overhead['on']:,.0f} msgs/s; without: "
              f"{overhead['off']:,.0f} msgs/s (wall clock, {overhead['overhead'] * 100:.1f}%); "
              f"trigger cost per message / worker time per message: "
              f"{overhead['record_overhead'] * 100:.2f}%")
        sends = {"send_n": n_send, "send_pairs": send_pairs,
                 "send_on": round(overhead["on"], 1), "send_off": round(overhead["off"], 1),
                 "send_overhead_wall": round(overhead["overhead"], 3),
                 "send_runs": overhead["runs"],
                 "record_ms_off": overhead["record_ms_off"],
                 "record_ms_on": overhead["record_ms_on"],
                 "added_us_per_message": overhead["added_us_per_message"],
                 "send_overhead": round(overhead["record_overhead"], 4)}
    else:
        sends = {}
    if pages is None:
        report("reports_send", overhead["record_overhead"] * 100, "% overhead", 0.0, **sends)
        return
    urls, server, floors, world, rebuild_s, buckets = pages
    for kind in urls:
        print(f"{kind:10} server p50 {median(server[kind]):7.1f} ms   raw SQL "
              f"{floors[kind]:6.1f} ms")
    worst = max(urls, key=lambda k: median(server[k]))
    report("reports", median(server[worst]), "ms", floors[worst], n=world["events"],
           campaigns=CAMPAIGNS, repeats=repeats, worst=worst, target_ms=300,
           report_ms=round(median(server["report"]), 1),
           dashboard_ms=round(median(server["dashboard"]), 1),
           raw_sql_ms={k: round(v, 1) for k, v in floors.items()},
           rebuild_s=round(rebuild_s, 1), buckets=buckets,
           generate_s=round(world["seconds"], 1), **sends)


def _pages(env: dict, tmp: str, n_events: int, repeats: int):
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
    return urls, server, floors, world, rebuild_s, buckets


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
    record = _record_cost()
    # Each of the 2 workers spends 2 / rate seconds per message; the trigger adds `added`.
    per_message = 2 / off if off else 0.0
    return {"on": on, "off": off, "overhead": 1 - on / off if off else 0.0,
            "runs": {k: [round(r) for r in v] for k, v in rates.items()},
            "record_ms_off": record["off"], "record_ms_on": record["on"],
            "added_us_per_message": record["added_us"],
            "record_overhead": record["added_us"] / 1e6 / per_message if per_message else 0.0}


def _record_cost(batches: int = 40, size: int = 200) -> dict[str, float]:
    """The trigger's own cost where the send path pays it: deliveries_record of a batch of
    `size` outcomes (one UPDATE + one INSERT of log rows), trigger off and on alternately,
    in this process — stable where wall-clock send rates on a shared machine are not."""
    from django.db import connection

    from campaigns.models import Step
    from channels.models import Delivery, DeliveryStatus
    from channels.sending import Outcome, deliveries_record
    from profiles.models import Profile

    step = Step.objects.filter(kind="send_email").order_by("-id").first()
    profile_ids = list(Profile.objects.order_by("id").values_list("id", flat=True)[:size])
    assert len(profile_ids) == size, "the send runs' profiles are needed"
    times: dict[str, list[float]] = {"off": [], "on": []}
    for index in range(batches * 2):
        state = "off" if index % 2 == 0 else "on"
        with connection.cursor() as cursor:
            verb = "DISABLE" if state == "off" else "ENABLE"
            cursor.execute(f"ALTER TABLE channels_deliveryevent {verb} TRIGGER {TRIGGER}")
        batch = Delivery.objects.bulk_create(
            Delivery(profile_id=pid, campaign_step=step, address=f"r{pid}@example.com",
                     status=DeliveryStatus.SENDING) for pid in profile_ids)
        outcomes = [Outcome(d.pk, DeliveryStatus.SENT, provider_message_id=f"x{d.pk}",
                            attempted=True) for d in batch]
        seconds, _ = timed(deliveries_record, outcomes)
        times[state].append(seconds * 1000)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE channels_deliveryevent ENABLE TRIGGER {TRIGGER}")
    off, on = median(times["off"]), median(times["on"])
    print(f"deliveries_record of {size}: {off:.1f} ms without the trigger, {on:.1f} ms with "
          f"({(on - off) * 1000 / size:.0f} µs per message)")
    return {"off": round(off, 2), "on": round(on, 2),
            "added_us": round((on - off) * 1000 / size, 1)}


if __name__ == "__main__":
    sys.exit(main())
