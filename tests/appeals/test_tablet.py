"""The re-verification visit of an appeal on the enumerator's tablet: pulled in its
kelurahan only, and gone once the house is re-surveyed."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from app.appeals import service
from app.appeals.models import Appeal
from app.appeals.rules import About, AppealStatus
from app.auth.models import Role
from tests import factories as f
from tests.appeals.conftest import STAFF, principal
from tests.sync.test_sms_fallback import Tablets, tablets  # noqa: F401 (the fixture)


def test_the_tablet_pulls_the_visit_and_drops_it_when_re_surveyed(
        tablets: Tablets, db: Session, file: Callable[..., Appeal]) -> None:  # noqa: F811
    hiri = tablets.new()
    moti = tablets.new(tablets.make_account("enumerator", kelurahan=(f.MOTI_KELURAHAN,)))
    appeal = file(About.decision, "pkh")
    db.commit()
    hiri.sync()
    moti.sync()
    (task,) = hiri.tasks()
    assert (task.kind, task.id, task.kelurahan_code) == ("reverify_appeal", str(appeal.task_id), f.HIRI_FAUDU)
    assert task.note.startswith("Sanggah hasil kelayakan pkh: Rumah sudah rusak")
    assert moti.tasks() == []

    enumerator = principal(Role.enumerator, (f.HIRI_FAUDU,))
    for to in (AppealStatus.visit_scheduled, AppealStatus.re_surveyed):
        service.change_status(session=db, appeal_id=appeal.id, status=to, note=None, version=appeal.version,
                              principal=enumerator, actor=STAFF)
    db.commit()
    hiri.sync()
    assert hiri.tasks() == []
