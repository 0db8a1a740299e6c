"""What every bench script shares: services, a throw-away database, timing, the BENCH line.

A bench runs against DATABASE_URL / REDIS_URL when set, else the embedded servers `make run`
uses. It creates its own database (itinera_bench_<name>) and Redis db (15), drops them at the
end, and never touches the demo data.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_REDIS_DB = 15


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":  # urlunsplit would drop the empty host of unix:///path
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def bench_environment(name: str):
    """Yield the env of a fresh bench database (migrated) and Redis db; drop them afterwards."""
    from config.embedded import services

    with services() as base_env:
        import psycopg
        import redis

        db_name = f"itinera_bench_{name}"
        admin_url = with_database(base_env["DATABASE_URL"], "postgres")
        _recreate_database(psycopg, admin_url, db_name)
        env = dict(base_env)
        env.update(
            DATABASE_URL=with_database(base_env["DATABASE_URL"], db_name),
            REDIS_URL=with_redis_db(base_env["REDIS_URL"], BENCH_REDIS_DB),
            DJANGO_SETTINGS_MODULE="config.settings.production",
            SECRET_KEY=secrets.token_urlsafe(64),
            SECURE_SSL_REDIRECT="0",
            ALLOWED_HOSTS="*",
            LOG_LEVEL="WARNING",
        )
        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
        manage(env, "migrate", "--noinput", quiet=True)
        os.environ.update(env)
        try:
            yield env
        finally:
            redis.Redis.from_url(env["REDIS_URL"]).flushdb()
            _drop_database(psycopg, admin_url, db_name)


def _recreate_database(psycopg, admin_url: str, name: str) -> None:
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(psycopg, admin_url: str, name: str) -> None:
    from django.db import connections

    connections.close_all()
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def manage(env: dict, *args: str, quiet: bool = False) -> None:
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )


def django_setup() -> None:
    import django

    django.setup()


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def median(values) -> float:
    return statistics.median(values)


def report(name: str, figure: float, unit: str, floor: float, **extra) -> None:
    """The last line of every bench: machine-readable figures."""
    line = {"name": name, "figure": round(figure, 1), "unit": unit, "floor": round(floor, 1),
            "ratio": round(figure / floor, 3) if floor else None}
    line.update(extra)
    print("BENCH " + json.dumps(line))


def wait_until_serving(process, port: int, *, path: str = "/healthz", timeout: float = 30) -> None:
    """Return once the server on `port` answers `path`; stop it and raise if it never does."""
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", path)
            probe.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"the server on port {port} did not start")
