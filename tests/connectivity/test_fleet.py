"""The fleet on each link profile, on both engines: the invariants of issue 4 hold.

Each run prints its seed; ``Fleet(..., seed=N)`` replays the same faults and work.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlmodel import Session

from app.netsim.fleet import Fleet
from app.registry.models import Household, KkHistory, Member
from app.sync.models import SyncMutation
from tests.conftest import reference_database

# (profile, time_scale): durations divided and bandwidth multiplied by time_scale, so a CI
# run keeps each profile's shape in seconds instead of minutes
PROFILES = [("kota", 1.0), ("hiri", 20.0), ("moti", 40.0)]


@pytest.mark.parametrize(("profile", "time_scale"), PROFILES, ids=[p for p, _ in PROFILES])
def test_fleet_invariants(profile: str, time_scale: float, db_kind: str, tmp_path: Path) -> None:
    with reference_database(db_kind, tmp_path) as engine:
        url = engine.url.render_as_string(hide_password=False)
        fleet = Fleet(
            engine, url, tmp_path, profile=profile, devices=4, families=3, time_scale=time_scale, deadline=120
        )
        print(f"fleet seed {fleet.seed} ({profile}, {db_kind})")
        report = fleet.run()
    print("\n".join(report.lines()))
    assert report.server_kills == 2, "the server was not killed during the pushes"
    assert (report.lost, report.duplicates, report.lost_edits, report.stuck, report.diverged) == (
        0,
        0,
        [],
        [],
        [],
    ), "\n".join(report.lines())
    assert report.converged == report.devices == 4
    assert report.acknowledged == report.mutations > 0
    # the overlaps happened: both review-queue and policy-decided conflicts exist
    assert report.conflicts_open >= 2 and report.conflicts_auto >= 2


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_the_checks_see_damage(db_kind: str, tmp_path: Path) -> None:
    """The invariant counts are not constant zeros: damage the data and they report it."""
    with reference_database(db_kind, tmp_path) as engine:
        fleet = Fleet(
            engine,
            engine.url.render_as_string(hide_password=False),
            tmp_path,
            profile="kota",
            devices=2,
            families=3,
            time_scale=1.0,
            kill_server=False,
            deadline=60,
        )
        assert fleet.run().ok
        registered = sorted(h for h in fleet.registered if h not in fleet.sms_households)
        with Session(engine) as s:
            a_member = (
                s.execute(select(Member).where(Member.household_id == uuid.UUID(registered[0])))
                .scalars()
                .first()
            )
            assert a_member is not None
            s.add(
                Member(
                    household_id=a_member.household_id,
                    full_name="Salinan",
                    sex="male",
                    relation="child",
                    birth_date=date(2010, 1, 1),
                )
            )  # a duplicate member
            s.execute(
                update(Household)
                .where(Household.id == uuid.UUID(registered[1]))
                .values(version=Household.version + 5)
            )  # a replica now stale
            gone = uuid.UUID(registered[2])  # an acknowledged create lost
            s.execute(delete(Member).where(Member.household_id == gone))
            s.execute(delete(KkHistory).where(KkHistory.household_id == gone))
            s.execute(
                delete(Household).where(Household.id == gone).execution_options(synchronize_session=False)
            )
            s.commit()
            assert s.execute(select(SyncMutation).where(SyncMutation.entity_id == gone)).first() is not None
        report = fleet.check()
    # lost counts acknowledged mutations: the create of the removed family and its visit edits
    assert report.lost >= 1 and report.duplicates == 1, report.lines()
    assert report.diverged and not report.ok
