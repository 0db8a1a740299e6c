"""Email written straight to bytes (channels.backends.mime) for the SMTP path: the same
message Django's EmailMultiAlternatives would write, read back with the email package, and
the backend choosing that path only for Django's own SMTP connection."""

import email
from email import policy

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives

from channels.backends import email as email_backend
from channels.backends.base import DeliveryError, Outbound
from channels.backends.email import EmailBackend
from channels.backends.mime import BadHeader, MailParts, NotDirect, mime_bytes
from tests.smtp import SmtpSink

UNSUB = ("<https://itinera.example/u/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA>, "
         "<mailto:unsubscribe@itinera.example?subject=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA>")
HEADERS = {"List-Unsubscribe": UNSUB, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
PARTS = MailParts(
    to="ada@example.com", from_email="Équipe Itinera — Paris <news@itinera.example>",
    subject="Café offert, Ada — votre plan « pro » vous attend depuis déjà très longtemps",
    text="Bonjour Ada,\n\nUn café vous attend.\n", html="<p>Bonjour <b>Ada</b>, un café ☕</p>",
    reply_to="Support <help@itinera.example>", message_id="<delivery-42@itinera.example>",
    headers=HEADERS,
)


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def django_bytes(parts: MailParts) -> bytes:
    message = EmailMultiAlternatives(
        subject=parts.subject, body=parts.text, from_email=parts.from_email, to=[parts.to],
        reply_to=[parts.reply_to], headers={"Message-ID": parts.message_id, **parts.headers})
    message.attach_alternative(parts.html, "text/html")
    return message.message().as_bytes(linesep="\r\n")


def test_the_message_reads_back_as_django_writes_it():
    envelope_from, raw = mime_bytes(PARTS)
    ours, theirs = parsed(raw), parsed(django_bytes(PARTS))

    assert envelope_from == "news@itinera.example"
    for name in ("Subject", "From", "To", "Reply-To", "Message-ID", "List-Unsubscribe",
                 "List-Unsubscribe-Post", "MIME-Version"):
        # (Django's folding of a long encoded Subject leaves a leading space: ours does not.)
        assert str(ours[name]) == str(theirs[name]).strip(), name
    assert ours["Subject"] == PARTS.subject
    assert ours["From"].addresses[0].display_name == "Équipe Itinera — Paris"
    assert ours["List-Unsubscribe"] == UNSUB
    assert ours["Date"].datetime is not None
    assert ours.get_content_type() == theirs.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in ours.iter_parts()] == ["text/plain", "text/html"]
    for kind in ("plain", "html"):
        assert (ours.get_body((kind,)).get_content()
                == theirs.get_body((kind,)).get_content()), kind


def test_every_line_ends_in_crlf_and_stays_within_smtp_limits():
    _, raw = mime_bytes(PARTS)

    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert b"Content-Transfer-Encoding: 8bit" in raw  # non-ASCII bodies, as Django sends them


def test_a_line_too_long_for_smtp_is_quoted_printable_and_decodes_back():
    html = "<p>" + "é" * 2000 + "</p>"
    _, raw = mime_bytes(MailParts(to="a@example.com", from_email="a@example.com",
                                  subject="Long", text="short", html=html))

    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert parsed(raw).get_body(("html",))["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed(raw).get_body(("html",)).get_content().rstrip("\n") == html


def test_without_html_the_message_is_plain_text():
    _, raw = mime_bytes(MailParts(to="a@example.com", from_email="a@example.com",
                                  subject="Hi", text="Just text\r\nand more"))

    message = parsed(raw)
    assert message.get_content_type() == "text/plain"
    assert message.get_content().splitlines() == ["Just text", "and more"]


def test_a_line_break_in_a_header_is_refused():
    with pytest.raises(BadHeader):
        mime_bytes(MailParts(to="a@example.com", from_email="a@example.com",
                             subject="Hi\r\nBcc: victim@example.com", text="x"))
    with pytest.raises(BadHeader):
        mime_bytes(MailParts(to="a@example.com", from_email="a@example.com", subject="Hi",
                             text="x", headers={"X-Tag": "a\nb"}))


def test_a_non_ascii_recipient_is_left_to_django():
    with pytest.raises(NotDirect):
        mime_bytes(MailParts(to="ada@exämple.com", from_email="a@example.com",
                             subject="Hi", text="x"))


@pytest.fixture
def sink(settings):
    server = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()


def outbound(address="ada@example.com", **content) -> Outbound:
    content = {"subject": PARTS.subject, "text": PARTS.text, "html": PARTS.html,
               "from_email": PARTS.from_email, "reply_to": PARTS.reply_to,
               "headers": HEADERS, **content}
    return Outbound(delivery_id=42, channel="email", address=address, content=content,
                    message_id="<delivery-42@itinera.example>")


def test_over_smtp_the_backend_writes_bytes_without_django_messages(sink, monkeypatch):
    def no_django(*args, **kwargs):
        raise AssertionError("the SMTP path built a Django EmailMessage")

    monkeypatch.setattr(email_backend, "EmailMultiAlternatives", no_django)
    with EmailBackend() as backend:
        assert backend.send(outbound()) == "<delivery-42@itinera.example>"
        backend.send(outbound("bob@example.com"))

    received = sink.by_recipient()
    message = received["ada@example.com"][0]
    assert message["Message-ID"] == "<delivery-42@itinera.example>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sink.messages[0].mail_from == "news@itinera.example"
    assert len(received["bob@example.com"]) == 1


def test_over_smtp_an_internationalized_recipient_goes_through_django(sink):
    with EmailBackend() as backend:
        backend.send(outbound("ada@exämple.com"))

    (received,) = sink.messages
    assert received.rcpt_tos == ("ada@xn--exmple-cua.com",)
    assert received.parsed()["Message-ID"] == "<delivery-42@itinera.example>"


def test_over_smtp_a_header_injection_fails_the_message_permanently(sink):
    with EmailBackend() as backend, pytest.raises(DeliveryError) as caught:
        backend.send(outbound(subject="Hi\nBcc: victim@example.com"))

    assert caught.value.permanent
    assert sink.messages == []


def test_any_other_django_connection_gets_a_django_message(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    with EmailBackend() as backend:
        backend.send(outbound())

    (sent,) = mail.outbox
    assert sent.to == ["ada@example.com"]
    assert sent.extra_headers["Message-ID"] == "<delivery-42@itinera.example>"
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent.alternatives[0][1] == "text/html"


def test_a_sender_name_with_a_comma_or_quotes_is_quoted():
    _, raw = mime_bytes(MailParts(to="a@example.com", from_email='Doe, "Jo" <jo@example.com>',
                                  subject="Hi", text="x"))

    (sender,) = parsed(raw)["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ('Doe, "Jo"', "jo@example.com")


def test_a_sender_that_is_not_an_address_is_refused():
    with pytest.raises(BadHeader):
        mime_bytes(MailParts(to="a@example.com", from_email="Itinera", subject="Hi", text="x"))
