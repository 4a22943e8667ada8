"""Backup and restore drill on both engines: a real database with families, sealed audit
entries and decisions is backed up with the engine's tool, restored into an EMPTY database
and verified (row counts, schema revision, audit chain); corrupt files and non-empty targets
are refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.db import build_engine
from app.ops import backup as ops
from tests.conftest import new_database

runner = CliRunner()


def ok(*args: object) -> str:
    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


@pytest.fixture
def populated(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "250")
    ok("migrate")
    ok("seed", "--demo", "25")
    ok("score", "run", "--reference-date", "2026-06-01")
    ok("audit", "seal")
    return database_url


@pytest.fixture
def empty(db_kind: str, tmp_path: Path) -> Iterator[str]:
    url, drop = new_database(db_kind, tmp_path / "target")
    (tmp_path / "target").mkdir(exist_ok=True)
    yield url
    drop()


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608


def test_backup_restore_drill(populated: str, empty: str, tmp_path: Path) -> None:
    out = tmp_path / "backups" / "drill.bak"
    said = ok("backup", "--output", out)
    assert str(out) in said.replace(" ", "") or "drill.bak" in said
    manifest = ops.Manifest.read(ops.manifest_path(out))
    assert manifest.counts["household"] == 25 and manifest.counts["eligibility_decision"] > 0
    assert manifest.audit_head[0] == manifest.counts["audit_log"] > 0
    assert not out.with_name(out.name + ".partial").exists()

    restored = ok("restore", out, "--into", empty)
    assert "audit chain intact" in restored
    engine = build_engine(empty)
    try:
        for table in ("household", "member", "audit_log", "eligibility_decision", "kelurahan"):
            assert _count(engine, table) == manifest.counts[table]
    finally:
        engine.dispose()

    # the same backup again into the now populated database: refused, nothing touched
    again = runner.invoke(cli, ["restore", str(out), "--into", empty])
    assert again.exit_code == 2 and "not empty" in " ".join(again.output.split())


def test_a_corrupt_backup_is_refused(populated: str, empty: str, tmp_path: Path) -> None:
    out = tmp_path / "x.bak"
    ok("backup", "--output", out)
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF
    out.write_bytes(bytes(data))
    refused = runner.invoke(cli, ["restore", str(out), "--into", empty])
    assert refused.exit_code == 2 and "corrupt" in " ".join(refused.output.split())
    engine = build_engine(empty)
    try:
        with engine.connect() as conn:
            tables = conn.dialect.get_table_names(conn)
        assert tables == []
    finally:
        engine.dispose()
    ops.manifest_path(out).unlink()
    missing = runner.invoke(cli, ["restore", str(out), "--into", empty])
    assert missing.exit_code == 2 and "manifest is missing" in " ".join(missing.output.split())


def test_a_restore_that_differs_from_its_manifest_fails(populated: str, empty: str, tmp_path: Path) -> None:
    out = tmp_path / "y.bak"
    ok("backup", "--output", out)
    manifest = ops.Manifest.read(ops.manifest_path(out))
    manifest.counts["household"] += 1  # as if rows were lost between the dump and the manifest
    manifest.sign(get_settings().audit_key)  # a genuine manifest: only the counts disagree
    manifest.write(ops.manifest_path(out))
    report = ops.restore(out, empty, audit_key=get_settings().audit_key)
    assert not report.ok and any(p.startswith("household:") for p in report.problems)


def _nothing_restored(url: str) -> None:
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.dialect.get_table_names(conn) == []
    finally:
        engine.dispose()


def test_a_changed_backup_or_manifest_or_another_key_is_refused(
    populated: str, empty: str, tmp_path: Path
) -> None:
    """Whoever can write to the backup disk cannot change the data and fix up the manifest to
    match: the manifest is signed with the audit key, which is not on that disk."""
    out = tmp_path / "s.bak"
    ok("backup", "--output", out)
    path = ops.manifest_path(out)
    genuine = path.read_text(encoding="utf-8")
    manifest = ops.Manifest.read(path)
    assert len(manifest.signature) == 64

    manifest.counts["household"] -= 1  # the manifest edited to hide a removed family
    manifest.write(path)
    refused = runner.invoke(cli, ["restore", str(out), "--into", empty])
    assert refused.exit_code == 2 and "signature does not match" in " ".join(refused.output.split())

    path.write_text(genuine, encoding="utf-8")  # the file changed and its SHA-256 recomputed
    out.write_bytes(out.read_bytes() + b"\0")
    manifest = ops.Manifest.read(path)
    manifest.sha256 = ops._sha256(out)
    manifest.write(path)
    refused = runner.invoke(cli, ["restore", str(out), "--into", empty])
    assert refused.exit_code == 2 and "signature does not match" in " ".join(refused.output.split())

    out.write_bytes(out.read_bytes()[:-1])
    path.write_text(genuine, encoding="utf-8")
    with pytest.raises(ops.BackupError, match="audit key"):  # restored where another key rules
        ops.restore(out, empty, audit_key=b"not the key that signed it")
    _nothing_restored(empty)
    assert ops.restore(out, empty, audit_key=get_settings().audit_key).ok  # the genuine pair


def test_the_file_is_restored_from_the_bytes_that_were_checked(
    populated: str, empty: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Swapping the file on the backup disk right after its hash was checked changes nothing:
    the restore reads the private copy whose bytes were hashed."""
    out = tmp_path / "t.bak"
    ok("backup", "--output", out)
    checked = ops._verified_copy

    def then_swapped(backup_file: Path, copy: Path, sha256: str) -> Path:
        made = checked(backup_file, copy, sha256)
        backup_file.write_bytes(b"swapped after the check")
        return made

    monkeypatch.setattr(ops, "_verified_copy", then_swapped)
    report = ops.restore(out, empty, audit_key=get_settings().audit_key)
    assert report.ok, report.problems
    assert out.read_bytes() == b"swapped after the check"  # the swap did happen


