"""After the announcement's window has closed, a family whose decision changed later (a new
desil, a re-survey) may still appeal: its window opens on the day of its current decision."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from app.appeals import service as appeals
from app.appeals.rules import About, FiledBy
from app.config import Settings
from app.registry.models import Household
from tests.eligibility_db.helpers import ACTOR, young_family
from tests.eligibility_db.test_scoring import _official, _run


def test_the_current_decision_opens_a_window_of_its_own(db: Session, settings: Settings,
                                                        tmp_path: Path) -> None:
    fam, other = young_family(db), young_family(db)
    settings.appeal_window_opens = appeals.today_in_ternate() - timedelta(days=60)
    settings.appeal_window_days = 30
    _official(db, tmp_path, [(fam.head_nik, 3)])
    _run(db)
    decided = appeals.latest_decision_on(db, fam.id, "pkh")
    assert decided == appeals.today_in_ternate()

    household = db.get(Household, fam.id)
    assert household is not None
    appeal, created = appeals.file_appeal(session=db, settings=settings, household=household,
                                          about=About.decision, programme_id="pkh", reason="rumah rusak",
                                          channel=FiledBy.dinsos, actor=ACTOR)
    assert created and appeal.window_closes_on == decided + timedelta(days=29)

    # no decision for the programme and the announcement's window closed: refused
    assert appeals.latest_decision_on(db, other.id, "no_such_programme") is None
    late = db.get(Household, other.id)
    assert late is not None
    with pytest.raises(appeals.WindowClosed):
        appeals.file_appeal(session=db, settings=settings, household=late, about=About.decision,
                            programme_id="no_such_programme", reason="x", channel=FiledBy.dinsos, actor=ACTOR)
