"""Alembic migrations on real SQLite and real PostgreSQL, each time on a fresh empty database.

The schema is built only by the migrations (never ``create_all``), so these tests are what
guarantees that the models and the migrations describe the same database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

import app.models  # noqa: F401  (registers every table on the metadata)
from app import migrate
from app.db import NAMING_CONVENTION, build_engine, metadata, utcnow
from app.main import create_app
from app.registry.models import Household, Member
from app.wilayah.models import Kecamatan, Kelurahan
from tests.conftest import new_database, settings_for

PARTIAL_UNIQUE = {
    "uq_household_active_kk": ("household", ["kk_bidx"]),
    "uq_member_active_nik": ("member", ["nik_bidx"]),
    "uq_member_one_head": ("member", ["household_id"]),
}
MODEL_TABLES = set(metadata.tables)


@pytest.fixture
def fresh_url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    """URL of a brand-new, empty (unmigrated) database, dropped after the test."""
    url, drop = new_database(db_kind, tmp_path)
    yield url
    drop()


@pytest.fixture
def engine_for() -> Iterator[Callable[[str], Engine]]:
    """Builds engines on a URL and disposes all of them after the test (before the drop)."""
    made: list[Engine] = []

    def make(url: str) -> Engine:
        eng = build_engine(url)
        made.append(eng)
        return eng

    yield make
    for eng in made:
        eng.dispose()


@pytest.fixture(scope="module")
def migrated(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One fresh database per engine, upgraded to head; read-only for the tests using it."""
    url, drop = new_database(db_kind, tmp_path_factory.mktemp(f"migrated-{db_kind}"))
    migrate.upgrade(url)
    eng = build_engine(url)
    yield eng
    eng.dispose()
    drop()


def snapshot(engine: Engine) -> dict[str, Any]:
    """Tables with their columns, indexes, unique constraints and foreign keys (by name)."""
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        out[table] = {
            "columns": sorted((c["name"], str(c["type"]), c["nullable"])
                              for c in insp.get_columns(table)),
            "pk": insp.get_pk_constraint(table).get("name"),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(table)),
            "uniques": sorted(u["name"] or "" for u in insp.get_unique_constraints(table)),
            "fks": sorted(f["name"] or "" for f in insp.get_foreign_keys(table)),
        }
    return out


class TestReversible:
    def test_upgrade_downgrade_upgrade(self, fresh_url: str,
                                       engine_for: Callable[[str], Engine]) -> None:
        eng = engine_for(fresh_url)
        assert inspect(eng).get_table_names() == [], "new_database must start empty"

        migrate.upgrade(fresh_url)
        first = snapshot(eng)
        assert set(first) == MODEL_TABLES | {"alembic_version"}
        assert migrate.current_revision(eng) == migrate.head_revision()

        migrate.downgrade(fresh_url, "base")
        eng.dispose()  # drop cached connections/reflection state
        left = set(inspect(eng).get_table_names())
        assert left <= {"alembic_version"}, f"downgrade base left tables behind: {left}"
        assert migrate.current_revision(eng) is None

        migrate.upgrade(fresh_url)
        eng.dispose()
        second = snapshot(eng)
        assert set(second) == set(first)
        assert second == first, "re-upgrading after a full downgrade built a different schema"
        assert migrate.current_revision(eng) == migrate.head_revision()

    def test_upgrade_head_is_idempotent(self, fresh_url: str,
                                        engine_for: Callable[[str], Engine]) -> None:
        migrate.upgrade(fresh_url)
        eng = engine_for(fresh_url)
        before = snapshot(eng)
        migrate.upgrade(fresh_url)  # already at head: must be a no-op, not an error
        eng.dispose()
        assert snapshot(eng) == before


class TestModelsMatchMigrations:
    def test_autogenerate_finds_no_differences(self, migrated: Engine) -> None:
        with migrated.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, metadata)
        assert diff == [], f"models and migrations disagree; autogenerate would emit: {diff}"

    def test_every_model_table_exists(self, migrated: Engine) -> None:
        assert set(inspect(migrated).get_table_names()) == MODEL_TABLES | {"alembic_version"}


