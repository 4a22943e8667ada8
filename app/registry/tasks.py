"""Field tasks: visits an enumerator of the kelurahan must make (see models.FieldTask).

The registry keeps them in step with their household: verifying a self-registered household
(its status leaving ``self_reported``) marks its verification task done, deleting the
household cancels its tasks, and moving it to another kelurahan moves its open tasks (the
old kelurahan's tablets get a tombstone).  Every change is in the change feed, so tablets
always hold the open tasks of their area.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from app.db import utcnow
from app.registry.models import FieldTask, Household
from app.sync import changes as changefeed

VERIFY_LEAD = "verify_lead"
VERIFY_DEATH = "verify_death"  # Dukcapil records a death the registry does not
REVERIFY_APPEAL = "reverify_appeal"  # a resident appealed (sanggah): re-survey the house


def open_task(session: Session, household: Household, *, kind: str, note: str) -> FieldTask:
    task = FieldTask(household_id=household.id, kelurahan_code=household.kelurahan_code, kind=kind,
                     note=note[:200])
    session.add(task)
    _publish(session, task)
    return task


def close_tasks(session: Session, household_id: uuid.UUID, status: str, *, kind: str | None = None) -> None:
    """Close the household's open tasks (of one kind, or all) as ``done`` or ``cancelled``."""
    now = utcnow()
    for task in _open(session, household_id):
        if kind is None or task.kind == kind:
            task.status, task.closed_at, task.updated_at = status, now, now
            task.version += 1
            session.add(task)
            _publish(session, task)


def close_task(session: Session, task_id: uuid.UUID, status: str) -> bool:
    """Close one task (``done`` or ``cancelled``) if it is still open; whether it was."""
    task = session.get(FieldTask, task_id)
    if task is None or task.status != "open":
        return False
    now = utcnow()
    task.status, task.closed_at, task.updated_at = status, now, now
    task.version += 1
    session.add(task)
    _publish(session, task)
    return True


def follow_move(session: Session, household: Household, previous_kelurahan: str) -> None:
    for task in _open(session, household.id):
        task.kelurahan_code, task.updated_at = household.kelurahan_code, utcnow()
        task.version += 1
        session.add(task)
        _publish(session, task, previous_kelurahan=previous_kelurahan)


def _open(session: Session, household_id: uuid.UUID) -> list[FieldTask]:
    return list(session.exec(select(FieldTask).where(FieldTask.household_id == household_id,
                                                     FieldTask.status == "open")).all())


def _publish(session: Session, task: FieldTask, previous_kelurahan: str | None = None) -> None:
    changefeed.note(session, entity="task", entity_id=task.id, household_id=task.household_id,
                    kelurahan_code=task.kelurahan_code, version=task.version,
                    previous_kelurahan=previous_kelurahan)
