"""`manage.py mailsink`: the local SMTP server of `make run` that captures every message."""

import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from channels.mailsink import capture_dir, mailsink_controller


class Command(BaseCommand):
    help = "Run a local SMTP server that writes every message it receives to MAIL_CAPTURE_DIR."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=1025)

    def handle(self, *args, host: str, port: int, **options):
        directory = capture_dir()
        if directory is None:
            raise CommandError("MAIL_CAPTURE_DIR is not set: there is nowhere to write mail.")
        directory.mkdir(parents=True, exist_ok=True)
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
        controller = mailsink_controller(host=host, port=port)
        try:
            controller.start()
        except Exception as exc:  # aiosmtpd re-raises the bind error of its server thread
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
        self.stdout.write(f"Mail sink on smtp://{host}:{port}, writing .eml files to {directory}")
        try:
            _wait_for_stop()
        finally:
            controller.stop()


def _wait_for_stop() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(1):
        pass
