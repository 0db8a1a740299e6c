"""Email messages written straight to bytes, for the SMTP path of the email backend.

    envelope_from, raw = mime_bytes(MailParts(...))

Django's EmailMessage builds a tree of compat32 MIME objects, sanitizes every address and
lets the generator re-walk and fold it: most of a worker's time after the SMTP dialogue (the
send bench's profile: ~28 %). The message a campaign sends always has the same shape, so it
is written here directly, with what Django would write: Subject, From, To, Reply-To, Date,
Message-ID, the extra headers (List-Unsubscribe, List-Unsubscribe-Post), MIME-Version, and
a multipart/alternative of text/plain then text/html (text/plain alone without HTML), UTF-8,
each part 7bit when ASCII, 8bit otherwise, quoted-printable when a line is longer than SMTP
allows. Non-ASCII header text is RFC 2047-encoded and addresses are formatted by the standard
library (parsed once per distinct sender, not once per message).

What this does not cover raises NotDirect and the caller falls back to Django's machinery:
a recipient address that is not plain ASCII (internationalized domains and mailboxes).
A header value with a line break is refused (header injection), as Django refuses it.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from email import quoprimime
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache

MAX_LINE = 998  # RFC 5322: longer lines must be encoded
_EOL = re.compile(r"\r\n|\r|\n")
_NAME_ADDR = re.compile(r"^(.*)<([^<>]+)>$")
FOLD_AT = 78


class NotDirect(ValueError):
    """This message needs Django's general machinery."""


class BadHeader(ValueError):
    """A header value with a line break: refused, never sent."""


@dataclass(frozen=True)
class MailParts:
    to: str
    from_email: str
    subject: str
    text: str
    html: str = ""
    reply_to: str = ""
    message_id: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def mime_bytes(parts: MailParts) -> tuple[str, bytes]:
    """(envelope sender address, the message as CRLF bytes ready for SMTP DATA)."""
    if not parts.to.isascii() or "\n" in parts.to or "\r" in parts.to:
        raise NotDirect("The recipient address is not plain ASCII.")
    sender, envelope_from = _address_header(parts.from_email)
    head = [
        f"Subject: {_text_header('Subject', parts.subject)}",
        f"From: {sender}",
        f"To: {parts.to}",
    ]
    if parts.reply_to:
        head.append(f"Reply-To: {_address_header(parts.reply_to)[0]}")
    extra = {"Message-ID": parts.message_id, **parts.headers} if parts.message_id else parts.headers
    if not any(name.lower() == "date" for name in extra):
        head.append(f"Date: {_now_date()}")
    head.extend(f"{name}: {_text_header(name, value)}" for name, value in extra.items())
    head.append("MIME-Version: 1.0")
    if not parts.html:
        return envelope_from, _join([*head, *_part(_encoded("plain", parts.text))])
    boundary = _boundary(parts.text, parts.html)
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    lines = [*head, ""]
    for subtype, body in (("plain", parts.text), ("html", parts.html)):
        lines += [f"--{boundary}", *_part(_encoded(subtype, body))]
    lines += [f"--{boundary}--", ""]
    return envelope_from, _join(lines)


def _join(lines: list[str]) -> bytes:
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")


def _part(encoded: tuple[str, str, str]) -> list[str]:
    subtype, encoding, body = encoded
    return [f'Content-Type: text/{subtype}; charset="utf-8"',
            f"Content-Transfer-Encoding: {encoding}", "", body]


def _encoded(subtype: str, body: str) -> tuple[str, str, str]:
    """(subtype, transfer encoding, body with CRLF line ends) of one text part."""
    lines = _EOL.split(body)
    if len(body) > MAX_LINE // 4 and any(len(line.encode()) > MAX_LINE for line in lines):
        # SMTP refuses longer lines: quoted-printable shortens them (as Django does).
        qp = quoprimime.body_encode(body.encode().decode("latin-1"), eol="\r\n")
        return subtype, "quoted-printable", qp
    return subtype, "7bit" if body.isascii() else "8bit", "\r\n".join(lines)


def _boundary(*bodies: str) -> str:
    while True:
        boundary = f"=_itinera_{secrets.token_hex(12)}"
        if not any(boundary in body for body in bodies):
            return boundary


def _text_header(name: str, value: str) -> str:
    value = str(value)
    if "\n" in value or "\r" in value:
        raise BadHeader(f"The {name} header contains a line break.")
    if value.isascii() and len(name) + len(value) + 2 <= FOLD_AT:
        return value
    if value.isascii() and name.lower() == "list-unsubscribe":
        return ",\r\n ".join(item.strip() for item in value.split(","))
    if value.isascii():
        return Header(value, header_name=name).encode(linesep="\r\n")
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


@lru_cache(maxsize=64)
def _address_header(value: str) -> tuple[str, str]:
    """(header text, bare address) of one "Name <address>" — a sender or reply-to, of which a
    send has a handful, hence the cache."""
    if "\n" in value or "\r" in value:
        raise BadHeader("An address header contains a line break.")
    # "Name <address>" as sender identities write it, even when the name holds a comma or
    # a quote (formataddr below quotes it properly).
    match = _NAME_ADDR.match(value.strip())
    if match:
        name, address = match.group(1).strip(), match.group(2).strip()
        if len(name) > 1 and name[0] == name[-1] == '"':
            name = name[1:-1]  # already quoted: formataddr quotes it again, once
    else:
        name, address = parseaddr(value)
    if "@" not in address:
        raise BadHeader(f"{value!r} is not an email address.")
    if not address.isascii():
        raise NotDirect("The sender address is not plain ASCII.")
    return formataddr((name, address), charset="utf-8"), address


_date_cache: tuple[int, str] = (0, "")


def _now_date() -> str:
    # One formatdate per second, not per message.
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now))
    return _date_cache[1]
