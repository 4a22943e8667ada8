"""SMS fallback, format K2: one sync mutation as one or a few authenticated, encrypted SMS.

``pack``/``unpack``: a Mutation as a bit-packed payload driven by the field tables of
``smsfields`` (only the fields present; codes as small integers; NIK/KK, dates, names,
places and the kelurahan packed; record ids derived from (device, seq) so they need no
bytes).  ``seal``/``open_part``: the payload split into parts, each encrypted and
authenticated (AES-CCM, 8-byte tag) and written as ``K2 `` + the clear header (self-delimiting
numbers) + the sealed bytes as one base-75 number, in GSM-7 basic characters that gateways
leave alone (``smsbits.ALPHABET``).  ``ack_code``: the server's
reply code.
docs/sms-fallback.md is the specification; this module is its reference implementation.
Pure: no FastAPI, no server models.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from sync_protocol.messages import EntityType, Mutation, Operation
from sync_protocol.smsbits import (
    BitReader,
    BitWriter,
    SmsFormatError,
    count_text,
    from_text,
    read_count,
    text_length,
    to_text,
)
from sync_protocol.smsfields import (
    HOUSEHOLD_FIELDS,
    KEL_PATTERN,
    MEMBER_FIELDS,
    Context,
    SmsEncodeError,
    Table,
    fail,
    get_value,
    put_value,
)

PREFIX = "K2 "
_AAD = b"K2"          # the format is bound into every tag (with the header's characters)
SMS_CHARS = 160       # GSM-7 septets in one SMS
TAG_BYTES = 8
MAX_PARTS = 16
KEY_BYTES = 16

__all__ = [
    "SmsAuthError",
    "SmsEncodeError",
    "SmsFormatError",
    "ack_code",
    "derived_id",
    "encode",
    "format_ack",
    "is_enumerator_sms",
    "open_part",
    "pack",
    "parse_ack",
    "parse_frame",
    "seal",
    "unpack",
    "verify_ack",
]


_DT_EPOCH = datetime(2024, 1, 1)


class SmsAuthError(ValueError):
    """The tag does not verify: another device's key, a changed or a truncated SMS."""


KINDS: tuple[tuple[EntityType, Operation], ...] = tuple(
    (e, o) for e in (EntityType.household, EntityType.member)
    for o in (Operation.create, Operation.update, Operation.delete))


# --- derived record ids --------------------------------------------------------------------

def derived_id(device_id: str, seq: int, k: int) -> uuid.UUID:
    """The id of record ``k`` created by mutation ``seq`` of ``device_id`` (k 0: the mutation's
    own record; i + 1: member i of a household create).  A UUIDv8 carrying k and seq in clear
    and 64 bits of SHA-256 over (device, seq, k): unique per device by construction, apart
    from every random (v4) id by its version, recognisable without any lookup."""
    if not (0 <= k < 1024 and 0 < seq < 2**48):
        raise ValueError("k or seq out of range for a derived id")
    h = int.from_bytes(hashlib.sha256(b"sigap-id-v1\x00" + device_id.encode() + b"\x00"
                                      + seq.to_bytes(8, "big") + k.to_bytes(2, "big")).digest()[:8], "big")
    value = ((h >> 16) << 80) | (8 << 76) | (((h >> 4) & 0xFFF) << 64) | (0b10 << 62) | (k << 52) \
        | (seq << 4) | (h & 0xF)
    return uuid.UUID(int=value)


def _derivation(device_id: str, value: uuid.UUID) -> tuple[int, int] | None:
    """(seq, k) if ``value`` is an id this device derived, else None."""
    n = value.int
    if (n >> 76) & 0xF != 8 or (n >> 62) & 0b11 != 0b10:
        return None
    k, seq = (n >> 52) & 0x3FF, (n >> 4) & (2**48 - 1)
    try:
        return (seq, k) if derived_id(device_id, seq, k) == value else None
    except ValueError:
        return None


# --- records ---------------------------------------------------------------------------------

