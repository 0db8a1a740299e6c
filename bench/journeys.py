"""Journeys (issue #6 speed): audience launch, real-time entry to a send, the due sweep.

    python bench/journeys.py [--quick] [--parts launch,realtime,batches,sweep]

audience launch — a segment matching N profiles (1,000,000; --quick 100,000) is enrolled by
  campaigns.journeys.entry.run_audience (one set-based INSERT … SELECT); profiles/s, median
  of --repeats runs, the enrollments truncated between runs. Floor: the segment's rows
  INSERT … SELECT'ed as enrollment rows into a scratch table shaped like the enrollment
  table with its indexes (and, second figure, without them), median of 3, same run.
real time — an event-triggered campaign whose first step sends an email; RATE events/s for
  SECONDS s (200/s × 60 s; --quick 15 s) POSTed one per request to /api/v1/events served by
  gunicorn (gthread, 2 × 8), W RQ worker processes on every queue (README's worker line;
  --worker-class to try another), the project's mail sink. Latency from the request's start
  to the sink's receipt of the message: p50/p95/p99 (details in bench/journeys_realtime.py);
  the bench waits at most max(SECONDS, 15) s after the last event, and an event whose
  message is not in the sink by then counts as never delivered (its percentile is None).
  Floor: the same message built by the standard library and sent to the same sink on a new
  connection.
batches — diagnostic: in this process, batches of 1, 10, 100 and 500 new events through
  campaigns.journeys.events.enter_on_events (entry, walk, send to smtp-sink): events/s per
  batch size, i.e. the fixed cost of walking events one job per ingestion request
  (bench/journeys_batches.py).
sweep — N due enrollments (100,000; --quick 10,000) at a wait step that is over, whose next
  step is update_attribute (no message: the walk itself is measured), walked (1) by W RQ
  workers running the walk jobs campaigns.jobs.nudge fans out (the headline: how the
  product drains due work), and (2) in this process by campaigns.journeys.walk.process_due(
  limit=BATCH) in a loop until it finds nothing (the cron sweep's own loop); enrollments/s,
  median of --repeats each. Floor: one plain UPDATE of those rows to completed.

A part whose product code is missing is reported as not run, with the import error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time
from datetime import timedelta

import harness
from harness import bench_environment, django_setup, free_port, median, report

# This bench's Redis db while other engineers' suites share the server (see shared context).
harness.BENCH_REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "9"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parts", default="launch,realtime,batches,sweep")
    parser.add_argument("--profiles", type=int, help="launch audience size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes")
    parser.add_argument("--worker-class", default="",
                        help="rqworker --worker-class (default: RQ's forking Worker)")
    parser.add_argument("--due", type=int, help="sweep: due enrollments")
    parser.add_argument("--batch", type=int, default=1000,
                        help="sweep in process: process_due limit (the cron sweep's)")
    args = parser.parse_args()
    parts = args.parts.split(",")
    n = args.profiles or (100_000 if args.quick else 1_000_000)
    seconds = args.seconds or (15.0 if args.quick else 60.0)
    due = args.due or (10_000 if args.quick else 100_000)
    load_before = os.getloadavg()[0]

    results: dict[str, dict] = {}
    with bench_environment("journeys") as env:
        django_setup()
        import journeys_world as world

        world_n = max(n, int(args.rate * seconds), due)
        took = world.create_profiles(world_n)
        print(f"world: {world_n:,} profiles in {took:.1f}s (INSERT … SELECT generate_series)")
        segment = world.plan_segment()
        if "launch" in parts:
            results["launch"] = _part("launch", launch, world, segment, n, args.repeats)
        if "realtime" in parts:
            results["realtime"] = _part("realtime", realtime, env, world, args.rate, seconds,
                                        args.workers, args.worker_class)
        if "batches" in parts:
            results["batches"] = _part("batches", batches, env, world,
                                       int(args.rate * seconds) + 1, args.repeats)
        if "sweep" in parts:
            results["sweep"] = _part("sweep", sweep, env, world, due, args.batch, args.repeats,
                                     args.workers)
    _bench_line(results, n=n, due=due, rate=args.rate, seconds=seconds, workers=args.workers,
                worker_class=args.worker_class or "rq.Worker (fork per job)",
                load_avg=[round(load_before, 1), round(os.getloadavg()[0], 1)])


def _part(name: str, fn, *args) -> dict:
    try:
        return fn(*args)
    except _Missing as missing:
        print(f"{name}: NOT RUN — {missing}")
        return {"not_run": str(missing)}


class _Missing(Exception):
    """The product code a part calls is not there."""


def _product(module: str, name: str):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise _Missing(f"{module}.{name} is missing ({exc})") from exc


def _flush_redis() -> None:
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


# --- audience launch -----------------------------------------------------------------------


def launch(world, segment, n: int, repeats: int) -> dict:
    from django.utils import timezone

    from campaigns.models import Enrollment

    campaign = world.audience_campaign(segment)
    floors: dict[str, list[float]] = {"bare": [], "indexed": [], "table": []}
    for _ in range(3):
        for into, rates_ in floors.items():
            seconds, rows = world.launch_floor(campaign, into=into)
            assert rows == n, f"the segment holds {rows:,} profiles, not {n:,}"
            rates_.append(rows / seconds)
    floor, indexed, table = (median(floors[k]) for k in ("bare", "indexed", "table"))
    print(f"launch floor: {floor:,.0f} rows/s INSERT … SELECT into a scratch table shaped like "
          f"the enrollment table; {indexed:,.0f} rows/s with its indexes; {table:,.0f} "
          f"rows/s into campaigns_enrollment itself (indexes + foreign keys); medians of 3")
    run_audience = _product("campaigns.journeys.entry", "run_audience")
    rates = []
    for i in range(repeats):
        world.reset_enrollments()
        _flush_redis()
        scheduled_for = timezone.now() - timedelta(seconds=repeats - i)
        started = time.perf_counter()
        enrolled = run_audience(campaign_id=campaign.pk, scheduled_for=scheduled_for)
        elapsed = time.perf_counter() - started
        stored = Enrollment.objects.filter(campaign=campaign).count()
        assert stored == n, f"run {i + 1}: {stored:,} enrollments stored, {n:,} expected"
        rates.append(n / elapsed)
        print(f"launch run {i + 1}: {n:,} profiles enrolled in {elapsed:.2f}s = "
              f"{n / elapsed:,.0f} profiles/s (run_audience returned {enrolled})")
    world.reset_enrollments()
    figure = median(rates)
    print(f"launch: median {figure:,.0f} profiles/s over {repeats} runs of {n:,}; floor "
          f"{floor:,.0f} (ratio {figure / floor:.3f}), into the table itself {table:,.0f} "
          f"(ratio {figure / table:.3f}); target ≥ 50,000/s "
          f"{'✓' if figure >= 50_000 else '✗'}")
    return {"rate": figure, "floor": floor, "floor_indexed": indexed, "floor_table": table,
            "runs": rates}


# --- real time -----------------------------------------------------------------------------


def realtime(env: dict, world, rate: float, seconds: float, workers: int,
             worker_class: str) -> dict:
    import journeys_realtime as rt
    from ingest import gunicorn

    from profiles.services import api_token_create

    _product("campaigns.journeys.entry", "enter_on_events")
    from profiles.hooks import event_subscribers

    if "campaigns.journeys.jobs.on_events" not in event_subscribers():
        raise _Missing("campaigns.journeys.jobs.on_events is not subscribed to events "
                       f"(subscribers: {event_subscribers()})")
    campaign = world.event_campaign()
    _, secret = api_token_create(name="bench journeys", scopes=["events:write"])
    smtp_port, directory = free_port(), rt.capture_directory()
    env["EMAIL_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    sink = rt.start_mailsink(env, smtp_port, directory)
    pool: list = []
    try:
        floor = rt.smtp_floor(smtp_port)
        print(f"real-time floor: one message built (stdlib) and sent to the mail sink on a new "
              f"connection: p50 {floor['p50_ms']} ms, p95 {floor['p95_ms']} ms")
        _flush_redis()
        pool = rt.start_workers(env, workers, worker_class)
        with gunicorn(env, "gthread", 8) as port:
            load = rt.run_load(port, secret, rate, seconds, first=1, connections=16)
        sent = load["sent"]
        print(f"real time: {len(sent):,} events posted at {rate:.0f}/s over {seconds:.0f}s "
              f"(worst lateness against the schedule {load['late_s']}s)")
        waited = rt.wait_for_messages(len(sent), directory, quiet_s=30, max_s=max(seconds, 15),
                                      workers=pool)
        figures = rt.latencies(campaign.pk, sent, directory)
        figures["jobs"] = rt.job_durations("events")
    finally:
        rt.stop([*pool, sink])
    req, rec, sent_at = (figures["from_request"], figures["from_received"],
                         figures["request_to_sent_at"])
    print(f"real time: {figures['in_sink']:,} of {figures['events']:,} messages in the sink "
          f"{waited:.0f}s after the last event ({figures['throughput_msgs_s']:,} messages/s "
          f"from the first event to the last message); deliveries {figures['delivery_status']}")
    print(f"  request start → sink receipt: p50 {req['p50_ms']} ms, p95 {req['p95_ms']} ms, "
          f"p99 {req['p99_ms']} ms, max {req['max_ms']} ms (None: not in the sink when the "
          "bench stopped waiting)")
    jobs = figures["jobs"]
    ran, queued = jobs["ran"], jobs["queued"]
    print(f"  jobs on the events queue: {jobs['jobs']:,} finished, {jobs['pending']:,} still "
          f"queued; ran p50 {ran.get('p50_ms')} ms, p95 {ran.get('p95_ms')} ms; waited in the "
          f"queue p50 {queued.get('p50_ms')} ms, p95 {queued.get('p95_ms')} ms")
    print(f"  Event.received_at → sink receipt: p50 {rec['p50_ms']} ms, p95 {rec['p95_ms']} ms, "
          f"p99 {rec['p99_ms']} ms")
    print(f"  request start → Delivery.sent_at: p50 {sent_at['p50_ms']} ms, "
          f"p95 {sent_at['p95_ms']} ms, p99 {sent_at['p99_ms']} ms")
    print(f"  ingestion answer: p50 {figures['answer']['p50_ms']} ms, "
          f"p95 {figures['answer']['p95_ms']} ms; target p95 < 1 s "
          f"{'✓' if req['p95_ms'] is not None and req['p95_ms'] < 1000 else '✗'}")
    return {**figures, "floor": floor, "waited_s": round(waited, 1), "late_s": load["late_s"]}


def batches(env: dict, world, first: int, repeats: int) -> dict:
    import journeys_batches

    _product("campaigns.journeys.events", "enter_on_events")
    print("real time, what one event costs by batch size (in this process, no RQ, no HTTP):")
    return {"events_s": journeys_batches.by_batch_size(env, world, first, repeats)}


# --- sweep ---------------------------------------------------------------------------------


def sweep(env: dict, world, due: int, batch: int, repeats: int, workers: int) -> dict:
    campaign = world.sweep_campaign()
    floors = []
    for _ in range(3):
        world.due_enrollments(campaign, due)
        floors.append(due / world.sweep_floor(campaign))
    floor = median(floors)
    print(f"sweep floor: {floor:,.0f} rows/s, one plain UPDATE of {due:,} due enrollments to "
          "completed (median of 3)")
    process_due = _product("campaigns.journeys.walk", "process_due")
    nudge = _product("campaigns.jobs", "nudge")
    loop = [_drain_in_process(world, campaign, due, batch, process_due, i)
            for i in range(repeats)]
    pooled = [_drain_by_workers(env, world, campaign, due, workers, nudge, i)
              for i in range(repeats)]
    assert _marked_profiles() >= due, "some profiles did not get the attribute"
    world.reset_enrollments()
    figure, in_process = median(pooled), median(loop)
    print(f"sweep: median {figure:,.0f} enrollments/s through {workers} RQ workers (the walk "
          f"jobs campaigns.jobs.nudge fans out), {in_process:,.0f}/s in one process "
          f"(process_due(limit={batch}) in a loop), {repeats} runs of {due:,} each; floor "
          f"{floor:,.0f}/s (one UPDATE); ratio {figure / floor:.3f}; target ≥ 5,000/s "
          f"{'✓' if figure >= 5_000 else '✗'}")
    return {"rate": figure, "in_process": in_process, "floor": floor, "runs": pooled,
            "in_process_runs": loop, "batch": batch}


def _drain_in_process(world, campaign, due: int, batch: int, process_due, index: int) -> float:
    world.due_enrollments(campaign, due)
    _flush_redis()
    started, calls = time.perf_counter(), 0
    while process_due(limit=batch, campaign_id=campaign.pk):
        calls += 1
    elapsed = time.perf_counter() - started
    _check_walked(campaign, due)
    print(f"sweep in process, run {index + 1}: {due:,} due enrollments walked in "
          f"{elapsed:.2f}s ({calls} process_due calls of ≤ {batch}) = {due / elapsed:,.0f}/s")
    return due / elapsed


def _drain_by_workers(env: dict, world, campaign, due: int, workers: int, nudge,
                      index: int) -> float:
    import journeys_realtime as rt

    world.due_enrollments(campaign, due)
    _flush_redis()
    pool = rt.start_workers(env, workers)
    try:
        started = time.perf_counter()
        nudge(campaign.pk)
        while _active(campaign):
            if any(w.poll() is not None for w in pool):
                raise RuntimeError("a worker died during the bench")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        rt.stop(pool)
    _check_walked(campaign, due)
    print(f"sweep by {workers} workers, run {index + 1}: {due:,} due enrollments walked in "
          f"{elapsed:.2f}s = {due / elapsed:,.0f}/s")
    return due / elapsed


def _active(campaign) -> int:
    from campaigns.models import Enrollment

    return Enrollment.objects.filter(campaign=campaign, state="active").count()


def _check_walked(campaign, due: int) -> None:
    from campaigns.models import Enrollment

    completed = Enrollment.objects.filter(campaign=campaign, state="completed",
                                          step_key="mark").count()
    left = _active(campaign)
    assert left == 0 and completed == due, (
        f"{completed:,} completed at the update step, {left:,} still active, {due:,} due")


def _marked_profiles() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM profiles_profile"
                       " WHERE attributes @> '{\"journey_seen\": true}'::jsonb")
        return cursor.fetchone()[0]


# --- the BENCH line ------------------------------------------------------------------------


def _bench_line(results: dict, **context) -> None:
    launch_ = results.get("launch", {})
    rt = results.get("realtime", {})
    sweep_ = results.get("sweep", {})
    extra = dict(context)
    if "from_request" in rt:
        extra.update(
            realtime_p50_ms=rt["from_request"]["p50_ms"],
            realtime_p95_ms=rt["from_request"]["p95_ms"],
            realtime_p99_ms=rt["from_request"]["p99_ms"],
            realtime_from="request start → mail sink receipt",
            realtime_received_p95_ms=rt["from_received"]["p95_ms"],
            realtime_sent_at_p95_ms=rt["request_to_sent_at"]["p95_ms"],
            realtime_events=rt["events"], realtime_in_sink=rt["in_sink"],
            realtime_waited_s=rt["waited_s"], realtime_msgs_s=rt["throughput_msgs_s"],
            realtime_generator_late_s=rt["late_s"],
            realtime_job_p50_ms=rt["jobs"]["ran"].get("p50_ms"),
            realtime_jobs_pending=rt["jobs"]["pending"],
            realtime_floor_p95_ms=rt["floor"]["p95_ms"])
    if "rate" in sweep_:
        extra.update(sweep_rate=round(sweep_["rate"], 1),
                     sweep_in_process=round(sweep_["in_process"], 1),
                     sweep_floor=round(sweep_["floor"], 1),
                     sweep_ratio=round(sweep_["rate"] / sweep_["floor"], 3),
                     sweep_batch=sweep_["batch"])
    if "rate" in launch_:
        extra.update(launch_floor_indexed=round(launch_["floor_indexed"], 1),
                     launch_floor_table=round(launch_["floor_table"], 1),
                     launch_ratio_table=round(launch_["rate"] / launch_["floor_table"], 3),
                     launch_runs=[round(r) for r in launch_["runs"]])
    if "events_s" in results.get("batches", {}):
        extra["entry_events_s_by_batch"] = {
            str(k): round(v) for k, v in results["batches"]["events_s"].items()}
    not_run = {k: v["not_run"] for k, v in results.items() if "not_run" in v}
    if not_run:
        extra["not_run"] = not_run
    if "rate" in launch_:
        report("journeys", launch_["rate"], "profiles/s", launch_["floor"], **extra)
    else:  # no headline figure was measured: say so rather than print a zero
        print("BENCH " + json.dumps({"name": "journeys", "figure": None, "unit": "profiles/s",
                                     "floor": None, "ratio": None, **extra}))


if __name__ == "__main__":
    main()
