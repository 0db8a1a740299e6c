"""Server time of the marketer's profile list and its searches at 1,000,000 profiles.

    python bench/profiles_page.py [--quick] [--profiles N] [--repeats R]

Given N profiles COPY'd into the bench database (varied names, emails, countries, plans;
the secondary indexes are dropped for the COPY and rebuilt, then VACUUM ANALYZE, as
autovacuum would have done on a live table), the real page (/profiles/) is served by gunicorn
(2 sync workers, production settings, a logged-in marketer's session) and requested by this
process over loopback, one request at a time, for each kind of page view:

  first page · a deep keyset page · email prefix · name words · a common name fragment ·
  the search box (auto) · a common attribute value · a rare one · a common value, deep page

Server time is gunicorn's own request time (%(D)s in its access log), so it excludes the
client; client latency is printed beside it. Each kind runs several concrete queries, each
repeated R times; the median per kind is reported.

Floor: the SQL those same page views run against the profile tables (captured from the view,
run in-process through Django's test client once per query), replayed raw through psycopg
on one connection: the database's own cost of the page, without Django, templates or HTTP.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from harness import (
    ROOT,
    bench_environment,
    django_setup,
    free_port,
    manage,
    median,
    report,
    wait_until_serving,
)

FIRST = ["Ada", "Grace", "Maria", "José", "Wei", "Fatima", "Olivia", "Liam", "Noah", "Emma",
         "Lucas", "Mia", "Hugo", "Léa", "Chloé", "Mohamed", "Yuki", "Sofia", "Mateo", "Amara",
         "Ivan", "Anna", "Karim", "Priya", "Arjun", "Chen", "Elena", "Marco", "Sara", "Omar",
         "Nina", "Paul", "Louise", "Jules", "Inès", "Tom", "Zoé", "Ethan", "Ava", "Leo"]
LAST = ["Lovelace", "Hopper", "Garcia", "Martin", "Bernard", "Dubois", "Smith", "Johnson",
        "Brown", "Müller", "Schmidt", "Rossi", "Russo", "Kowalski", "Nowak", "Silva", "Santos",
        "Kim", "Lee", "Park", "Wang", "Li", "Zhang", "Tanaka", "Sato", "Suzuki", "Nguyen",
        "Tran", "Khan", "Ali", "Haddad", "Cohen", "Levi", "Ivanov", "Petrov", "Novak", "Horvat",
        "Jensen", "Hansen", "Larsen", "Virtanen", "Moreau", "Laurent", "Lefebvre", "Fontaine",
        "Rousseau", "Fernandez", "Lopez", "Gonzalez", "Perez"]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "orange.fr", "free.fr", "gmx.de",
           "web.de", "libero.it", "example.com", "proton.me"]
COUNTRIES = (["FR"] * 30 + ["DE"] * 20 + ["US"] * 20 + ["GB"] * 10 + ["IT"] * 8 + ["ES"] * 6
             + ["NL"] * 3 + ["BE"] * 2 + ["IS"])
PLANS = ["free"] * 6 + ["pro"] * 3 + ["enterprise"]
LOG_LINE = re.compile(r"^GET (?P<path>\S+) HTTP/[\d.]+ (?P<micros>\d+)$")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profiles", type=int)
    parser.add_argument("--repeats", type=int)
    args = parser.parse_args()
    n = args.profiles or (100_000 if args.quick else 1_000_000)
    repeats = args.repeats or 5

    with bench_environment("profiles_page") as env, tempfile.TemporaryDirectory() as tmp:
        # Production settings serve hashed static names: the pages need collected files.
        env["STATIC_ROOT"] = os.environ["STATIC_ROOT"] = str(Path(tmp) / "static")
        manage(env, "collectstatic", "--noinput", quiet=True)
        django_setup()
        _load_profiles(n)
        session = _marketer_session()
        kinds = _page_views(n)
        floors = {kind: _floor(urls, repeats) for kind, urls in kinds.items()}
        log = Path(tmp) / "access.log"
        with _gunicorn(env, log) as port:
            measured = _measure(port, session, kinds, repeats, log)
    print(f"\n{'page view':28} {'server p50':>11} {'client p50':>11} {'raw SQL':>9}")
    for kind, (server, client) in measured.items():
        print(f"{kind:28} {median(server):9.1f}ms {median(client):9.1f}ms "
              f"{floors[kind]:7.1f}ms")
    worst = max(measured, key=lambda k: median(measured[k][0]))
    figures = {k: round(median(v[0]), 1) for k, v in measured.items()}
    report("profiles_page", median(measured[worst][0]), "ms", floors[worst], n=n,
           repeats=repeats, worst=worst, target_ms=200,
           server_ms=figures, raw_sql_ms={k: round(v, 1) for k, v in floors.items()},
           p95_all_ms=round(_p95([t for s, _ in measured.values() for t in s]), 1))


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


# --- data --------------------------------------------------------------------------------

def _load_profiles(n: int) -> None:
    from django.db import connection

    from profiles.models import AttributeDefinition

    AttributeDefinition.objects.create(key="plan", label="Plan", type="string",
                                       allowed_values=["free", "pro", "enterprise"])
    AttributeDefinition.objects.create(key="country", label="Country", type="string")
    AttributeDefinition.objects.create(key="score", label="Score", type="number")
    AttributeDefinition.objects.create(key="vip", label="VIP", type="boolean")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'profiles_profile' "
            "AND indexname IN ('profile_email_lower_pattern', 'profile_attributes_gin', "
            "'profile_name_trgm')"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        with cursor.copy(
            "COPY profiles_profile (external_id, email, phone, first_name, last_name, timezone,"
            " locale, attributes, created_at, updated_at, last_seen_at) FROM STDIN"
        ) as copy:
            for chunk in _rows(n):
                copy.write(chunk)
        copied = time.perf_counter() - started
        for _, definition in indexes:
            cursor.execute(definition)
        indexed = time.perf_counter() - started - copied
    # VACUUM cannot run in a transaction block: its own autocommit connection.
    with _raw_connection() as raw:
        raw.execute("VACUUM ANALYZE profiles_profile")
    print(f"copied {n:,} profiles in {copied:.1f}s, indexes rebuilt in {indexed:.1f}s, "
          f"vacuumed in {time.perf_counter() - started - copied - indexed:.1f}s")


def _rows(n: int):
    rng = random.Random(3)
    buffer = io.StringIO()
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{_ascii(first)}.{_ascii(last)}{i}@{rng.choice(DOMAINS)}"
        attributes = (f'{{"plan": "{rng.choice(PLANS)}", "country": "{rng.choice(COUNTRIES)}", '
                      f'"score": {rng.randint(0, 100)}, "vip": '
                      f'{"true" if rng.random() < 0.02 else "false"}}}')
        day = 1 + i * 700 // n
        seen = r"\N" if i % 3 else "2026-06-01 12:00:00+00"
        buffer.write(f"crm-{i:07d}\t{email}\t\t{first}\t{last}\tEurope/Paris\tfr-FR\t"
                     f"{attributes}\t{_date(day)}\t{_date(day)}\t{seen}\n")
        if i % 50_000 == 49_999:
            yield buffer.getvalue()
            buffer = io.StringIO()
    yield buffer.getvalue()


def _date(day: int) -> str:
    from datetime import date, timedelta

    return (date(2025, 1, 1) + timedelta(days=day)).isoformat()


def _ascii(name: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def _raw_connection():
    import psycopg

    return psycopg.connect(os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1),
                           autocommit=True)


def _marketer_session() -> str:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from profiles.roles import ensure_marketer_group

    user = get_user_model().objects.create_user("bench-marketer")
    user.groups.add(ensure_marketer_group())
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _page_views(n: int) -> dict[str, list[str]]:
    """Each kind of page view, as several concrete URLs drawn from the data."""
    from profiles.models import Profile

    rng = random.Random(7)
    top = Profile.objects.order_by("-id").values_list("id", flat=True).first()
    deep = [top - int(n * f) for f in (0.5, 0.8, 0.9, 0.99)]
    sample = list(Profile.objects.filter(id__in=[top - rng.randrange(n) for _ in range(5)])
                  .values_list("email", "first_name", "last_name"))

    def url(**params) -> str:
        return "/profiles/?" + urlencode(params) if params else "/profiles/"

    return {
        "first page": [url()],
        "deep keyset page": [url(after=a) for a in deep],
        "email prefix": [url(q=email[:len(email.split("@")[0]) - 2], mode="email")
                         for email, _, _ in sample],
        "name words": [url(q=f"{first} {last[:4]}", mode="name") for _, first, last in sample],
        "name fragment (common)": [url(q=q, mode="name") for q in ("mar", "son", "ann", "lee")],
        "search box (auto)": [url(q=q) for q in ("hopper", "crm-0000042", "ada.l", "kowal")],
        "attribute (common)": [url(attr="plan", value="pro"), url(attr="country", value="FR")],
        "attribute (rare)": [url(attr="country", value="IS"), url(attr="vip", value="yes")],
        "attribute, deep page": [url(attr="plan", value="pro", after=a) for a in deep],
    }


# --- the floor: the same SQL, raw ----------------------------------------------------------

def _floor(urls: list[str], repeats: int) -> float:
    """Median over the URLs of the raw time of the SQL each one runs on the profile tables."""
    times = []
    for url in urls:
        statements = _captured_sql(url)
        with _raw_connection() as raw:  # autocommit: the captured BEGIN/COMMIT delimit
            _replay(raw, statements)  # warm, as the server's cache is
            runs = []
            for _ in range(repeats):
                started = time.perf_counter()
                _replay(raw, statements)
                runs.append((time.perf_counter() - started) * 1000)
        times.append(median(runs))
    return median(times)


def _replay(raw, statements: list[str]) -> None:
    for statement in statements:
        cursor = raw.execute(statement)
        if _returns_rows(statement):
            cursor.fetchall()


def _returns_rows(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("SELECT", "WITH"))


def _captured_sql(url: str) -> list[str]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-marketer"))
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    # The page's own SQL, with the transactions its planner switches live in (not the
    # session, user and permission lookups every page makes).
    keep = ("profiles_profile", "pg_class", "profiles_attributedefinition", "SET LOCAL",
            "SAVEPOINT")
    return [q["sql"] for q in captured.captured_queries
            if any(k in q["sql"] for k in keep) or q["sql"] in ("BEGIN", "COMMIT")]


# --- the server ----------------------------------------------------------------------------

class _gunicorn:  # noqa: N801 — a context manager that reads like a function
    def __init__(self, env: dict, log: Path):
        self.env, self.log = env, log

    def __enter__(self) -> int:
        self.port = free_port()
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2",
             "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning",
             "--access-logfile", str(self.log), "--access-logformat", "%(r)s %(D)s"],
            cwd=ROOT, env=self.env,
        )
        wait_until_serving(self.process, self.port)
        return self.port

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(15)


def _measure(port: int, session: str, kinds: dict[str, list[str]], repeats: int,
             log: Path) -> dict[str, tuple[list[float], list[float]]]:
    headers = {"Cookie": f"sessionid={session}", "X-Forwarded-Proto": "https"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(url: str) -> float:
        started = time.perf_counter()
        connection.request("GET", url, headers=headers)
        response = connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status == 200 and b'id="profile-count"' in body, (url, response.status)
        return elapsed

    for _ in range(2):  # both workers warm: templates compiled, connections open
        for urls in kinds.values():
            for url in urls:
                get(url)
    measured: dict[str, tuple[list[float], list[float]]] = {}
    marks = []
    for kind, urls in kinds.items():
        client = []
        for _ in range(repeats):
            for url in urls:
                client.append(get(url))
                marks.append((kind, url))
        measured[kind] = ([], client)
    connection.close()
    time.sleep(0.5)  # the access log is written after the response
    server = [int(m["micros"]) / 1000 for m in map(LOG_LINE.match, _log_lines(log))
              if m and m["path"].startswith("/profiles/")]
    server = server[-len(marks):]
    assert len(server) == len(marks), (len(server), len(marks))
    for (kind, _), millis in zip(marks, server, strict=True):
        measured[kind][0].append(millis)
    return measured


def _log_lines(log: Path) -> list[str]:
    return log.read_text().splitlines()


if __name__ == "__main__":
    main()
