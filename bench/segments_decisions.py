"""The decision API of bench/segments.py under load, through gunicorn.

GET /api/v1/decisions/homepage_banner?profile=… against a placement with offers of every
kind, from wrk (a Lua script) or the asyncio client below, closed loop and paced; the floor is
the SQL one decision runs, replayed raw.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from harness import ROOT, free_port, median, wait_until_serving
from segments_shapes import _attribute
from segments_world import _connect

PLACEMENT = "homepage_banner"
# The load generator runs as `bench/segments.py --load-generator CONFIG` (see _asyncio_load).
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "segments.py")


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


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
            [sys.executable, SCRIPT, "--load-generator", json.dumps(config)],
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
