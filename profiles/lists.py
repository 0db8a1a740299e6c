"""Static lists: segments that are a fixed set of profiles (SegmentMember rows).

Profiles are named by id, external_id or email (any case; an address shared by several
profiles names them all). Each batch of references is one statement: PostgreSQL resolves
them, inserts (or deletes) the members with `ON CONFLICT DO NOTHING`, and reports which
references named no profile. Nothing is loaded into Python but the references themselves.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from django.db import connection, transaction

from profiles.models import Segment

CHUNK = 5000
CSV_MAX_ROWS = 1_000_000
UNKNOWN_SHOWN = 100  # unknown references kept for a CSV report (all are counted)
KINDS = ("external_id", "email", "id")  # a CSV row is read by the first of these it fills
DELIMITERS = (",", ";", "\t", "|")
MAX_ID = 2**63 - 1


class ListError(ValueError):
    """The segment is not a static list, or a file cannot be read as a list of profiles."""


@dataclass(frozen=True)
class Reference:
    line: int  # position in the request, or the line of a CSV file
    kind: str  # external_id | email | id
    value: str


@dataclass
class ListChange:
    rows: int = 0  # references read
    changed: int = 0  # members added (or removed)
    unchanged: int = 0  # profiles named that were already on the list (or not on it)
    unknown: int = 0  # references that name no profile
    unknown_refs: list[Reference] = field(default_factory=list)

    def unknown_values(self, kind: str) -> list[str]:
        return [ref.value for ref in self.unknown_refs if ref.kind == kind]


def static_list_create(*, name: str, description: str = "", user=None) -> Segment:
    return Segment.objects.create(
        name=name, description=description, kind=Segment.Kind.STATIC, rules={"all": []},
        created_by=user,
    )


def static_list_save(*, segment: Segment, name: str, description: str) -> Segment:
    """Rename or redescribe a list (its members change through add/remove)."""
    segment.name, segment.description = name, description
    segment.save(update_fields=["name", "description", "updated_at"])
    return segment


def references(*, ids: Iterable[int] = (), external_ids: Iterable[str] = (),
               emails: Iterable[str] = ()) -> list[Reference]:
    refs = [("id", str(v)) for v in ids] + [("external_id", v) for v in external_ids] + [
        ("email", v) for v in emails
    ]
    return [Reference(line, kind, value) for line, (kind, value) in enumerate(refs, start=1)]


def static_list_add(*, segment: Segment, refs: list[Reference], source: str = "api") -> ListChange:
    """Add the profiles the references name; those already on the list stay as they were."""
    return _change(segment, refs, add=True, source=source)


def static_list_remove(*, segment: Segment, refs: list[Reference]) -> ListChange:
    return _change(segment, refs, add=False, source="")


def _change(segment: Segment, refs: list[Reference], *, add: bool, source: str) -> ListChange:
    _require_static(segment)
    change = ListChange()
    with transaction.atomic():
        for start in range(0, len(refs), CHUNK):
            _apply(segment, refs[start:start + CHUNK], change, add=add, source=source,
                   keep_unknown=len(refs))
    return change


def static_list_add_from_csv(*, segment: Segment, file: IO[bytes] | IO[str],
                             source: str = "csv") -> ListChange:
    """Add the profiles a CSV file names to a static list, streaming it in chunks.

    The first row is a header naming at least one of external_id, email, id (any case; comma,
    semicolon, tab or pipe separated); each row is read by the first of those it fills.
    `file` is binary (an upload: UTF-8, with or without a BOM) or text. All or nothing: a
    file that turns out unreadable halfway adds no one. Unknown references are counted, and
    the first UNKNOWN_SHOWN kept with their line numbers. Raises ListError.
    """
    _require_static(segment)
    change = ListChange()
    try:
        lines = _lines(file)
        first = next(lines, "")
        rows = csv.reader(itertools.chain([first], lines), delimiter=_delimiter(first))
        columns = _columns(next(rows, []))
        with transaction.atomic():
            chunk: list[Reference] = []
            for line, row in enumerate(rows, start=2):
                ref = _row_reference(line, row, columns)
                if ref is None:
                    continue
                if change.rows + len(chunk) >= CSV_MAX_ROWS:
                    raise ListError(f"A file holds at most {CSV_MAX_ROWS:,} profiles.")
                chunk.append(ref)
                if len(chunk) == CHUNK:
                    _apply(segment, chunk, change, add=True, source=source,
                           keep_unknown=UNKNOWN_SHOWN)
                    chunk = []
            if chunk:
                _apply(segment, chunk, change, add=True, source=source,
                       keep_unknown=UNKNOWN_SHOWN)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ListError(f"The file is not a UTF-8 CSV file ({exc}).") from exc
    return change


def _require_static(segment: Segment) -> None:
    if not segment.is_static:
        raise ListError("Only a static list has members to add or remove; this segment's "
                        "members follow from its rules.")


def _lines(file: IO[bytes] | IO[str]) -> Iterator[str]:
    if isinstance(file.read(0), bytes):
        # Iterating a binary file yields its lines; the incremental decoder copes with a
        # character split across reads and drops a leading BOM.
        return codecs.iterdecode(iter(file), "utf-8-sig")
    return iter(file)


def _delimiter(header_line: str) -> str:
    """The delimiter that splits the header into a known column (spreadsheets in many
    locales write ";")."""
    for delimiter in DELIMITERS:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        if any(cell.strip().lower() in KINDS for cell in cells):
            return delimiter
    return ","


def _columns(header: list[str]) -> dict[str, int]:
    names = [cell.strip().lower() for cell in header]
    columns = {kind: names.index(kind) for kind in KINDS if kind in names}
    if not columns:
        raise ListError("The first row must name a column external_id, email or id.")
    return columns


def _row_reference(line: int, row: list[str], columns: dict[str, int]) -> Reference | None:
    for kind, index in columns.items():
        value = row[index].strip() if index < len(row) else ""
        if value:
            return Reference(line, kind, value)
    return None


# One statement per chunk. Each reference fills one of the three typed columns, so every
# join is an equality the indexes serve (external_id unique, lower(email), id) and no cast
# of a text that is not a number is ever attempted.
_CHUNK_SQL = """
WITH refs AS (
    SELECT * FROM unnest(%(lines)s::int[], %(external_ids)s::text[], %(emails)s::text[],
                         %(ids)s::bigint[]) AS r(line, external_id, email, id)
),
found AS (
    SELECT r.line, p.id AS profile_id
      FROM refs r JOIN profiles_profile p ON p.external_id = r.external_id
    UNION ALL
    SELECT r.line, p.id FROM refs r JOIN profiles_profile p ON lower(p.email) = lower(r.email)
    UNION ALL
    SELECT r.line, p.id FROM refs r JOIN profiles_profile p ON p.id = r.id
),
changed AS ({change})
SELECT (SELECT count(*) FROM changed),
       (SELECT count(DISTINCT profile_id) FROM found),
       ARRAY(SELECT r.line FROM refs r
              WHERE NOT EXISTS (SELECT 1 FROM found f WHERE f.line = r.line) ORDER BY r.line)
