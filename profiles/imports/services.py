"""The life of a profile import: upload → mapping → preview → start → run (RQ) → done.

Views, the API, the management command and the RQ job all call these functions.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from profiles.imports.chunks import Chunk, ChunkReader
from profiles.imports.loading import (
    ChunkResult,
    load_chunk,
    profile_table_rows,
    refresh_statistics,
)
from profiles.imports.mapping import (
    ROW,
    Plan,
    RowCleaner,
    TopicRef,
    compile_mapping,
    preview_values,
    suggest_mapping,
)
from profiles.imports.reading import (
    ImportFileError,
    Records,
    inspect_file,
    open_text,
    read_header,
    strip_line_end,
)
from profiles.models import AuditLog, Profile, ProfileImport, Topic
from profiles.services import attribute_specs

Status = ProfileImport.Status
CHUNK_ROWS = 50_000
# Statistics are refreshed when an import has added this many profiles, or half the table.
ANALYZE_AFTER_ROWS = 20_000
PREVIEW_ROWS = 10
STARTABLE = (Status.UPLOADED, Status.FAILED, Status.CANCELLED)
FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
ERROR_HEADER = ["line", "column", "reason", "raw"]


class ImportStateError(ValueError):
    """The import is not in a state that allows this (e.g. starting one already running)."""


def chunk_rows() -> int:
    return getattr(settings, "PROFILE_IMPORT_CHUNK_ROWS", CHUNK_ROWS)


# --- upload and mapping ------------------------------------------------------------------

def import_upload(
    *, file: File, original_name: str, delimiter: str | None = None, user=None
) -> ProfileImport:
    """Store the file (copied to MEDIA_ROOT chunk by chunk), check it and read its header.

    Raises ImportFileError (and keeps nothing) for an empty, header-less, duplicated-column
    or non-UTF-8 file. The suggested mapping is saved as the starting point.
    """
    profile_import = ProfileImport(
        original_name=Path(original_name or "import.csv").name[:255], created_by=user
    )
    profile_import.file.save(f"{uuid.uuid4().hex}.csv", file, save=False)
    try:
        facts = inspect_file(profile_import.file.path, delimiter=delimiter or None)
    except ImportFileError:
        profile_import.file.delete(save=False)
        raise
    profile_import.delimiter = facts.delimiter
    profile_import.total_rows = facts.data_lines
    profile_import.mapping = suggest_mapping(facts.headers, attribute_specs(), topic_refs())
    profile_import.save()
    return profile_import


def import_headers(*, profile_import: ProfileImport) -> list[str]:
    with open_text(profile_import.file.path) as stream:
        headers, _ = read_header(stream, profile_import.delimiter)
    return headers


def import_configure(
    *, profile_import: ProfileImport, mapping: dict[str, str] | None = None,
    upsert_key: str | None = None, delimiter: str | None = None,
) -> ProfileImport:
    """Change the delimiter, mapping or key of an import not started yet.

    A new delimiter re-reads the header (and resets the mapping to its suggestion unless a
    mapping is given). Raises MappingError with a message per column, or ImportFileError.
    """
    if profile_import.status != Status.UPLOADED:
        raise ImportStateError("Only an import that has not started can be changed.")
    fields = []
    if delimiter and delimiter != profile_import.delimiter:
        facts = inspect_file(profile_import.file.path, delimiter=delimiter)
        profile_import.delimiter = facts.delimiter
        profile_import.total_rows = facts.data_lines
        profile_import.mapping = suggest_mapping(facts.headers, attribute_specs(), topic_refs())
        fields += ["delimiter", "total_rows", "mapping"]
    if upsert_key is not None:
        profile_import.upsert_key = upsert_key
        fields.append("upsert_key")
    if mapping is not None:
        profile_import.mapping = mapping
        fields.append("mapping")
    if mapping is not None or upsert_key is not None:
        import_plan(profile_import=profile_import)
    if fields:
        profile_import.save(update_fields=sorted(set(fields)))
    return profile_import


def import_plan(*, profile_import: ProfileImport, specs=None, topics=None) -> Plan:
    """The import's mapping checked against its file and the current schema."""
    return compile_mapping(
        headers=import_headers(profile_import=profile_import),
        mapping=profile_import.mapping, upsert_key=profile_import.upsert_key,
        specs=attribute_specs() if specs is None else specs,
        topics=topic_refs() if topics is None else topics,
        unknown=settings.PROFILE_UNKNOWN_ATTRIBUTES,
    )


