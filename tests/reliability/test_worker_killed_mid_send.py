"""A worker SIGKILLed in the middle of a 20,000-message email send.

A real RQ worker (its parent and the work horse it forked: the whole process group, as when
a container dies) is killed while it sends; a second worker is started; the sweep runs with
a short lease. Then: no Message-ID reached the SMTP sink twice, and every audience member has
one delivery that is sent, skipped (with a reason), failed, or `unknown` (reason interrupted:
at most the one batch that was in flight), never resent.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from campaigns import jobs
from campaigns.models import CampaignStatus, Enrollment, EnrollmentState
from campaigns.services import campaign_launch, campaign_save, campaign_schedule
from channels.models import Delivery, DeliveryStatus, Reason
from profiles.services import segment_save
from tests.e2e.conftest import REPO_ROOT, WORKER_QUEUES, database_url
from tests.smtp import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# RELIABILITY_AUDIENCE may shrink the send on a slow machine (the test is the same).
AUDIENCE = int(os.environ.get("RELIABILITY_AUDIENCE", "20000"))
BATCH = 200  # SEND_BATCH_SIZE for the workers: the most a killed worker can leave in flight
# Messages received by the sink before the kill: half-way through a batch, not at its end.
KILL_AFTER = AUDIENCE // 4 + BATCH // 2
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class MessageIdSink:
    """A minimal SMTP sink (aiosmtpd) that keeps only each message's Message-ID: fast enough
    not to be the bottleneck of 20,000 messages."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:
        match = MESSAGE_ID.search(envelope.original_content or envelope.content)
        with self._lock:
            self.ids.append(match.group(1).decode() if match else "")
        return "250 OK"

    def count(self) -> int:
        with self._lock:
            return len(self.ids)


@pytest.fixture
def sink():
    sink = MessageIdSink()
    sink._controller.start()
    yield sink
    sink._controller.stop()


@pytest.fixture
def workers(redis_conn, tmp_path, request):
    """`start(email_url)` → a `manage.py rqworker` process, in its own process group so that
    stopping it never signals pytest."""
    started: list[tuple[subprocess.Popen, str]] = []

    def start(email_url: str) -> subprocess.Popen:
        redis_conn.delete(*(f"rq:scheduler-lock:{name}" for name in WORKER_QUEUES))
        name = f"reliability-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test",
               "DATABASE_URL": database_url(connection.settings_dict),
               "REDIS_URL": settings.REDIS_URL, "EMAIL_URL": email_url,
               "SEND_BATCH_SIZE": str(BATCH), "PYTHONUNBUFFERED": "1"}
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "--name", name, *WORKER_QUEUES],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append((process, name))
        return process

    yield start

    for process, _ in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # warm shutdown
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_with_descendants(process.pid)
                process.wait(timeout=5)
    _forget_dead_workers(redis_conn, [name for _, name in started])
    if getattr(getattr(request.node, "report_call", None), "failed", False):
        for _, name in started:
            print(f"\n----- {name} -----\n{(tmp_path / f'{name}.log').read_text()[-4000:]}")


def _forget_dead_workers(redis_conn, names: list[str]) -> None:
    """A killed worker leaves its job "started" and itself registered in Redis; RQ's later
    cleanup of that job fails in other tests' fixtures, so remove it here."""
    for queue in WORKER_QUEUES:
        for member in redis_conn.zrange(f"rq:wip:{queue}", 0, -1):
            job_id = member.decode().split(":")[0]  # members are job_id:execution_id
            redis_conn.delete(f"rq:job:{job_id}", f"rq:executions:{job_id}",
                              f"rq:results:{job_id}", f"rq:execution:{member.decode()}")
        redis_conn.delete(f"rq:wip:{queue}")
        for name in names:
            redis_conn.srem(f"rq:workers:{queue}", f"rq:worker:{name}")
    for name in names:
        redis_conn.srem("rq:workers", f"rq:worker:{name}")
        redis_conn.delete(f"rq:worker:{name}", f"rq:worker:{name}:executions")


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_with_descendants(pid: int) -> None:
    """SIGKILL the worker and its work horse at once. (RQ starts the horse in a session of
    its own, so killing the worker's process group alone leaves the horse sending.)"""
    for target in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)


