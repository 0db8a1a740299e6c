"""The real-time part of bench/journeys.py: events over HTTP → journey entry → an email.

Gunicorn serves the ingestion API; W `rqworker` processes (every queue, as README's worker
line) run the journeys; the project's mail sink (`manage.py mailsink`, aiosmtpd) writes each
message it receives to a file named after its Message-ID, `<delivery-{id}@…>`, whose mtime
is the sink's receipt time. A load generator in its own process posts single events at a
steady RATE (open loop: event i leaves at start + i / RATE, whatever the answers), each for
its own profile, and records when each request started.

Latency of one event: from the request's start (the generator's wall clock) — and, second
figure, from the Event row's received_at — to the sink's receipt of its message (and to the
Delivery's sent_at, which the sending pipeline stamps when the batch starts). An event
without a message when the bench stops waiting counts as infinitely late.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from harness import ROOT

WORKER_QUEUES = ["events", "launch", "send", "imports", "sweep", "default"]


def start_mailsink(env: dict, port: int, directory: Path) -> subprocess.Popen:
    import smtplib

    sink = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "mailsink", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env={**env, "MAIL_CAPTURE_DIR": str(directory)}, stdout=subprocess.DEVNULL)
    for _ in range(150):
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=1).quit()
            return sink
        except OSError:
            time.sleep(0.1)
    sink.terminate()
    raise RuntimeError("the mail sink did not start")


def start_workers(env: dict, count: int, worker_class: str = "") -> list[subprocess.Popen]:
    """README's worker line; `worker_class` e.g. rq.worker.SimpleWorker (no fork per job).
    Returns once all `count` workers have registered in Redis (listening)."""
    extra = ["--worker-class", worker_class] if worker_class else []
    pool = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", "rqworker", "--with-scheduler", *extra, "--name",
             f"bench-journeys-{i}-{uuid.uuid4().hex[:6]}", *WORKER_QUEUES],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for i in range(count)
    ]
    _wait_until_listening(pool, count)
    return pool


def _wait_until_listening(pool: list[subprocess.Popen], count: int) -> None:
    import django_rq
    from rq import Worker

    connection = django_rq.get_connection("default")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if Worker.count(connection=connection) >= count:
            time.sleep(0.5)  # registered just before it starts polling its queues
            return
        if any(w.poll() is not None for w in pool):
            break
        time.sleep(0.2)
    stop(pool)
    raise RuntimeError("the RQ workers did not start")


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


# --- the load generator (its own process) -------------------------------------------------


def run_load(port: int, secret: str, rate: float, seconds: float, first: int,
             connections: int) -> dict:
    """Run the generator process; returns {"sent": [[external_id, started_epoch,
    answer_s, status], …], "late_s": worst lateness against the schedule}."""
    config = {"port": port, "secret": secret, "rate": rate, "seconds": seconds,
              "first": first, "connections": connections}
    out = subprocess.run(  # noqa: S603
        [sys.executable, str(Path(__file__).resolve()), json.dumps(config)],
        cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"the load generator failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def load(config: dict) -> None:
    from journeys_world import ENTRY_EVENT

    total = int(config["rate"] * config["seconds"])
    headers = {"Authorization": f"Bearer {config['secret']}",
               "Content-Type": "application/json"}
    start = time.monotonic() + 0.5
    sent: list[list] = []
    late = [0.0]
    errors: list[str] = []
    lock = threading.Lock()

    def post(thread: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", config["port"], timeout=30)
        mine = []
        for i in range(thread, total, config["connections"]):
            due = start + i / config["rate"]
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            external_id = f"j{config['first'] + i}"
            body = json.dumps({"name": ENTRY_EVENT, "external_id": external_id,
                               "properties": {"plan": "pro"},
                               "message_id": f"rt-{external_id}"}).encode()
            began_epoch, began = time.time(), time.monotonic()
            conn.request("POST", "/api/v1/events", body, headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status != 201:
                errors.append(f"{response.status}: {payload[:200]!r}")
                return
            mine.append([external_id, began_epoch, time.monotonic() - began, response.status])
            late[0] = max(late[0], began - due)
        with lock:
            sent.extend(mine)

    threads = [threading.Thread(target=post, args=(k,)) for k in range(config["connections"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"load generator: {len(errors)} failure(s): {errors[:3]}")
    print(json.dumps({"sent": sent, "late_s": round(late[0], 3)}))


# --- what happened -------------------------------------------------------------------------


def wait_for_messages(expected: int, directory: Path, *, quiet_s: float, max_s: float,
                      workers: list[subprocess.Popen]) -> float:
    """Until every event has its message in the sink, nothing moved for quiet_s, or max_s
    passed (a runtime that cannot keep up would otherwise keep the bench for hours).
    Returns the seconds waited."""
    started = time.monotonic()
    last, moved_at = -1, started
    while True:
        count = sum(1 for _ in directory.glob("delivery-*.eml"))
        now = time.monotonic()
        if count >= expected:
            return now - started
        if count != last:
            last, moved_at = count, now
        if now - moved_at > quiet_s or now - started > max_s:
            print(f"  stopped waiting {now - started:.0f}s after the last event was posted: "
                  f"{count:,} of {expected:,} messages in the sink")
            return now - started
        if any(w.poll() is not None for w in workers):
            raise RuntimeError("a worker died during the bench")
        time.sleep(0.5)


def latencies(campaign_id: int, sent: list[list], directory: Path) -> dict:  # noqa: C901
    """Per event: (from request start, from received_at) → (sink receipt, sent_at)."""
    from django.db import connection

    receipts = {}
    for path in directory.glob("delivery-*.eml"):
        delivery_id = int(path.name.split("@", 1)[0].removeprefix("delivery-"))
        receipts[delivery_id] = path.stat().st_mtime_ns / 1e9
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.external_id, extract(epoch FROM e.received_at)::float8, d.id,"
            "       extract(epoch FROM d.sent_at)::float8, d.status"
            "  FROM profiles_event e JOIN profiles_profile p ON p.id = e.profile_id"
            "  LEFT JOIN campaigns_enrollment en"
            "         ON en.profile_id = e.profile_id AND en.campaign_id = %s"
            "  LEFT JOIN channels_delivery d ON d.enrollment_id = en.id"
            " WHERE e.name = %s", [campaign_id, _entry_event()])
        rows = {r[0]: r[1:] for r in cursor.fetchall()}
    inf = float("inf")
    from_request, from_received, to_sent_at, statuses = [], [], [], {}
    for external_id, began, _answer, _status in sent:
        received, delivery_id, sent_at, status = rows.get(external_id, (None,) * 4)
        statuses[status or "none"] = statuses.get(status or "none", 0) + 1
        at_sink = receipts.get(delivery_id, inf) if delivery_id else inf
        from_request.append(at_sink - began)
        from_received.append(at_sink - received if received else inf)
        to_sent_at.append(sent_at - began if sent_at else inf)
    arrived = [at for at in receipts.values()]
    first_request = min(s[1] for s in sent)
    span = (max(arrived) - first_request) if arrived else 0.0
    return {"from_request": percentiles(from_request),
            "throughput_msgs_s": round(len(arrived) / span, 1) if span else 0.0,
            "from_received": percentiles(from_received),
            "request_to_sent_at": percentiles(to_sent_at),
            "answer": percentiles([s[2] for s in sent]),
            "events": len(sent), "in_sink": sum(1 for x in from_request if x != inf),
            "delivery_status": statuses}


def job_durations(queue_name: str = "events") -> dict:
    """How long the queue's finished jobs ran (started → ended), and how long they had
    waited in the queue (enqueued → started): where an event's time went."""
    import django_rq
    from rq.job import Job

    queue = django_rq.get_queue(queue_name)
    ids = queue.finished_job_registry.get_job_ids()
    jobs = [j for j in Job.fetch_many(ids, connection=queue.connection) if j is not None]
    ran = [(j.ended_at - j.started_at).total_seconds() for j in jobs
           if j.started_at and j.ended_at]
    waited = [(j.started_at - j.enqueued_at).total_seconds() for j in jobs
              if j.started_at and j.enqueued_at]
    return {"jobs": len(jobs), "ran": percentiles(ran), "queued": percentiles(waited),
            "pending": queue.count}


