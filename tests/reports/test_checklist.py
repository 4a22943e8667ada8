"""The progress checklist: status rules without a database, then statuses moving with the data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.appeals.rules import window
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.config import Settings
from app.db import utcnow
from app.main import create_app
from app.reconcile.store import DukcapilCheck, MatchCandidate
from app.registry.models import Household, Member
from app.reports import checklist as c
from app.reports.models import KelurahanTarget
from tests import factories as f
from tests.conftest import Account
from tests.eligibility_db.helpers import ACTOR, family

HIRI = "82.71.07"
SELATAN = "82.71.02"
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _ctx(**kw: Any) -> c.Context:
    base: dict[str, Any] = {
        "today": date(2026, 7, 1),
        "active_rule_set": "ternate-bansos@2026.1",
        "last_run_started": T0,
        "window": window(opens_on=None, days=30),
    }
    return c.Context(**{**base, **kw})


class TestRules:
    def test_registration(self) -> None:
        assert (
            c.registration(c.Counts(kelurahan=1, families=5, targets_missing=1)).status
            is c.StageStatus.no_target
        )
        assert c.registration(c.Counts(families=0, target_families=10)).status is c.StageStatus.not_started
        partial = c.registration(c.Counts(families=4, target_families=10))
        assert partial.status is c.StageStatus.in_progress and partial.share == 0.4
        assert c.registration(c.Counts(families=10, target_families=10)).status is c.StageStatus.done
        # a kecamatan where one kelurahan has no target is not done, and says why
        mixed = c.Counts(families=10, target_families=10) + c.Counts(families=3, targets_missing=1)
        stage = c.registration(mixed)
        assert stage.status is c.StageStatus.in_progress and "tanpa target" not in stage.note_id
        assert "1 kelurahan" in stage.note_id and "without a target" in stage.note_en

    def test_shares(self) -> None:
        counts = c.Counts(
            families=4, verified=2, rejected=1, persons=10, dukcapil_checked=10, dukcapil_matched=8
        )
        verification = c.field_verification(counts)
        assert (verification.value, verification.target, verification.status) == (
            2,
            3,
            c.StageStatus.in_progress,
        )
        matching = c.dukcapil_matching(counts)
        assert matching.status is c.StageStatus.done and matching.details["not_matched"] == 2
        assert c.dukcapil_matching(c.Counts(persons=3)).status is c.StageStatus.not_started

    def test_reconciliation(self) -> None:
        assert c.reconciliation(c.Counts(), 0, 0).status is c.StageStatus.not_started
        assert c.reconciliation(c.Counts(families=3), 2, 0).status is c.StageStatus.in_progress
        assert c.reconciliation(c.Counts(families=3), 0, 1).status is c.StageStatus.done

    def test_scoring_and_stale(self) -> None:
        assert (
            c.scoring(c.Counts(families=2, scored=2), _ctx(active_rule_set=None)).status
            is c.StageStatus.not_started
        )
        done = c.Counts(families=2, scored=2, last_change=T0 - timedelta(hours=1))
        assert c.scoring(done, _ctx()).status is c.StageStatus.done
        changed = c.Counts(families=2, scored=2, last_change=T0 + timedelta(seconds=1))
        stale = c.scoring(changed, _ctx())
        assert stale.status is c.StageStatus.stale and "changed" in stale.note_en
        assert c.scoring(c.Counts(families=3, scored=2), _ctx()).status is c.StageStatus.in_progress

    def test_announcement(self) -> None:
        hiri = c.Milestone("announcement", HIRI, date(2026, 6, 20), "rapat")
        both = frozenset({HIRI, SELATAN})
        assert c.announcement(both, _ctx()).status is c.StageStatus.not_started
        assert c.announcement(both, _ctx(milestones=(hiri,))).status is c.StageStatus.in_progress
        assert c.announcement(frozenset({HIRI}), _ctx(milestones=(hiri,))).status is c.StageStatus.done
        city = c.Milestone("announcement", None, date(2026, 6, 21), "SK Walikota")
        stage = c.announcement(both, _ctx(milestones=(hiri, city)))
        assert stage.status is c.StageStatus.done and stage.milestone == city

    def test_appeal_window(self) -> None:
        pending = c.Counts(appeals_pending=2)
        assert c.appeal_window(pending, _ctx()).status is c.StageStatus.not_started  # no announcement
        later = _ctx(window=window(opens_on=date(2026, 8, 1), days=30))
        assert c.appeal_window(pending, later).status is c.StageStatus.not_started
        now_open = c.appeal_window(pending, _ctx(window=window(opens_on=date(2026, 6, 15), days=30)))
        assert now_open.status is c.StageStatus.in_progress and now_open.details["open"] == "yes"
        closed = _ctx(window=window(opens_on=date(2026, 5, 1), days=30))
        waiting = c.appeal_window(pending, closed)
        assert waiting.status is c.StageStatus.in_progress and "2 appeals pending" in waiting.note_en
        assert c.appeal_window(c.Counts(), closed).status is c.StageStatus.done

    def test_every_stage_once_with_both_languages(self) -> None:
        stages = c.checklist(c.Counts(), _ctx(), kecamatan=frozenset({HIRI}), pending=0, merged=0)
        assert [s.info.code for s in stages] == list(c.STAGE_CODES)
        for s in stages:
            assert s.info.label_id and s.info.label_en and s.info.indicator_id and s.info.indicator_en
        assert set(c.STATUS_LABELS) == set(c.StageStatus)


def _stages(body: Any) -> dict[str, Any]:
    return {s["stage"]: s for s in body["stages"]}


def _checklist(client: TestClient, who: Account, **params: str) -> dict[str, Any]:
    r = client.get("/reports/checklist", params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    return _stages(r.json())


def _set_status(db: Session, household_id: Any, status: str) -> None:
    row = db.get(Household, household_id)
    assert row is not None
    row.verification_status, row.updated_at = status, utcnow()
    db.add(row)
    db.flush()


class TestChecklistApi:
    def test_statuses_move_with_the_data(self, client: TestClient, admin: Account, db: Session) -> None:
        kel = {"kelurahan": f.HIRI_FAUDU}
        empty = _checklist(client, admin, **kel)
        assert empty["registration"]["status"] == "no_target"
        assert empty["field_verification"]["status"] == "not_started"
        db.add(
            KelurahanTarget(
                kelurahan_code=f.HIRI_FAUDU, families=2, source="Dukcapil 2026-06", updated_by="t"
            )
        )
        db.commit()
        assert _checklist(client, admin, **kel)["registration"]["status"] == "not_started"
        a = family(db)
        db.commit()
        partial = _checklist(client, admin, **kel)
        assert partial["registration"]["status"] == "in_progress"
        assert (partial["registration"]["value"], partial["registration"]["target"]) == (1, 2)
        assert partial["registration"]["status_id"] == "berjalan"
        b = family(db)
        _set_status(db, a.id, "field_verified")
        db.commit()
        now = _checklist(client, admin, **kel)
        assert now["registration"]["status"] == "done" and now["registration"]["status_id"] == "selesai"
        assert (now["field_verification"]["value"], now["field_verification"]["status"]) == (1, "in_progress")
        _set_status(db, b.id, "dukcapil_matched")
        # Dukcapil: every person of both families checked, one not matched
        members = db.exec(select(Member).where(Member.household_id.in_([a.id, b.id]))).all()  # type: ignore[attr-defined]
        for i, m in enumerate(members):
            status = "name_differs" if i == 0 else "matched"
            db.add(DukcapilCheck(member_id=m.id, household_id=m.household_id, status=status, source="t"))
        db.commit()
        now = _checklist(client, admin, **kel)
        assert now["field_verification"]["status"] == "done"
        assert now["dukcapil_matching"]["status"] == "done"
        assert now["dukcapil_matching"]["details"] == {"matched": len(members) - 1, "not_matched": 1}
        # a duplicate candidate pending review, then decided
        low, high = sorted((a.id, b.id), key=str)
        candidate = MatchCandidate(
            kind="household",
            household_a=low,
            household_b=high,
            kecamatan_code=HIRI,
            kecamatan_b=HIRI,
            weight=9.0,
            decision="review",
            links=[],
            source="batch",
        )
        db.add(candidate)
        db.commit()
        assert _checklist(client, admin, **kel)["reconciliation"]["status"] == "in_progress"
        assert _checklist(client, admin, kecamatan=HIRI)["reconciliation"]["value"] == 1
        assert _checklist(client, admin, kecamatan=SELATAN)["reconciliation"]["value"] == 0
        candidate.status = "distinct"
        db.add(candidate)
        db.commit()
        assert _checklist(client, admin, **kel)["reconciliation"]["status"] == "done"

    def test_scoring_done_then_stale(self, client: TestClient, admin: Account, db: Session) -> None:
        from app.eligibility import rules_service, scoring

        a = family(db)
        family(db)
        record = rules_service.ensure_active(session=db, actor=ACTOR)
        assert record is not None
        db.commit()
        before = _checklist(client, admin, kelurahan=f.HIRI_FAUDU)["scoring"]
        assert before["status"] == "not_started" and before["details"]["rule_set"] == "ternate-bansos@2026.1"
        scoring.score_all(session=db, record=record, reference_date=date(2026, 6, 1), actor=ACTOR)
        db.commit()
        done = _checklist(client, admin, kelurahan=f.HIRI_FAUDU)["scoring"]
        assert (done["status"], done["value"], done["target"]) == ("done", 2, 2)
        _set_status(db, a.id, "field_verified")  # the registry changed after the run
        db.commit()
        assert _checklist(client, admin, kelurahan=f.HIRI_FAUDU)["scoring"]["status"] == "stale"
        # Selatan has no families: nothing to score there
        assert _checklist(client, admin, kecamatan=SELATAN)["scoring"]["status"] == "not_started"

    def test_levels_and_breakdown(self, client: TestClient, admin: Account, db: Session) -> None:
        family(db)
        family(db, f.SELATAN_KELURAHAN)
        db.commit()
        city = client.get("/reports/checklist", headers=admin.headers).json()
        assert city["area"] == {"level": "city", "code": None, "name": "Kota Ternate"}
        assert len(city["breakdown"]) == 8 and city["breakdown"][0]["area"]["level"] == "kecamatan"
        assert _stages(city)["registration"]["value"] == 2
        kec = client.get("/reports/checklist", params={"kecamatan": HIRI}, headers=admin.headers).json()
        assert kec["area"]["code"] == HIRI and {b["area"]["level"] for b in kec["breakdown"]} == {"kelurahan"}
        assert sum(_stages(b)["registration"]["value"] for b in kec["breakdown"]) == 1
        kel = client.get(
            "/reports/checklist", params={"kelurahan": f.HIRI_FAUDU}, headers=admin.headers
        ).json()
        assert kel["breakdown"] == [] and kel["area"]["level"] == "kelurahan"

    def test_bad_input_and_scope(
        self, client: TestClient, make_account: Callable[..., Account], db: Session
    ) -> None:
        admin = make_account(Role.admin)
        for params, field in (
            ({"kecamatan": "82.71.99"}, "kecamatan"),
            ({"kelurahan": "82.71.07.9999"}, "kelurahan"),
            ({"kecamatan": SELATAN, "kelurahan": f.HIRI_FAUDU}, "kelurahan"),
        ):
            r = client.get("/reports/checklist", params=params, headers=admin.headers)
            assert r.status_code == 422 and r.json()["detail"][0]["field"] == field, r.text
        spv = make_account(Role.supervisor, kecamatan=HIRI)
        mine = client.get("/reports/checklist", headers=spv.headers).json()
        assert mine["area"]["level"] == "area" and [b["area"]["code"] for b in mine["breakdown"]] == [HIRI]
        for params in ({"kecamatan": SELATAN}, {"kelurahan": f.SELATAN_KELURAHAN}):
            r = client.get("/reports/checklist", params=params, headers=spv.headers)
            assert r.status_code == 403 and r.json()["error"] == "out_of_area"
        enumerator = make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))
        assert client.get("/reports/checklist", headers=enumerator.headers).status_code == 403

    def test_appeal_window_from_settings(
        self, settings: Settings, engine: Any, db: Session, admin: Account
    ) -> None:
        from app.db import get_session

        opened = settings.model_copy(update={"appeal_window_opens": date(2020, 1, 1)})
        app = create_app(opened, engine=engine)

        def session_override() -> Any:
            yield db

        app.dependency_overrides[get_session] = session_override
        with TestClient(app) as client:
            stage = _checklist(client, admin)["appeal_window"]
        assert stage["status"] == "done" and stage["details"]["closes_on"] == "2020-01-30"
        assert stage["note_en"] == "closed on 2020-01-30"


MILESTONE = {"stage": "announcement", "decided_on": "2026-06-20", "note": "Rapat pengumuman hasil"}


class TestMilestones:
    def test_record_and_checklist(
        self, client: TestClient, make_account: Callable[..., Account], db: Session
    ) -> None:
        dinsos = make_account(Role.dinsos, username="dinsos-ana")
        r = client.post(
            "/reports/milestones", json={**MILESTONE, "kecamatan_code": HIRI}, headers=dinsos.headers
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["recorded_by"] == "dinsos-ana" and body["kecamatan_code"] == HIRI
        audit = db.exec(select(AuditEntry).where(AuditEntry.entity_type == "pilot_milestone")).one()
        assert audit.actor_name == "dinsos-ana" and audit.changes["note"] == [None, "Rapat pengumuman hasil"]
        hiri = _checklist(client, dinsos, kecamatan=HIRI)["announcement"]
        assert hiri["status"] == "done" and hiri["milestone"]["note"] == "Rapat pengumuman hasil"
        assert hiri["manual"] is True
        assert _checklist(client, dinsos)["announcement"]["status"] == "in_progress"  # 1 of 8 kecamatan
        assert _checklist(client, dinsos, kecamatan=SELATAN)["announcement"]["status"] == "not_started"
        admin = make_account(Role.admin)
        assert client.post("/reports/milestones", json=MILESTONE, headers=admin.headers).status_code == 201
        assert _checklist(client, dinsos, kecamatan=SELATAN)["announcement"]["status"] == "done"  # city-wide

    def test_roles(self, client: TestClient, make_account: Callable[..., Account]) -> None:
        for role, kw in (
            (Role.supervisor, {"kecamatan": HIRI}),
            (Role.enumerator, {"kelurahan": (f.HIRI_FAUDU,)}),
        ):
            who = make_account(role, **kw)
            r = client.post("/reports/milestones", json=MILESTONE, headers=who.headers)
            assert r.status_code == 403, role
        assert client.post("/reports/milestones", json=MILESTONE).status_code == 401

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"stage": "party"}, "stage"),
            ({"decided_on": "2999-01-01"}, "decided_on"),
            ({"decided_on": "20 Juni"}, "decided_on"),
            ({"kecamatan_code": "82.71.99"}, "kecamatan_code"),
            ({"note": "   "}, "note"),
            ({"note": ""}, "note"),
            ({"extra": 1}, "extra"),
        ],
    )
    def test_validation_names_the_field(
        self, client: TestClient, admin: Account, db: Session, change: dict[str, Any], field: str
    ) -> None:
        r = client.post("/reports/milestones", json={**MILESTONE, **change}, headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == field, r.text
        assert db.exec(select(AuditEntry).where(AuditEntry.entity_type == "pilot_milestone")).first() is None

    def test_listing_is_scoped(self, client: TestClient, make_account: Callable[..., Account]) -> None:
        admin = make_account(Role.admin)
        for kecamatan in (None, HIRI, SELATAN):
            r = client.post(
                "/reports/milestones", json={**MILESTONE, "kecamatan_code": kecamatan}, headers=admin.headers
            )
            assert r.status_code == 201
        everything = client.get("/reports/milestones", headers=admin.headers).json()
        assert everything["count"] == 3
        spv = make_account(Role.supervisor, kecamatan=HIRI)
        mine = client.get("/reports/milestones", headers=spv.headers).json()
        assert sorted(str(m["kecamatan_code"]) for m in mine["data"]) == [HIRI, "None"]
        assert (
            client.get("/reports/milestones", params={"stage": "scoring"}, headers=admin.headers).json()[
                "count"
            ]
            == 0
        )
