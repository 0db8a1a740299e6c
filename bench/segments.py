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
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from harness import django_setup, median, report
from segments_decisions import _asyncio_load, _percentile, _time_decisions
from segments_shapes import SHAPE_NAMES, SHAPES, _floor_sql, _rules
from segments_world import _bench_database, _connect, _covering_index, _ensure_data

TARGET_COUNT_MS, TARGET_MATCH_MS, TARGET_DECISION_P95_MS = 1000, 20, 50


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


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--load-generator":
        _asyncio_load(json.loads(sys.argv[2]))
    else:
        main()