def _entry_event() -> str:
    from journeys_world import ENTRY_EVENT

    return ENTRY_EVENT


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(q: float):
        value = ordered[min(len(ordered) - 1, int(len(ordered) * q))]
        return round(value * 1000, 1) if value != float("inf") else None  # ms; None = never

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": at(1.0)}


def smtp_floor(port: int, count: int = 200) -> dict:
    """The same message built with the standard library and sent to the same sink over a new
    connection each time: the latency floor of handing one message to the channel."""
    import smtplib
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    from email.utils import formatdate

    timings = []
    for i in range(count):
        began = time.perf_counter()
        message = MIMEMultipart("alternative")
        message["Subject"] = "Welcome Ada"
        message["From"] = "bench@example.com"
        message["To"] = f"floor{i}@example.com"
        message["Date"] = formatdate()
        message["Message-ID"] = f"<floor-{i}@example.com>"
        message.attach(MIMEText("Hello Ada\n\nThanks for joining on the pro plan.", "plain"))
        message.attach(MIMEText("<h1>Hello Ada</h1><p>Thanks for joining.</p>", "html"))
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail("bench@example.com", [message["To"]], message.as_bytes())
        timings.append(time.perf_counter() - began)
    return percentiles(timings)


def capture_directory() -> Path:
    return Path(tempfile.mkdtemp(prefix="itinera-bench-mail-"))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    load(json.loads(sys.argv[1]))
