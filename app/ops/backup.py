"""Backups with the engines' own tools, and a restore that proves itself.

``backup``: SQLite through its online backup API (a consistent copy while the service runs);
PostgreSQL through ``pg_dump --format=custom`` on a snapshot exported from a REPEATABLE READ
transaction, so the row counts written to the manifest are those of the dump, to the row,
even while the service writes. Beside the file, ``<file>.manifest.json``: the engine, the
schema revision, the row count of every table, the audit chain's head and the file's SHA-256,
signed with HMAC-SHA256 under the audit chain's key (``SIGAP_AUDIT_SECRET``, else derived from
the secret key): without the key, neither the file (its SHA-256 is signed) nor the manifest can
be changed unnoticed.

``restore``: refuses a manifest whose signature does not verify under the key (or that has none,
unless told to accept that), a file whose SHA-256 differs from its manifest (corrupt,
truncated; hashed while copying it to a private directory, and the copy is what is restored,
so the file cannot be swapped after the check) and a target database that is not empty;
restores (SQLite backup API; ``pg_restore --single-transaction --exit-on-error``), then
verifies: the schema revision, every table's row count, and the audit chain recomputed with
the key and ending at the manifest's head.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

import app.models  # noqa: F401  (every table on the metadata)
from app import __version__
from app.audit import chain
from app.db import build_engine, metadata, utcnow


class BackupError(Exception):
    """A refusal with a message for the operator (Bahasa Indonesia / English)."""


@dataclass
class Manifest:
    engine: str  # sqlite | postgresql
    format: str  # sqlite-backup | pg_dump-custom
    created_at: str
    sigap_version: str
    revision: str | None
    counts: dict[str, int]
    audit_head: tuple[int, str]
    sha256: str = ""
    signature: str = ""  # HMAC-SHA256 of every other field (``expected_signature``); "" unsigned

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """The manifest at ``path``; ``BackupError`` if it is not one (never a traceback)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["audit_head"] = tuple(data["audit_head"])
            manifest = cls(**data)
        except (ValueError, TypeError, KeyError) as exc:  # JSON, fields, types
            raise BackupError(
                f"manifes cadangan rusak / the backup manifest is malformed: {path} ({type(exc).__name__})"
            ) from None
        if not isinstance(manifest.signature, str) or not manifest.signature.isascii():
            raise BackupError(
                f"manifes cadangan rusak / the backup manifest is malformed: {path} (signature)"
            )
        return manifest

    def expected_signature(self, key: bytes) -> str:
        fields = asdict(self)
        fields.pop("signature")
        fields["audit_head"] = list(self.audit_head)  # as read back from JSON
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hmac.new(key, b"sigap-backup-manifest|" + canonical.encode(), hashlib.sha256).hexdigest()

    def sign(self, key: bytes) -> None:
        self.signature = self.expected_signature(key)

    def check_signature(self, key: bytes, *, allow_unsigned: bool = False) -> None:
        """Refuse a manifest the key did not sign: changed, or signed with another key."""
        if not self.signature:
            if allow_unsigned:
                return
            raise BackupError(
                "manifes cadangan tidak bertanda tangan: isinya tidak bisa dibuktikan asli (tanda tangan "
                "yang dihapus pun tampak begini). --allow-unsigned hanya untuk cadangan yang pasti dibuat "
                "sebelum Sigap menandatangani manifes dan disimpan di tempat tepercaya / the backup "
                "manifest is not signed: its content cannot be proven genuine (a removed signature looks "
                "the same). --allow-unsigned is only for a backup surely made before Sigap signed "
                "manifests and kept somewhere trusted"
            )
        if not hmac.compare_digest(self.signature.encode(), self.expected_signature(key).encode()):
            raise BackupError(
                "tanda tangan manifes tidak cocok: cadangan atau manifesnya diubah, atau kunci audit "
                "(SIGAP_AUDIT_SECRET / SIGAP_SECRET_KEY) bukan yang membuatnya / the manifest's "
                "signature does not match: the backup or its manifest was changed, or the audit key "
                "(SIGAP_AUDIT_SECRET / SIGAP_SECRET_KEY) is not the one that made it"
            )

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")


@dataclass
class RestoreReport:
    manifest: Manifest
    counts: dict[str, int]
    revision: str | None
    audit: chain.Verification
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def manifest_path(backup: Path) -> Path:
    return backup.with_name(backup.name + ".manifest.json")


def _tables() -> list[str]:
    return sorted(metadata.tables)


def _counts(conn: Connection) -> dict[str, int]:
    # table names come from the models' metadata, never from input
    sql = 'SELECT COUNT(*) FROM "{}"'
    return {t: int(conn.execute(text(sql.format(t))).scalar_one()) for t in _tables()}


def _audit_head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(text("SELECT seq, hash FROM audit_chain WHERE id = 1")).one()
    return int(row[0]), str(row[1])


def _revision(conn: Connection) -> str | None:
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for pg_dump/pg_restore (the password in PGPASSWORD, not on the command line)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(
            "basis data SQLite di memori tidak bisa dicadangkan / an in-memory SQLite cannot be backed up"
        )
    return Path(database)


