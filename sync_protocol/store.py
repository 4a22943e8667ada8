"""Local SQLite store of a sync v1 device: enrolment, replica, outbox and attention log.

One file per device, WAL journal, ``synchronous=FULL``.  Every state change runs in one
``BEGIN IMMEDIATE`` transaction, so a crash at any point leaves the state either before or
after that change, never in between.

The replica keeps, per record, the server's last copy (``server_data`` at ``version``) and
the visible copy (``data``): the server copy with the record's pending outbox mutations
applied on top, in ``seq`` order.  ``data`` is NULL while a delete is pending.  Whenever
the server copy or the outbox changes, the visible copy is rebuilt from both, so an unsent
edit stays visible after a pull, and a rejected edit disappears once it is acknowledged.

Sequence numbers come from ``meta.next_seq``, incremented in the same transaction as the
outbox insert; acknowledged mutations leave the outbox but the counter never goes back.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python

from sync_protocol.messages import Change, ChangeKind, MutationResult, Outcome, Resolution
from sync_protocol.smscodec import derived_id

SCHEMA_VERSION = 3
ENTITIES = ("household", "member")
MEDIA_KINDS = ("house_photo", "consent_form")
_RESERVED_FIELDS = frozenset({"id", "version", "household_id"})

_SCHEMA = """
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    server_url TEXT,
    device_id TEXT,
    device_token TEXT,
    token_expires_at TEXT,
    username TEXT,
    scope TEXT NOT NULL DEFAULT '[]',
    limits TEXT NOT NULL DEFAULT '{}',
    next_seq INTEGER NOT NULL DEFAULT 1 CHECK (next_seq >= 1),
    cursor TEXT,
    last_sync_at TEXT
);
INSERT INTO meta (id) VALUES (1);

CREATE TABLE records (
    entity TEXT NOT NULL CHECK (entity IN ('household', 'member')),
    id TEXT NOT NULL,
    household_id TEXT NOT NULL,
    kelurahan_code TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    server_data TEXT,
    data TEXT,
    local_only INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (entity, id)
);
CREATE INDEX records_household ON records (household_id);

CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY,
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete')),
    base_version INTEGER,
    household_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state = 'pending')
);

CREATE TABLE outbox_refs (
    seq INTEGER NOT NULL REFERENCES outbox (seq) ON DELETE CASCADE,
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (entity, id, seq)
);
CREATE INDEX outbox_refs_seq ON outbox_refs (seq);

CREATE TABLE attention (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('rejected', 'conflict')),
    seq INTEGER NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    op TEXT NOT NULL,
    status INTEGER NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL,
    fields TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


# version 2: the SMS fallback (docs/sms-fallback.md): the device's SMS number and key, and
# when each outbox mutation was handed to the SMS app
_SCHEMA_2 = """
ALTER TABLE meta ADD COLUMN sms_number INTEGER;
ALTER TABLE meta ADD COLUMN sms_key TEXT;
ALTER TABLE outbox ADD COLUMN sms_sent_at TEXT
"""