def _put_fields(w: BitWriter, table: Table, values: dict[str, Any], ctx: Context, where: str,
                previous: list[int] | None = None) -> list[int]:
    """Presence (the previous member's, a bitmap or a list), null flags, then the values."""
    names = [n for n, _ in table]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise fail(f"{where}.{unknown[0]}", "not a field of SMS format K2")
    present = [i for i, n in enumerate(names) if n in values]
    if previous is not None:
        w.put(int(present == previous), 1)
    if present != previous:
        as_list = 6 + 6 * len(present) < len(table)
        w.put(int(as_list), 1)
        if as_list:
            w.put(len(present), 6)
            for i in present:
                w.put(i, 6)
        else:
            w.put(sum(1 << (len(table) - 1 - i) for i in present), len(table))
    nulls = [values[names[i]] is None for i in present]
    w.put(int(any(nulls)), 1)
    if any(nulls):
        for is_null in nulls:
            w.put(int(is_null), 1)
    ctx.record = {}
    for i in present:
        name, kind = table[i]
        if values[name] is not None:
            put_value(w, kind, values[name], ctx, f"{where}.{name}")
        ctx.record[name] = values[name]
    return present


def _get_fields(r: BitReader, table: Table, ctx: Context, previous: list[int] | None = None
                ) -> tuple[dict[str, Any], list[int]]:
    if previous is not None and r.get(1):
        present = previous
    elif r.get(1):
        count = r.get(6)
        present = [r.get(6) for _ in range(count)]
        if present != sorted(set(present)) or any(i >= len(table) for i in present):
            raise SmsFormatError("field numbers not ascending or unknown")
    else:
        bits = r.get(len(table))
        present = [i for i in range(len(table)) if bits >> (len(table) - 1 - i) & 1]
    nulls = [bool(r.get(1)) for _ in present] if r.get(1) else [False] * len(present)
    ctx.record = {}
    for i, is_null in zip(present, nulls, strict=True):
        name, kind = table[i]
        ctx.record[name] = None if is_null else get_value(r, kind, ctx)
    return ctx.record, present


_LITERAL, _OWN, _DERIVED, _ABSENT = range(4)


def _put_id(w: BitWriter, value: uuid.UUID | None, ctx: Context, own_k: int, *, may_be_absent: bool) -> None:
    if value is None:
        if not may_be_absent:
            raise fail("id", "missing")
        w.put(_ABSENT, 2)
        return
    origin = _derivation(ctx.device_id, value)
    if origin == (ctx.seq, own_k):
        w.put(_OWN, 2)
    elif origin is not None:
        w.put(_DERIVED, 2)
        w.uvar(origin[0], 6)
        w.uvar(origin[1], 4)
    else:
        w.put(_LITERAL, 2)
        w.put(value.int, 128)


def _get_id(r: BitReader, ctx: Context, own_k: int, *, may_be_absent: bool) -> uuid.UUID | None:
    mode = r.get(2)
    try:
        if mode == _OWN:
            return derived_id(ctx.device_id, ctx.seq, own_k)
        if mode == _DERIVED:
            seq = r.uvar(6)
            return derived_id(ctx.device_id, seq, r.uvar(4))
    except ValueError:
        raise SmsFormatError("derived id out of range") from None
    if mode == _LITERAL:
        return uuid.UUID(int=r.get(128))
    if not may_be_absent:
        raise SmsFormatError("id missing")
    return None


_ZONES = (7 * 4, 8 * 4, 9 * 4)  # WIB, WITA, WIT in quarter-hours: codes 0-2; 3: any other


def _put_time(w: BitWriter, value: datetime | None) -> None:
    w.put(int(value is not None), 1)
    if value is None:
        return
    offset = value.utcoffset()
    naive = value.replace(tzinfo=None) - (offset or timedelta(0))
    seconds = (naive - _DT_EPOCH) // timedelta(seconds=1)
    quarters, rest = divmod(int(offset.total_seconds()), 900) if offset is not None else (0, 0)
    if seconds < 0 or rest or not -64 <= quarters < 63:
        raise fail("recorded_at", "before 2024 or an offset that is not whole quarter-hours")
    w.uvar(seconds, 6)
    if offset is not None and quarters in _ZONES:
        w.put(_ZONES.index(quarters), 2)
    else:
        w.put(3, 2)
        w.put(127 if offset is None else quarters + 64, 7)
    w.put(int(bool(value.microsecond)), 1)
    if value.microsecond:
        w.put(value.microsecond, 20)


