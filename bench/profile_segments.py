"""Which segments is one profile in? GET /api/v1/profiles/{id}/segments with 50 segments.

    python bench/profile_segments.py [--quick] [--segments 50] [--requests 500]

Data (COPY'd in): N profiles with a plan, a lifetime value and a signup date (declared), M
events of eight names over 180 days with a long tail of heavy users, email consent for ~40 %,
and S segments in ten shapes (attribute pairs, event counts in windows, property filters,
consent, nested in / not in references, static lists of ~1 % of profiles).

Timed, over random profiles (one warm-up pass first):
  api      the endpoint through gunicorn (2 sync workers, one keep-alive connection, server
           time from gunicorn's access log), p50/p95;
  in-process the same endpoint through DRF's test client (no HTTP, no server), p50/p95;
  selector profiles.memberships.profile_segments in-process, p50/p95, and its query count;
  per-segment SQL (for comparison, not the floor): one EXISTS query per segment for the same
           profile, the way a naive implementation would ask, p50;
  floor    the I/O the answer cannot avoid, raw through psycopg: the segment rows, the
           profile row, its events of the names asked about, its consents and list rows.
--quick: 20,000 profiles, 200,000 events, 200 requests. Full: 200,000 and 2,000,000.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import (
    ROOT,
    bench_environment,
    django_setup,
    free_port,
    median,
    report,
    wait_until_serving,
)

NAMES = ["page_viewed", "product_viewed", "cart_added", "order_completed", "app_opened",
         "search", "review_posted", "refund_requested"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--segments", type=int, default=50)
    parser.add_argument("--requests", type=int)
    args = parser.parse_args()
    n, m = (20_000, 200_000) if args.quick else (200_000, 2_000_000)
    requests = args.requests or (200 if args.quick else 500)
    with bench_environment("profile_segments") as env:
        django_setup()
        _load(n, m, args.segments)
        ids = random.Random(7).sample(range(1, n + 1), requests)
        selector, queries = _time_selector(ids)
        secret = _token()
        in_process = _time_in_process(secret, ids)
        naive = _time_per_segment_sql(ids[: max(requests // 5, 20)])
        floor = _time_floor(ids)
        with tempfile.TemporaryDirectory() as tmp, _Gunicorn(env, Path(tmp) / "access.log") as g:
            api = _time_api(g, secret, ids)
    print(f"{args.segments} segments, {n:,} profiles, {m:,} events")
    print(f"api       p50 {api['p50']:.2f} ms  p95 {api['p95']:.2f} ms  (server time)")
    print(f"api in-process p50 {in_process['p50']:.2f} ms  p95 {in_process['p95']:.2f} ms  "
          "(DRF test client, no HTTP)")
    print(f"selector  p50 {selector['p50']:.2f} ms  p95 {selector['p95']:.2f} ms  "
          f"({queries} queries, whatever the number of segments)")
    print(f"per-segment SQL p50 {naive:.2f} ms  floor (raw I/O) p50 {floor:.2f} ms")
    report("profile_segments", api["p50"], "ms", floor, p95=round(api["p95"], 2),
           in_process_p50_ms=round(in_process["p50"], 2),
           selector_p50_ms=round(selector["p50"], 2), selector_p95_ms=round(selector["p95"], 2),
           per_segment_sql_p50_ms=round(naive, 2), queries=queries, segments=args.segments,
           profiles=n, events=m)


# --- data ----------------------------------------------------------------------------------


def _load(n: int, m: int, segments: int) -> None:
    from django.db import connection

    from profiles.models import AttributeDefinition, Segment, Topic

    rng = random.Random(1)
    now = datetime.now(UTC)
    for key, kind in (("plan", "string"), ("ltv", "number"), ("signup", "date")):
        AttributeDefinition.objects.create(key=key, label=key, type=kind)
    Topic.objects.create(key="newsletter", name="Newsletter")
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy("COPY profiles_profile (external_id, email, phone, first_name, last_name,"
                      " timezone, locale, attributes, created_at, updated_at) FROM STDIN") as copy:
            for i in range(1, n + 1):
                attributes = {"plan": rng.choices(["free", "pro", "enterprise"], [6, 3, 1])[0],
                              "ltv": round(rng.paretovariate(1.5) * 50, 2),
                              "signup": (now - timedelta(days=rng.randrange(1095))).date()
                              .isoformat()}
                copy.write_row((f"c{i}", f"c{i}@example.com", "", "", "", "UTC", "",
                                json.dumps(attributes), now, now))
        with raw.copy("COPY profiles_event (profile_id, name, properties, occurred_at, "
                      "received_at, source, message_id) FROM STDIN") as copy:
            for _ in range(m):
                profile = min(int(rng.paretovariate(0.8)), n) if rng.random() < 0.3 else (
                    rng.randrange(1, n + 1))
                name = rng.choices(NAMES, [50, 25, 8, 4, 6, 5, 1, 1])[0]
                when = now - timedelta(seconds=rng.randrange(180 * 86400))
                copy.write_row((profile, name, json.dumps({"total": rng.randrange(200)}), when,
                                when, "bench", ""))
        cursor.execute(
            "INSERT INTO profiles_consent (profile_id, channel, topic_id, state, source, "
            "updated_at) SELECT id, 'email', NULL, CASE WHEN id % 3 = 0 THEN 'opted_out' "
            "ELSE 'opted_in' END, 'bench', now() FROM profiles_profile WHERE id % 5 < 2")
    shapes = _shapes(segments)
    for i, (kind, rules) in enumerate(shapes):
        segment = Segment.objects.create(name=f"s{i:03d}", kind=kind, rules=rules)
        if kind == "static":
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO profiles_segmentmember (segment_id, profile_id, source, "
                    "added_at) SELECT %s, id, 'bench', now() FROM profiles_profile "
                    "WHERE id %% 100 = %s", [segment.pk, i % 100])
        elif i >= 10:  # later segments refer to earlier dynamic ones
            earlier = [s for s in Segment.objects.filter(kind="dynamic").exclude(pk=segment.pk)
                       .values_list("pk", flat=True)]
            segment.rules = {"any": [rules, {"type": "segment", "segment": rng.choice(earlier),
                                              "op": rng.choice(["in", "not_in"])}]}
            segment.save(update_fields=["rules"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _shapes(count: int) -> list[tuple[str, dict]]:
    def attr(key, op, value):
        return {"type": "attribute", "key": key, "op": op, "value": value}

    def event(name, op, count, days, where=()):
        return {"type": "event", "name": name, "op": op, "count": count, "within_days": days,
                "where": list(where)}

    kinds = [
        lambda k: {"all": [attr("plan", "equals", "pro"), attr("ltv", "gt", 50 + k * 10)]},
        lambda k: {"all": [event("order_completed", "at_least", 1 + k % 3, 30 + k)]},
        lambda k: {"any": [attr("plan", "in", ["enterprise"]), event("cart_added", "at_least",
                                                                     2, 14)]},
        lambda k: {"all": [event("page_viewed", "at_least", 3, 7 + k),
                           {"not": event("order_completed", "at_least", 1, 90)}]},
        lambda k: {"all": [{"type": "consent", "channel": "email", "op": "subscribed"},
                           attr("signup", "within_last_days", 90 + k)]},
        lambda k: {"all": [event("order_completed", "at_least", 1, 60,
                                 [{"property": "total", "op": "gt", "value": 100 + k}])]},
        lambda k: {"all": [attr("ltv", "between", [10, 100 + k]),
                           {"type": "consent", "channel": "email", "topic": "newsletter",
                            "op": "unsubscribed"}]},
        lambda k: {"any": [event("app_opened", "none", 0, 30), attr("plan", "equals", "free")]},
        lambda k: {"all": [event("search", "at_most", 2, 30), attr("plan", "starts_with", "e")]},
        None,  # a static list
    ]
    shapes = []
    for i in range(count):
        make = kinds[i % len(kinds)]
        shapes.append(("static", {"all": []}) if make is None else ("dynamic", make(i)))
    return shapes


# --- timing --------------------------------------------------------------------------------


def _ms(seconds: float) -> float:
    return seconds * 1000


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def _time_selector(ids: list[int]) -> tuple[dict, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from profiles.memberships import profile_segments
    from profiles.selectors import profile_by_reference

    def one(pk: int) -> float:
        started = time.perf_counter()
        profile_segments(profile=profile_by_reference(reference=str(pk), by="id"))
        return _ms(time.perf_counter() - started)

    for pk in ids[:20]:
        one(pk)
    times = [one(pk) for pk in ids]
    with CaptureQueriesContext(connection) as captured:
        one(ids[0])
    return {"p50": median(times), "p95": _p95(times)}, len(captured.captured_queries)


def _time_in_process(secret: str, ids: list[int]) -> dict:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def one(pk: int) -> float:
        started = time.perf_counter()
        response = client.get(f"/api/v1/profiles/{pk}/segments", {"by": "id"}, secure=True)
        assert response.status_code == 200, response.content[:200]
        return _ms(time.perf_counter() - started)

    for pk in ids[:20]:
        one(pk)
    times = [one(pk) for pk in ids]
    return {"p50": median(times), "p95": _p95(times)}


def _time_per_segment_sql(ids: list[int]) -> float:
    from profiles.audiences import segment_audience
    from profiles.models import Segment

    segments = list(Segment.objects.all())
    times = []
    for pk in ids:
        started = time.perf_counter()
        for segment in segments:
            segment_audience(segment).filter(pk=pk).exists()
        times.append(_ms(time.perf_counter() - started))
    return median(times)


def _time_floor(ids: list[int]) -> float:
    from django.db import connection

    raw = connection.cursor().cursor.connection
    statements = [
        ("SELECT id, name, kind, rules FROM profiles_segment", False),
        ("SELECT * FROM profiles_profile WHERE id = %s", True),
        ("SELECT name, occurred_at, properties FROM profiles_event WHERE profile_id = %s "
         "AND name = ANY(%s) AND occurred_at >= now() - interval '90 days'", True),
        ("SELECT channel, topic_id, state FROM profiles_consent WHERE profile_id = %s", True),
        ("SELECT segment_id FROM profiles_segmentmember WHERE profile_id = %s", True),
    ]

    def one(pk: int) -> float:
        started = time.perf_counter()
        with raw.cursor() as cursor:
            for sql, per_profile in statements:
                params = [] if not per_profile else (
                    [pk, NAMES] if "ANY" in sql else [pk])
                cursor.execute(sql, params)
                cursor.fetchall()
        return _ms(time.perf_counter() - started)

    for pk in ids[:20]:
        one(pk)
    return median([one(pk) for pk in ids])


def _token() -> str:
    from profiles.services import api_token_create

    return api_token_create(name="bench", scopes=["segments:read"])[1]


def _time_api(server: _Gunicorn, secret: str, ids: list[int]) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {"Authorization": f"Bearer {secret}", "X-Forwarded-Proto": "https"}
    for pk in [*ids[:20], *ids]:
        connection.request("GET", f"/api/v1/profiles/{pk}/segments?by=id", headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {body[:200]!r}")
    server.flush()
    times = [int(line.split()[-1]) / 1000 for line in server.log.read_text().splitlines()
             if "/segments" in line][20:]
    return {"p50": median(times), "p95": _p95(times)}


class _Gunicorn:
    def __init__(self, env: dict, log: Path):
        self.env, self.log = env, log

    def __enter__(self) -> _Gunicorn:
        self.port = free_port()
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2",
             "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning",
             "--access-logfile", str(self.log), "--access-logformat", "%(r)s %(D)s"],
            cwd=ROOT, env=self.env,
        )
        wait_until_serving(self.process, self.port)
        return self

    def flush(self) -> None:
        time.sleep(0.5)  # the access log is written after each response is sent

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(15)


if __name__ == "__main__":
    main()
