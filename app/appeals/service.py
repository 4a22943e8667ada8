"""Filing appeals and moving them through their statuses (rules in ``rules.py``).

Every channel files through ``file_appeal``: residents by SMS/USSD (app/channels/service.py),
agents, enumerators and Dinas Sosial by the API.  Filing opens a re-verification visit
(``field_task`` of kind ``reverify_appeal``) that the tablets of the kelurahan pull; the visit
is done when the appeal reaches ``re_surveyed``, and cancelled when the appeal is rejected
before it.  Every status is an ``appeal_event`` row and an audit entry.  Services flush; the
caller commits.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.appeals import repository
from app.appeals.models import Appeal, AppealEvent
from app.appeals.rules import (
    BEFORE_VISIT,
    FINAL,
    About,
    AppealStatus,
    FiledBy,
    Window,
    check_transition,
    open_key,
    window,
)
from app.audit import service as audit
from app.audit.service import ActorRef
from app.auth.permissions import Principal
from app.config import Settings
from app.db import as_utc, utcnow
from app.eligibility.store import EligibilityDecision
from app.errors import Conflict, FieldProblem, InvalidData, NotFound, OutOfArea, VersionMismatch
from app.registry import tasks
from app.registry.models import Household

WIT = timezone(timedelta(hours=9), "WIT")  # Ternate's clock: the window is counted in local days
_TASK_NOTE = {About.decision: "hasil kelayakan", About.desil: "desil", About.data: "data keluarga salah"}


class WindowClosed(InvalidData):
    """Filed outside the appeal window (422 naming ``appeal_window``)."""

    def __init__(self, win: Window, today: date) -> None:
        self.window = win
        if win.opens_on is not None and today < win.opens_on:
            message = f"appeals open on {win.opens_on.isoformat()}"
        else:
            message = f"the appeal window closed on {win.closes_on.isoformat() if win.closes_on else '-'}"
        super().__init__([FieldProblem(field="appeal_window", rule="window_closed", message=message)])


class AppealOpen(Conflict):
    """An open appeal of the same household, subject and programme exists (409)."""

    code = "appeal_open"

    def __init__(self, existing: Appeal) -> None:
        self.existing = existing
        super().__init__(f"this household already has an open appeal about {existing.about}"
                         f"{' (' + existing.programme_id + ')' if existing.programme_id else ''}:"
                         f" {existing.id}, status {existing.status}",
                         detail={"appeal_id": str(existing.id), "status": existing.status})


def today_in_ternate(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(WIT).date()


def window_for(settings: Settings, *, decided_on: date | None = None) -> Window:
    """The window that applies. With no announcement (``appeal_window_opens`` unset) appeals
    are always open. After the announcement, a family whose decision changed later (a
    re-survey, a new desil) gets its own window from that change: it opens at the later of
    the announcement and ``decided_on``."""
    opens = settings.appeal_window_opens
    if opens is not None and decided_on is not None:
        opens = max(opens, decided_on)
    return window(opens_on=opens, days=settings.appeal_window_days)


def latest_decision_on(session: Session, household_id: uuid.UUID, programme_id: str | None) -> date | None:
    """The day (Ternate time) the household's current decision was made: for the programme,
    or the latest of all its programmes."""
    stmt = select(func.max(EligibilityDecision.decided_at)).where(
        EligibilityDecision.household_id == household_id, col(EligibilityDecision.current).is_(True))
    if programme_id:
        stmt = stmt.where(EligibilityDecision.programme_id == programme_id)
    latest = session.exec(stmt).one()
    return None if latest is None else today_in_ternate(as_utc(latest))


def file_appeal(*, session: Session, settings: Settings, household: Household, about: About,
                programme_id: str | None, reason: str, channel: FiledBy, actor: ActorRef,
                phone: str | None = None, decided_on: date | None = None,
                existing_ok: bool = False, now: datetime | None = None) -> tuple[Appeal, bool]:
    """File an appeal for ``household`` (the caller checked the area): the appeal and whether
    it is new.  A second open appeal on the same subject is refused (``AppealOpen``), or with
    ``existing_ok`` (a resident's retry) the open one is returned unchanged."""
    now = now or utcnow()
    if decided_on is None:
        decided_on = latest_decision_on(session, household.id, programme_id)
    win = window_for(settings, decided_on=decided_on)
    today = today_in_ternate(now)
    if not win.admits(today):
        raise WindowClosed(win, today)
    key = open_key(about, programme_id)
    appeal = Appeal(household_id=household.id, kelurahan_code=household.kelurahan_code,
                    filed_by_channel=channel.value, filed_by=actor.user_id, phone=phone, about=about.value,
                    programme_id=programme_id, reason=reason, open_key=key,
                    window_closes_on=win.closes_on, created_at=now, updated_at=now)
    nested = session.begin_nested()  # the unique key decides, never a check-then-insert
    try:
        session.add(appeal)
        session.flush()
    except IntegrityError:
        nested.rollback()
        existing = repository.open_one(session, household.id, key)
        if existing is None:  # not the open-appeal key: a real integrity problem
            raise
        if existing_ok:
            return existing, False
        raise AppealOpen(existing) from None
    nested.commit()
    programme = f" {programme_id}" if programme_id else ""
    task = tasks.open_task(session, household, kind=tasks.REVERIFY_APPEAL,
                           note=f"Sanggah {_TASK_NOTE[about]}{programme}: {reason}")
    session.flush()  # the task row first: no relationship tells the unit of work the order
    appeal.task_id = task.id
    session.add(appeal)
    _event(session, appeal, None, AppealStatus.filed, actor, None, now)
    audit.record(session, actor=actor, action="create", entity_type="appeal", entity_id=str(appeal.id),
                 household_id=household.id, version=appeal.version,
                 changes=audit.created({"status": appeal.status, "about": appeal.about,
                                        "programme_id": appeal.programme_id, "reason": appeal.reason,
                                        "filed_by_channel": appeal.filed_by_channel,
                                        "task_id": appeal.task_id}))
    session.flush()
    return appeal, True


def load(*, session: Session, appeal_id: uuid.UUID, principal: Principal, for_update: bool = False) -> Appeal:
    """One appeal in the caller's area (403 outside it, 404 if absent)."""
    appeal = repository.get(session, appeal_id, principal.kelurahan_scope, for_update=for_update)
    if appeal is not None:
        return appeal
    if repository.exists(session, appeal_id):
        raise OutOfArea("this appeal's household is outside your assigned area")
    raise NotFound(f"appeal {appeal_id} not found")


def change_status(*, session: Session, appeal_id: uuid.UUID, status: AppealStatus, note: str | None,
                  version: int, principal: Principal, actor: ActorRef) -> Appeal:
    appeal = load(session=session, appeal_id=appeal_id, principal=principal, for_update=True)
    if appeal.version != version:
        raise VersionMismatch(
            f"appeal was changed by someone else (you sent version {version}, current is {appeal.version});"
            " reload it and apply your change again", detail={"current_version": appeal.version})
    old = AppealStatus(appeal.status)
    refusal = check_transition(old, status, note=note, role=principal.role)
    if refusal is not None:
        raise InvalidData.one(refusal.field, refusal.rule, refusal.message)
    now = utcnow()
    appeal.status, appeal.updated_at = status.value, now
    appeal.version += 1
    if status in FINAL:
        appeal.open_key, appeal.closed_at = None, now
    if appeal.task_id is not None:
        if status is AppealStatus.re_surveyed:
            tasks.close_task(session, appeal.task_id, "done")
        elif status is AppealStatus.rejected and old in BEFORE_VISIT:
            tasks.close_task(session, appeal.task_id, "cancelled")
    session.add(appeal)
    _event(session, appeal, old, status, actor, note, now)
    changes: dict[str, list[object]] = {"status": [old.value, status.value]}
    if note:
        changes["note"] = [None, note]
    audit.record(session, actor=actor, action="update", entity_type="appeal", entity_id=str(appeal.id),
                 household_id=appeal.household_id, version=appeal.version, changes=changes)
    session.flush()
    return appeal


def _event(session: Session, appeal: Appeal, old: AppealStatus | None, new: AppealStatus, actor: ActorRef,
           note: str | None, now: datetime) -> None:
    session.add(AppealEvent(appeal_id=appeal.id, from_status=old.value if old else None, to_status=new.value,
                            by_user_id=actor.user_id, by_name=actor.name[:64], channel=actor.channel[:16],
                            note=note, at=now))


def latest_for_resident(session: Session, household_id: uuid.UUID) -> Appeal | None:
    return repository.latest_of_household(session, household_id)