def _get_time(r: BitReader) -> datetime | None:
    if not r.get(1):
        return None
    utc = _DT_EPOCH + timedelta(seconds=r.uvar(6))
    zone = r.get(2)
    quarters = _ZONES[zone] if zone < 3 else r.get(7) - 64
    micro = r.get(20) if r.get(1) else 0
    if micro > 999_999:
        raise SmsFormatError("microseconds out of range")
    if quarters == 63:
        return utc.replace(microsecond=micro)
    tz = timezone(timedelta(minutes=15 * quarters))
    return utc.replace(tzinfo=UTC, microsecond=micro).astimezone(tz)


def _region(kelurahan: Any) -> str | None:
    if isinstance(kelurahan, str) and KEL_PATTERN.match(kelurahan):
        return kelurahan.replace(".", "")[:6]
    return None


def pack(m: Mutation, device_id: str) -> bytes:
    """The mutation's payload (everything but its seq, which the frame header carries)."""
    if (m.entity, m.op) not in KINDS:
        raise fail("entity", f"{m.entity.value} {m.op.value} cannot travel by SMS")
    ctx = Context(device_id=device_id, seq=m.seq)
    w = BitWriter()
    w.put(KINDS.index((m.entity, m.op)), 3)
    _put_id(w, m.id, ctx, 0, may_be_absent=False)
    w.put(int(m.household_id is not None), 1)
    if m.household_id is not None:
        _put_id(w, m.household_id, ctx, 0, may_be_absent=False)
    w.put(int(m.base_version is not None), 1)
    if m.base_version is not None:
        w.uvar(m.base_version)
    _put_time(w, m.recorded_at)
    fields = dict(m.fields)
    if m.entity is EntityType.household:
        members = fields.pop("members", None) if m.op is Operation.create else None
        ctx.region = _region(fields.get("kelurahan_code"))
        _put_fields(w, HOUSEHOLD_FIELDS, fields, ctx, "fields")
        if m.op is Operation.create:
            _put_members(w, members, ctx, "members" in m.fields)
    else:
        _put_fields(w, MEMBER_FIELDS, fields, ctx, "fields")
    return w.bytes()


def _put_members(w: BitWriter, members: Any, ctx: Context, present: bool) -> None:
    if present and not (isinstance(members, list) and len(members) <= 30
                        and all(isinstance(x, dict) for x in members)):
        raise fail("fields.members", "not a list of at most 30 members")
    w.put(len(members) + 1 if present else 0, 5)
    previous: list[int] | None = None
    for i, member in enumerate(members or []):
        data = dict(member)
        raw = data.pop("id", None)
        try:
            mid = None if raw is None else uuid.UUID(str(raw))
        except ValueError:
            raise fail(f"fields.members[{i}].id", "not a UUID") from None
        if mid is not None and str(mid) != raw:
            raise fail(f"fields.members[{i}].id", "not in canonical form")
        _put_id(w, mid, ctx, i + 1, may_be_absent=True)
        previous = _put_fields(w, MEMBER_FIELDS, data, ctx, f"fields.members[{i}]", previous)


def unpack(payload: bytes, device_id: str, seq: int) -> Mutation:
    """The mutation a payload describes; SmsFormatError if it is not a valid K2 payload.

    Any payload, even one whose tag verified, gets that answer and nothing else: a value the
    bits spell but Python cannot hold (a time past year 9999, a code outside a table) is a
    format error, never a crash (a crash would answer 500 and the gateway would retry)."""
    try:
        return _unpack(payload, device_id, seq)
    except (OverflowError, ValueError, IndexError, KeyError) as exc:
        if isinstance(exc, SmsFormatError):
            raise
        raise SmsFormatError(f"a value out of range: {type(exc).__name__}: {exc}") from None