"""
_ADD = """
    INSERT INTO profiles_segmentmember (segment_id, profile_id, source, added_at)
    SELECT DISTINCT %(segment)s::bigint, profile_id, %(source)s, now() FROM found
    ON CONFLICT (segment_id, profile_id) DO NOTHING
    RETURNING 1
"""
_REMOVE = """
    DELETE FROM profiles_segmentmember
     WHERE segment_id = %(segment)s AND profile_id IN (SELECT profile_id FROM found)
    RETURNING 1
"""
ADD_SQL = _CHUNK_SQL.format(change=_ADD)
REMOVE_SQL = _CHUNK_SQL.format(change=_REMOVE)


def _apply(segment: Segment, chunk: list[Reference], change: ListChange, *, add: bool,
           source: str, keep_unknown: int) -> None:
    by_line = {ref.line: ref for ref in chunk}
    # A would-be id that is not a number (or too large) names no profile: it is left out
    # of the query and reported with the other unknown references.
    invalid = [ref for ref in chunk if ref.kind == "id" and not _is_id(ref.value)]
    skipped = {ref.line for ref in invalid}
    valid = [ref for ref in chunk if ref.line not in skipped]
    params = {
        "lines": [ref.line for ref in valid],
        "external_ids": [ref.value if ref.kind == "external_id" else None for ref in valid],
        "emails": [ref.value if ref.kind == "email" else None for ref in valid],
        "ids": [int(ref.value) if ref.kind == "id" else None for ref in valid],
        "segment": segment.pk, "source": source[:100],
    }
    with connection.cursor() as cursor:
        cursor.execute(ADD_SQL if add else REMOVE_SQL, params)
        changed, matched, unknown_lines = cursor.fetchone()
    unknown = sorted(invalid + [by_line[line] for line in unknown_lines], key=lambda r: r.line)
    change.rows += len(chunk)
    change.changed += changed
    change.unchanged += matched - changed
    change.unknown += len(unknown)
    room = max(keep_unknown - len(change.unknown_refs), 0)
    change.unknown_refs += unknown[:room]


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID
