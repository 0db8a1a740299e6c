"""RQ entry points of profile imports (queue "imports"): thin, they take an id."""

from __future__ import annotations

import django_rq

from profiles.imports import import_run

QUEUE = "imports"
# A million-row file takes minutes; the timeout only catches a job that is truly stuck.
JOB_TIMEOUT = 6 * 3600


def run_import(import_id: int) -> dict[str, int | str]:
    profile_import = import_run(import_id=import_id)
    return {"status": profile_import.status, "processed": profile_import.processed_rows,
            "imported": profile_import.imported_rows, "errors": profile_import.error_rows}


def enqueue_import(import_id: int) -> None:
    django_rq.get_queue(QUEUE).enqueue(
        run_import, import_id, job_timeout=JOB_TIMEOUT, result_ttl=86_400,
        description=f"profile import #{import_id}",
    )