def test_an_unsigned_manifest_is_restored_only_when_asked(populated: str, empty: str, tmp_path: Path) -> None:
    out = tmp_path / "u.bak"
    ok("backup", "--output", out)
    manifest = ops.Manifest.read(ops.manifest_path(out))
    manifest.signature = ""  # as written before manifests were signed
    manifest.write(ops.manifest_path(out))
    refused = runner.invoke(cli, ["restore", str(out), "--into", empty])
    assert refused.exit_code == 2 and "--allow-unsigned" in " ".join(refused.output.split())
    _nothing_restored(empty)
    restored = ok("restore", out, "--into", empty, "--allow-unsigned")
    assert "audit chain intact" in restored and "UNSIGNED MANIFEST" in restored


@pytest.mark.parametrize(
    "damage",
    [
        lambda m: "not json",
        lambda m: m.replace('"engine"', '"engine_x"'),  # an unknown field
        lambda m: m.replace('"signature": "', '"signature": "\u00e9'),  # a non-ASCII signature
    ],
    ids=["not-json", "unknown-field", "non-ascii-signature"],
)
def test_a_malformed_manifest_is_refused_not_a_traceback(
    populated: str, empty: str, tmp_path: Path, damage: Callable[[str], str]
) -> None:
    out = tmp_path / "m.bak"
    ok("backup", "--output", out)
    path = ops.manifest_path(out)
    path.write_text(damage(path.read_text(encoding="utf-8")), encoding="utf-8")
    refused = runner.invoke(cli, ["restore", str(out), "--into", empty])
    assert refused.exit_code == 2 and "malformed" in " ".join(refused.output.split()), refused.output
    _nothing_restored(empty)


def test_restore_verifies_the_audit_chain_with_the_key(populated: str, empty: str, tmp_path: Path) -> None:
    out = tmp_path / "k.bak"
    ok("backup", "--output", out)
    manifest = ops.Manifest.read(ops.manifest_path(out))
    manifest.sign(b"not the key that sealed it")  # signed, but not with the chain's key
    manifest.write(ops.manifest_path(out))
    report = ops.restore(out, empty, audit_key=b"not the key that sealed it")
    assert not report.ok and any("audit edited" in p for p in report.problems)
