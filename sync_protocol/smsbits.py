"""Bit-level building blocks of the SMS format (docs/sms-fallback.md, section 3).

A bit stream written most significant bit first, unsigned integers with a length prefix,
and the static Huffman code of upper-case text.  Pure: used by ``smscodec`` only.
"""

from __future__ import annotations

import heapq


class SmsFormatError(ValueError):
    """Bytes that are not a valid v1 payload (truncated, padding not zero, bad code...)."""


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


def width(n: int) -> int:
    """Bits to write an index below ``n`` (0 when there is one choice)."""
    return max(0, (n - 1).bit_length())


# --- upper-case text: a static canonical Huffman code -----------------------------------
# Weights are rough letter frequencies of Indonesian names and addresses (per mille of
# characters); they only shape code lengths, the table in docs/sms-fallback.md is what
# counts.  END closes a literal; TAIL closes it too and appends the end of an earlier text.
END, TAIL = "\x00END", "\x00TAIL"
_WEIGHTS: list[tuple[str, int]] = [
    (END, 60), (TAIL, 25), (" ", 150),
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


def huffman_symbols(text: str) -> list[str] | None:
    """Greedy longest-token parse of upper-case ``text``; None if a character is not coded."""
    out: list[str] = []
    i = 0
    while i < len(text):
        token = next((t for t in _TOKENS if text.startswith(t, i)), None)
        if token is None:
            if text[i] not in CHARS:
                return None
            token = text[i]
        out.append(token)
        i += len(token)
    return out


def put_symbol(w: BitWriter, symbol: str) -> None:
    code, length = CODES[symbol]
    w.put(code, length)


def get_symbol(r: BitReader) -> str:
    code = 0
    for length in range(1, _MAX_LEN + 1):
        code = (code << 1) | r.get(1)
        symbol = _DECODE.get((length, code))
        if symbol is not None:
            return symbol
    raise SmsFormatError("not a text code")
