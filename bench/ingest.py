"""Event ingestion over HTTP: batches (events/s) and single events (requests/s, latency).

    python bench/ingest.py [--quick] [--worker-class sync|gthread|both] [--window 20]

Gunicorn (config.wsgi, 2 workers) serves the real API against a fresh bench database holding
10,000 profiles; a load generator in a separate process (keep-alive http.client connections,
one per thread) posts batches of --batch track events spread over those profiles, each with
a unique message_id, then single events. Throughput is counted per window of --window
seconds of steady load (after a warm-up) and the median of the windows is reported, with the
p50/p95 latency of the requests. Every event answered "created" is checked to be in the table.
Both gunicorn worker classes are measured (sync, and gthread with --threads threads per
worker); the headline figures are the faster one's.
Floor: the same events COPY'd straight into profiles_event from this process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from datetime import UTC, datetime

from harness import ROOT, bench_environment, django_setup, free_port, median, report

PROFILES = 10_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker-class", default="both", choices=["sync", "gthread", "both"])
    parser.add_argument("--threads", type=int, default=8, help="gthread threads per worker")
    parser.add_argument("--connections", type=int, default=4, help="client connections, batch")
    parser.add_argument("--single-connections", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--window", type=float)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--load", help=argparse.SUPPRESS)  # the load generator's own process
    args = parser.parse_args()
    if args.load:
        return load(json.loads(args.load))
    window = args.window or (4.0 if args.quick else 20.0)
    classes = ["sync", "gthread"] if args.worker_class == "both" else [args.worker_class]

    load_before = os.getloadavg()[0]
    with bench_environment("ingest") as env:
        django_setup()
        _copy_profiles()
        floor = _floor(50_000 if args.quick else 500_000, args.batch)
        print(f"floor: {floor:,.0f} events/s (COPY into profiles_event)")
        from profiles.services import api_token_create

        _, secret = api_token_create(name="bench", scopes=["events:write"])
        runs = {}
        for worker_class in classes:
            with gunicorn(env, worker_class, args.threads) as port:
                runs[worker_class] = run_load(port, secret, "batch", args.batch, window,
                                              args.windows, connections=args.connections)
                print(_line(f"batch  {worker_class:7}", runs[worker_class], "events/s"))
        best = max(runs, key=lambda c: runs[c]["rate"])
        singles = {}
        for worker_class in classes:
            with gunicorn(env, worker_class, args.threads) as port:
                singles[worker_class] = run_load(port, secret, "single", 1, window,
                                                 args.windows,
                                                 connections=args.single_connections)
                print(_line(f"single {worker_class:7}", singles[worker_class], "requests/s"))
        single_best = max(singles, key=lambda c: singles[c]["rate"])
        stored = _stored_events()
    sent = sum(r["created"] for r in [*runs.values(), *singles.values()])
    assert stored == sent, f"{sent} events answered created, {stored} in the table"
    batch, single = runs[best], singles[single_best]
    report("ingest", batch["rate"], "events/s", floor, batch_size=args.batch,
           profiles=PROFILES, worker_class=best, workers=2, window_s=window,
           windows=args.windows, batch_p50_ms=batch["p50"], batch_p95_ms=batch["p95"],
           single_rps=round(single["rate"], 1), single_worker_class=single_best,
           single_p50_ms=single["p50"], single_p95_ms=single["p95"],
           by_class={c: round(r["rate"]) for c, r in runs.items()},
           single_by_class={c: round(r["rate"]) for c, r in singles.items()},
           # The machine's 1-minute load average before and after: other work on the same two
           # cores (a shared machine) shows here, and lowers every figure.
           load_avg=[round(load_before, 1), round(os.getloadavg()[0], 1)])


def _line(label: str, run: dict, unit: str) -> str:
    windows = ", ".join(f"{r:,.0f}" for r in run["windows"])
    return (f"{label}: median {run['rate']:,.0f} {unit} (windows: {windows}); "
            f"p50 {run['p50']} ms, p95 {run['p95']} ms, {run['requests']:,} requests")


# --- the server --------------------------------------------------------------------------


class gunicorn:  # noqa: N801 — used as a context manager, reads like a function
    def __init__(self, env: dict, worker_class: str, threads: int):
        self.env, self.worker_class, self.threads = env, worker_class, threads

    def __enter__(self) -> int:
        self.port = free_port()
        argv = [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2",
                "--bind", f"127.0.0.1:{self.port}", "--worker-class", self.worker_class,
                "--log-level", "warning", "--backlog", "2048", "--keep-alive", "30"]
        if self.worker_class == "gthread":
            argv += ["--threads", str(self.threads)]
        # An empty STATIC_ROOT keeps WhiteNoise quiet: the API serves no static files.
        env = {**self.env, "STATIC_ROOT": tempfile.mkdtemp(prefix="itinera-bench-static-")}
        self.process = subprocess.Popen(argv, cwd=ROOT, env=env)  # noqa: S603
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                return self.port
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(15)


# --- the load generator (a separate process) ----------------------------------------------


def run_load(port: int, secret: str, mode: str, batch: int, window: float, windows: int,
             connections: int) -> dict:
    config = {"port": port, "secret": secret, "mode": mode, "batch": batch, "window": window,
              "windows": windows, "connections": connections, "warmup": 2.0,
              "run": uuid.uuid4().hex[:8]}
    out = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--load", json.dumps(config)],
        cwd=ROOT, capture_output=True, text=True,
    )
    if out.returncode:
        raise RuntimeError(f"the load generator failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def load(config: dict) -> None:
    """Post for warmup + windows × window seconds from `connections` threads; print figures."""
    mode, batch = config["mode"], config["batch"]
    path = config.get("path") or ("/api/v1/events/batch" if mode == "batch" else "/api/v1/events")
    headers = {"Authorization": f"Bearer {config['secret']}",
               "Content-Type": "application/json"}
    start = time.monotonic() + 0.5
    measure_from = start + config["warmup"]
    stop = measure_from + config["window"] * config["windows"]
    done: list[tuple[float, float, int]] = []  # (finished at, seconds, events created)
    created_total = [0]
    lock = threading.Lock()

    errors: list[str] = []

    def worker(thread: int) -> None:
        try:
            run(thread)
        except Exception as exc:  # noqa: BLE001 — reported, and fails the bench
            errors.append(repr(exc))

    def run(thread: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", config["port"], timeout=60)
        sequence = 0
        records, created_here = [], 0
        while time.monotonic() < start:
            time.sleep(0.01)
        while True:
            began = time.monotonic()
            if began >= stop:
                break
            sequence += 1
            body = _body(mode, batch, f"{config['run']}-{thread}-{sequence}")
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            payload = response.read()
            finished = time.monotonic()
            if response.status not in (200, 201):
                raise RuntimeError(f"{response.status}: {payload[:300]!r}")
            if mode == "batch":
                created = json.loads(payload)["created"]
            else:
                created = 1 if response.status == 201 else 0
            created_here += created
            records.append((finished, finished - began, created))
        with lock:
            done.extend(records)
            created_total[0] += created_here

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(config["connections"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rates, latencies = [], []
    for k in range(config["windows"]):
        lower = measure_from + k * config["window"]
        upper = lower + config["window"]
        inside = [r for r in done if lower <= r[0] < upper]
        unit = sum(r[2] for r in inside) if mode == "batch" else len(inside)
        rates.append(unit / config["window"])
        latencies += [r[1] for r in inside]
    latencies.sort()
    if errors:
        raise SystemExit(f"load generator: {len(errors)} thread(s) failed: {errors[:3]}")
    print(json.dumps({
        "rate": median(rates), "windows": rates, "requests": len(latencies),
        "p50": round(latencies[len(latencies) // 2] * 1000, 1),
        "p95": round(latencies[int(len(latencies) * 0.95)] * 1000, 1),
        "created": created_total[0],
    }))


def _body(mode: str, batch: int, prefix: str) -> bytes:
    """Events as a product's SDK sends them: its own message_id and time, a few properties."""
    now = datetime.now(UTC).isoformat()
    seed = zlib.crc32(prefix.encode())
    events = [
        f'{{"type":"track","name":"product_viewed","external_id":"p{(seed + i * 7919) % PROFILES}",'
        f'"properties":{{"sku":"SKU-{i % 500}","price":12.5,"currency":"EUR","qty":1}},'
        f'"occurred_at":"{now}","message_id":"{prefix}-{i}"}}'
        for i in range(batch)
    ]
    if mode == "single":
        return events[0].replace('"type":"track",', "").encode()
    return ('{"batch":[' + ",".join(events) + "]}").encode()


