"""tus 1.0 header parsing (core, creation, checksum); no database, no files."""

from __future__ import annotations

import base64
import binascii
import re
import uuid

from app.errors import InvalidData, NotFound
from app.media.errors import TUS_VERSION, BadTusRequest, PreconditionFailed, UnsupportedMediaType

EXTENSIONS = "creation,checksum,termination"
CHECKSUM_ALGORITHMS = "sha256"
OFFSET_STREAM = "application/offset+octet-stream"
_KEY = re.compile(r"^[^\s,]+$")
_DIGITS = re.compile(r"^[0-9]{1,19}$")


def check_version(value: str | None) -> None:
    if value != TUS_VERSION:
        sent = f"'Tus-Resumable: {value}'" if value else "no Tus-Resumable header"
        raise PreconditionFailed(f"this server speaks tus {TUS_VERSION} and you sent {sent}: "
                                 f"send 'Tus-Resumable: {TUS_VERSION}' on every request")


def parse_upload_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"upload {value!r} not found") from None


def _non_negative(header: str, value: str | None) -> int:
    if value is None:
        raise BadTusRequest(f"the {header} header is required")
    value = value.strip()
    if not _DIGITS.match(value):
        raise BadTusRequest(f"{header} must be a non-negative integer, got {value!r}")
    return int(value)


def parse_length(value: str | None) -> int:
    return _non_negative("Upload-Length", value)


def parse_offset(value: str | None) -> int:
    return _non_negative("Upload-Offset", value)


def parse_content_length(value: str | None) -> int | None:
    return None if value is None else _non_negative("Content-Length", value)


def require_offset_stream(content_type: str | None) -> None:
    if (content_type or "").split(";")[0].strip().lower() != OFFSET_STREAM:
        raise UnsupportedMediaType(f"PATCH bodies must be sent as 'Content-Type: {OFFSET_STREAM}'")


def parse_metadata(value: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (value optional)."""
    out: dict[str, str] = {}
    for pair in (value or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        encoded = encoded.strip()
        if not _KEY.match(key) or " " in encoded:
            raise BadTusRequest(f"Upload-Metadata pair {pair!r} is not 'key base64value'")
        if key in out:
            raise BadTusRequest(f"Upload-Metadata key {key!r} is repeated")
        try:
            out[key] = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidData.one(key, "base64", "Upload-Metadata values must be base64 of UTF-8 "
                                  "text") from None
    return out


def parse_checksum(value: str | None) -> bytes | None:
    """``Upload-Checksum: sha256 <base64 digest>`` -> the 32-byte digest (None if absent)."""
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    if algorithm.lower() != CHECKSUM_ALGORITHMS:
        raise BadTusRequest(f"checksum algorithm {algorithm!r} is not supported: use "
                            f"'Upload-Checksum: sha256 <base64 digest>'")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 32:
        raise BadTusRequest("Upload-Checksum must carry the base64 of a 32-byte SHA-256 digest")
    return digest
