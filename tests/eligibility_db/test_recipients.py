"""Recipient lists (issue 7 part 5): import through the desil machinery, exclusion and
inclusion errors with the decisions' reasons, per kecamatan and kelurahan, and the API."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from typer.testing import CliRunner, Result

from app.auth.models import Role
from app.db import utcnow
from app.eligibility import desil_service, recipient_service, rules_service, scoring
from app.eligibility import recipients_cli as recipients_cli_module
from app.eligibility.desil_file import read_desil_file
from app.eligibility.keyed_match import write_report
from app.eligibility.recipient_file import read_recipient_file
from app.eligibility.recipient_repository import ErrorKind
from app.eligibility.recipients_cli import recipients_cli
from app.eligibility.store import EligibilityDecision, ProgrammeRecipient, RecipientImport
from app.registry.models import Household, Member
from tests import factories as f
from tests.conftest import Account
from tests.eligibility_db.helpers import ACTOR, Family, family, write_csv, write_xlsx, young_family

DAY = date(2026, 6, 1)
PERIOD = "2026-Q1"


def _active(db: Session) -> None:
    assert rules_service.ensure_active(session=db, actor=ACTOR) is not None


def _import(
    db: Session, path: Path, programme: str = "pkh", **kw: bool
) -> recipient_service.RecipientImportResult:
    unit = recipient_service.programme_unit(session=db, programme_id=programme)
    data = read_recipient_file(path, period=PERIOD, unit=unit)
    return recipient_service.import_recipients(
        session=db, data=data, programme_id=programme, actor=ACTOR, **kw
    )


def _listed(db: Session, programme: str = "pkh") -> set[tuple[object, str]]:
    rows = db.exec(select(ProgrammeRecipient).where(ProgrammeRecipient.programme_id == programme)).all()
    return {(r.household_id, r.subject) for r in rows}


class TestImport:
    def test_csv_and_xlsx_by_nik_or_kk_and_reimport(self, db: Session, tmp_path: Path) -> None:
        _active(db)
        a, b, c = family(db), family(db), family(db)
        path = write_csv(
            tmp_path / "pkh.csv", [["NIK_KPM", "NO_KK", "NAMA"], [a.head_nik, a.kk, "A"], ["", b.kk, "B"]]
        )
        result = _import(db, path)
        assert result.status == "imported" and result.written == 2 and result.report == []
        assert _listed(db) == {(a.id, "family"), (b.id, "family")}
        assert _import(db, path).status == "already_imported"  # same file: nothing
        xlsx = write_xlsx(
            tmp_path / "bank.xlsx",
            [["DAFTAR KPM PKH"], ["NIK", "NOKK"], [b.head_nik, b.kk], [c.head_nik, ""]],
        )
        again = _import(db, xlsx)  # another tranche: b already listed, c added
        assert (again.written, again.unchanged) == (1, 1)
        assert _listed(db) == {(a.id, "family"), (b.id, "family"), (c.id, "family")}
        assert len(db.exec(select(RecipientImport)).all()) == 2

    def test_person_programme_by_member_nik_sharing_a_kk(self, db: Session, tmp_path: Path) -> None:
        _active(db)
        a = family(db)
        people = db.exec(select(Member).where(Member.household_id == a.id)).all()
        rows = [["NIK_PESERTA", "NO_KK"]] + [[m.nik, a.kk] for m in people[:2]] + [["", a.kk]]
        result = _import(db, write_csv(tmp_path / "pbi.csv", rows), "pbi_jk", accept_valid=True)
        assert result.written == 2
        assert _listed(db, "pbi_jk") == {(a.id, str(m.id)) for m in people[:2]}
        assert [line.status for line in result.report] == ["unmatched"]
        assert "needs the recipient's NIK" in result.report[0].reason_en

    def test_bad_rows_refuse_the_file_unless_accept_valid(self, db: Session, tmp_path: Path) -> None:
        _active(db)
        a = family(db)
        path = write_csv(
            tmp_path / "bad.csv", [["NIK", "NO_KK"], [a.head_nik, a.kk], ["123", ""], [a.head_nik, ""]]
        )
        result = _import(db, path)
        assert result.status == "refused" and _listed(db) == set()
        reasons = " ".join(line.reason_en for line in result.report)
        assert "duplicate row" in reasons and all(line.status == "invalid" for line in result.report)
        assert _import(db, path, accept_valid=True).written == 1

    def test_unmatched_and_ambiguous_rows_are_reported(self, db: Session, tmp_path: Path) -> None:
        _active(db)
        a, b = family(db), family(db)
        stranger = f.nik(date(1970, 1, 1))
        path = write_csv(tmp_path / "r.csv", [["NIK", "NO_KK"], [a.head_nik, b.kk], [stranger, ""]])
        result = _import(db, path)
        assert result.written == 0 and [line.status for line in result.report] == ["ambiguous", "unmatched"]
        out = tmp_path / "report.csv"
        write_report(out, result.report, value_header=None)
        lines = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
        assert lines[0] == ["baris/row", "status", "NIK", "NO_KK", "alasan", "reason"]
        assert "dua keluarga berbeda" in lines[1][4] and "two different families" in lines[1][5]
        assert stranger not in out.read_text()

    def test_unknown_programme_is_refused(self, db: Session, tmp_path: Path) -> None:
        _active(db)
        with pytest.raises(recipient_service.UnknownProgramme, match="not in the active rule set"):
            recipient_service.programme_unit(session=db, programme_id="kartu_prakerja")
        data = read_recipient_file(
            write_csv(tmp_path / "x.csv", [["NIK"], [f.nik(date(1980, 1, 1))]]), period=PERIOD, unit="family"
        )
        with pytest.raises(recipient_service.UnknownProgramme):
            recipient_service.import_recipients(session=db, data=data, programme_id="nope", actor=ACTOR)
        assert db.exec(select(RecipientImport)).all() == []


def _scenario(db: Session, tmp_path: Path) -> dict[str, Family]:
    """poor (desil 3, not receiving), rich (desil 8, receiving), dead (head deceased, receiving),
    fine (desil 2, receiving), moti (desil 3 in Moti, not receiving)."""
    dead_members = [
        f.member("head", occupation="fisher", alive=False, death_date="2026-01-10"),
        f.member("spouse", "female", date(1990, 2, 3), occupation="housekeeping"),
        f.member("child", "male", date(2023, 4, 5), full_name="Rahmat Hamid", occupation="not_working"),
    ]
    fams = {
        "poor": young_family(db),
        "rich": young_family(db),
        "dead": family(db, members=dead_members, asset_car=False),
        "fine": young_family(db),
        "moti": young_family(db, f.MOTI_KELURAHAN),
    }
    desil = {"poor": 3, "rich": 8, "dead": 3, "fine": 2, "moti": 3}
    path = write_csv(
        tmp_path / "d.csv", [["NIK", "DESIL"]] + [[fams[k].head_nik, v] for k, v in desil.items()]
    )
    desil_service.import_desil(session=db, data=read_desil_file(path, period=PERIOD), actor=ACTOR)
    record = rules_service.ensure_active(session=db, actor=ACTOR)
    assert record is not None
    scoring.score_all(session=db, record=record, reference_date=DAY, actor=ACTOR)
    rows = [["NO_KK"]] + [[fams[k].kk] for k in ("rich", "dead", "fine")]
    assert _import(db, write_csv(tmp_path / "pkh.csv", rows)).written == 3
    db.commit()
    return fams


class TestErrors:
    def test_exclusion_and_inclusion_with_reasons(self, db: Session, tmp_path: Path) -> None:
        fams = _scenario(db, tmp_path)
        excl = recipient_service.list_errors(session=db, kind="exclusion", programme_id="pkh", period=PERIOD)
        assert {r.household_id for r in excl} == {fams["poor"].id, fams["moti"].id}
        assert all(r.outcome == "eligible" for r in excl)
        incl = {
            r.household_id: r
            for r in recipient_service.list_errors(
                session=db, kind="inclusion", programme_id="pkh", period=PERIOD
            )
        }
        assert set(incl) == {fams["rich"].id, fams["dead"].id}
        rich_id, rich_en = recipient_service.reason_texts(incl[fams["rich"].id])
        assert (
            incl[fams["rich"].id].outcome == "not_eligible" and "desil 8" in rich_id and "desil 8" in rich_en
        )
        dead_id, dead_en = recipient_service.reason_texts(incl[fams["dead"].id])
        assert "meninggal" in dead_id and "died" in dead_en
        # another period: nobody receives, every eligible family is an exclusion error
        other = recipient_service.list_errors(
            session=db, kind="exclusion", programme_id="pkh", period="2026-Q2"
        )
        assert len(other) == 3

    def test_person_programmes_by_member(self, db: Session, tmp_path: Path) -> None:
        fams = _scenario(db, tmp_path)
        poor = fams["poor"]
        members = {m.nik: m.id for m in db.exec(select(Member).where(Member.household_id == poor.id)).all()}
        head_id = members[poor.head_nik]
        eligible = {
            d.member_id
            for d in db.exec(
                select(EligibilityDecision).where(
                    EligibilityDecision.household_id == poor.id,
                    EligibilityDecision.programme_id == "pbi_jk",
                    col(EligibilityDecision.current),
                    EligibilityDecision.outcome == "eligible",
                )
            ).all()
        }
        assert head_id in eligible and len(eligible) > 1
        pbi = write_csv(tmp_path / "pbi.csv", [["NIK_PESERTA"], [poor.head_nik]])
        assert _import(db, pbi, "pbi_jk").written == 1
        excl = recipient_service.list_errors(
            session=db, kind="exclusion", programme_id="pbi_jk", period=PERIOD
        )
        mine = {r.member_id for r in excl if r.household_id == poor.id}
        assert mine == eligible - {head_id}  # the head receives; the others are exclusion errors
        # the head (an adult) on a PIP list: outside PIP's target group, so no decision at all
        pip = write_csv(tmp_path / "pip.csv", [["NIK_SISWA"], [poor.head_nik]])
        assert _import(db, pip, "pip").written == 1
        (row,) = recipient_service.list_errors(
            session=db, kind="inclusion", programme_id="pip", period=PERIOD
        )
        assert row.member_id == head_id and row.outcome is None
        assert recipient_service.reason_texts(row) == recipient_service.NO_DECISION

    def test_merged_away_households_are_not_errors(self, db: Session, tmp_path: Path) -> None:
        fams = _scenario(db, tmp_path)
        for key in ("poor", "rich"):
            row = db.get(Household, fams[key].id)
            assert row is not None
            row.merged_into_id, row.deleted_at = fams["fine"].id, utcnow()
        db.flush()
        kinds: tuple[ErrorKind, ...] = ("exclusion", "inclusion")
        errors = [
            r.household_id
            for kind in kinds
            for r in recipient_service.list_errors(session=db, kind=kind, programme_id="pkh", period=PERIOD)
        ]
        assert sorted(map(str, errors)) == sorted(str(fams[k].id) for k in ("moti", "dead"))

    def test_summary_per_kecamatan_and_kelurahan(self, db: Session, tmp_path: Path) -> None:
        _scenario(db, tmp_path)
        summary = {
            a.kecamatan_code: a
            for a in recipient_service.error_summary(session=db, programme_id="pkh", period=PERIOD)
        }
        assert (summary["82.71.07"].exclusion, summary["82.71.07"].inclusion) == (1, 2)
        assert (summary["82.71.04"].exclusion, summary["82.71.04"].inclusion) == (1, 0)
        assert summary["82.71.07"].kelurahan[f.HIRI_FAUDU][1:] == (1, 2)
        scoped = recipient_service.error_summary(
            session=db, programme_id="pkh", period=PERIOD, scope=frozenset({f.MOTI_KELURAHAN})
        )
        assert [a.kecamatan_code for a in scoped] == ["82.71.04"]


class TestErrorsApi:
    def test_kinds_filters_paging_and_area(
        self,
        client: TestClient,
        db: Session,
        admin: Account,
        tmp_path: Path,
        make_account: Callable[..., Account],
    ) -> None:
        fams = _scenario(db, tmp_path)
        params = {"programme": "pkh", "period": PERIOD, "kind": "inclusion"}
        page = client.get("/eligibility/errors", params={**params, "limit": 1}, headers=admin.headers).json()
        assert page["count"] == 1 and page["next_cursor"]
        assert [(a["kecamatan_code"], a["errors"]) for a in page["by_kecamatan"]] == [("82.71.07", 2)]
        assert page["by_kecamatan"][0]["kecamatan_name"]
        rest = client.get(
            "/eligibility/errors", params={**params, "cursor": page["next_cursor"]}, headers=admin.headers
        ).json()
        rows = page["data"] + rest["data"]
        assert {r["household_id"] for r in rows} == {str(fams["rich"].id), str(fams["dead"].id)}
        rich = next(r for r in rows if r["household_id"] == str(fams["rich"].id))
        assert rich["outcome"] == "not_eligible" and "desil 8" in rich["text_id"] and rich["text_en"]
        assert rich["kelurahan_code"] == f.HIRI_FAUDU and rich["kecamatan_code"] == "82.71.07"
        excl = client.get(
            "/eligibility/errors",
            params={**params, "kind": "exclusion", "kecamatan": "82.71.04"},
            headers=admin.headers,
        ).json()
        assert [r["household_id"] for r in excl["data"]] == [str(fams["moti"].id)]
        enum = make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))
        mine = client.get(
            "/eligibility/errors", params={**params, "kind": "exclusion"}, headers=enum.headers
        ).json()
        assert [r["household_id"] for r in mine["data"]] == [str(fams["poor"].id)]
        assert [a["kecamatan_code"] for a in mine["by_kecamatan"]] == ["82.71.07"]
        dinsos = make_account(Role.dinsos)
        assert client.get("/eligibility/errors", params=params, headers=dinsos.headers).status_code == 200
        assert client.get("/eligibility/errors", params=params).status_code == 401
        unknown = client.get(
            "/eligibility/errors", params={**params, "programme": "nope"}, headers=admin.headers
        )
        assert unknown.status_code == 422
        bad = client.get("/eligibility/errors", params={**params, "period": "2026-3"}, headers=admin.headers)
        assert bad.status_code == 422


class TestCli:
    """The commands on the test's own session (its commits are savepoint releases)."""

    @pytest.fixture
    def run(self, db: Session, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
        @contextmanager
        def session() -> Iterator[Session]:
            yield db

        monkeypatch.setattr(recipients_cli_module, "cli_session", session)
        return lambda *args: CliRunner().invoke(recipients_cli, [str(a) for a in args])

    def test_import_report_and_errors_file(
        self, db: Session, tmp_path: Path, run: Callable[..., Result]
    ) -> None:
        fams = _scenario(db, tmp_path)
        path = write_csv(tmp_path / "q2.csv", [["NO_KK"], [fams["rich"].kk], [f.kk("827107")]])
        result = run("import", path, "--programme", "pkh", "--period", "2026-Q2")
        assert result.exit_code == 0, result.output
        report = (tmp_path / "q2.report.csv").read_text(encoding="utf-8")
        assert "unmatched" in report and "tidak ada keluarga" in report and "no family" in report
        assert run("import", path, "--programme", "kip", "--period", "2026-Q2").exit_code == 2
        out = tmp_path / "errors.csv"
        result = run("errors", "--programme", "pkh", "--period", "2026-Q2", "--output", out)
        assert result.exit_code == 0, result.output
        lines = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
        kinds = sorted(line[0] for line in lines[1:])
        assert kinds == ["eksklusi/exclusion"] * 3 + ["inklusi/inclusion"]
        assert any("desil 8" in line[9] for line in lines[1:])
