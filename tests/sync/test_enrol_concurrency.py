"""A room of enumerators enrolling their tablets at the same moment (a training day; found by
bench/bench_load.py): every enrolment succeeds and every tablet gets its own SMS number."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.auth import repository as auth_repository
from app.auth.models import User
from app.auth.security import create_access_token
from app.sync.models import Device
from tests.conftest import LiveApp, password_hash, settings_for
from tests.factories import HIRI_FAUDU
from tests.sync.conftest import V1

TABLETS = 12


def test_tablets_enrolling_at_once_all_get_a_number(live_app: LiveApp) -> None:
    settings = settings_for(live_app.engine.url.render_as_string(hide_password=False))
    tokens = []
    with Session(live_app.engine) as s:
        for k in range(TABLETS):
            user = auth_repository.add_user(s, User(username=f"enum.room.{k}", password_hash=password_hash(),
                                                    role="enumerator"), [HIRI_FAUDU])
            s.flush()
            tokens.append(create_access_token(settings=settings, user_id=user.id or 0, role="enumerator")[0])
        s.commit()
    start = threading.Barrier(TABLETS)
    answers: dict[int, tuple[int, str]] = {}

    def enrol(k: int) -> None:
        with TestClient(live_app.app) as client:
            start.wait()
            r = client.post("/sync/v1/devices", json={"device_id": f"tab-room-{k:02d}"},
                            headers={**V1, "Authorization": f"Bearer {tokens[k]}"})
            answers[k] = (r.status_code, r.text)

    threads = [threading.Thread(target=enrol, args=(k,)) for k in range(TABLETS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "an enrolment hung"
    assert {k: a for k, a in answers.items() if a[0] != 201} == {}
    with Session(live_app.engine) as s:
        numbers = s.exec(select(Device.sms_number)).all()
    assert len(numbers) == TABLETS and len(set(numbers)) == TABLETS