def topic_refs() -> dict[str, TopicRef]:
    return {key: TopicRef(pk, channel)
            for pk, key, channel in Topic.objects.values_list("pk", "key", "channel")}


@dataclass
class PreviewRow:
    line: int
    raw: str
    values: dict[str, str] = field(default_factory=dict)  # header → value as imported
    errors: dict[str, str] = field(default_factory=dict)  # header (or "(row)") → reason
    action: str = ""  # "create" or "update", for a good row


def import_preview(*, profile_import: ProfileImport, limit: int = PREVIEW_ROWS) -> list[PreviewRow]:
    """The first rows as they would be imported (normalized), with per-cell errors.

    Nothing is written. Raises MappingError when the mapping itself is unusable.
    """
    specs = attribute_specs()
    plan = import_plan(profile_import=profile_import, specs=specs)
    cleaner = RowCleaner(plan, specs)
    rows, keys = [], {}
    with open_text(profile_import.file.path) as stream:
        records = iter(Records(stream, profile_import.delimiter, width=plan.width))
        next(records, None)  # the header
        for record in records:
            if record.fields == []:
                continue
            preview = PreviewRow(record.line, strip_line_end(record.raw))
            if record.fields is None:
                preview.errors[ROW] = record.problem
            else:
                clean, preview.errors = cleaner.clean(record.fields)
                if clean is not None:
                    preview.values = preview_values(plan, clean)
                    keys[clean.key] = preview
            rows.append(preview)
            if len(rows) >= limit:
                break
    existing = _existing_keys(plan.upsert_key, list(keys))
    for key, preview in keys.items():
        preview.action = "update" if key in existing else "create"
    return rows


def _existing_keys(upsert_key: str, keys: list[str]) -> set[str]:
    if upsert_key == "email":
        found = (Profile.objects.alias(email_lower=Lower("email"))
                 .filter(email_lower__in=keys).values_list("email", flat=True))
        return {email.lower() for email in found}
    return set(Profile.objects.filter(external_id__in=keys).values_list("external_id", flat=True))


# --- start, cancel -----------------------------------------------------------------------

def import_start(*, profile_import: ProfileImport, user=None, token=None,
                 enqueue: bool = True) -> ProfileImport:
    """Queue the import (again, for a failed or cancelled one: re-running is idempotent).

    The RQ job is enqueued once this commits; `enqueue=False` leaves it to the caller
    (the management command runs it in-process).
    """
    import_plan(profile_import=profile_import)  # raises MappingError before anything moves
    with transaction.atomic():
        started = ProfileImport.objects.filter(pk=profile_import.pk, status__in=STARTABLE).update(
            status=Status.QUEUED, cancel_requested=False, processed_rows=0, imported_rows=0,
            error_rows=0, message="", started_at=None, finished_at=None,
        )
        if not started:
            raise ImportStateError("This import is already queued or running.")
        _audit(profile_import, "profile_import.start", user=user, token=token, detail={
            "file": profile_import.original_name, "upsert_key": profile_import.upsert_key,
            "mapping": profile_import.mapping,
        })
        if enqueue:
            from profiles import import_jobs  # the jobs module imports this one

            transaction.on_commit(lambda: import_jobs.enqueue_import(profile_import.pk))
    profile_import.refresh_from_db()
    return profile_import


def import_cancel(*, profile_import: ProfileImport) -> ProfileImport:
    """Stop an import: at once if it has not started, else at the job's next chunk boundary.

    Chunks already committed stay imported.
    """
    pk = profile_import.pk
    now = timezone.now()
    stopped = ProfileImport.objects.filter(
        pk=pk, status__in=(Status.UPLOADED, Status.QUEUED)
    ).update(status=Status.CANCELLED, cancel_requested=True, finished_at=now,
             message="Cancelled before it started.")
    if not stopped:
        flagged = ProfileImport.objects.filter(pk=pk, status=Status.RUNNING).update(
            cancel_requested=True
        )
        if not flagged:
            raise ImportStateError("This import has already finished.")
    profile_import.refresh_from_db()
    return profile_import


