"""Identity check against Dukcapil: extract reading, comparison, registry update, CLI."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app.audit.models import AuditEntry
from app.cli import cli
from app.db import build_engine, new_session
from app.reconcile import dukcapil_cli
from app.reconcile.dukcapil import (
    STATUSES,
    ExtractFileAdapter,
    check_households,
    compare,
    name_agreement,
)
from app.reconcile.dukcapil_extract import DukcapilPerson, read_extract, write_extract
from app.reconcile.records import CsvInputError
from app.reconcile.store import DukcapilCheck
from app.registry import service as registry
from app.registry.models import FieldTask, Household, Member
from app.registry.schemas import MemberUpdate
from app.sync.models import SyncChange
from tests import factories as f
from tests.reconcile_db.dukcapil_fixtures import (
    ENUMERATOR,
    PRINCIPAL,
    SMS,
    adapter_for,
    as_dukcapil,
    members_of,
    register,
    write_extract_for,
)

ACTOR = ENUMERATOR.__class__(user_id=None, name="dukcapil-test", channel="import")
BIRTH = date(1980, 5, 17)


@dataclasses.dataclass
class Person:
    """A registry member as the comparison reads it."""

    nik: str | None = f.nik(BIRTH, "male", serial=9001)
    full_name: str = "Abdul Hamid"
    sex: str = "male"
    birth_date: date | None = BIRTH
    alive: bool = True


def dukcapil(**kw: Any) -> DukcapilPerson:
    base = {"nik": Person().nik, "full_name": "ABDUL HAMID", "birth_date": BIRTH, "sex": "male"}
    return DukcapilPerson(**{**base, **kw})


# --- pure: names and comparison ----------------------------------------------------------

class TestNameAgreement:
    @pytest.mark.parametrize(("registry_name", "dukcapil_name", "level"), [
        ("H. Moh. Joesoef", "MUHAMMAD YUSUF", "spelling"),
        ("Hj. Siti Aminah, S.Pd.", "SITI AMINAH", "exact"),
        ("Hamid Abdul", "ABDUL HAMID", "exact"),
        ("Tjahjono Djafar", "CAHYONO YAFAR", "spelling"),
        ("M. Yusuf", "MUHAMMAD YUSUF", "initial"),
        ("Abdul Hamit", "ABDUL HAMID", "similar"),
        ("Fransiskus Lamba", "FRANSISKUS XAVERIUS LAMBA", "partial"),
    ])
    def test_agreeing_names(self, registry_name: str, dukcapil_name: str, level: str) -> None:
        got = name_agreement(registry_name, dukcapil_name)
        assert got.level == level and got.agrees

    @pytest.mark.parametrize(("registry_name", "dukcapil_name"), [
        ("Hasan Ali", "HUSAIN ALI"),          # two different names
        ("Yusuf", "MUHAMMAD YUSUF"),          # only a very common name left: not enough
        ("Ridwan Kamarullah", "ABDUL HAMID"),
    ])
    def test_different_names(self, registry_name: str, dukcapil_name: str) -> None:
        assert name_agreement(registry_name, dukcapil_name).level == "different"


class TestCompare:
    def test_matched(self) -> None:
        result = compare(Person(full_name="H. Abd. Hamid"), dukcapil())
        assert result.status == "matched" and result.agrees
        assert result.details["differences"] == [] and result.details["name"]["level"] == "exact"

    def test_no_nik_and_unknown(self) -> None:
        assert compare(Person(nik=None), dukcapil()).status == "no_nik"
        unknown = compare(Person(), None)
        assert unknown.status == "nik_unknown" and not unknown.agrees
        assert unknown.details["reason_id"] == "NIK tidak ditemukan di Dukcapil"

    @pytest.mark.parametrize(("change", "status", "registry_value", "dukcapil_value"), [
        ({"full_name": "RIDWAN KAMARULLAH"}, "name_differs", "Abdul Hamid", "RIDWAN KAMARULLAH"),
        ({"birth_date": date(1981, 5, 17)}, "birth_date_differs", "1980-05-17", "1981-05-17"),
        ({"sex": "female"}, "sex_differs", "male", "female"),
    ])
    def test_each_difference_names_both_values(self, change: dict[str, Any], status: str,
                                               registry_value: str, dukcapil_value: str) -> None:
        result = compare(Person(), dukcapil(**change))
        assert result.status == status and not result.agrees
        (difference,) = result.details["differences"]
        assert (difference["registry"], difference["dukcapil"]) == (registry_value, dukcapil_value)
        assert difference["reason_id"] and difference["reason"]

    def test_precedence_and_every_difference_kept(self) -> None:
        both = compare(Person(), dukcapil(full_name="RIDWAN KAMARULLAH", sex="female",
                                          birth_date=date(1970, 1, 1)))
        assert both.status == "name_differs"
        assert [d["field"] for d in both.details["differences"]] == ["full_name", "birth_date", "sex"]
        dead = compare(Person(), dukcapil(deceased=True, death_date=date(2025, 3, 1), sex="female"))
        assert dead.status == "deceased" and not dead.agrees
        assert dead.details["dukcapil_death_date"] == "2025-03-01"
        assert [d["field"] for d in dead.details["differences"]] == ["sex"]

    def test_a_death_the_registry_already_records_agrees(self) -> None:
        result = compare(Person(alive=False), dukcapil(deceased=True))
        assert result.status == "deceased" and result.agrees

    def test_nik_is_masked_in_details(self) -> None:
        nik = Person().nik
        assert nik is not None
        for result in (compare(Person(), dukcapil(kk_number="8271071203150001")), compare(Person(), None)):
            text = repr(result.details)
            assert nik not in text and "8271071203150001" not in text
            assert result.details["nik"] == nik[:4] + "*" * 8 + nik[-4:]


# --- pure: reading an extract -------------------------------------------------------------

def _write(tmp_path: Path, text: str, name: str = "extract.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


NIK1 = f.nik(BIRTH, "male", serial=9101)
NIK2 = f.nik(date(1984, 2, 3), "female", serial=9102)
SIAK = "NIK,NO_KK,NAMA_LGKP,TMPT_LHR,TGL_LHR,JENIS_KLMIN,STAT_HIDUP,TGL_KEMATIAN,AGAMA\n"


class TestReadExtract:
    def test_siak_header_and_values(self, tmp_path: Path) -> None:
        path = _write(tmp_path, SIAK
                      + f"{NIK1},8271071203150001,ABDUL HAMID,TERNATE,17-05-1980,LAKI-LAKI,HIDUP,,ISLAM\n"
                      + f"'{NIK2},,SITI  HAMID,,1984-02-03,PEREMPUAN,MATI,01/03/2025,ISLAM\n\n")
        one, two = read_extract(path)
        assert one == DukcapilPerson(nik=NIK1, full_name="ABDUL HAMID", birth_date=BIRTH, sex="male",
                                     kk_number="8271071203150001", birth_place="TERNATE")
        assert (two.nik, two.full_name, two.deceased, two.death_date) == (
            NIK2, "SITI HAMID", True, date(2025, 3, 1))

    def test_english_header_semicolons_and_bom(self, tmp_path: Path) -> None:
        path = tmp_path / "e.csv"
        path.write_bytes(("\ufeffnik;full_name;birth_date;sex;death_date\n"
                          f"{NIK1};Abdul Hamid;1980-05-17;L;2024-01-02\n").encode())
        (person,) = read_extract(path)
        assert (person.nik, person.sex, person.deceased) == (NIK1, "male", True)

    def test_write_then_read(self, tmp_path: Path) -> None:
        persons = [dukcapil(nik=NIK1, kk_number="8271071203150001", birth_place="TERNATE"),
                   dukcapil(nik=NIK2, full_name="SITI HAMID", sex="female", birth_date=date(1984, 2, 3),
                            deceased=True, death_date=date(2025, 3, 1))]
        write_extract(tmp_path / "x.csv", persons)
        assert read_extract(tmp_path / "x.csv") == persons

    @pytest.mark.parametrize(("row", "column", "message_id"), [
        ("12345,,A,,17-05-1980,L,HIDUP,", "NIK", "bukan 16 angka"),
        ("8.27107E+15,,A,,17-05-1980,L,HIDUP,", "NIK", "diubah menjadi angka oleh spreadsheet"),
        (f"{NIK1},,A,,17-05-1980,L,HIDUP,", "NIK", "NIK muncul dua kali (pertama di baris 2)"),
        (f"{NIK2},,,,17-05-1980,L,HIDUP,", "NAMA_LGKP", "NAMA_LGKP kosong"),
        (f"{NIK2},,A,,31-02-1980,L,HIDUP,", "TGL_LHR", "tidak terbaca"),
        (f"{NIK2},,A,,17-05-2999,L,HIDUP,", "TGL_LHR", "tidak mungkin"),
        (f"{NIK2},,A,,17-05-1980,X,HIDUP,", "JENIS_KLMIN", "jenis kelamin 'X' tidak dikenal"),
        (f"{NIK2},,A,,17-05-1980,P,2,", "STAT_HIDUP", "status '2' tidak dikenal"),
        (f"{NIK2},,A,,17-05-1980,P,HIDUP,01-01-2020", "STAT_HIDUP", "status HIDUP tetapi"),
        (f"{NIK2},,A,,17-05-1980,P,,01-01-1970", "TGL_KEMATIAN", "sebelum tanggal lahir"),
        (f"{NIK2},123,A,,17-05-1980,P,HIDUP,", "NO_KK", "KK '123' bukan 16 angka"),
    ])
    def test_bad_row_named_by_row_and_column(self, tmp_path: Path, row: str, column: str,
                                             message_id: str) -> None:
        header = "NIK,NO_KK,NAMA_LGKP,TMPT_LHR,TGL_LHR,JENIS_KLMIN,STAT_HIDUP,TGL_KEMATIAN\n"
        path = _write(tmp_path, header + f"{NIK1},,ABDUL HAMID,,17-05-1980,L,HIDUP,\n" + row + "\n")
        with pytest.raises(CsvInputError) as err:
            read_extract(path)
        assert (err.value.row, err.value.column) == (3, column)
        assert err.value.message_id.startswith(f"baris 3, kolom {column}: ")
        assert message_id in err.value.message_id
        assert err.value.message.startswith(f"row 3, column {column}: ")

    @pytest.mark.parametrize(("text", "message_id"), [
        ("NIK,NAMA_LGKP,JENIS_KLMIN\n", "baris 1: baris judul tidak punya kolom TGL_LHR (birth_date)"),
        ("NIK,NO_NIK,NAMA_LGKP,TGL_LHR,JENIS_KLMIN\n", "baris 1: kolom 'NIK' dan 'NO_NIK'"),
        ("NIK,NAMA_LGKP,TGL_LHR,JENIS_KLMIN\n", "berkas ekstrak tidak berisi data penduduk"),
    ])
    def test_bad_files(self, tmp_path: Path, text: str, message_id: str) -> None:
        with pytest.raises(CsvInputError) as err:
            read_extract(_write(tmp_path, text))
        assert err.value.message_id.startswith(message_id)

    def test_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "latin.csv"
        path.write_bytes(f"NIK,NAMA_LGKP,TGL_LHR,JENIS_KLMIN\n{NIK1},J\xd6RG,17-05-1980,L\n".encode("latin-1"))
        with pytest.raises(CsvInputError, match="UTF-8"):
            read_extract(path)


# --- the registry side (SQLite and PostgreSQL) ---------------------------------------------

def _audit_count(db: Session) -> int:
    return int(db.exec(select(func.count()).select_from(AuditEntry)).one())


def _checks(db: Session, household_id: uuid.UUID) -> dict[uuid.UUID, DukcapilCheck]:
    stmt = select(DukcapilCheck).where(DukcapilCheck.household_id == household_id)
    return {c.member_id: c for c in db.exec(stmt.execution_options(populate_existing=True))}


def _reload(db: Session, household_id: uuid.UUID) -> Household:
    stmt = select(Household).where(Household.id == household_id)
    return db.exec(stmt.execution_options(populate_existing=True)).one()


class TestCheckHouseholds:
    def test_every_status_is_written(self, db: Session) -> None:
        kinds = ["unknown", "name", "birth_date", "sex", "deceased"]
        members = [f.member("head")] + [
            f.member("child", birth=date(2000 + i, 1, 1), full_name=f"Anak Ke {i}") for i in range(5)]
        members.append(f.member("child", birth=date(2016, 1, 1), nik=None, full_name="Bayi Hamid"))
        h = register(db, f.household(members=members))
        ms = members_of(db, h.id)
        mismatches = dict(zip([m.id for m in ms[1:6]], kinds, strict=True))
        summary = check_households(db, adapter_for(db, [h.id], mismatches), [h.id], ACTOR)
        checks = _checks(db, h.id)
        got = {m.full_name: checks[m.id].status for m in ms}
        assert sorted(got.values()) == sorted(STATUSES)
        assert summary.statuses == {s: 1 for s in STATUSES}
        assert (summary.households, summary.members, summary.written) == (1, 7, 7)
        assert summary.promoted == [] and summary.demoted == []
        dead = next(m for m in ms if checks[m.id].status == "deceased")
        assert dead.alive is True  # flagged only: the registry's alive is not changed
        assert checks[dead.id].details["dukcapil_death_date"] == "2025-03-01"
        assert all(c.source == "test-extract" for c in checks.values())

    def test_old_spelling_matches_and_moves_to_dukcapil_matched(self, db: Session) -> None:
        h = register(db, f.household(members=[
            f.member("head", full_name="H. Moh. Joesoef"),
            f.member("spouse", "female", date(1984, 2, 3)),
            f.member("child", birth=date(2017, 1, 5), nik=None, full_name="Anak Tanpa NIK")]))
        head = members_of(db, h.id)[0]
        db.commit()
        audit_before, version = _audit_count(db), h.version
        summary = check_households(db, adapter_for(db, [h.id], {head.id: "old_spelling"}), None, ACTOR)
        assert summary.promoted == [h.id]
        db.commit()
        h = _reload(db, h.id)
        assert (h.verification_status, h.version) == ("dukcapil_matched", version + 1)
        assert _checks(db, h.id)[head.id].details["name"]["level"] == "spelling"
        entries = db.exec(select(AuditEntry).where(AuditEntry.household_id == h.id,
                                                   col(AuditEntry.id) > 0)
                          .order_by(col(AuditEntry.id))).all()[-2:]
        assert _audit_count(db) == audit_before + 2
        assert (entries[0].entity_type, entries[0].changes, entries[0].channel) == (
            "household", {"verification_status": ["field_verified", "dukcapil_matched"]}, "import")
        assert entries[1].entity_type == "dukcapil_check"
        assert "Padan Dukcapil" in entries[1].changes["reason"][1]
        change = db.exec(select(SyncChange).where(SyncChange.entity_id == h.id)).one()
        assert change.version == h.version  # tablets pull the new status

    def test_self_reported_household_is_not_promoted(self, db: Session) -> None:
        h = register(db, f.household(), actor=SMS)
        summary = check_households(db, adapter_for(db, [h.id]), [h.id], ACTOR)
        assert summary.statuses == {"matched": 3} and summary.agree_unverified == 1
        assert _reload(db, h.id).verification_status == "self_reported"

    def test_head_without_nik_blocks_and_failing_member_demotes(self, db: Session) -> None:
        no_nik = register(db, f.household(members=[f.member("head", nik=None)]))
        h = register(db, f.household())
        check_households(db, adapter_for(db, [no_nik.id, h.id]), [no_nik.id, h.id], ACTOR)
        assert _reload(db, no_nik.id).verification_status == "field_verified"
        assert _reload(db, h.id).verification_status == "dukcapil_matched"
        spouse = members_of(db, h.id)[1]
        summary = check_households(db, adapter_for(db, [h.id], {spouse.id: "birth_date"}), [h.id], ACTOR)
        assert summary.demoted == [h.id] and summary.written == 1 and summary.unchanged == 2
        h = _reload(db, h.id)
        assert h.verification_status == "field_verified"
        last = db.exec(select(AuditEntry).where(AuditEntry.household_id == h.id)
                       .order_by(col(AuditEntry.id).desc())).first()
        assert last is not None and last.entity_type == "dukcapil_check"
        reason = last.changes["reason"][1]
        assert reason.startswith("Tidak lagi padan Dukcapil") and "tanggal lahir berbeda" in reason
        assert spouse.nik not in reason
        assert last.changes["verification_status"] == ["dukcapil_matched", "field_verified"]

    def test_deceased_head_blocks_until_the_registry_records_the_death(self, db: Session) -> None:
        h = register(db, f.household())
        head = members_of(db, h.id)[0]
        adapter = adapter_for(db, [h.id], {head.id: "deceased"})
        first = check_households(db, adapter, [h.id], ACTOR)
        assert _reload(db, h.id).verification_status == "field_verified"
        assert _checks(db, h.id)[head.id].status == "deceased"
        # not applied: a visit for the kelurahan's enumerator, once
        (task,) = db.exec(select(FieldTask).where(FieldTask.household_id == h.id)).all()
        assert (task.kind, task.status, first.death_visits) == ("verify_death", "open", 1)
        assert "Kepala keluarga" in task.note and (head.nik or "-") not in task.note
        assert check_households(db, adapter, [h.id], ACTOR).death_visits == 0
        # the enumerator records the death: the next check closes the visit and agrees
        registry.update_member(session=db, member_id=head.id, actor=ENUMERATOR, principal=PRINCIPAL,
                               data=MemberUpdate(version=head.version, alive=False,
                                                 death_date=date(2025, 3, 1)))
        check_households(db, adapter, [h.id], ACTOR)
        db.refresh(task)
        assert task.status == "done"

    def test_second_run_changes_nothing(self, db: Session) -> None:
        households = [register(db, f.household()) for _ in range(3)]
        ids = [h.id for h in households]
        first_member = members_of(db, ids[0])[0]
        adapter = adapter_for(db, ids, {first_member.id: "name"})
        first = check_households(db, adapter, ids, ACTOR)
        assert (len(first.promoted), first.written) == (2, 9)
        db.commit()
        audit_before = _audit_count(db)
        versions = {h.id: _reload(db, h.id).version for h in households}
        checked_at = {c.member_id: c.checked_at for hid in ids for c in _checks(db, hid).values()}
        second = check_households(db, adapter, ids, ACTOR)
        db.commit()
        assert (second.written, second.unchanged, second.promoted, second.demoted) == (0, 9, [], [])
        assert _audit_count(db) == audit_before
        assert {h.id: _reload(db, h.id).version for h in households} == versions
        assert {c.member_id: c.checked_at for hid in ids for c in _checks(db, hid).values()} == checked_at

    def test_deleted_member_loses_its_check_and_deleted_household_is_skipped(self, db: Session) -> None:
        h = register(db, f.household())
        gone = register(db, f.household())
        child = members_of(db, h.id)[2]
        check_households(db, adapter_for(db, [h.id, gone.id]), [h.id, gone.id], ACTOR)
        registry.delete_member(session=db, member_id=child.id, version=None, actor=ENUMERATOR,
                               principal=PRINCIPAL)
        registry.delete_household(session=db, household_id=gone.id, version=None, actor=ENUMERATOR,
                                  principal=PRINCIPAL)
        summary = check_households(db, adapter_for(db, [h.id]), [h.id, gone.id], ACTOR)
        assert summary.skipped == 1 and summary.members == 2
        assert child.id not in _checks(db, h.id)


# --- the CLI, end to end on a migrated database ----------------------------------------------

runner = CliRunner()


_BOX = re.compile(r"[\u2500-\u257f]")


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return " ".join(_BOX.sub(" ", result.output).split())  # the tables' lines gone


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dukcapil_cli.console, "width", 200)  # no wrapped table cells


class TestCli:
    @pytest.mark.usefixtures("wide_console")
    def test_check_end_to_end(self, database_url: str, tmp_path: Path) -> None:
        _run("migrate")
        _run("seed")
        engine = build_engine(database_url)
        try:
            with new_session(engine) as s:
                hiri = [register(s, f.household()).id for _ in range(2)]
                moti = register(s, f.household(f.MOTI_KELURAHAN)).id
                head = members_of(s, hiri[0])[0]
                s.commit()
                extract = write_extract_for(tmp_path / "dukcapil.csv", s, [*hiri, moti], {head.id: "sex"})
                bad = tmp_path / "bad.csv"
                bad.write_text(extract.read_text().replace(head.nik or "", "8271", 1))

            out = _run("dukcapil", "check", "--extract", str(bad), code=2)
            assert "baris 2, kolom NIK" in out and "row 2, column NIK" in out

            out = _run("dukcapil", "check", "--extract", str(extract), "--kecamatan", "82.71.99", code=2)
            assert "tidak ada" in out

            out = _run("dukcapil", "check", "--extract", str(extract), "--dry-run")
            assert "dry run" in out

            with new_session(engine) as s:  # a refused file and a dry run apply nothing
                assert s.exec(select(func.count()).select_from(DukcapilCheck)).one() == 0

            out = _run("dukcapil", "check", "--extract", str(extract), "--kecamatan", "82.71.07")
            assert "keluarga diperiksa / households checked 2" in out
            assert "menjadi padan Dukcapil / moved to dukcapil_matched 1" in out
            assert "sex_differs jenis kelamin berbeda dengan Dukcapil / sex differs from Dukcapil 1" in out

            out = _run("dukcapil", "check", "--extract", str(extract))
            assert "keluarga diperiksa / households checked 3" in out
            assert "hasil tetap / results unchanged 6" in out

            with new_session(engine) as s:
                statuses = {hid: s.get(Household, hid).verification_status  # type: ignore[union-attr]
                            for hid in [*hiri, moti]}
                assert statuses == {hiri[0]: "field_verified", hiri[1]: "dukcapil_matched",
                                    moti: "dukcapil_matched"}
                rows = s.exec(select(DukcapilCheck)).all()
                assert len(rows) == 9 and len({r.source for r in rows}) == 1
                assert rows[0].source.startswith("extract:dukcapil.csv#")

            out = _run("dukcapil", "check", "--extract", str(extract))
            assert "hasil baru atau berubah / results new or changed 0" in out
            assert "menjadi padan Dukcapil / moved to dukcapil_matched 0" in out
        finally:
            engine.dispose()


def test_member_protocol_fits() -> None:
    """A registry Member is what compare() reads (checked here as mypy would not run on tests)."""
    m = Member(household_id=uuid.uuid4(), nik=Person().nik, full_name="Abdul Hamid", sex="male",
               birth_date=BIRTH, relation="head")
    assert compare(m, as_dukcapil(m, None)).status == "matched"
    assert ExtractFileAdapter([dukcapil()], source="x").lookup(Person().nik or "") == dukcapil()