def _unpack(payload: bytes, device_id: str, seq: int) -> Mutation:
    ctx = Context(device_id=device_id, seq=seq)
    r = BitReader(payload)
    kind = r.get(3)
    if kind >= len(KINDS):
        raise SmsFormatError("unknown record kind")
    entity, op = KINDS[kind]
    rid = _get_id(r, ctx, 0, may_be_absent=False)
    household_id = _get_id(r, ctx, 0, may_be_absent=False) if r.get(1) else None
    base_version = r.uvar() if r.get(1) else None
    recorded_at = _get_time(r)
    if entity is EntityType.household:
        fields, _ = _get_fields(r, HOUSEHOLD_FIELDS, ctx)
        ctx.region = _region(fields.get("kelurahan_code"))
        if op is Operation.create and (count := r.get(5)):
            members = []
            previous: list[int] | None = None
            for i in range(count - 1):
                mid = _get_id(r, ctx, i + 1, may_be_absent=True)
                member, previous = _get_fields(r, MEMBER_FIELDS, ctx, previous)
                members.append(member if mid is None else {"id": str(mid), **member})
            fields["members"] = members
    else:
        fields, _ = _get_fields(r, MEMBER_FIELDS, ctx)
    r.finish()
    try:
        return Mutation(seq=seq, entity=entity, id=rid, op=op, base_version=base_version,
                        household_id=household_id, fields=fields, recorded_at=recorded_at)
    except ValueError as exc:
        raise SmsFormatError(f"not a valid mutation: {exc}") from None


# --- frames: header, encryption, text -------------------------------------------------------

def _subkey(key: bytes, label: bytes) -> bytes:
    return hmac.new(key, b"sigap-sms-v1 " + label, hashlib.sha256).digest()


def _nonce(device_number: int, seq: int, part: int) -> bytes:
    # 13 bytes, unique per (key, seq, part): see docs/sms-fallback.md, "Why the nonce never repeats"
    return seq.to_bytes(8, "big") + bytes([part]) + device_number.to_bytes(4, "big")


def header_text(device_number: int, seq: int, part: int | None) -> str:
    """The clear header: (device number << 1 | several parts), seq, [part], as numbers."""
    head = count_text(device_number << 1 | (part is not None)) + count_text(seq)
    return head + (count_text(part) if part is not None else "")


def _room(header: str) -> int:
    """Payload bytes one SMS with this header carries: the sealed bytes (payload + tag) take
    the characters the prefix and the header leave."""
    return _room_for(SMS_CHARS - len(PREFIX) - len(header))


@cache
def _room_for(free: int) -> int:
    return max(n for n in range(free + 1) if text_length(n) <= free) - TAG_BYTES


@dataclass(frozen=True)
class Frame:
    """One SMS as received: the clear header and the sealed bytes."""

    device_number: int
    seq: int
    index: int           # 0-based part number
    total: int           # number of parts
    part: int            # index << 4 | (total - 1), as in the nonce
    sealed: bytes        # ciphertext + tag

    @property
    def header(self) -> str:
        return header_text(self.device_number, self.seq, self.part if self.total > 1 else None)

    @property
    def text(self) -> str:
        return PREFIX + self.header + to_text(self.sealed)


def seal(payload: bytes, *, key: bytes, device_number: int, seq: int) -> list[str]:
    """The payload as SMS texts: split into parts that each fit one SMS, each encrypted
    and authenticated on its own (the header is associated data)."""
    if len(key) != KEY_BYTES or not 0 < device_number < 2**31 or not 0 < seq <= 2**53:
        raise ValueError("bad key, device number or seq")
    total, room = 1, _room(header_text(device_number, seq, None))
    while total * room < len(payload):
        total += 1
        if total > MAX_PARTS:
            raise SmsEncodeError(f"mutation needs more than {MAX_PARTS} SMS")
        last = ((total - 1) << 4) | (total - 1)  # the longest header of these parts
        room = _room(header_text(device_number, seq, last))
    aead = AESCCM(_subkey(key, b"enc")[:16], tag_length=TAG_BYTES)
    texts = []
    for index in range(total):
        part = (index << 4) | (total - 1)
        chunk = payload if total == 1 else payload[index * room:(index + 1) * room]
        frame = Frame(device_number, seq, index, total, part, b"")
        sealed = aead.encrypt(_nonce(device_number, seq, part), chunk, _AAD + frame.header.encode())
        texts.append(replace(frame, sealed=sealed).text)
    return texts