# --- data and floor ----------------------------------------------------------------------


def _copy_profiles() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        with cursor.copy(
            "COPY profiles_profile (external_id, email, phone, first_name, last_name, timezone,"
            " locale, attributes, created_at, updated_at) FROM STDIN"
        ) as copy:
            copy.write("".join(
                f"p{i}\tp{i}@example.com\t\tAda\tLovelace\tEurope/Paris\tfr-FR\t{{}}\t"
                f"2026-01-01\t2026-01-01\n" for i in range(PROFILES)
            ))
        cursor.execute("ANALYZE profiles_profile")


def _floor(n: int, batch: int) -> float:
    """The same events COPY'd into profiles_event, in chunks of `batch`; rows/s (median of 3)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM profiles_profile")
        first_id = cursor.fetchone()[0]
    now = datetime.now(UTC).isoformat()
    rows = "".join(
        f"{first_id + (i * 7919) % PROFILES}\tproduct_viewed\t"
        f'{{"sku": "SKU-{i % 500}", "price": 12.5, "currency": "EUR", "qty": 1}}\t{now}\t{now}'
        f"\tfloor\tfloor-{i}\n"
        for i in range(n)
    )
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        with connection.cursor() as cursor, cursor.copy(
            "COPY profiles_event (profile_id, name, properties, occurred_at, received_at,"
            " source, message_id) FROM STDIN"
        ) as copy:
            copy.write(rows)
        timings.append(n / (time.perf_counter() - started))
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM profiles_event WHERE source = 'floor'")
    return median(timings)


def _stored_events() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM profiles_event WHERE source = 'bench'")
        return cursor.fetchone()[0]


if __name__ == "__main__":
    main()