def import_fail_stranded(*, import_id: int) -> int:
    """Mark failed a running import whose worker died (the job cannot say so itself)."""
    profile_import = ProfileImport.objects.filter(pk=import_id, status=Status.RUNNING).first()
    if profile_import is None:
        return 0
    return _finish(
        profile_import, Status.FAILED,
        "The worker running this import stopped. Rows of the chunks it committed stay "
        "imported; run it again to finish (rows already imported are unchanged).", None,
    )


# --- the run -----------------------------------------------------------------------------

@dataclass
class RunTotals:
    processed: int = 0
    imported: int = 0
    errors: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    consent_changes: int = 0

    def count(self, chunk: Chunk, result: ChunkResult) -> None:
        rejected = len(result.rejected)
        self.processed += chunk.processed
        self.imported += chunk.good - rejected
        self.errors += len(chunk.errors) + rejected
        self.duplicates += chunk.duplicates
        self.created += result.created
        self.updated += result.updated
        self.unchanged += result.unchanged
        self.consent_changes += result.consent_changes

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def import_run(
    *, import_id: int, chunk_size: int | None = None,
    on_progress: Callable[[ProfileImport], None] | None = None,
) -> ProfileImport:
    """Run a queued import to the end (the RQ job's body; the command calls it directly).

    Claims the import (queued → running) so two jobs never run it twice, then streams the
    file chunk by chunk: each chunk is validated in Python, loaded in one transaction, and
    its bad rows are appended to the error file; progress and the cancel flag are checked
    between chunks. Any exception marks the import failed with its message and is re-raised.
    """
    now = timezone.now()
    claimed = ProfileImport.objects.filter(pk=import_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now
    )
    profile_import = ProfileImport.objects.get(pk=import_id)
    if not claimed:
        return profile_import
    try:
        _run(profile_import, chunk_size or chunk_rows(), on_progress)
    except Exception as exc:
        _finish(profile_import, Status.FAILED, f"The import failed: {exc}", None)
        raise
    profile_import.refresh_from_db()
    return profile_import


