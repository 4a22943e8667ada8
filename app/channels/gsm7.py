"""The GSM 03.38 default alphabet: what a reply may contain, and how long it is.

A feature phone shows a reply of at most 160 septets in one SMS or USSD screen.  Characters
of the basic table take one septet, those of the extension table (``^{}\\[~]|€`` and form
feed) take two (an escape, then the character).  Anything else (emoji, curly quotes, most
accented letters) forces UCS-2, which halves the length: replies are checked against this
table, and text echoed back from a resident is made safe first with ``to_gsm7``.
"""

from __future__ import annotations

import unicodedata

BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
         "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
EXTENSION = "\f^{}\\[~]|€"
ONE_SMS = 160  # septets

_BASIC = frozenset(BASIC) - {"\x1b"}
_EXTENSION = frozenset(EXTENSION)
_LOOKALIKES = {"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-",
               "…": "...", "\u00a0": " ", "\t": " ", "•": "-", "·": "."}

assert len(BASIC) == 128 and len(_BASIC) == 127


class NotGsm7(ValueError):
    def __init__(self, characters: str) -> None:
        super().__init__(f"not in the GSM-7 alphabet: {characters!r}")
        self.characters = characters


def septets(text: str) -> int:
    """Length in septets; raises NotGsm7 naming the characters outside the alphabet."""
    bad = "".join(sorted({c for c in text if c not in _BASIC and c not in _EXTENSION}))
    if bad:
        raise NotGsm7(bad)
    return sum(2 if c in _EXTENSION else 1 for c in text)


def is_gsm7(text: str) -> bool:
    try:
        septets(text)
    except NotGsm7:
        return False
    return True


def fits_one_sms(text: str) -> bool:
    """GSM-7 only and at most 160 septets: one SMS, one USSD screen."""
    try:
        return septets(text) <= ONE_SMS
    except NotGsm7:
        return False


def to_gsm7(text: str) -> str:
    """Text made safe to send: look-alikes replaced, accents dropped where the alphabet has
    no such letter, anything else (emoji, other scripts) removed."""
    out = []
    for char in text:
        char = _LOOKALIKES.get(char, char)
        if all(c in _BASIC or c in _EXTENSION for c in char):
            out.append(char)
            continue
        base = unicodedata.normalize("NFKD", char)
        out.append("".join(c for c in base if c in _BASIC))
    return "".join(out)


def clip(text: str, limit: int = ONE_SMS) -> str:
    """GSM-7 text cut to ``limit`` septets (with '...' when cut)."""
    text = to_gsm7(text)
    if septets(text) <= limit:
        return text
    while septets(text) > limit - 3:
        text = text[:-1]
    return text + "..."
