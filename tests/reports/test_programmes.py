"""Programme report (eligible, receiving, exclusion, inclusion per kecamatan and desil) and the
families behind a figure; hand-computed on the registry of tests/reports/helpers.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.auth.models import Role
from app.eligibility import rules_service
from app.eligibility.store import (
    FAMILY_SUBJECT,
    EligibilityDecision,
    ProgrammeRecipient,
    RecipientImport,
    ScoreRun,
)
from app.registry.models import Member
from app.reports.programmes import programme_report
from tests.conftest import Account
from tests.eligibility_db.helpers import ACTOR
from tests.reports.helpers import HIRI_KEC, MOTI_KEC, SELATAN_KEC, Registry, build

PERIOD = "2026-Q1"


class Fixture:
    def __init__(self, db: Session) -> None:
        self.db = db
        record = rules_service.ensure_active(session=db, actor=ACTOR)
        assert record is not None and record.id is not None
        self.record = record
        run = ScoreRun(
            rule_set_id=record.id,
            ruleset_label=record.label,
            reference_date=date(2026, 6, 1),
            started_by="test",
        )
        db.add(run)
        imp = RecipientImport(
            programme_id="sembako", period=PERIOD, file_name="r.csv", sha256="3" * 64, imported_by="test"
        )
        db.add(imp)
        db.flush()
        assert run.id is not None and imp.id is not None
        self.run_id, self.import_id = run.id, imp.id

    def decide(
        self,
        hid: uuid.UUID,
        programme: str,
        outcome: str,
        *,
        member: uuid.UUID | None = None,
        current: bool = True,
    ) -> None:
        self.db.add(
            EligibilityDecision(
                household_id=hid,
                member_id=member,
                subject=str(member) if member else FAMILY_SUBJECT,
                programme_id=programme,
                unit="person" if member else "family",
                outcome=outcome,
                rule_set_id=self.record.id or 0,
                ruleset_label=self.record.label,
                ruleset_digest=self.record.digest,
                reference_date=date(2026, 6, 1),
                fingerprint=uuid.uuid4().hex,
                run_id=self.run_id,
                current=current,
            )
        )

    def receive(
        self, hid: uuid.UUID, programme: str, *, member: uuid.UUID | None = None, period: str = PERIOD
    ) -> None:
        self.db.add(
            ProgrammeRecipient(
                programme_id=programme,
                period=period,
                household_id=hid,
                member_id=member,
                subject=str(member) if member else FAMILY_SUBJECT,
                import_id=self.import_id,
                row_number=2,
            )
        )


def scenario(db: Session) -> Registry:
    reg = build(db)
    fx = Fixture(db)
    ids = reg.ids
    for name in ("a", "b", "c", "f"):
        fx.decide(ids[name], "sembako", "eligible")
    fx.decide(ids["g"], "sembako", "not_eligible")
    fx.decide(ids["h"], "sembako", "needs_data")
    fx.decide(ids["e"], "sembako", "eligible", current=False)  # superseded: not counted
    for name in ("a", "g", "h", "d"):
        fx.receive(ids[name], "sembako")
    fx.receive(ids["b"], "sembako", period="2025-Q4")  # another period
    people = db.exec(
        select(Member)
        .where(col(Member.household_id) == ids["a"], col(Member.deleted_at).is_(None))
        .order_by(col(Member.relation))
    ).all()
    for m in people:  # child not eligible, head and spouse eligible; only the head receives
        fx.decide(ids["a"], "pbi_jk", "not_eligible" if m.relation == "child" else "eligible", member=m.id)
    head = next(m for m in people if m.relation == "head")
    fx.receive(ids["a"], "pbi_jk", member=head.id)
    db.flush()
    return reg


def _table(
    db: Session, programme: str | None = None, **kw: object
) -> dict[tuple[str, str, str], tuple[dict[str, int], dict[str, int]]]:
    r = programme_report(db, scope=None, period=PERIOD, programme=programme, **kw)  # type: ignore[arg-type]
    return {(x.programme, x.area_code, x.desil): (x.counts.subjects, x.counts.families) for x in r.rows}


def _c(eligible: int, receiving: int, exclusion: int, inclusion: int) -> dict[str, int]:
    return {"eligible": eligible, "receiving": receiving, "exclusion": exclusion, "inclusion": inclusion}


class TestProgrammeReport:
    def test_family_programme_by_kecamatan_and_desil(self, db: Session) -> None:
        scenario(db)
        got = {k[1:]: v[0] for k, v in _table(db, "sembako").items()}
        assert got == {
            (HIRI_KEC, "2"): _c(2, 1, 1, 0),  # a eligible+receiving, b eligible only
            (HIRI_KEC, "5"): _c(1, 0, 1, 0),  # c
            (HIRI_KEC, "none"): _c(0, 1, 0, 1),  # d receives with no decision
            (MOTI_KEC, "1"): _c(0, 1, 0, 1),  # g receives, not eligible
            (MOTI_KEC, "2"): _c(1, 0, 1, 0),  # f
            (SELATAN_KEC, "none"): _c(0, 1, 0, 1),  # h needs data, receives
        }

    def test_person_programme_counts_persons_and_families(self, db: Session) -> None:
        scenario(db)
        got = _table(db, "pbi_jk")
        assert got == {("pbi_jk", HIRI_KEC, "2"): (_c(2, 1, 1, 0), _c(1, 1, 1, 0))}

    def test_all_programmes_and_drill_down(self, db: Session) -> None:
        scenario(db)
        everything = _table(db)
        assert {k[0] for k in everything} == {"sembako", "pbi_jk"}
        hiri = _table(db, "sembako", kecamatan=HIRI_KEC)
        assert {k[1] for k in hiri} == {"82.71.07.1001"}  # d, a, b, c all live in Faudu

    def test_unknown_programme_is_refused(
        self, db: Session, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        scenario(db)
        admin = make_account(Role.admin)
        r = client.get(f"/reports/programmes?period={PERIOD}&programme=bansos_x", headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "programme"
        r = client.get("/reports/programmes?period=2026-5", headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "period"

    def test_api_totals(self, db: Session, client: TestClient, make_account: Callable[..., Account]) -> None:
        scenario(db)
        dinsos = make_account(Role.dinsos)
        body = client.get(
            f"/reports/programmes?period={PERIOD}&programme=sembako", headers=dinsos.headers
        ).json()
        assert body["programmes"] == {"sembako": "family"}
        assert body["totals"]["sembako"] == _c(4, 4, 3, 3)


class TestFamilies:
    def _ids(self, client: TestClient, headers: dict[str, str], query: str) -> set[uuid.UUID]:
        r = client.get(f"/reports/families?{query}", headers=headers)
        assert r.status_code == 200, r.text
        return {uuid.UUID(x["household_id"]) for x in r.json()["data"]}

    @pytest.mark.parametrize(
        ("query", "names"),
        [
            (f"programme=sembako&period={PERIOD}&kind=exclusion", {"b", "c", "f"}),
            (f"programme=sembako&period={PERIOD}&kind=inclusion", {"d", "g", "h"}),
            (f"programme=sembako&period={PERIOD}&kind=inclusion&kecamatan={HIRI_KEC}", {"d"}),
            (f"programme=sembako&period={PERIOD}&kind=receiving", {"a", "d", "g", "h"}),
            ("programme=sembako&kind=eligible", {"a", "b", "c", "f"}),
            (f"kecamatan={HIRI_KEC}&desil=2", {"a", "b"}),
            ("desil=none", {"d", "h"}),
            ("source=estimate", {"c", "f"}),
            ("channel=sms", {"c"}),
        ],
    )
    def test_the_families_behind_a_cell(
        self,
        db: Session,
        client: TestClient,
        make_account: Callable[..., Account],
        query: str,
        names: set[str],
    ) -> None:
        reg = scenario(db)
        admin = make_account(Role.admin)
        assert self._ids(client, admin.headers, query) == {reg.ids[n] for n in names}

    def test_pages_and_masking(
        self, db: Session, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        reg = scenario(db)
        dinsos = make_account(Role.dinsos)  # not a full-identifier role
        seen: list[str] = []
        url = "/reports/families?limit=3"
        while url:
            body = client.get(url, headers=dinsos.headers).json()
            for row in body["data"]:
                seen.append(row["household_id"])
                assert "*" in row["head_nik"] and "*" in row["kk_number"]
            url = f"/reports/families?limit=3&cursor={body['next_cursor']}" if body["next_cursor"] else ""
        assert sorted(seen) == sorted(str(reg.ids[n]) for n in "abcdefgh") and seen == sorted(seen)

    def test_needs_household_read_and_scopes(
        self, db: Session, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        reg = scenario(db)
        supervisor = make_account(Role.supervisor, kecamatan=MOTI_KEC)
        assert self._ids(client, supervisor.headers, "") == {reg.ids["f"], reg.ids["g"]}
        enumerator = make_account(Role.enumerator, kelurahan=("82.71.07.1002",))  # Tomajiko: household:read
        assert self._ids(client, enumerator.headers, "") == {reg.ids["e"]}
        r = client.get(
            f"/reports/families?kind=exclusion&programme=sembako&period={PERIOD}&kecamatan={HIRI_KEC}",
            headers=supervisor.headers,
        )
        assert r.status_code == 403

    def test_kind_needs_its_programme(self, client: TestClient, make_account: Callable[..., Account]) -> None:
        admin = make_account(Role.admin)
        r = client.get("/reports/families?kind=exclusion", headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "programme"
        r = client.get("/reports/families?kind=exclusion&programme=sembako", headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "period"
        r = client.get("/reports/families?desil=11", headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "desil"