def _run(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise BackupError(f"{args[0]} gagal / failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")


def backup(url: str, output: Path, *, key: bytes) -> Manifest:
    """Write a backup of the database at ``url`` to ``output`` and its manifest, signed with
    ``key`` (the audit chain's), beside it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    partial.unlink(missing_ok=True)
    engine = build_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            manifest = _backup_sqlite(_sqlite_file(url), partial)
        else:
            manifest = _backup_postgresql(engine, url, partial)
    finally:
        engine.dispose()
    manifest.sha256 = _sha256(partial)
    manifest.sign(key)
    partial.replace(output)  # a backup file exists only once it is whole
    manifest.write(manifest_path(output))
    return manifest


def _manifest(kind: str, fmt: str, conn: Connection) -> Manifest:
    revision = _revision(conn)
    return Manifest(
        engine=kind,
        format=fmt,
        created_at=utcnow().isoformat(),
        sigap_version=__version__,
        revision=revision,
        counts=_counts(conn),
        audit_head=_audit_head(conn),
    )


def _backup_sqlite(source: Path, target: Path) -> Manifest:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    copy = build_engine(f"sqlite:///{target}")
    try:
        with copy.connect() as conn:  # counted on the copy itself: the manifest is the file's
            return _manifest("sqlite", "sqlite-backup", conn)
    finally:
        copy.dispose()


def _backup_postgresql(engine: Engine, url: str, target: Path) -> Manifest:
    dsn, env = _libpq(url)
    with engine.connect() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        manifest = _manifest("postgresql", "pg_dump-custom", conn)
        # pg_dump reads the same snapshot while this transaction holds it open
        _run(
            ["pg_dump", "--format=custom", "--no-owner", f"--snapshot={snapshot}", f"--file={target}", dsn],
            env,
        )
        conn.rollback()
    return manifest


def restore(backup_file: Path, url: str, *, audit_key: bytes, allow_unsigned: bool = False) -> RestoreReport:
    """Restore ``backup_file`` into the EMPTY database at ``url`` and verify it; its manifest
    must be signed with ``audit_key`` (``allow_unsigned``: or not signed at all)."""
    mpath = manifest_path(backup_file)
    if not backup_file.is_file() or not mpath.is_file():
        raise BackupError(
            f"cadangan atau manifesnya tidak ada / the backup or its manifest is missing: "
            f"{backup_file}, {mpath}"
        )
    manifest = Manifest.read(mpath)
    manifest.check_signature(audit_key, allow_unsigned=allow_unsigned)
    with tempfile.TemporaryDirectory(prefix="sigap-restore-") as private:  # mode 0700
        # restored from a private copy whose bytes were hashed as they were copied: the file on
        # the backup disk cannot be swapped between the check and the restore
        source = _verified_copy(backup_file, Path(private) / backup_file.name, manifest.sha256)
        return _restore_verified(source, url, manifest, audit_key)


def _verified_copy(backup_file: Path, copy: Path, sha256: str) -> Path:
    digest = hashlib.sha256()
    with backup_file.open("rb") as src, copy.open("wb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            dst.write(block)
    if digest.hexdigest() != sha256:
        raise BackupError(
            "berkas cadangan rusak: SHA-256 tidak cocok dengan manifes / the backup file is corrupt: its "
            "SHA-256 does not match the manifest"
        )
    return copy


def _restore_verified(source: Path, url: str, manifest: Manifest, audit_key: bytes) -> RestoreReport:
    engine = build_engine(url)
    try:
        if engine.dialect.name != manifest.engine:
            raise BackupError(
                f"cadangan {manifest.engine} tidak bisa dipulihkan ke {engine.dialect.name} / a "
                f"{manifest.engine} backup cannot be restored into {engine.dialect.name}"
            )
        existing = inspect(engine).get_table_names()
        if existing:
            raise BackupError(
                f"basis data tujuan tidak kosong ({len(existing)} tabel); pulihkan ke basis data kosong / "
                f"the target database is not empty ({len(existing)} tables); restore into an empty database"
            )
        if manifest.engine == "sqlite":
            engine.dispose()
            src = sqlite3.connect(source)
            dst = sqlite3.connect(_sqlite_file(url))
            try:
                src.backup(dst)
            finally:
                dst.close()
                src.close()
        else:
            dsn, env = _libpq(url)
            _run(
                [
                    "pg_restore",
                    "--no-owner",
                    "--single-transaction",
                    "--exit-on-error",
                    f"--dbname={dsn}",
                    str(source),
                ],
                env,
            )
        return _verify(engine, manifest, audit_key)
    finally:
        engine.dispose()


def _verify(engine: Engine, manifest: Manifest, audit_key: bytes) -> RestoreReport:
    with Session(engine) as session:
        conn = session.connection()
        counts = _counts(conn)
        revision = _revision(conn)
        audit = chain.verify(
            session, audit_key, anchor=manifest.audit_head if manifest.audit_head[0] else None
        )
    report = RestoreReport(manifest=manifest, counts=counts, revision=revision, audit=audit)
    if revision != manifest.revision:
        report.problems.append(f"revisi skema / schema revision {revision} != {manifest.revision}")
    for table, expected in sorted(manifest.counts.items()):
        if counts.get(table) != expected:
            report.problems.append(
                f"{table}: {counts.get(table)} baris / rows, manifes / manifest {expected}"
            )
    if not audit.ok:
        report.problems += [f"audit {p.kind}: {p.message}" for p in audit.problems]
    return report


def describe(report: RestoreReport) -> dict[str, Any]:
    return {
        "rows": sum(report.counts.values()),
        "tables": len(report.counts),
        "revision": report.revision,
        "audit_checked": report.audit.checked,
        "problems": report.problems,
    }
