"""Bit-level building blocks of the SMS format (docs/sms-fallback.md, sections 2 and 4).

A bit stream written most significant bit first, unsigned integers with a length prefix,
and the text layer (bytes as base-75 digits of
SMS-safe GSM-7 characters).  Pure: used by ``smscodec`` and ``smsfields`` only.
"""

from __future__ import annotations

from functools import cache


class SmsFormatError(ValueError):
    """Bytes that are not a valid K2 payload (truncated, padding not zero, bad code...)."""


class BitWriter:
    def __init__(self) -> None:
        self._value = 0
        self._bits = 0

    def put(self, value: int, width: int) -> None:
        if value < 0 or value >> width:
            raise ValueError(f"{value} does not fit in {width} bits")
        self._value = (self._value << width) | value
        self._bits += width

    def uvar(self, value: int, length_bits: int = 5) -> None:
        """``length_bits`` giving the bit length n of ``value``, then its n bits (0: no bits)."""
        n = value.bit_length()
        self.put(n, length_bits)
        self.put(value, n)

    def extend(self, other: BitWriter) -> None:
        self.put(other._value, other._bits)

    def bytes(self) -> bytes:
        """The stream padded with zero bits to a whole byte."""
        pad = -self._bits % 8
        return (self._value << pad).to_bytes((self._bits + pad) // 8, "big")

    def __len__(self) -> int:
        return self._bits


class BitReader:
    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    def get(self, width: int) -> int:
        if width > self._left:
            raise SmsFormatError("payload ends too early (truncated?)")
        self._left -= width
        return (self._value >> self._left) & ((1 << width) - 1)

    def peek(self, width: int) -> int:
        """The next ``width`` bits without reading them (zero bits past the end)."""
        if width <= self._left:
            return (self._value >> (self._left - width)) & ((1 << width) - 1)
        return (self._value & ((1 << self._left) - 1)) << (width - self._left)

    def uvar(self, length_bits: int = 5) -> int:
        n = self.get(length_bits)
        value = self.get(n)
        if n and not value >> (n - 1):
            raise SmsFormatError("integer not in its shortest form")
        return value

    def finish(self) -> None:
        """Only zero padding (less than a byte) may remain."""
        if self._left >= 8 or self.get(self._left):
            raise SmsFormatError("bytes left after the record")


# --- text layer: bytes <-> SMS-safe characters --------------------------------------------
# GSM-7 basic characters whose septet equals their ASCII code (so a gateway that mistakes
# septets for ASCII still reads them right), minus those gateways or phones alter: space
# (trimmed, collapsed), quotes (smart quotes), & + % (URL and form encoding), < > (XML
# escaping).  @ $ _ are left out because their septets (0x00, 0x02, 0x11) differ from ASCII.
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#()*,-./:;=?"
BASE = len(ALPHABET)  # 75: log2(75) = 6.23 bits per character (base64url: 6)
_DIGIT = {c: i for i, c in enumerate(ALPHABET)}


@cache
def text_length(n_bytes: int) -> int:
    """Characters for ``n_bytes`` bytes: the fewest c with 75^c >= 256^n."""
    c, room, need = 0, 1, 256**n_bytes
    while room < need:
        c, room = c + 1, room * BASE
    return c


def to_text(data: bytes) -> str:
    """``data`` as a big-endian number, written in ``text_length(len(data))`` base-75 digits."""
    value, out = int.from_bytes(data, "big"), []
    for _ in range(text_length(len(data))):
        value, digit = divmod(value, BASE)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def from_text(text: str) -> bytes:
    """The bytes ``to_text`` wrote; SmsFormatError for a foreign character, a length no byte
    count gives, or a number too big for its bytes (so each frame has exactly one spelling)."""
    value = 0
    for c in text:
        digit = _DIGIT.get(c)
        if digit is None:
            raise SmsFormatError(f"character {c!r} is not in the SMS alphabet")
        value = value * BASE + digit
    n_bytes = len(text) * 6 // 8  # 6 <= log2(75) < 8: the byte count is at least this ...
    while text_length(n_bytes + 1) <= len(text):  # ... and the largest whose text fits
        n_bytes += 1
    if text_length(n_bytes) != len(text) or value >> (8 * n_bytes):
        raise SmsFormatError("not a whole frame (length or value out of range)")
    return value.to_bytes(n_bytes, "big")


# Small numbers (the clear header of a frame) as self-delimiting characters: the low digits
# in base 37 from the last 37 characters of the alphabet, then one digit from the first 38
# that ends the number.  0..37 take 1 character, up to 1,405 take 2, up to 52,021 take 3.
_ENDS = 38
_MORE = BASE - _ENDS


def count_text(n: int) -> str:
    out = []
    while n >= _ENDS:
        n, low = divmod(n, _MORE)
        out.append(ALPHABET[_ENDS + low])
    return "".join(out) + ALPHABET[n]


def read_count(text: str, at: int) -> tuple[int, int]:
    """The number written at ``text[at:]`` and where it ends; only the shortest form."""
    value, scale = 0, 1
    for i in range(at, min(len(text), at + 12)):
        digit = _DIGIT.get(text[i])
        if digit is None:
            raise SmsFormatError(f"character {text[i]!r} is not in the SMS alphabet")
        if digit < _ENDS:
            value += digit * scale
            if count_text(value) != text[at:i + 1]:
                raise SmsFormatError("number not in its shortest form")
            return value, i + 1
        value += (digit - _ENDS) * scale
        scale *= _MORE
    raise SmsFormatError("header ends too early")


def width(n: int) -> int:
    """Bits to write an index below ``n`` (0 when there is one choice)."""
    return max(0, (n - 1).bit_length())