class TestNamingConvention:
    def test_every_constraint_and_index_is_named_by_the_convention(self,
                                                                   migrated: Engine) -> None:
        insp = inspect(migrated)
        bad: list[str] = []
        seen = 0
        for table in insp.get_table_names():
            if table == "alembic_version":  # Alembic's own table, not ours
                continue
            pk = insp.get_pk_constraint(table)
            named = [("pk", pk.get("name"), f"pk_{table}")]
            named += [("fk", fk.get("name"), f"fk_{table}_") for fk in insp.get_foreign_keys(table)]
            named += [("uq", uq.get("name"), f"uq_{table}_")
                      for uq in insp.get_unique_constraints(table)]
            named += [("ck", ck.get("name"), f"ck_{table}_")
                      for ck in insp.get_check_constraints(table)]
            for ix in insp.get_indexes(table):
                prefix = "uq_" if ix["unique"] else "ix_"
                named.append(("ix", ix["name"], prefix))
            for kind, name, expected in named:
                seen += 1
                exact = kind == "pk"
                ok = name == expected if exact else bool(name) and str(name).startswith(expected)
                if not ok:
                    bad.append(f"{table}: {kind} named {name!r}, expected {expected}...")
        assert seen > 20, "reflection found suspiciously few constraints"
        assert bad == [], "constraints/indexes outside the naming convention:\n" + "\n".join(bad)

    def test_metadata_carries_the_convention(self) -> None:
        assert metadata.naming_convention == NAMING_CONVENTION
        assert {"pk", "fk", "uq", "ix"} <= set(NAMING_CONVENTION)

    def test_foreign_key_names_name_both_tables(self, migrated: Engine) -> None:
        insp = inspect(migrated)
        fks = insp.get_foreign_keys("member")
        assert sorted(f["name"] for f in fks) == ["fk_member_household_id_household",
                                                  "fk_member_merged_into_id_member"]


class TestPartialUniqueIndexes:
    def test_exist_unique_and_partial(self, migrated: Engine, db_kind: str) -> None:
        insp = inspect(migrated)
        for name, (table, columns) in PARTIAL_UNIQUE.items():
            found = {i["name"]: i for i in insp.get_indexes(table)}
            assert name in found, f"{name} missing on {table}"
            index = found[name]
            assert index["unique"], f"{name} must be UNIQUE"
            assert index["column_names"] == columns
            where = index.get("dialect_options", {}).get(f"{db_kind}_where")
            assert where is not None, f"{name} must be a partial index (WHERE clause)"
            assert "deleted_at IS NULL" in str(where).replace("(", "").replace(")", "")

    def test_enforced_only_for_active_rows(self, fresh_url: str,
                                           engine_for: Callable[[str], Engine]) -> None:
        migrate.upgrade(fresh_url)
        eng = engine_for(fresh_url)
        with Session(eng) as s:
            s.add(Kecamatan(code="82.71.07", bps_code="8271013", name="Pulau Hiri"))
            s.add(Kelurahan(code="82.71.07.1001", kecamatan_code="82.71.07", name="Faudu"))
            s.commit()

        def household(kk: str, *, deleted: bool = False) -> Household:
            return Household(kk_number=kk, kelurahan_code="82.71.07.1001", source="web",
                             verification_status="self_reported",
                             deleted_at=utcnow() if deleted else None)

        def member(hh: uuid.UUID, nik: str, relation: str, *, deleted: bool = False) -> Member:
            return Member(household_id=hh, nik=nik, full_name="X", sex="male",
                          relation=relation, deleted_at=utcnow() if deleted else None)

        with Session(eng) as s:
            old = household("8271071203150001", deleted=True)
            new = household("8271071203150001")  # same KK, the old one is soft-deleted
            s.add_all([old, new])
            s.flush()
            s.add(member(old.id, "8271071705800001", "head", deleted=True))
            s.add(member(new.id, "8271071705800001", "head"))  # same NIK, old one deleted
            s.commit()
            new_id = new.id

        violations = {
            "uq_household_active_kk": lambda s: s.add(household("8271071203150001")),
            "uq_member_active_nik": lambda s: s.add(member(new_id, "8271071705800001", "child")),
            "uq_member_one_head": lambda s: s.add(member(new_id, "8271071705800002", "head")),
        }
        for name, add in violations.items():
            with Session(eng) as s:
                add(s)
                with pytest.raises(IntegrityError) as err:
                    s.flush()
                s.rollback()
            table, columns = PARTIAL_UNIQUE[name]
            # PostgreSQL names the index; SQLite names the table.column it guards
            assert name in str(err.value) or f"{table}.{columns[0]}" in str(err.value), (
                f"expected a violation of {name}, got: {err.value}")


