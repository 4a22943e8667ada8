"""Filing and moving appeals through the service, on both engines: the window, one open
appeal per subject, every transition, the re-verification visit and the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.appeals import service
from app.appeals.models import Appeal, AppealEvent
from app.appeals.rules import About, AppealStatus, FiledBy
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.config import Settings
from app.errors import InvalidData, NotFound, OutOfArea, VersionMismatch
from app.registry.models import FieldTask, Household
from app.sync.models import SyncChange
from tests import factories as f
from tests.appeals.conftest import STAFF, principal

S = AppealStatus
File = Callable[..., Appeal]
DINSOS = principal(Role.dinsos)


def move(db: Session, appeal: Appeal, to: S, note: str | None = None, role: Role = Role.dinsos) -> Appeal:
    scope = (f.HIRI_FAUDU,) if role is Role.enumerator else None
    return service.change_status(session=db, appeal_id=appeal.id, status=to, note=note,
                                 version=appeal.version, principal=principal(role, scope), actor=STAFF)


def task_of(db: Session, appeal: Appeal) -> FieldTask:
    task = db.get(FieldTask, appeal.task_id)
    assert task is not None
    db.refresh(task)
    return task


class TestFiling:
    def test_filing_opens_a_visit_records_the_event_and_audits(self, db: Session, file: File,
                                                               household: Household) -> None:
        appeal = file(About.decision, "pkh", channel=FiledBy.agent)
        assert (appeal.status, appeal.version, appeal.kelurahan_code) == ("filed", 1, f.HIRI_FAUDU)
        task = task_of(db, appeal)
        assert (task.kind, task.status, task.kelurahan_code) == ("reverify_appeal", "open", f.HIRI_FAUDU)
        assert "pkh" in task.note and task.household_id == household.id
        db.commit()  # the change feed is written at commit
        assert db.exec(select(SyncChange).where(SyncChange.entity == "task",
                                                SyncChange.entity_id == task.id)).first() is not None
        (event,) = db.exec(select(AppealEvent).where(AppealEvent.appeal_id == appeal.id)).all()
        assert (event.from_status, event.to_status, event.by_name) == (None, "filed", STAFF.name)
        audit = db.exec(select(AuditEntry).where(AuditEntry.entity_type == "appeal",
                                                 AuditEntry.entity_id == str(appeal.id))).one()
        assert audit.action == "create" and audit.changes["status"] == [None, "filed"]
        assert audit.household_id == household.id

    def test_a_second_open_appeal_on_the_same_subject_is_refused(self, db: Session, settings: Settings,
                                                                  file: File, household: Household) -> None:
        first = file(About.decision, "pkh")
        with pytest.raises(service.AppealOpen) as refused:
            file(About.decision, "pkh")
        assert refused.value.existing.id == first.id and str(first.id) in refused.value.message
        # a resident's retry gets the open appeal back, and nothing new is opened
        again, created = service.file_appeal(session=db, settings=settings, household=household,
                                             about=About.decision, programme_id="pkh", reason="lagi",
                                             channel=FiledBy.sms, actor=STAFF, existing_ok=True)
        assert (again.id, created) == (first.id, False)
        assert db.exec(select(func.count()).select_from(FieldTask).where(
            FieldTask.kind == "reverify_appeal")).one() == 1
        # other subjects and programmes are other appeals
        file(About.decision, "pip")
        file(About.decision)
        file(About.desil)
        file(About.data)

    def test_a_decided_appeal_leaves_room_for_a_new_one(self, db: Session, file: File) -> None:
        first = file()
        move(db, first, S.rejected, "Data sudah benar")
        assert first.open_key is None and first.closed_at is not None
        assert file().id != first.id


class TestWindow:
    @pytest.mark.parametrize("today", [date(2026, 11, 1), date(2026, 12, 2)])
    def test_outside_the_window_nothing_is_filed(self, db: Session, settings: Settings, file: File,
                                                 today: date) -> None:
        settings.appeal_window_opens, settings.appeal_window_days = date(2026, 11, 2), 30
        now = datetime(today.year, today.month, today.day, 3, tzinfo=UTC)  # noon in Ternate
        with pytest.raises(service.WindowClosed) as refused:
            file(now=now)
        (problem,) = refused.value.problems
        assert (problem.field, problem.rule) == ("appeal_window", "window_closed")
        assert ("2026-11-02" if today.month == 11 else "2026-12-01") in problem.message
        assert db.exec(select(func.count()).select_from(Appeal)).one() == 0

    def test_the_last_day_counts_in_ternate_time(self, settings: Settings, file: File) -> None:
        settings.appeal_window_opens, settings.appeal_window_days = date(2026, 11, 2), 30
        # 1 December, 23:30 in Ternate is still the 1st there (14:30 UTC)
        assert file(now=datetime(2026, 12, 1, 14, 30, tzinfo=UTC)).window_closes_on == date(2026, 12, 1)
        with pytest.raises(service.WindowClosed):  # 2 December, 00:30 in Ternate
            file(About.data, now=datetime(2026, 12, 1, 15, 30, tzinfo=UTC))

    def test_a_decision_date_opens_its_own_window(self, settings: Settings, file: File) -> None:
        settings.appeal_window_opens = date(2020, 1, 1)  # long closed
        appeal = file(decided_on=service.today_in_ternate())
        assert appeal.window_closes_on is not None and appeal.window_closes_on > service.today_in_ternate()


class TestStatuses:
    def test_the_whole_road_to_upheld_with_the_visit_done_on_re_survey(self, db: Session, file: File) -> None:
        appeal = file()
        move(db, appeal, S.visit_scheduled, role=Role.enumerator)
        assert task_of(db, appeal).status == "open"
        move(db, appeal, S.re_surveyed, "Rumah disurvei ulang", role=Role.enumerator)
        task = task_of(db, appeal)
        assert (task.status, task.version) == ("done", 2)
        move(db, appeal, S.sent_to_bps)
        move(db, appeal, S.upheld, "Desil berubah 6 -> 3")
        assert (appeal.status, appeal.version, appeal.open_key) == ("upheld", 5, None)
        events = db.exec(select(AppealEvent).where(AppealEvent.appeal_id == appeal.id)
                         .order_by(col(AppealEvent.id))).all()
        assert [(e.from_status, e.to_status) for e in events] == [
            (None, "filed"), ("filed", "visit_scheduled"), ("visit_scheduled", "re_surveyed"),
            ("re_surveyed", "sent_to_bps"), ("sent_to_bps", "upheld")]
        assert events[-1].note == "Desil berubah 6 -> 3"
        audits = db.exec(select(AuditEntry).where(AuditEntry.entity_id == str(appeal.id))
                         .order_by(col(AuditEntry.id))).all()
        assert [a.entity_version for a in audits] == [1, 2, 3, 4, 5]
        assert audits[-1].changes == {"status": ["sent_to_bps", "upheld"],
                                      "note": [None, "Desil berubah 6 -> 3"]}

    @pytest.mark.parametrize("before", [S.filed, S.visit_scheduled])
    def test_rejected_before_the_visit_cancels_it(self, db: Session, file: File, before: S) -> None:
        appeal = file()
        if before is S.visit_scheduled:
            move(db, appeal, before)
        move(db, appeal, S.rejected, "Bukan keluarga di kelurahan ini")
        assert task_of(db, appeal).status == "cancelled"

    def test_rejected_by_bps_keeps_the_visit_done(self, db: Session, file: File) -> None:
        appeal = file()
        for to in (S.visit_scheduled, S.re_surveyed, S.sent_to_bps):
            move(db, appeal, to)
        move(db, appeal, S.rejected, "BPS: desil tetap 7")
        assert task_of(db, appeal).status == "done" and appeal.closed_at is not None

    def test_a_refused_change_changes_nothing(self, db: Session, file: File) -> None:
        appeal = file()
        for to, note, role, rule in [(S.upheld, "x", Role.dinsos, "transition"),
                                     (S.rejected, None, Role.dinsos, "note_required"),
                                     (S.sent_to_bps, None, Role.enumerator, "role_may_not_set")]:
            with pytest.raises(InvalidData) as refused:
                move(db, appeal, to, note, role=role)
            assert refused.value.problems[0].rule == rule
        with pytest.raises(VersionMismatch):
            service.change_status(session=db, appeal_id=appeal.id, status=S.visit_scheduled, note=None,
                                  version=7, principal=DINSOS, actor=STAFF)
        db.refresh(appeal)
        assert (appeal.status, appeal.version) == ("filed", 1)
        assert db.exec(select(func.count()).select_from(AppealEvent)).one() == 1

    def test_outside_the_area_is_403_and_unknown_is_404(self, db: Session, file: File) -> None:
        appeal = file()
        moti = principal(Role.enumerator, (f.MOTI_KELURAHAN,))
        with pytest.raises(OutOfArea):
            service.change_status(session=db, appeal_id=appeal.id, status=S.visit_scheduled, note=None,
                                  version=1, principal=moti, actor=STAFF)
        with pytest.raises(NotFound):
            service.load(session=db, appeal_id=uuid.uuid4(), principal=DINSOS)
