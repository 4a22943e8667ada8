"""Signed keyset cursors: opaque to clients, tamper-evident, stable under inserts."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from app.errors import BadCursor

_SIG_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(position: list[Any], *, key: bytes, kind: str) -> str:
    payload = json.dumps({"k": kind, "p": position}, separators=(",", ":")).encode()
    sig = hmac.new(key, payload, hashlib.sha256).digest()[:_SIG_BYTES]
    return f"{_b64(payload)}.{_b64(sig)}"


def decode_cursor(cursor: str, *, key: bytes, kind: str) -> list[Any]:
    """The position inside a cursor; BadCursor if it was altered or is for another list."""
    try:
        payload_part, sig_part = cursor.split(".", 1)
        payload, sig = _unb64(payload_part), _unb64(sig_part)
    except (ValueError, binascii.Error):
        raise BadCursor("cursor is malformed: pass next_cursor exactly as received") from None
    expected = hmac.new(key, payload, hashlib.sha256).digest()[:_SIG_BYTES]
    if not hmac.compare_digest(sig, expected):
        raise BadCursor("cursor signature does not match: it was altered or is from another server")
    data = json.loads(payload)
    if data.get("k") != kind or not isinstance(data.get("p"), list):
        raise BadCursor("cursor belongs to a different list")
    return list(data["p"])