class TestReadiness:
    def test_not_ready_until_migrated(self, fresh_url: str) -> None:
        application = create_app(settings_for(fresh_url))
        try:
            with TestClient(application) as client:
                r = client.get("/ready")
                assert r.status_code == 503, r.text
                body = r.json()
                assert body["status"] == "not_ready"
                assert body["database"] == "ok"
                assert body["migration"] is None
                assert body["expected_migration"] == migrate.head_revision()

                migrate.upgrade(fresh_url)
                r = client.get("/ready")
                assert r.status_code == 200, r.text
                assert r.json() == {"status": "ready", "database": "ok",
                                    "migration": migrate.head_revision(),
                                    "expected_migration": migrate.head_revision()}
        finally:
            application.state.engine.dispose()

    def test_not_ready_after_downgrade(self, fresh_url: str) -> None:
        migrate.upgrade(fresh_url)
        application = create_app(settings_for(fresh_url))
        try:
            with TestClient(application) as client:
                assert client.get("/ready").status_code == 200
                migrate.downgrade(fresh_url, "base")
                r = client.get("/ready")
                assert r.status_code == 503 and r.json()["status"] == "not_ready"
        finally:
            application.state.engine.dispose()

    def test_ready_while_another_transaction_writes(self, fresh_url: str,
                                                     engine_for: Callable[[str], Engine]) -> None:
        """A probe only reads: an open write transaction elsewhere must not make it fail."""
        migrate.upgrade(fresh_url)
        application = create_app(settings_for(fresh_url, sqlite_busy_timeout_ms=500))
        writer = engine_for(fresh_url)
        try:
            with writer.connect() as conn, conn.begin():
                conn.execute(Kecamatan.__table__.insert().values(  # type: ignore[attr-defined]
                    code="82.71.07", bps_code="8271013", name="Pulau Hiri"))
                with TestClient(application) as client:
                    r = client.get("/ready")
                assert r.status_code == 200, (
                    f"/ready failed while another connection held a write transaction: {r.text}. "
                    "On SQLite every transaction starts with BEGIN IMMEDIATE (app/db.py "
                    "_on_begin), so the read-only probe waits for the write lock and reports "
                    "the database 'unreachable' after busy_timeout")
        finally:
            application.state.engine.dispose()

    def test_unreachable_database_is_not_ready(self, db_kind: str, tmp_path: Path) -> None:
        if db_kind == "sqlite":
            url = f"sqlite:///{tmp_path}"  # a directory: SQLite cannot open it
        else:
            url, drop = new_database(db_kind, tmp_path)
            drop()  # the database no longer exists
        application = create_app(settings_for(url))
        try:
            with TestClient(application) as client:
                r = client.get("/ready")
            assert r.status_code == 503
            body = r.json()
            assert body["status"] == "not_ready"
            assert body["database"].startswith("unreachable:"), body
            assert body["migration"] is None
        finally:
            application.state.engine.dispose()
