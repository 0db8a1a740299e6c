"""End-to-end fixtures: a real SMTP sink and a real RQ worker process on the test database.

Tests using `rq_worker` need `@pytest.mark.django_db(transaction=True)`: the worker is
another process and only sees committed rows. The worker is stopped before the database
is flushed, and its output is printed when the test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.db import connection
from rq import Worker

from tests.smtp import SmtpSink, closed_port

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
WORKER_QUEUES = ("events", "launch", "send", "imports", "sweep", "default")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server on 127.0.0.1 that accepts everything; `.messages` holds what arrived."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def unreachable_smtp_url() -> str:
    return f"smtp://127.0.0.1:{closed_port()}"


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    name: str
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def assert_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"the RQ worker exited with {self.process.returncode}:\n{self.output()}"
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown: releases its locks
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def database_url(db: dict) -> str:
    """A DATABASE_URL for another process to reach the database this test process uses."""
    user = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        user += ":" + quote(db["PASSWORD"], safe="")
    host, port = db.get("HOST") or "", str(db.get("PORT") or "")
    query = {k: v for k, v in (db.get("OPTIONS") or {}).items() if k in ("host", "port")}
    if host.startswith("/"):  # a unix socket directory
        query.setdefault("host", host)
        host = ""
    if port and not host:
        query.setdefault("port", port)
    netloc = f"{user}@{host}:{port}" if host and port else f"{user}@{host}"
    url = f"postgres://{netloc}/{quote(db['NAME'], safe='')}"
    return f"{url}?{urlencode(query)}" if query else url


@pytest.fixture
def start_rq_worker(transactional_db, redis_conn, tmp_path, request):
    """`start_rq_worker(email_url=...)`: a real `manage.py rqworker --with-scheduler` process
    on the test database and Redis, ready when it returns."""
    workers: list[WorkerProcess] = []

    def start(*, email_url: str, extra_env: dict[str, str] | None = None) -> WorkerProcess:
        # A scheduler lock left by a killed worker would keep the new scheduler idle.
        redis_conn.delete(*(f"rq:scheduler-lock:{name}" for name in WORKER_QUEUES))
        name = f"e2e-{uuid.uuid4().hex[:12]}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(connection.settings_dict),
            "REDIS_URL": settings.REDIS_URL,
            "EMAIL_URL": email_url,
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        log_path = tmp_path / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "rqworker", "--with-scheduler", "--name", name,
                 *WORKER_QUEUES],
                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(process, name, log_path)
        workers.append(worker)
        _wait_until_registered(worker, redis_conn)
        return worker

    yield start

    for worker in workers:
        worker.stop()
    failed = any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    if failed:
        for worker in workers:
            print(f"\n----- output of RQ worker {worker.name} -----\n{worker.output()}")


def _wait_until_registered(worker: WorkerProcess, redis_conn, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.assert_alive()
        if any(w.name == worker.name for w in Worker.all(connection=redis_conn)):
            return
        time.sleep(0.1)
    raise AssertionError(f"the RQ worker did not start in {timeout} s:\n{worker.output()}")


@pytest.fixture
def rq_worker(start_rq_worker, smtp_sink) -> WorkerProcess:
    """A worker sending its email to `smtp_sink`."""
    return start_rq_worker(email_url=smtp_sink.url)
