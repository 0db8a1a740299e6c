"""RQ entry points of profile imports (queue "imports"): thin, they take an id."""

from __future__ import annotations

import django_rq
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from profiles.imports import import_fail_stranded, import_run
from profiles.models import ProfileImport

QUEUE = "imports"
# A million-row file takes minutes; the timeout only catches a job that is truly stuck.
JOB_TIMEOUT = 6 * 3600
_ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
_DEAD = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


def run_import(import_id: int) -> dict[str, int | str]:
    profile_import = import_run(import_id=import_id)
    return {"status": profile_import.status, "processed": profile_import.processed_rows,
            "imported": profile_import.imported_rows, "errors": profile_import.error_rows}


def job_id(import_id: int) -> str:
    return f"profile-import-{import_id}"


def enqueue_import(import_id: int) -> None:
    """Queue the import's job unless it is already waiting or running. The job of an earlier
    run (failed, or finished after a cancel) is deleted first, with its registry entries."""
    queue = django_rq.get_queue(QUEUE)
    key = job_id(import_id)
    status = _job_status(key, queue.connection)
    if status in _ACTIVE:
        return
    if status is not None:
        Job.fetch(key, connection=queue.connection).delete()
    queue.enqueue(
        run_import, import_id, job_id=key, job_timeout=JOB_TIMEOUT,
        result_ttl=86_400, failure_ttl=7 * 86_400, description=f"profile import #{import_id}",
    )


def sweep_imports() -> dict[str, int]:
    """Every minute (config/cron.py). A queued import whose job Redis lost is queued again
    (the job's claim makes a double harmless); a running one whose job RQ saw die (a killed
    work horse, an abandoned job) is marked failed, to be run again from the page."""
    connection = django_rq.get_connection(QUEUE)
    requeued = failed = 0
    imports = ProfileImport.objects.filter(
        status__in=(ProfileImport.Status.QUEUED, ProfileImport.Status.RUNNING)
    ).values_list("pk", "status")
    for pk, status in imports:
        job_status = _job_status(job_id(pk), connection)
        if status == ProfileImport.Status.QUEUED and job_status not in _ACTIVE:
            enqueue_import(pk)
            requeued += 1
        elif status == ProfileImport.Status.RUNNING and job_status in _DEAD:
            failed += import_fail_stranded(import_id=pk)
    return {"requeued": requeued, "failed": failed}


def _job_status(key: str, connection) -> str | None:
    try:
        return Job.fetch(key, connection=connection).get_status()
    except NoSuchJobError:
        return None
