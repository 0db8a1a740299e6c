"""CSV import throughput: a 1,000,000-row file of profiles through the import service.

    python bench/import.py [--quick] [--rows N] [--repeats R]

The file (generated in a temp dir) has 11 columns: external_id, email, phone (half E.164,
half national "06 12 34 56 78" read with the row's locale), first_name, last_name, timezone,
locale, plan (an undeclared attribute, stored untyped), score (declared number),
signup_date (declared date) and consent_email; 1% of the rows carry one bad value.

Timed: the import job's body (profiles.imports.import_run), called in-process — the same
function the RQ worker runs, without the queue hop — from an empty profiles table, R times
(median reported). Also shown: the upload step (copy into MEDIA_ROOT + the UTF-8/line-count
pass), a re-run of the same file over the imported profiles (every row unchanged), the CPU
seconds of this process (parse + validate in the reader thread, CSV for COPY in the main
one), the wall seconds spent in load_chunk (COPY into staging + set-based upsert; the
reader validates the next chunk meanwhile), and the peak RSS of this process (flat: the
file is streamed, at most two chunks are held).
Floor: the same file COPY'd (CSV, HEADER) straight into a plain table of 11 text columns.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from harness import bench_environment, django_setup, median, report

HEADER = ["external_id", "email", "phone", "first_name", "last_name", "timezone", "locale",
          "plan", "score", "signup_date", "consent_email"]
MAPPING = {
    "external_id": "external_id", "email": "email", "phone": "phone",
    "first_name": "first_name", "last_name": "last_name", "timezone": "timezone",
    "locale": "locale", "plan": "attributes.plan", "score": "attributes.score",
    "signup_date": "attributes.signup_date", "consent_email": "consent.email",
}
FIRST = ["Ada", "Léa", "Bob", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Inès"]
LAST = ["Lovelace", "Martin", "Dupont", "Müller", "García", "Rossi", "Tanaka", "Smith"]
PLACES = [("Europe/Paris", "fr-FR"), ("America/New_York", "en-US"), ("Europe/Berlin", "de-DE"),
          ("Asia/Tokyo", "ja-JP"), ("Europe/Madrid", "es-ES")]
PLANS = ["free", "pro", "team", "enterprise"]
BAD = [("email", "not-an-email"), ("phone", "+33123"), ("timezone", "Mars/Base"),
       ("score", "lots"), ("signup_date", "31/12/2024")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--repeats", type=int)
    args = parser.parse_args()
    n = args.rows or (100_000 if args.quick else 1_000_000)
    repeats = args.repeats or 3

    with tempfile.TemporaryDirectory(prefix="itinera-bench-import-") as tmp, \
            bench_environment("import"):
        os.environ["MEDIA_ROOT"] = str(Path(tmp) / "media")
        django_setup()
        source = Path(tmp) / "profiles.csv"
        started = time.perf_counter()
        bad = _generate(source, n)
        size_mb = source.stat().st_size / 2**20
        print(f"generated {n:,} rows ({size_mb:.0f} MB, {bad:,} bad) in "
              f"{time.perf_counter() - started:.1f}s")
        _declare_attributes()
        floors = [_floor(source) for _ in range(3)]
        floor = median(floors)
        print(f"floor: COPY of the file into a plain table: {floor:,.0f} rows/s "
              f"({', '.join(f'{f:,.0f}' for f in floors)})")
        runs = [_run_once(source, n, bad, i) for i in range(repeats)]
        rerun = _rerun(source, n)
    rates = [r["rate"] for r in runs]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"itinera: median {median(rates):,.0f} rows/s over {repeats} run(s) of {n:,} "
          f"(re-run of the same file: {rerun:,.0f} rows/s); peak RSS {rss:.0f} MB")
    report("import", median(rates), "rows/s", floor, n=n, repeats=repeats,
           total_s=round(median(r["total_s"] for r in runs), 1),
           cpu_s=round(median(r["cpu_s"] for r in runs), 1),
           load_chunk_s=round(median(r["db_s"] for r in runs), 1),
           upload_s=round(median(r["upload_s"] for r in runs), 1),
           rerun_rows_s=round(rerun), bad_rows=bad, file_mb=round(size_mb),
           peak_rss_mb=round(rss), mode="in-process import_run (the RQ job's body)")


def _generate(path: Path, n: int) -> int:
    rng = random.Random(42)  # noqa: S311 — test data
    bad = 0
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        for i in range(n):
            zone, locale = PLACES[i % len(PLACES)]
            digits = f"{i % 100_000_000:08d}"
            phone = (f"+336{digits}" if i % 2 else f"06 {digits[:2]} {digits[2:4]} "
                     f"{digits[4:6]} {digits[6:]}")
            row = [f"cust-{i:07d}", f"user{i}@example.com", phone, rng.choice(FIRST),
                   rng.choice(LAST), zone, locale if i % 2 else "fr-FR", rng.choice(PLANS),
                   str(rng.randint(0, 10_000)), f"20{rng.randint(10, 25)}-0{rng.randint(1, 9)}-1"
                   f"{rng.randint(0, 9)}", "yes" if i % 3 else "no"]
            if i % 100 == 99:
                column, value = BAD[(i // 100) % len(BAD)]
                row[HEADER.index(column)] = value
                bad += 1
            writer.writerow(row)
    return bad


def _declare_attributes() -> None:
    from profiles.models import AttributeDefinition, AttributeType

    AttributeDefinition.objects.create(key="score", label="Score", type=AttributeType.NUMBER)
    AttributeDefinition.objects.create(key="signup_date", label="Signup date",
                                       type=AttributeType.DATE)


def _floor(source: Path) -> float:
    from django.db import connection

    columns = ", ".join(f"{name} text" for name in HEADER)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS bench_import_floor; "
                       f"CREATE TABLE bench_import_floor ({columns})")
        started = time.perf_counter()
        with cursor.copy("COPY bench_import_floor FROM STDIN WITH (FORMAT csv, HEADER)") as copy, \
                source.open("rb") as stream:
            while block := stream.read(1 << 20):
                copy.write(block)
        elapsed = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM bench_import_floor")
        rows = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_import_floor")
    return rows / elapsed


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE profiles_profile, profiles_consent, profiles_consentchange "
                       "CASCADE")
        cursor.execute("VACUUM ANALYZE profiles_profile")


def _start(source: Path):
    from django.core.files import File

    from profiles.imports import import_configure, import_start, import_upload

    started = time.perf_counter()
    with source.open("rb") as stream:
        profile_import = import_upload(file=File(stream), original_name=source.name)
    upload_s = time.perf_counter() - started
    import_configure(profile_import=profile_import, mapping=MAPPING, upsert_key="external_id")
    import_start(profile_import=profile_import, enqueue=False)
    return profile_import, upload_s


class _DbClock:
    """Adds up the time spent in load_chunk (COPY to staging + set-based upsert)."""

    def __init__(self):
        from profiles.imports import services

        self.services, self.original, self.seconds = services, services.load_chunk, 0.0

    def __enter__(self):
        def timed(**kwargs):
            started = time.perf_counter()
            try:
                return self.original(**kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        self.services.load_chunk = timed
        return self

    def __exit__(self, *exc):
        self.services.load_chunk = self.original


def _run_once(source: Path, n: int, bad: int, index: int) -> dict:
    from profiles.imports import import_run
    from profiles.models import Profile

    _reset()
    profile_import, upload_s = _start(source)
    with _DbClock() as clock:
        started, cpu = time.perf_counter(), time.process_time()
        done = import_run(import_id=profile_import.pk)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
    if (done.status, done.imported_rows, done.error_rows) != ("completed", n - bad, bad):
        sys.exit(f"unexpected result: {done.status} {done.imported_rows} {done.error_rows} "
                 f"{done.message}")
    assert Profile.objects.count() == n - bad
    rate = n / total
    print(f"run {index + 1}: {n:,} rows in {total:.1f}s = {rate:,.0f} rows/s "
          f"(in load_chunk {clock.seconds:.1f}s; Python CPU {cpu:.1f}s; upload {upload_s:.1f}s)")
    return {"rate": rate, "total_s": total, "db_s": clock.seconds, "cpu_s": cpu,
            "upload_s": upload_s}


def _rerun(source: Path, n: int) -> float:
    from profiles.imports import import_run

    profile_import, _ = _start(source)
    started = time.perf_counter()
    done = import_run(import_id=profile_import.pk)
    rate = n / (time.perf_counter() - started)
    print(f"re-run over the imported profiles: {rate:,.0f} rows/s — {done.message}")
    return rate


if __name__ == "__main__":
    main()
