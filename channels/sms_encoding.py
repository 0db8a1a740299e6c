"""How an SMS body is encoded and how many segments (billed messages) it takes.

GSM 03.38 (GSM-7) fits 160 septets in one message, 153 per part once split (the rest holds
the concatenation header); characters of the extension table take two septets. Anything
outside GSM-7 makes the whole message UCS-2: 70 UTF-16 units alone, 67 per part.
The same rules run in the editor (static/js/sms_counter.js) for a live count.
"""

from __future__ import annotations

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7 = "GSM-7"
UCS2 = "UCS-2"


def sms_segments(text: str) -> tuple[str, int]:
    """(encoding, segments) for a body; an empty body is one GSM-7 segment of nothing."""
    septets = 0
    for char in text:
        if char in GSM7_BASIC:
            septets += 1
        elif char in GSM7_EXTENSION:
            septets += 2
        else:
            units = len(text.encode("utf-16-le")) // 2
            return UCS2, _count(units, single=70, part=67)
    return GSM7, _count(septets, single=160, part=153)


def _count(units: int, *, single: int, part: int) -> int:
    if units <= single:
        return 1
    return -(-units // part)
