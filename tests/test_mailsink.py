"""The local SMTP sink: what it receives is written to disk and read back by Message-ID."""

import smtplib
import socket
from email.message import EmailMessage

import pytest

from channels.mailsink import captured_message_path, mailsink_controller, read_captured


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def capture_dir(settings, tmp_path):
    settings.MAIL_CAPTURE_DIR = str(tmp_path / "mailbox")
    return tmp_path / "mailbox"


@pytest.fixture
def sink(capture_dir):
    port = _free_port()
    controller = mailsink_controller(host="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def _send(port: int, message_id: str, subject: str = "Hello Ada") -> None:
    message = EmailMessage()
    message["From"] = "Itinera <campaigns@example.com>"
    message["To"] = "ada@example.org"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content("Plain text")
    message.add_alternative("<p>Hello <b>Ada</b></p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)


def test_a_received_message_is_read_back_by_its_message_id(sink):
    # given a running sink, when a message is sent to it
    _send(sink, "<delivery-42@example.com>")

    # then it can be read back, whole, by its Message-ID
    captured = read_captured("<delivery-42@example.com>")
    assert captured is not None
    assert captured["Subject"] == "Hello Ada"
    assert captured["X-RcptTo"] == "ada@example.org"
    assert "<b>Ada</b>" in captured.get_body(("html",)).get_content()


def test_a_message_id_cannot_escape_the_capture_directory(sink, capture_dir):
    # given a message whose Message-ID tries to climb out of the directory
    _send(sink, "<../../escape@example.com>")

    # then the file is inside the directory, and lookups never leave it
    assert [p.parent for p in capture_dir.glob("*.eml")] == [capture_dir]
    assert not list(capture_dir.parent.glob("*.eml"))
    path = captured_message_path("<../../escape@example.com>")
    assert path is not None and path.parent == capture_dir.resolve()
    (capture_dir.parent / "secret.eml").write_text("Subject: secret\n\n")
    assert read_captured("../secret") is None


def test_unknown_message_or_unset_directory_reads_as_none(capture_dir, settings):
    assert read_captured("<delivery-1@example.com>") is None
    settings.MAIL_CAPTURE_DIR = None
    assert captured_message_path("<delivery-1@example.com>") is None