def _run(profile_import: ProfileImport, size: int, on_progress) -> None:
    specs, topics = attribute_specs(), topic_refs()
    plan = import_plan(profile_import=profile_import, specs=specs, topics=topics)
    cleaner = RowCleaner(plan, specs)
    source = f"import:{profile_import.pk}"
    totals = RunTotals()
    error_name = profile_import.error_file.name or _error_file_name(profile_import)
    error_path = Path(default_storage.path(error_name))
    error_path.parent.mkdir(parents=True, exist_ok=True)
    profile_import.error_file.name = error_name
    profile_import.save(update_fields=["error_file"])
    with error_path.open("w", encoding="utf-8", newline="") as error_stream, ChunkReader(
        profile_import.file.path, delimiter=profile_import.delimiter, cleaner=cleaner, size=size
    ) as chunks:
        errors = csv.writer(error_stream)
        errors.writerow(ERROR_HEADER)
        known_rows, grown = profile_table_rows(), 0
        for chunk in chunks:
            errors.writerows(chunk.error_lines())
            with transaction.atomic():
                result = load_chunk(
                    rows=((row, consents) for row, consents, _ in chunk.rows.values()),
                    upsert_key=plan.upsert_key, source=source, now=timezone.now(),
                )
            if result.rejected:
                raws = {row[0]: raw for row, _, raw in chunk.rows.values()}
                column = plan_key_header(plan)
                errors.writerows([line, column, reason, strip_line_end(raws[line])]
                                 for line, reason in result.rejected)
            totals.count(chunk, result)
            grown += result.created
            if grown >= max(ANALYZE_AFTER_ROWS, known_rows // 2):
                refresh_statistics()
                known_rows, grown = profile_table_rows(), 0
            # The error lines of a chunk are on disk before its progress says it is done.
            error_stream.flush()
            if _progress(profile_import, totals, chunk.last, on_progress):
                return


def _progress(profile_import: ProfileImport, totals: RunTotals, last: bool,
              on_progress) -> bool:
    """Record progress after a chunk; True when the import is over (completed, cancelled)."""
    ProfileImport.objects.filter(pk=profile_import.pk).update(
        processed_rows=totals.processed, imported_rows=totals.imported,
        error_rows=totals.errors, **({"total_rows": totals.processed} if last else {}),
    )
    profile_import.refresh_from_db()
    if on_progress is not None:
        on_progress(profile_import)
    if last:
        _finish(profile_import, Status.COMPLETED, _summary(totals), totals)
        return True
    if profile_import.cancel_requested:
        _finish(profile_import, Status.CANCELLED, "Cancelled: " + _summary(totals)
                + " Rows before the cancel stay imported.", totals)
        return True
    return False


def plan_key_header(plan: Plan) -> str:
    return next(header for _, header, name in plan.fields if name == plan.upsert_key)


def _summary(totals: RunTotals) -> str:
    text = (f"{totals.imported:,} row(s) imported ({totals.created:,} created, "
            f"{totals.updated:,} updated, {totals.unchanged:,} unchanged), "
            f"{totals.errors:,} row(s) with errors.")
    if totals.duplicates:
        text += f" {totals.duplicates:,} row(s) repeated a key: the last one won."
    return text


def _finish(profile_import: ProfileImport, status: str, message: str,
            totals: RunTotals | None) -> int:
    """Running → completed, cancelled or failed, audited; 0 when it was no longer running."""
    finished = ProfileImport.objects.filter(pk=profile_import.pk, status=Status.RUNNING).update(
        status=status, message=message, finished_at=timezone.now()
    )
    profile_import.refresh_from_db()
    if not finished:
        return 0
    start = (AuditLog.objects.filter(action="profile_import.start", target_type="profile_import",
                                     target_id=str(profile_import.pk)).first())
    detail = {
        "file": profile_import.original_name, "status": status,
        "processed": profile_import.processed_rows, "imported": profile_import.imported_rows,
        "errors": profile_import.error_rows, **(totals.as_dict() if totals else {}),
    }
    AuditLog.objects.create(
        actor_user=start.actor_user if start else profile_import.created_by,
        actor_token=start.actor_token if start else None,
        actor=start.actor if start else _actor_name(profile_import.created_by, None),
        action="profile_import.finish", target_type="profile_import",
        target_id=str(profile_import.pk), detail=detail,
    )
    return 1


def _audit(profile_import: ProfileImport, action: str, *, user, token, detail: dict) -> None:
    AuditLog.objects.create(
        actor_user=user if getattr(user, "pk", None) else None, actor_token=token,
        actor=_actor_name(user, token)[:200], action=action, target_type="profile_import",
        target_id=str(profile_import.pk), detail=detail,
    )


def _actor_name(user, token) -> str:
    if token is not None:
        return f"token:{token.name} ({token.prefix})"
    if user is not None and getattr(user, "pk", None):
        return user.get_username()
    return "system"


def _error_file_name(profile_import: ProfileImport) -> str:
    return timezone.now().strftime(f"imports/errors/%Y/%m/import-{profile_import.pk}-errors.csv")


def import_progress(*, profile_import: ProfileImport) -> dict[str, Any]:
    """What the progress bar and the API show."""
    total = max(profile_import.total_rows, profile_import.processed_rows)
    percent = 100.0 if profile_import.status == Status.COMPLETED else (
        round(100 * profile_import.processed_rows / total, 1) if total else 0.0)
    return {
        "id": profile_import.pk, "status": profile_import.status,
        "finished": profile_import.status in FINISHED, "total_rows": total,
        "processed_rows": profile_import.processed_rows,
        "imported_rows": profile_import.imported_rows, "error_rows": profile_import.error_rows,
        "percent": min(percent, 100.0), "message": profile_import.message,
        "has_error_file": bool(profile_import.error_file) and profile_import.error_rows > 0,
    }

