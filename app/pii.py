"""NIK and KK numbers at rest: sealed in their columns, found through a keyed blind index.

- **Sealed columns** (:class:`Sealed`, :class:`SealedJSON`) hold ``<key id>:<base64url of
  nonce + AES-256-GCM ciphertext + tag>``. The column's domain (``nik``, ``kk``,
  ``merge_record.before`` ...) is the associated data, so a value copied into another kind
  of column does not open. The ORM and Core statements seal on the way in and open on the
  way out; :mod:`app.bulk` does the same for its PostgreSQL fast path. A sealed column
  refuses to be compared in SQL (the ciphertext is random): a forgotten ``Member.nik == x``
  fails loudly instead of finding nothing.
- **Blind indexes** (``member.nik_bidx``, ``household.kk_bidx``, ``kk_history.kk_bidx``) hold
  ``<index key id>:<HMAC-SHA256(domain, value), 128 bits, hex>``. Exact lookups and the
  partial unique indexes ("one active member per NIK") use them; :func:`lookup` matches the
  value under every configured index key, so a rotation in progress finds old and new rows.
  They are filled by ORM events and by :func:`complete_rows` (bulk inserts), never by hand.
- **Keys** come from ``SIGAP_PII_KEYS`` and ``SIGAP_PII_INDEX_KEYS``: ``id:base64url(32
  bytes)`` separated by commas, the first one current (it seals and indexes), the others
  still open and find older rows until ``sigap keys rotate`` has moved every row to the
  current ones (docs/security.md, "Key rotation"). Production refuses to start without
  them; development and tests use fixed, public keys (never for real data).

The database, its backups and its dumps therefore never hold a NIK or KK number in clear;
the audit log keeps them masked only (:func:`app.audit.service.entry`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import JSON, String, Table, event
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from app.config import Settings

KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,7}$")  # a blind index must fit match_key.key (40)
SEALED_LENGTH = 96  # "k1:" + base64url(12 + 16 + 16) = 63 characters for a 16-digit number
INDEX_LENGTH = 44   # at most "1234567:" + 32 hex digits


class KeySettingError(ValueError):
    """A key setting that cannot be used (named, with the rule it breaks)."""


class SealError(ValueError):
    """A sealed value that does not open: its key is not configured, or it was altered."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def parse_keys(text: str, setting: str) -> dict[str, bytes]:
    """``"k2:<base64url>,k1:<base64url>"`` -> ``{"k2": 32 bytes, "k1": 32 bytes}`` (in order)."""
    keys: dict[str, bytes] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kid, sep, encoded = part.partition(":")
        if not sep or not KEY_ID.match(kid):
            raise KeySettingError(
                f"{setting}: each key is 'id:base64url' with an id of 1-7 letters, digits, - or _")
        if kid in keys:
            raise KeySettingError(f"{setting}: key id {kid!r} appears twice")
        try:
            raw = _unb64(encoded)
        except (binascii.Error, ValueError):
            raise KeySettingError(f"{setting}: key {kid!r} is not valid base64url") from None
        if len(raw) != 32:
            raise KeySettingError(f"{setting}: key {kid!r} must be 32 bytes (found {len(raw)})")
        keys[kid] = raw
    return keys


def new_key(kid: str) -> str:
    """A fresh ``id:base64url`` key line (``sigap keys new``)."""
    if not KEY_ID.match(kid):
        raise KeySettingError("key id: 1-7 letters, digits, - or _")
    return f"{kid}:{_b64(os.urandom(32))}"


