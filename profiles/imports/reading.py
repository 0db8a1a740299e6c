"""Reading an uploaded CSV: refuse unusable files at once, then stream its records.

Pure file handling: no database. The whole file is checked once at upload (UTF-8, no NUL
bytes, a usable header) while its lines are counted for the progress bar; the job then
streams it record by record, never holding more than one record in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SAMPLE_BYTES = 16 * 1024
READ_BYTES = 1 << 20
# A quoted field may hold line breaks (an address), but a "record" spanning more lines than
# this is an unterminated quote swallowing the rows after it.
MAX_RECORD_LINES = 20
UTF8_BOM = codecs.BOM_UTF8


class ImportFileError(ValueError):
    """The file cannot be imported at all; the message tells the user what to fix."""


@dataclass(frozen=True)
class FileFacts:
    delimiter: str
    headers: list[str]
    data_lines: int  # physical lines after the header: the progress bar's total (an estimate)
    size: int


def inspect_file(path: str | Path, *, delimiter: str | None = None) -> FileFacts:
    """Check the whole file and read its header; raise ImportFileError with a clear reason."""
    path = Path(path)
    size, newlines, last_byte, sample = _scan(path)
    if size == 0 or not sample.lstrip("\ufeff").strip():
        raise ImportFileError("The file is empty.")
    if delimiter is not None and delimiter not in DELIMITERS:
        raise ImportFileError("Choose a comma, semicolon, tab or pipe delimiter.")
    delimiter = delimiter or sniff_delimiter(sample)
    with open_text(path) as stream:
        headers, header_lines = read_header(stream, delimiter)
    check_header(headers)
    lines = newlines + (0 if last_byte == b"\n" else 1)
    return FileFacts(delimiter, headers, max(lines - header_lines, 0), size)


def _scan(path: Path) -> tuple[int, int, bytes, str]:
    """One pass over the bytes: size, line count, UTF-8 and NUL checks, a decoded sample."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = newlines = 0
    last, sample = b"", ""
    with path.open("rb") as raw:
        while chunk := raw.read(READ_BYTES):
            if b"\x00" in chunk:
                raise ImportFileError(
                    "The file contains NUL bytes: it is binary (a spreadsheet?) or UTF-16, "
                    "not UTF-8 text. Export it as “CSV UTF-8”."
                )
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    f"The file is not UTF-8 text (invalid byte at offset {size + exc.start:,}). "
                    "Export it as “CSV UTF-8”."
                ) from None
            if len(sample) < SAMPLE_BYTES:
                sample += text[: SAMPLE_BYTES - len(sample)]
            newlines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ImportFileError("The file is not UTF-8 text (it ends mid-character).") from None
    return size, newlines, last, sample


def sniff_delimiter(sample: str) -> str:
    """The likeliest delimiter among , ; tab | (csv.Sniffer on whole lines, else the header)."""
    sample = sample.lstrip("\ufeff")
    whole = sample[: sample.rfind("\n") + 1] or sample
    try:
        return csv.Sniffer().sniff(whole, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        header = whole.splitlines()[0] if whole.strip() else ""
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def open_text(path: str | Path) -> io.TextIOWrapper:
    """The file as text: the BOM is dropped, line endings are left to the csv module."""
    return open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (the caller closes it)


def read_header(stream, delimiter: str) -> tuple[list[str], int]:
    records = Records(stream, delimiter)
    for record in records:
        if record.fields is None:
            raise ImportFileError(f"The header line cannot be read: {record.problem}")
        if not record.fields:
            raise ImportFileError(
                "The first line is empty: the file must start with a header of column names."
            )
        return [name.strip() for name in record.fields], records.lines_read
    raise ImportFileError("The file is empty.")


def check_header(headers: list[str]) -> None:
    for position, name in enumerate(headers, start=1):
        if not name:
            raise ImportFileError(
                f"Column {position} of the header has no name: every column needs one."
            )
    seen: set[str] = set()
    for name in headers:
        if name in seen:
            raise ImportFileError(f"The header names the column “{name}” twice.")
        seen.add(name)
    if any("@" in name for name in headers):
        raise ImportFileError(
            "The first line looks like data (it holds an email address), not column names: "
            "add a header line."
        )


@dataclass(slots=True)
class Record:
    line: int  # where the record starts in the file (1 = the header)
    fields: list[str] | None  # None: the record could not be parsed, see `problem`
    raw: str
    problem: str = ""


class _LineFeed:
    """Feeds physical lines to csv.reader, remembering those of the record being read, so a
    broken record's lines can be given back and read again one by one."""

    __slots__ = ("source", "pending", "pushback")

    def __init__(self, source):
        self.source = iter(source)
        self.pending: list[str] = []
        self.pushback: list[str] = []  # a stack: the next line to read is at the end

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if len(self.pending) >= MAX_RECORD_LINES:
            raise StopIteration  # csv.reader (non-strict) ends the record here
        line = self.pushback.pop() if self.pushback else next(self.source)
        self.pending.append(line)
        return line


class Records:
    """The records of a CSV text stream, with their line numbers and raw text.

    A record whose quoted field runs over several lines and then has the wrong number of
    fields (or runs past MAX_RECORD_LINES) is an unterminated quote: that first line is
    reported and the lines after it are read again, so one stray quote costs one row.
    """

    def __init__(self, stream, delimiter: str, *, width: int | None = None, first_line: int = 1):
        self._feed = _LineFeed(stream)
        self._reader = csv.reader(self._feed, delimiter=delimiter)
        self.width = width
        self.delimiter = delimiter
        self.next_line = first_line
        self.lines_read = 0

    def __iter__(self) -> Iterator[Record]:
        feed, reader = self._feed, self._reader
        pending = feed.pending
        while True:
            pending.clear()
            try:
                fields = next(reader)
            except StopIteration:
                if not pending:
                    return
                fields = None  # only when the feed is exhausted mid-record
            except csv.Error as exc:
                yield self._broken(f"Unreadable row: {exc}.")
                continue
            count = len(pending)
            if count == 1:
                line = self.next_line
                self.next_line += 1
                self.lines_read += 1
                yield Record(line, fields, pending[0])
            elif fields is None or count >= MAX_RECORD_LINES or self._looks_broken(fields):
                yield self._broken(
                    "A quoted value is never closed (a stray or unterminated \" quote)."
                )
            else:
                line = self.next_line
                self.next_line += count
                self.lines_read += count
                yield Record(line, fields, "".join(pending))

    def _looks_broken(self, fields: list[str]) -> bool:
        """A multi-line record is a stray quote when its width is wrong, or when a line in its
        middle is a plain row of the right width on its own."""
        if self.width is None:
            return False
        if len(fields) != self.width:
            return True
        separators = self.width - 1
        return any(
            '"' not in line and line.count(self.delimiter) == separators
            for line in self._feed.pending[1:-1]
        )

    def _broken(self, problem: str) -> Record:
        """Report the record's first line; give the lines after it back to be read again."""
        pending = self._feed.pending
        first = pending[0] if pending else ""
        self._feed.pushback.extend(reversed(pending[1:]))
        line = self.next_line
        self.next_line += 1
        self.lines_read += 1
        return Record(line, None, first, problem)


def strip_line_end(raw: str) -> str:
    return raw.rstrip("\r\n")
