"""The sweep makes Redis disposable for imports: lost jobs are queued again, dead ones failed.

django-rq defers an enqueue made inside a transaction (each test is one) to the commit, so
the enqueuing calls run under django_capture_on_commit_callbacks(execute=True)."""

import django_rq
import pytest
from rq.job import Job

from profiles.import_jobs import enqueue_import, job_id, sweep_imports
from profiles.imports import import_configure, import_start
from profiles.models import ProfileImport

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(upload):
    profile_import = upload("external_id\nc1\n")
    import_configure(profile_import=profile_import, mapping={"external_id": "external_id"},
                     upsert_key="external_id")
    return import_start(profile_import=profile_import, enqueue=False)


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    def run() -> dict[str, int]:
        with django_capture_on_commit_callbacks(execute=True):
            return sweep_imports()

    return run


@pytest.fixture
def running(queued, redis_conn, django_capture_on_commit_callbacks) -> ProfileImport:
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_import(queued.pk)
    ProfileImport.objects.filter(pk=queued.pk).update(status=ProfileImport.Status.RUNNING)
    return queued


def test_a_queued_import_whose_job_was_lost_is_queued_again(queued, redis_conn, sweep):
    # given a queued import and an empty Redis
    # when the sweep runs
    swept = sweep()

    # then its job is back on the imports queue, once
    assert swept == {"requeued": 1, "failed": 0}
    assert django_rq.get_queue("imports").job_ids == [job_id(queued.pk)]
    assert sweep() == {"requeued": 0, "failed": 0}


def test_a_running_import_whose_job_died_is_marked_failed(running, redis_conn, sweep):
    job = Job.fetch(job_id(running.pk), connection=redis_conn)
    job.set_status("failed")  # what RQ records when a work horse is killed

    swept = sweep()

    running.refresh_from_db()
    assert swept == {"requeued": 0, "failed": 1}
    assert running.status == ProfileImport.Status.FAILED
    assert "The worker running this import stopped" in running.message


def test_a_running_import_with_a_live_job_is_left_alone(running, sweep):
    assert sweep() == {"requeued": 0, "failed": 0}
    running.refresh_from_db()
    assert running.status == ProfileImport.Status.RUNNING


def test_running_again_replaces_the_failed_job(queued, redis_conn,
                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_import(queued.pk)
    job = Job.fetch(job_id(queued.pk), connection=redis_conn)
    job.set_status("failed")
    queue = django_rq.get_queue("imports")
    queue.failed_job_registry.add(job, ttl=60)
    queue.remove(job)

    with django_capture_on_commit_callbacks(execute=True):
        enqueue_import(queued.pk)

    assert queue.job_ids == [job_id(queued.pk)]
    assert job_id(queued.pk) not in queue.failed_job_registry.get_job_ids()
