"""Bit-level building blocks of the SMS format (docs/sms-fallback.md, sections 2 and 4).

A bit stream written most significant bit first, unsigned integers with a length prefix,
the static Huffman code of upper-case text, and the text layer (bytes as base-75 digits of
SMS-safe GSM-7 characters).  Pure: used by ``smscodec`` and ``smsfields`` only.
"""

from __future__ import annotations

import heapq
from functools import cache

from sync_protocol.smsref import WORDS


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


# --- upper-case text: a static canonical Huffman code -----------------------------------
# Weights are rough letter frequencies of Indonesian names and addresses (per mille of
# characters); they only shape code lengths, the table in docs/sms-fallback.md is what
# counts.  END closes a literal; TAIL closes it too and appends the end of an earlier text;
# WORD is followed by the 8-bit number of a whole word of ``smsref.WORDS``.
END, TAIL, WORD = "\x00END", "\x00TAIL", "\x00WORD"
_WEIGHTS: list[tuple[str, int]] = [
    (END, 60), (TAIL, 25), (WORD, 60), (" ", 150),
    ("A", 180), ("B", 20), ("C", 6), ("D", 30), ("E", 45), ("F", 12), ("G", 25), ("H", 40),
    ("I", 80), ("J", 15), ("K", 30), ("L", 35), ("M", 40), ("N", 75), ("O", 20), ("P", 15),
    ("Q", 1), ("R", 45), ("S", 45), ("T", 30), ("U", 55), ("V", 2), ("W", 10), ("X", 1),
    ("Y", 20), ("Z", 8),
    ("0", 8), ("1", 10), ("2", 8), ("3", 7), ("4", 6), ("5", 6), ("6", 5), ("7", 5), ("8", 5),
    ("9", 5),
    (".", 15), (",", 2), ("-", 3), ("'", 2), ("/", 3), ("(", 1), (")", 1),
    ("JL. ", 10), (" NO. ", 10), ("GG. ", 3), ("RT ", 2), ("RW ", 2), ("BLOK ", 2), ("DESA ", 2),
    ("KEL. ", 1), ("LORONG ", 1), ("KOMPLEKS ", 1), ("PERUMAHAN ", 1),
]
SYMBOLS = [s for s, _ in _WEIGHTS]
CHARS = frozenset(s for s in SYMBOLS if len(s) == 1)
_TOKENS = sorted((s for s in SYMBOLS if len(s) > 1 and not s.startswith("\x00")), key=len, reverse=True)


def _code_lengths() -> dict[str, int]:
    heap: list[tuple[int, int, list[str]]] = [(w, i, [s]) for i, (s, w) in enumerate(_WEIGHTS)]
    heapq.heapify(heap)
    lengths = dict.fromkeys(SYMBOLS, 0)
    order = len(heap)
    while len(heap) > 1:
        w1, _, a = heapq.heappop(heap)
        w2, _, b = heapq.heappop(heap)
        for s in a + b:
            lengths[s] += 1
        heapq.heappush(heap, (w1 + w2, order, a + b))
        order += 1
    return lengths


def _canonical() -> dict[str, tuple[int, int]]:
    """symbol -> (code, length): canonical codes by (length, position in the table)."""
    lengths = _code_lengths()
    codes: dict[str, tuple[int, int]] = {}
    code = prev = 0
    for s in sorted(SYMBOLS, key=lambda s: (lengths[s], SYMBOLS.index(s))):
        code <<= lengths[s] - prev
        prev = lengths[s]
        codes[s] = (code, prev)
        code += 1
    return codes


CODES = _canonical()
_DECODE = {(length, code): s for s, (code, length) in CODES.items()}
_MAX_LEN = max(length for _, length in CODES.values())


_WORD_NUMBER = {w: i for i, w in enumerate(WORDS)}
_WORD_BITS = 8
assert len(WORDS) <= 1 << _WORD_BITS


def huffman_symbols(text: str, *, words: bool = True) -> list[str] | None:
    """Greedy parse of upper-case ``text``: a listed whole word where it is shorter than its
    letters, else the longest token; None if a character is not coded.  A listed word is
    returned as itself (longer than one character, not a token)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if words and (i == 0 or text[i - 1] == " "):
            end = text.find(" ", i)
            word = text[i:] if end < 0 else text[i:end]
            if word in _WORD_NUMBER:
                letters = huffman_symbols(word, words=False)
                if letters is None or bits(letters) > CODES[WORD][1] + _WORD_BITS:
                    out.append(word)
                    i += len(word)
                    continue
        token = next((t for t in _TOKENS if text.startswith(t, i)), None)
        if token is None:
            if text[i] not in CHARS:
                return None
            token = text[i]
        out.append(token)
        i += len(token)
    return out


def bits(symbols: list[str]) -> int:
    return sum(CODES[WORD][1] + _WORD_BITS if s in _WORD_NUMBER and s not in CODES else CODES[s][1]
               for s in symbols)


def put_symbol(w: BitWriter, symbol: str) -> None:
    if symbol in CODES:
        w.put(*CODES[symbol])
    else:
        w.put(*CODES[WORD])
        w.put(_WORD_NUMBER[symbol], _WORD_BITS)


def get_symbol(r: BitReader) -> str:
    """The next symbol; a listed word (after WORD) as its letters."""
    code = 0
    for length in range(1, _MAX_LEN + 1):
        code = (code << 1) | r.get(1)
        symbol = _DECODE.get((length, code))
        if symbol == WORD:
            i = r.get(_WORD_BITS)
            if i >= len(WORDS):
                raise SmsFormatError("word number not in the list")
            return WORDS[i]
        if symbol is not None:
            return symbol
    raise SmsFormatError("not a text code")