def parse_frame(text: str) -> Frame:
    """The clear header of an enumerator SMS; SmsFormatError if it is not one."""
    body = text.strip()
    if not body.startswith(PREFIX.strip()):
        raise SmsFormatError("not an enumerator SMS")
    body = body[len(PREFIX.strip()):].strip()
    first, at = read_count(body, 0)
    seq, at = read_count(body, at)
    device_number, multipart = first >> 1, first & 1
    part = 0
    if multipart:
        part, at = read_count(body, at)
    index, total = part >> 4, (part & 0xF) + 1
    if device_number == 0 or not 0 < seq <= 2**53 or part > 0xFF:
        raise SmsFormatError("header out of range")
    if (multipart and total == 1) or index >= total:
        raise SmsFormatError("bad part number")
    sealed = from_text(body[at:])
    if len(sealed) < TAG_BYTES + 1:
        raise SmsFormatError("too short")
    return Frame(device_number, seq, index, total, part, sealed)


def open_part(frame: Frame, key: bytes) -> bytes:
    """The part's payload bytes; SmsAuthError if the tag does not verify under ``key``."""
    aead = AESCCM(_subkey(key, b"enc")[:16], tag_length=TAG_BYTES)
    try:
        return aead.decrypt(_nonce(frame.device_number, frame.seq, frame.part), frame.sealed,
                            _AAD + frame.header.encode())
    except InvalidTag:
        raise SmsAuthError("tag does not verify") from None


def encode(m: Mutation, *, device_id: str, device_number: int, key: bytes) -> list[str]:
    """A mutation as the SMS texts to send, in order."""
    return seal(pack(m, device_id), key=key, device_number=device_number, seq=m.seq)


# --- acknowledgement -------------------------------------------------------------------------

ACK_WORDS = ("OK", "KONFLIK", "TOLAK")
_ACK = re.compile(r"^SIGAP (OK|KONFLIK|TOLAK) ([0-9]{1,16}) ([A-Z2-7]{8})(?: (.*))?$", re.S)


def ack_code(key: bytes, device_number: int, seq: int, word: str) -> str:
    """8 base32 characters (40 bits) of HMAC-SHA256 over (device number, seq, outcome word): a
    forged ack would make the tablet drop an edit, so guessing must be hopeless."""
    mac = hmac.new(_subkey(key, b"ack"), device_number.to_bytes(4, "big") + seq.to_bytes(8, "big")
                   + word.encode(), hashlib.sha256).digest()
    return base64.b32encode(mac[:5]).decode()


def format_ack(word: str, seq: int, code: str, note: str = "") -> str:
    return f"SIGAP {word} {seq} {code}" + (f" {note}" if note else "")


@dataclass(frozen=True)
class Ack:
    word: str            # OK, KONFLIK or TOLAK
    seq: int
    code: str
    note: str


def parse_ack(text: str) -> Ack | None:
    match = _ACK.match(text.strip())
    if match is None:
        return None
    return Ack(match[1], int(match[2]), match[3], match[4] or "")


def verify_ack(ack: Ack, *, key: bytes, device_number: int) -> bool:
    return hmac.compare_digest(ack.code, ack_code(key, device_number, ack.seq, ack.word))


def is_enumerator_sms(text: str) -> bool:
    return text.lstrip().startswith(PREFIX)


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def key_text(key: bytes) -> str:
    return base64.b64encode(key).decode()


def key_from_text(text: str) -> bytes:
    key = base64.b64decode(text, validate=True)
    if len(key) != KEY_BYTES:
        raise ValueError("SMS key must be 16 bytes")
    return key