class Keyring:
    """The sealing and index keys in use; the first of each is current."""

    def __init__(self, seal_keys: Mapping[str, bytes], index_keys: Mapping[str, bytes]) -> None:
        if not seal_keys or not index_keys:
            raise KeySettingError("a keyring needs at least one sealing key and one index key")
        self._aead = {kid: AESGCM(key) for kid, key in seal_keys.items()}
        self._index = dict(index_keys)
        self.seal_id = next(iter(seal_keys))
        self.index_id = next(iter(index_keys))

    @property
    def seal_ids(self) -> list[str]:
        return list(self._aead)

    @property
    def index_ids(self) -> list[str]:
        return list(self._index)

    def seal(self, plaintext: str, domain: str) -> str:
        nonce = os.urandom(12)
        body = self._aead[self.seal_id].encrypt(nonce, plaintext.encode(), domain.encode())
        return f"{self.seal_id}:{_b64(nonce + body)}"

    def open(self, token: str, domain: str) -> str:
        kid, sep, body = token.partition(":")
        aead = self._aead.get(kid)
        if aead is None:
            if not sep or not KEY_ID.match(kid):  # not a sealed value: never echo it (a NIK?)
                raise SealError(f"a {domain} value is not sealed")
            raise SealError(
                f"a {domain} value is sealed with key {kid!r}, which SIGAP_PII_KEYS does not hold")
        try:
            raw = _unb64(body)
            return aead.decrypt(raw[:12], raw[12:], domain.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise SealError(
                f"a {domain} value does not open with key {kid!r} (altered or not sealed)") from None

    def _digest(self, kid: str, domain: str, value: str) -> str:
        mac = hmac.new(self._index[kid], f"{domain}\x00{value}".encode(), hashlib.sha256)
        return f"{kid}:{mac.hexdigest()[:32]}"

    def blind(self, domain: str, value: str) -> str:
        """The blind index of ``value`` under the current index key (what writes store)."""
        return self._digest(self.index_id, domain, value)

    def blinds(self, domain: str, value: str) -> list[str]:
        """The blind index of ``value`` under every index key (what lookups match)."""
        return [self._digest(kid, domain, value) for kid in self._index]


class PlainKeyring(Keyring):
    """No sealing at all: for the benchmark's "encryption off" baseline only."""

    def __init__(self) -> None:
        self.seal_id = self.index_id = "plain"

    @property
    def seal_ids(self) -> list[str]:
        return ["plain"]

    @property
    def index_ids(self) -> list[str]:
        return ["plain"]

    def seal(self, plaintext: str, domain: str) -> str:
        return plaintext

    def open(self, token: str, domain: str) -> str:
        return token

    def blind(self, domain: str, value: str) -> str:
        return value

    def blinds(self, domain: str, value: str) -> list[str]:
        return [value]


def keyring_for(settings: Settings) -> Keyring:
    seal = parse_keys(settings.pii_keys, "SIGAP_PII_KEYS")
    index = parse_keys(settings.pii_index_keys, "SIGAP_PII_INDEX_KEYS")
    # development and tests only (production refuses empty settings): fixed, public keys,
    # the same in every process whatever its secret key, so a test's harness and the server
    # it starts read each other's rows
    if not seal:
        seal = {"dev": hashlib.sha256(b"sigap development only: pii seal").digest()}
    if not index:
        index = {"dev": hashlib.sha256(b"sigap development only: pii index").digest()}
    return Keyring(seal, index)


_keyring: Keyring | None = None


def keyring() -> Keyring:
    """The process's keyring (from the settings, the first time it is needed)."""
    global _keyring
    if _keyring is None:
        from app.config import get_settings

        _keyring = keyring_for(get_settings())
    return _keyring


def configure(settings: Settings) -> None:
    """Use these settings' keys from now on (the app factory and the CLI call this)."""
    global _keyring
    _keyring = keyring_for(settings)


@contextmanager
def using(ring: Keyring) -> Iterator[None]:
    """Another keyring for a block (tests of rotation, the benchmark's baseline)."""
    global _keyring
    before, _keyring = _keyring, ring
    try:
        yield
    finally:
        _keyring = before


def several_index_keys() -> bool:
    """An index key rotation is under way: the unique indexes on blind indexes hold per key."""
    return len(keyring().index_ids) > 1


def lookup(column: Any, domain: str, value: str) -> Any:
    """``column IN (blind index of value under every index key)``."""
    return column.in_(keyring().blinds(domain, value))


def lookup_many(column: Any, domain: str, values: Sequence[str]) -> Any:
    ring = keyring()
    return column.in_([b for v in values for b in ring.blinds(domain, v)])


class _RefuseComparison(TypeDecorator.Comparator):
    _NULL_TESTS = frozenset({operators.is_, operators.is_not})

    def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
        null_test = op in self._NULL_TESTS or (
            op in (operators.eq, operators.ne) and len(other) == 1 and other[0] is None)
        if not null_test:
            raise TypeError(f"{self.expr} is sealed: compare its blind index (app.pii.lookup), "
                            f"not the column ({getattr(op, '__name__', op)})")
        return super().operate(op, *other, **kwargs)


class Sealed(TypeDecorator[str]):
    """A NIK or KK number, sealed with the current key (see the module's docstring)."""

    impl = String
    cache_ok = True
    comparator_factory = _RefuseComparison

    def __init__(self, domain: str, length: int = SEALED_LENGTH) -> None:
        super().__init__(length=length)
        self.domain = domain
        self.length = length

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else keyring().seal(value, self.domain)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else keyring().open(value, self.domain)


class SealedJSON(TypeDecorator[Any]):
    """A JSON document that carries identifiers (a merge's before-state, both values of a
    conflict), sealed whole and stored as a JSON string (the column stays JSON). SQL NULL
    for None."""

    impl = JSON
    cache_ok = True
    comparator_factory = _RefuseComparison

    def __init__(self, domain: str) -> None:
        super().__init__(none_as_null=True)
        self.domain = domain

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return keyring().seal(json.dumps(value, ensure_ascii=False, separators=(",", ":")), self.domain)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(keyring().open(value, self.domain))


SEALED_TYPES = (Sealed, SealedJSON)


def blind_index(model: Any, *, source: str, target: str, domain: str) -> None:
    """Keep ``model.<target>`` the blind index of ``model.<source>`` on every ORM write,
    and record the pair on the table for :func:`complete_rows` and the key rotation."""
    table: Table = model.__table__
    table.info.setdefault("blind_index", {})[target] = (source, domain)

    def fill(_mapper: Any, _connection: Any, obj: Any) -> None:
        value = getattr(obj, source)
        setattr(obj, target, None if value is None else keyring().blind(domain, value))

    event.listen(model, "before_insert", fill)
    event.listen(model, "before_update", fill)


def blind_pairs(table: Table) -> dict[str, tuple[str, str]]:
    """``{target: (source, domain)}`` of the table's blind indexes."""
    return dict(table.info.get("blind_index", {}))


def complete_rows(table: Table, rows: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """Rows about to be inserted in bulk, with the blind indexes of their sealed sources
    set (the same rows when the table has none). An index is derived, never given: one the
    row carries is replaced."""
    pairs = {t: sd for t, sd in blind_pairs(table).items() if rows and sd[0] in rows[0]}
    if not pairs:
        return rows
    ring = keyring()
    out: list[Mapping[str, Any]] = []
    for row in rows:
        full = dict(row)
        for target, (source, domain) in pairs.items():
            value = row[source]
            full[target] = None if value is None else ring.blind(domain, value)
        out.append(full)
    return out


def sealed_json_text(column: Any, value: Any) -> str | None:
    """A SealedJSON column's value as the JSON text to store (for statements that bypass the
    column types, e.g. PostgreSQL's ``unnest`` fast paths)."""
    token = column.type.process_bind_param(value, None)
    return None if token is None else json.dumps(token)


def sealed_columns(table: Table) -> list[str]:
    return [c.name for c in table.columns if isinstance(c.type, SEALED_TYPES)]