def given_an_audience(size: int):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO profiles_profile (external_id, email, phone, first_name, last_name,
                   timezone, locale, attributes, created_at, updated_at)
            SELECT 'r-' || g, 'r' || g || '@example.com', '', 'Ann' || g, '', 'UTC', 'en',
                   '{"plan": "pro"}', now(), now()
              FROM generate_series(1, %s) AS g
            """,
            [size],
        )
    return segment_save(
        name="Everyone pro",
        rules={"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]},
    )


def wait_for(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    counts = dict(Delivery.objects.values_list("status").annotate(n=Count("id")).order_by())
    raise AssertionError(f"timed out waiting for {what}; deliveries: {counts}")


def statuses() -> Counter:
    return Counter(dict(
        Delivery.objects.values_list("status").annotate(n=Count("id")).order_by()
    ))


def test_a_killed_worker_loses_nothing_and_sends_nothing_twice(sink, workers, settings):
    segment = given_an_audience(AUDIENCE)
    campaign = campaign_save(name="Big send", segment=segment,
                             subject="Hi {{ profile.first_name }}",
                             html_body="<p>Hello {{ profile.first_name }}</p>"
                                       '<a href="{{ unsubscribe_url }}">Unsubscribe</a>')
    campaign_schedule(campaign=campaign, at=timezone.now())
    email_url = f"smtp://127.0.0.1:{sink.port}"
    first = workers(email_url)
    assert campaign_launch(campaign_id=campaign.pk) == AUDIENCE  # enqueues the walk jobs

    # When: the worker is killed (parent and work horse) in the middle of the send …
    wait_for(lambda: sink.count() >= KILL_AFTER, timeout=60, what=f"{KILL_AFTER} messages")
    kill_with_descendants(first.pid)
    first.wait(timeout=10)
    killed_at = timezone.now()
    in_flight = statuses()[DeliveryStatus.SENDING]
    # (Messages are created by the journey walk batch by batch and sent as each commits:
    # what is left is enrollments not walked yet, and perhaps a batch queued, not sent.)
    assert Enrollment.objects.filter(state=EnrollmentState.ACTIVE).exists(), (
        "the kill came too late to test anything")

    # … a worker is started again and finishes the walk and what was queued …
    workers(email_url)
    wait_for(lambda: not Delivery.objects.filter(status=DeliveryStatus.QUEUED).exists()
             and not Enrollment.objects.filter(state=EnrollmentState.ACTIVE).exists(),
             timeout=150, what="the second worker to finish the walk and drain the queue")
    wait_for(lambda: statuses()[DeliveryStatus.SENDING] == in_flight, timeout=30,
             what="the second worker's last batch to be recorded")

    # … and the sweep, with a short lease, closes what the dead worker left in flight.
    settings.SEND_LEASE_SECONDS = 1
    time.sleep(max(0.0, 1.1 - (timezone.now() - killed_at).total_seconds()))
    summary = jobs.sweep()

    # Then: nothing was sent twice …
    ids = Counter(sink.ids)
    assert sum(ids.values()) == len(ids), [m for m, n in ids.items() if n > 1][:5]
    assert "" not in ids
    # … every member is accounted for, once …
    counts = statuses()
    assert Delivery.objects.filter(campaign_step__campaign=campaign).count() == AUDIENCE
    assert counts[DeliveryStatus.QUEUED] == counts[DeliveryStatus.SENDING] == 0
    assert set(counts) <= {DeliveryStatus.SENT, DeliveryStatus.SKIPPED, DeliveryStatus.FAILED,
                           DeliveryStatus.UNKNOWN}
    assert not Delivery.objects.filter(status=DeliveryStatus.SKIPPED, reason="").exists()
    # … at most the one in-flight batch is unknown, each with the reason, none resent …
    unknown = Delivery.objects.filter(status=DeliveryStatus.UNKNOWN)
    assert summary["interrupted"] == in_flight == counts[DeliveryStatus.UNKNOWN] <= BATCH
    assert set(unknown.values_list("reason", flat=True)) <= {Reason.INTERRUPTED}
    # … every sent message reached the sink, and the sink got nothing but those and
    # (perhaps) some of the unknown ones.
    sent_ids = set(Delivery.objects.filter(status=DeliveryStatus.SENT)
                   .values_list("provider_message_id", flat=True))
    assert len(sent_ids) == counts[DeliveryStatus.SENT]
    assert sent_ids <= set(ids)
    unknown_ids = {f"<delivery-{pk}@" for pk in unknown.values_list("id", flat=True)}
    strays = {m for m in set(ids) - sent_ids if m[: m.index("@") + 1] not in unknown_ids}
    assert not strays
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
