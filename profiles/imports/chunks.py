"""Reading and cleaning the file into chunks, one chunk ahead of the loader.

A background thread parses and validates chunk n+1 while the caller's thread has
PostgreSQL load chunk n: the upsert statements release the GIL while the server works, so
on two cores Python validation and database work overlap. The thread only reads the file
and runs pure functions; every database call stays in the caller's thread (and its
connection, its transaction). At most two chunks are in memory at any time.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from profiles.imports.loading import stage_row
from profiles.imports.mapping import ROW, RowCleaner
from profiles.imports.reading import ImportFileError, Records, open_text, strip_line_end


@dataclass
class Chunk:
    # key → (staged row, its consents, raw text): the last row of each key
    rows: dict[str, tuple[tuple, tuple, str]] = field(default_factory=dict)
    errors: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    processed: int = 0
    good: int = 0
    duplicates: int = 0
    last: bool = False

    def error_lines(self) -> Iterator[list]:
        """Rows of the error file: line, column(s), reason(s), the raw row."""
        for line, problems, raw in self.errors:
            yield [line, ", ".join(problems), "; ".join(problems.values()), strip_line_end(raw)]


_DONE = object()


class ChunkReader:
    """`with ChunkReader(...) as chunks: for chunk in chunks: …` — the last chunk has
    `last=True`; leaving the block early (a cancel, an error) stops the thread."""

    def __init__(self, path: str | Path, *, delimiter: str, cleaner: RowCleaner, size: int):
        self.path, self.delimiter, self.cleaner, self.size = path, delimiter, cleaner, size
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="import-reader", daemon=True)

    def __enter__(self) -> ChunkReader:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()
            self._thread.join(timeout=0.01)

    def __iter__(self) -> Iterator[Chunk]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for chunk in self._chunks():
                if not self._put(chunk):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, who fails the import
            self._put(exc)

    def _chunks(self) -> Iterator[Chunk]:
        clean, size = self.cleaner.clean, self.size
        with open_text(self.path) as stream:
            records = iter(Records(stream, self.delimiter, width=self.cleaner.plan.width))
            if next(records, None) is None:  # the header
                raise ImportFileError("The file is empty.")
            chunk = Chunk()
            for record in records:
                fields = record.fields
                if fields == []:
                    continue  # a blank line
                chunk.processed += 1
                if fields is None:
                    chunk.errors.append((record.line, {ROW: record.problem}, record.raw))
                else:
                    row, problems = clean(fields)
                    if row is None:
                        chunk.errors.append((record.line, problems, record.raw))
                    else:
                        if row.key in chunk.rows:
                            chunk.duplicates += 1  # the last row of a key wins
                        chunk.rows[row.key] = (*stage_row(record.line, row), record.raw)
                        chunk.good += 1
                if chunk.processed == size:
                    yield chunk
                    if self._stop.is_set():
                        return
                    chunk = Chunk()
            chunk.last = True
            yield chunk