# version 3: field tasks the server sends (entity ``task``, pull only): visits to make
_SCHEMA_3 = """
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    kelurahan_code TEXT,
    version INTEGER NOT NULL,
    data TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class FieldTask:
    """A visit the server asks for, e.g. ``verify_lead``: a family that registered by SMS/USSD."""

    id: str
    household_id: str
    kelurahan_code: str | None
    kind: str = ""
    status: str = "open"
    note: str = ""
    created_at: str = ""


_TASK_FIELDS = frozenset({"kind", "status", "note", "created_at"})


class StoreError(Exception):
    """The store file cannot be used as asked (wrong schema, another device's data...)."""


class LocalEditError(ValueError):
    """A local edit that cannot be recorded (unknown record, bad fields...)."""


@dataclass(frozen=True)
class Enrolment:
    server_url: str
    device_id: str
    device_token: str
    username: str
    scope: list[str]
    limits: dict[str, int]
    token_expires_at: str | None = None
    sms_number: int | None = None   # SMS fallback: short device number and base64 key
    sms_key: str | None = None


@dataclass(frozen=True)
class Meta:
    enrolment: Enrolment | None
    next_seq: int
    cursor: str | None
    last_sync_at: str | None


@dataclass(frozen=True)
class PendingMutation:
    seq: int
    entity: str
    id: str
    op: str
    base_version: int | None
    household_id: str
    fields: dict[str, Any]
    recorded_at: str
    sms_sent_at: str | None = None  # handed to the SMS app (SMS fallback); still unacknowledged


@dataclass(frozen=True)
class LocalRecord:
    entity: str
    id: str
    household_id: str
    kelurahan_code: str | None
    version: int            # server version last seen; 0 if the server has not confirmed it
    local_only: bool        # created here and not yet confirmed by the server
    data: dict[str, Any] | None  # visible copy; None while a delete is pending
    pending: int            # outbox mutations touching this record


@dataclass(frozen=True)
class AttentionItem:
    id: int
    kind: str               # "rejected" or "conflict"
    seq: int
    entity: str
    record_id: str
    op: str
    status: int
    message: str
    details: list[dict[str, Any]]  # problems (rejected) or field conflicts (conflict)
    fields: dict[str, Any]         # what the device sent
    created_at: str


@dataclass(frozen=True)
class PushApplied:
    """What acknowledging one push batch did to the store."""

    outcomes: dict[str, int]  # effective outcome (a duplicate counts as its original) -> count
    acknowledged: int
    attention: int


@dataclass(frozen=True)
class PullApplied:
    upserts: int
    tombstones: int
    skipped: int  # entities this client does not keep (media)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _uuid(value: Any, what: str) -> str:
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        raise LocalEditError(f"{what}: bukan UUID: {value!r}") from None


def _fields(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise LocalEditError(f"{what}: harus objek JSON")
    plain = to_jsonable_python(dict(value))
    assert isinstance(plain, dict)
    return plain


def _answered(fields: dict[str, Any]) -> dict[str, Any]:
    """A create's fields without the null ones: for a new record null and absent mean the
    same (not answered), and leaving them out keeps the mutation, and its SMS, short."""
    return {k: v for k, v in fields.items() if v is not None}


def _overlay(state: dict[str, Any], fields: Mapping[str, Any]) -> None:
    """Apply an update's fields; ``None`` clears a field (pull data omits null fields)."""
    for name, value in fields.items():
        if value is None:
            state.pop(name, None)
        else:
            state[name] = value


class Store:
    """The device's SQLite file.  Not thread-safe; one process at a time writes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    # --- plumbing ---------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
            if version not in (0, 1, 2):
                raise StoreError(f"{self.path}: store schema {version}, this client knows {SCHEMA_VERSION}")
            steps = ([_SCHEMA] if version == 0 else []) + ([_SCHEMA_2] if version < 2 else []) + [_SCHEMA_3]
            for statement in ";".join(steps).split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; any exception rolls the whole change back."""
        if self._conn.in_transaction:
            raise StoreError("nested store transaction")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # --- meta -------------------------------------------------------------------------------

    def meta(self) -> Meta:
        row = self._conn.execute("SELECT * FROM meta WHERE id = 1").fetchone()
        enrolment = None
        if row["device_token"]:
            enrolment = Enrolment(
                server_url=row["server_url"], device_id=row["device_id"],
                device_token=row["device_token"], username=row["username"],
                scope=json.loads(row["scope"]), limits=json.loads(row["limits"]),
                token_expires_at=row["token_expires_at"], sms_number=row["sms_number"],
                sms_key=row["sms_key"])
        return Meta(enrolment=enrolment, next_seq=row["next_seq"], cursor=row["cursor"],
                    last_sync_at=row["last_sync_at"])

    def save_enrolment(self, enrolment: Enrolment) -> bool:
        """Store a (re-)enrolment.  Returns True if the replica was reset.

        Same server, device id and user: only the token, scope and limits change.  Anything
        else starts a new replica (records and cursor cleared), which is refused while the
        outbox still holds mutations.  ``next_seq`` is never reset.
        """
        with self.transaction() as conn:
            reset = self._identity_change(conn, enrolment.server_url, enrolment.device_id, enrolment.username)
            if reset:
                conn.execute("DELETE FROM records")
                conn.execute("UPDATE meta SET cursor = NULL, last_sync_at = NULL WHERE id = 1")
            conn.execute(
                "UPDATE meta SET server_url = ?, device_id = ?, device_token = ?, token_expires_at = ?,"
                " username = ?, scope = ?, limits = ?, sms_number = ?, sms_key = ? WHERE id = 1",
                (enrolment.server_url, enrolment.device_id, enrolment.device_token,
                 enrolment.token_expires_at, enrolment.username, _dump(enrolment.scope),
                 _dump(enrolment.limits), enrolment.sms_number, enrolment.sms_key))
        return reset

    def check_enrolment(self, server_url: str, device_id: str, username: str) -> bool:
        """Whether enrolling as this identity would start a new replica; raises if refused."""
        return self._identity_change(self._conn, server_url, device_id, username)

    @staticmethod
    def _identity_change(conn: sqlite3.Connection, server_url: str, device_id: str, username: str) -> bool:
        row = conn.execute("SELECT server_url, device_id, username FROM meta WHERE id = 1").fetchone()
        if row["server_url"] is None or (row["server_url"], row["device_id"], row["username"]) == (
                server_url, device_id, username):
            return False
        pending = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        if pending:
            raise StoreError(f"{pending} perubahan belum terkirim untuk {row['device_id']} di "
                             f"{row['server_url']}; sinkronkan dulu sebelum mendaftar ulang")
        return True

    def set_last_sync(self, when: str | None = None) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE meta SET last_sync_at = ? WHERE id = 1", (when or _now(),))

    # --- local edits ------------------------------------------------------------------------

    def create_household(self, fields: Mapping[str, Any], *, recorded_at: str) -> str:
        """Record a household create (with its members); returns the household id."""
        data = _answered(_fields(fields, "household"))
        given = data.pop("id", None)
        hid = _uuid(given, "household id") if given else ""
        bad = _RESERVED_FIELDS & set(data)
        if bad:
            raise LocalEditError(f"household: field tidak boleh diisi: {', '.join(sorted(bad))}")
        code = data.get("kelurahan_code")
        if not isinstance(code, str) or not code:
            raise LocalEditError("household: kelurahan_code wajib diisi")
        members = data.get("members")
        if not isinstance(members, list) or not members:
            raise LocalEditError("household: members wajib berisi minimal satu anggota")
        for i, member in enumerate(members):
            if not isinstance(member, dict):
                raise LocalEditError(f"members[{i}]: harus objek JSON")
            members[i] = member = _answered(member)
            if member.get("id"):
                member["id"] = _uuid(member["id"], f"members[{i}].id")
            if {"version", "household_id"} & set(member):
                raise LocalEditError(f"members[{i}]: version/household_id tidak boleh diisi")
        with self.transaction() as conn:
            hid = hid or self._new_id(conn, 0)
            seen: set[str] = set()
            for i, member in enumerate(members):
                member["id"] = member.get("id") or self._new_id(conn, i + 1)
                if member["id"] in seen:
                    raise LocalEditError(f"members[{i}].id: sama dengan anggota lain")
                seen.add(member["id"])
            self._check_scope(conn, code)
            ids = [("household", hid)] + [("member", m["id"]) for m in members]
            for entity, rid in ids:
                if self._row(conn, entity, rid) is not None:
                    raise LocalEditError(f"{entity} {rid} sudah ada")
            for entity, rid in ids:
                conn.execute(
                    "INSERT INTO records (entity, id, household_id, kelurahan_code) VALUES (?, ?, ?, ?)",
                    (entity, rid, hid, code))
            self._enqueue(conn, "household", hid, "create", None, hid, data, recorded_at, ids)
            for entity, rid in ids:
                self._rebuild(conn, entity, rid)
        return hid

    def add_member(self, household_id: str | uuid.UUID, fields: Mapping[str, Any], *,
                   recorded_at: str) -> str:
        """Record a member create in an existing household; returns the member id."""
        hid = _uuid(household_id, "household id")
        data = _answered(_fields(fields, "member"))
        given = data.pop("id", None)
        mid = _uuid(given, "member id") if given else ""
        bad = _RESERVED_FIELDS & set(data)
        if bad:
            raise LocalEditError(f"member: field tidak boleh diisi: {', '.join(sorted(bad))}")
        with self.transaction() as conn:
            mid = mid or self._new_id(conn, 0)
            household = self._row(conn, "household", hid)
            if household is None or household["data"] is None:
                raise LocalEditError(f"household {hid} tidak ada di perangkat")
            if self._row(conn, "member", mid) is not None:
                raise LocalEditError(f"member {mid} sudah ada")
            conn.execute(
                "INSERT INTO records (entity, id, household_id, kelurahan_code) VALUES ('member', ?, ?, ?)",
                (mid, hid, household["kelurahan_code"]))
            self._enqueue(conn, "member", mid, "create", None, hid, data, recorded_at, [("member", mid)])
            self._rebuild(conn, "member", mid)
        return mid

    def update(self, entity: str, record_id: str | uuid.UUID, fields: Mapping[str, Any], *,
               recorded_at: str) -> int | None:
        """Record an update of the fields that differ from the visible copy.

        Returns the mutation's seq, or None if no field changes.  ``base_version`` is the
        server version of the record (1 for a record whose create is not yet confirmed: the
        version that create gets).
        """
        entity = self._entity(entity)
        rid = _uuid(record_id, f"{entity} id")
        data = _fields(fields, entity)
        bad = (_RESERVED_FIELDS | {"members"}) & set(data)
        if bad:
            raise LocalEditError(f"{entity}: field tidak boleh diubah: {', '.join(sorted(bad))}")
        with self.transaction() as conn:
            row = self._row(conn, entity, rid)
            if row is None or row["data"] is None:
                raise LocalEditError(f"{entity} {rid} tidak ada di perangkat")
            current = json.loads(row["data"])
            changed = {k: v for k, v in data.items() if current.get(k) != v}
            if not changed:
                return None
            if entity == "household" and "kelurahan_code" in changed:
                self._check_scope(conn, changed["kelurahan_code"])
            seq = self._enqueue(conn, entity, rid, "update", max(row["version"], 1), row["household_id"],
                                changed, recorded_at, [(entity, rid)])
            self._rebuild(conn, entity, rid)
        return seq

    def delete(self, entity: str, record_id: str | uuid.UUID, *, recorded_at: str) -> int:
        """Record a delete; the record is hidden until the server answers."""
        entity = self._entity(entity)
        rid = _uuid(record_id, f"{entity} id")
        with self.transaction() as conn:
            row = self._row(conn, entity, rid)
            if row is None or row["data"] is None:
                raise LocalEditError(f"{entity} {rid} tidak ada di perangkat")
            seq = self._enqueue(conn, entity, rid, "delete", max(row["version"], 1), row["household_id"],
                                {}, recorded_at, [(entity, rid)])
            self._rebuild(conn, entity, rid)
        return seq

    def attach_media(self, household_id: str | uuid.UUID, sha256: str, kind: str, *,
                     recorded_at: str) -> tuple[str, int]:
        """Record that an uploaded file belongs to a household; returns (link id, seq)."""
        hid = _uuid(household_id, "household id")
        if not (isinstance(sha256, str) and len(sha256) == 64
                and all(c in "0123456789abcdef" for c in sha256)):
            raise LocalEditError("sha256: harus 64 karakter heksadesimal huruf kecil")
        if kind not in MEDIA_KINDS:
            raise LocalEditError(f"kind harus salah satu dari: {', '.join(MEDIA_KINDS)}")
        link = str(uuid.uuid4())
        with self.transaction() as conn:
            household = self._row(conn, "household", hid)
            if household is None or household["data"] is None:
                raise LocalEditError(f"household {hid} tidak ada di perangkat")
            seq = self._enqueue(conn, "media", link, "create", None, hid,
                                {"sha256": sha256, "kind": kind}, recorded_at, [])
        return link, seq

    # --- outbox -----------------------------------------------------------------------------

    def pending(self, *, after: int = 0, limit: int = 500) -> list[PendingMutation]:
        rows = self._conn.execute(
            "SELECT * FROM outbox WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?",
            (after, limit)).fetchall()
        return [PendingMutation(seq=r["seq"], entity=r["entity"], id=r["id"], op=r["op"],
                                base_version=r["base_version"], household_id=r["household_id"],
                                fields=json.loads(r["fields"]), recorded_at=r["recorded_at"],
                                sms_sent_at=r["sms_sent_at"])
                for r in rows]

    def mark_sms_sent(self, seqs: Iterable[int], when: str | None = None) -> None:
        """Note that these outbox mutations were handed to the SMS app (they stay pending)."""
        with self.transaction() as conn:
            conn.executemany("UPDATE outbox SET sms_sent_at = ? WHERE seq = ?",
                             [(when or _now(), seq) for seq in seqs])

    def pending_count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def apply_push_results(self, batch: Sequence[PendingMutation],
                           results: Iterable[MutationResult]) -> PushApplied:
        """Acknowledge one push response in one transaction.

        Every result whose seq is in ``batch`` and still in the outbox removes that mutation,
        folds what the server wrote into the server copy, and logs rejections and conflicts.
        Results for other seqs are ignored; mutations without a result stay pending.
        """
        by_seq = {m.seq: m for m in batch}
        outcomes: dict[str, int] = {}
        acknowledged = attention = 0
        with self.transaction() as conn:
            touched: dict[tuple[str, str], None] = {}
            for result in results:
                mutation = by_seq.get(result.seq)
                if mutation is None or not conn.execute(
                        "SELECT 1 FROM outbox WHERE seq = ?", (result.seq,)).fetchone():
                    continue
                outcome = result.outcome
                if outcome is Outcome.duplicate:
                    outcome = result.original_outcome or Outcome.merged
                for ref in conn.execute("SELECT entity, id FROM outbox_refs WHERE seq = ?", (result.seq,)):
                    touched[(ref["entity"], ref["id"])] = None
                if outcome is not Outcome.rejected and mutation.entity != "media":
                    self._fold(conn, mutation, result, outcome)  # media links have no replica row
                if outcome in (Outcome.rejected, Outcome.conflict):
                    details = ([p.model_dump(mode="json") for p in result.problems]
                               if outcome is Outcome.rejected
                               else [c.model_dump(mode="json") for c in result.conflicts])
                    conn.execute(
                        "INSERT INTO attention (kind, seq, entity, record_id, op, status, message, details,"
                        " fields, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (outcome.value, mutation.seq, mutation.entity, mutation.id, mutation.op,
                         result.status, result.message, _dump(details), _dump(mutation.fields), _now()))
                    attention += 1
                conn.execute("DELETE FROM outbox WHERE seq = ?", (mutation.seq,))
                outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
                acknowledged += 1
            for entity, rid in touched:
                self._rebuild(conn, entity, rid)
        return PushApplied(outcomes=outcomes, acknowledged=acknowledged, attention=attention)

    # --- pull -------------------------------------------------------------------------------

    def apply_pull_page(self, changes: Iterable[Change], *, cursor: str, scope: list[str]) -> PullApplied:
        """Apply one pull page in order and store its cursor, in one transaction."""
        upserts = tombstones = skipped = 0
        with self.transaction() as conn:
            for change in changes:
                entity = change.entity.value
                if entity == "task":
                    self._apply_task(conn, change)
                    upserts += change.kind is ChangeKind.upsert
                    tombstones += change.kind is ChangeKind.tombstone
                    continue
                if entity not in ENTITIES:
                    skipped += 1
                    continue
                rid, hid = str(change.id), str(change.household_id)
                if change.kind is ChangeKind.tombstone:
                    conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (entity, rid))
                    if entity == "household":
                        conn.execute("DELETE FROM records WHERE entity = 'member' AND household_id = ?",
                                     (rid,))
                    tombstones += 1
                    continue
                data = dict(change.data or {})
                if entity == "household":
                    data.pop("members", None)
                conn.execute(
                    "INSERT INTO records (entity, id, household_id, kelurahan_code, version, server_data,"
                    " local_only) VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (entity, id) DO UPDATE SET"
                    " household_id = excluded.household_id, kelurahan_code = excluded.kelurahan_code,"
                    " version = excluded.version, server_data = excluded.server_data, local_only = 0",
                    (entity, rid, hid, change.kelurahan_code, change.version, _dump(data)))
                self._rebuild(conn, entity, rid)
                upserts += 1
            conn.execute("UPDATE meta SET cursor = ?, scope = ? WHERE id = 1", (cursor, _dump(scope)))
        return PullApplied(upserts=upserts, tombstones=tombstones, skipped=skipped)

    @staticmethod
    def _apply_task(conn: sqlite3.Connection, change: Change) -> None:
        """Keep open tasks only: a done or cancelled one (or its tombstone) leaves the list."""
        data = change.data or {}
        if change.kind is ChangeKind.tombstone or data.get("status") != "open":
            conn.execute("DELETE FROM tasks WHERE id = ?", (str(change.id),))
            return
        conn.execute(
            "INSERT INTO tasks (id, household_id, kelurahan_code, version, data) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET household_id = excluded.household_id, kelurahan_code ="
            " excluded.kelurahan_code, version = excluded.version, data = excluded.data",
            (str(change.id), str(change.household_id), change.kelurahan_code, change.version, _dump(data)))

    # --- reading ----------------------------------------------------------------------------

    def tasks(self) -> list[FieldTask]:
        """The open field tasks of this device's area (visits to make), oldest first."""
        rows = self._conn.execute("SELECT * FROM tasks").fetchall()
        tasks = [FieldTask(id=r["id"], household_id=r["household_id"], kelurahan_code=r["kelurahan_code"],
                           **{k: v for k, v in json.loads(r["data"]).items() if k in _TASK_FIELDS})
                 for r in rows]
        return sorted(tasks, key=lambda t: (t.created_at, t.id))

    def record(self, entity: str, record_id: str | uuid.UUID) -> LocalRecord | None:
        """The record as stored, including one whose delete is pending (``data`` None)."""
        entity = self._entity(entity)
        row = self._row(self._conn, entity, _uuid(record_id, f"{entity} id"))
        return None if row is None else self._local(row)

    def households(self) -> list[LocalRecord]:
        rows = self._conn.execute(
            "SELECT * FROM records WHERE entity = 'household' AND data IS NOT NULL"
            " ORDER BY kelurahan_code, id").fetchall()
        return [self._local(r) for r in rows]

    def members(self, household_id: str | uuid.UUID) -> list[LocalRecord]:
        rows = self._conn.execute(
            "SELECT * FROM records WHERE entity = 'member' AND household_id = ? AND data IS NOT NULL"
            " ORDER BY rowid", (_uuid(household_id, "household id"),)).fetchall()
        return [self._local(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Visible records per entity."""
        counts = dict.fromkeys(ENTITIES, 0)
        for row in self._conn.execute(
                "SELECT entity, count(*) AS n FROM records WHERE data IS NOT NULL GROUP BY entity"):
            counts[row["entity"]] = row["n"]
        return counts

    def local_only_count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM records WHERE local_only = 1").fetchone()[0])

    def attention(self) -> list[AttentionItem]:
        rows = self._conn.execute("SELECT * FROM attention ORDER BY id").fetchall()
        return [AttentionItem(id=r["id"], kind=r["kind"], seq=r["seq"], entity=r["entity"],
                              record_id=r["record_id"], op=r["op"], status=r["status"],
                              message=r["message"], details=json.loads(r["details"]),
                              fields=json.loads(r["fields"]), created_at=r["created_at"])
                for r in rows]

    def dismiss(self, ids: Iterable[int]) -> int:
        """Remove attention items the enumerator has dealt with; returns how many."""
        with self.transaction() as conn:
            return sum(conn.execute("DELETE FROM attention WHERE id = ?", (i,)).rowcount for i in ids)

    # --- internals --------------------------------------------------------------------------

    @staticmethod
    def _entity(entity: str) -> str:
        if entity not in ENTITIES:
            raise LocalEditError(f"entity harus salah satu dari: {', '.join(ENTITIES)}")
        return entity

    @staticmethod
    def _row(conn: sqlite3.Connection, entity: str, rid: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM records WHERE entity = ? AND id = ?", (entity, rid)).fetchone()
        return row

    def _local(self, row: sqlite3.Row) -> LocalRecord:
        pending = self._conn.execute("SELECT count(*) FROM outbox_refs WHERE entity = ? AND id = ?",
                                     (row["entity"], row["id"])).fetchone()[0]
        return LocalRecord(entity=row["entity"], id=row["id"], household_id=row["household_id"],
                           kelurahan_code=row["kelurahan_code"], version=row["version"],
                           local_only=bool(row["local_only"]),
                           data=None if row["data"] is None else json.loads(row["data"]),
                           pending=int(pending))

    @staticmethod
    def _check_scope(conn: sqlite3.Connection, code: Any) -> None:
        scope = json.loads(conn.execute("SELECT scope FROM meta WHERE id = 1").fetchone()[0])
        if scope and code not in scope:
            raise LocalEditError(f"kelurahan {code} di luar wilayah tugas perangkat ({', '.join(scope)})")

    @staticmethod
    def _new_id(conn: sqlite3.Connection, k: int) -> str:
        """Id of record ``k`` of the mutation about to be queued: derived from (device, seq)
        once enrolled, so that an SMS need not carry it (docs/sms-fallback.md); random before."""
        row = conn.execute("SELECT device_id, next_seq FROM meta WHERE id = 1").fetchone()
        if row["device_id"] and row["next_seq"] < 2**48:
            return str(derived_id(row["device_id"], row["next_seq"], k))
        return str(uuid.uuid4())

    @staticmethod
    def _enqueue(conn: sqlite3.Connection, entity: str, rid: str, op: str, base_version: int | None,
                 household_id: str, fields: dict[str, Any], recorded_at: str,
                 refs: Iterable[tuple[str, str]]) -> int:
        seq = int(conn.execute("SELECT next_seq FROM meta WHERE id = 1").fetchone()[0])
        conn.execute("UPDATE meta SET next_seq = ? WHERE id = 1", (seq + 1,))
        conn.execute(
            "INSERT INTO outbox (seq, entity, id, op, base_version, household_id, fields, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, entity, rid, op, base_version, household_id, _dump(fields), recorded_at))
        conn.executemany("INSERT INTO outbox_refs (seq, entity, id) VALUES (?, ?, ?)",
                         [(seq, e, i) for e, i in refs])
        return seq

    def _rebuild(self, conn: sqlite3.Connection, entity: str, rid: str) -> None:
        """Visible copy = server copy + pending mutations; drops a row nobody holds any more."""
        row = self._row(conn, entity, rid)
        if row is None:
            return
        server = None if row["server_data"] is None else json.loads(row["server_data"])
        state: dict[str, Any] | None = None if server is None else dict(server)
        created = server is not None
        pending = conn.execute(
            "SELECT o.entity, o.id, o.op, o.fields FROM outbox o JOIN outbox_refs r ON r.seq = o.seq"
            " WHERE r.entity = ? AND r.id = ? ORDER BY o.seq", (entity, rid)).fetchall()
        for m in pending:
            fields = json.loads(m["fields"])
            if m["op"] == "create":
                if not created:
                    created = True
                    state = self._created_fields(entity, rid, m["entity"], fields)
            elif m["op"] == "update":
                if state is not None:
                    _overlay(state, fields)
            else:
                state = None
        if not created:  # never reached the server and no pending create: a rejected create
            conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (entity, rid))
            return
        code = row["kelurahan_code"]
        if entity == "household" and state is not None and isinstance(state.get("kelurahan_code"), str):
            code = state["kelurahan_code"]
            conn.execute("UPDATE records SET kelurahan_code = ? WHERE entity = 'member' AND household_id = ?",
                         (code, rid))
        conn.execute("UPDATE records SET data = ?, kelurahan_code = ? WHERE entity = ? AND id = ?",
                     (None if state is None else _dump(state), code, entity, rid))

    @staticmethod
    def _created_fields(entity: str, rid: str, mutation_entity: str,
                        fields: dict[str, Any]) -> dict[str, Any]:
        """The record's fields as a create mutation (its own, or its household's) gives them."""
        if entity == "household":
            return {k: v for k, v in fields.items() if k != "members"}
        if mutation_entity == "household":  # a member created with its household
            member = next(m for m in fields["members"] if m["id"] == rid)
            return {k: v for k, v in member.items() if k != "id"}
        return dict(fields)

    def _set_server(self, conn: sqlite3.Connection, entity: str, rid: str, data: dict[str, Any],
                    version: int) -> None:
        """Take ``data`` as the server copy unless a pull already brought a newer one."""
        row = self._row(conn, entity, rid)
        if row is None or (row["server_data"] is not None and row["version"] >= version):
            return
        conn.execute("UPDATE records SET server_data = ?, version = ?, local_only = 0"
                     " WHERE entity = ? AND id = ?", (_dump(data), version, entity, rid))

    def _fold(self, conn: sqlite3.Connection, m: PendingMutation, result: MutationResult,
              outcome: Outcome) -> None:
        """Fold what the server wrote for an acknowledged mutation into the server copy.

        ``applied``: the server copy becomes exactly ours at ``result.version``.  ``merged``
        and ``conflict``: the fields the server took are folded but the version is kept, so
        a later edit still names the version this device really saw; the pull that follows
        brings the server's record.
        """
        if m.op == "create":
            version = result.version or 1
            self._set_server(conn, m.entity, m.id, self._created_fields(m.entity, m.id, m.entity, m.fields),
                             version)
            if m.entity == "household":  # its members start at version 1 like any new record
                for member in m.fields.get("members", []):
                    mid = member["id"]
                    self._set_server(conn, "member", mid, self._created_fields("member", mid, "household",
                                                                               m.fields), 1)
            return
        row = self._row(conn, m.entity, m.id)
        if row is None:
            return
        if m.op == "delete":
            if outcome in (Outcome.applied, Outcome.merged):
                conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (m.entity, m.id))
                if m.entity == "household":
                    conn.execute("DELETE FROM records WHERE entity = 'member' AND household_id = ?", (m.id,))
            return
        if row["server_data"] is None:
            return
        kept = {c.field for c in result.conflicts if c.resolution is not Resolution.device_applied}
        server = json.loads(row["server_data"])
        _overlay(server, {k: v for k, v in m.fields.items() if k not in kept})
        version = row["version"]
        if outcome is Outcome.applied and result.version is not None:
            if result.version <= version:
                return  # a pull already brought this write or a later one
            version = result.version
        conn.execute("UPDATE records SET server_data = ?, version = ? WHERE entity = ? AND id = ?",
                     (_dump(server), version, m.entity, m.id))
