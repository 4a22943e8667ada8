"""The fleet on each link profile, on both engines: the invariants of issue 4 hold.

Each run prints its seed; ``Fleet(..., seed=N)`` replays the same faults and work.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.netsim.fleet import Fleet
from tests.conftest import reference_database

# (profile, time_scale): durations divided and bandwidth multiplied by time_scale, so a CI
# run keeps each profile's shape in seconds instead of minutes
PROFILES = [("kota", 1.0), ("hiri", 20.0), ("moti", 40.0)]


@pytest.mark.parametrize(("profile", "time_scale"), PROFILES, ids=[p for p, _ in PROFILES])
def test_fleet_invariants(profile: str, time_scale: float, db_kind: str, tmp_path: Path) -> None:
    with reference_database(db_kind, tmp_path) as engine:
        url = engine.url.render_as_string(hide_password=False)
        fleet = Fleet(engine, url, tmp_path, profile=profile, devices=4, families=3,
                      time_scale=time_scale, deadline=120)
        print(f"fleet seed {fleet.seed} ({profile}, {db_kind})")
        report = fleet.run()
    print("\n".join(report.lines()))
    assert report.server_kills == 2, "the server was not killed during the pushes"
    assert (report.lost, report.duplicates, report.lost_edits, report.stuck, report.diverged) == (
        0, 0, [], [], []), "\n".join(report.lines())
    assert report.converged == report.devices == 4
    assert report.acknowledged == report.mutations > 0
    # the overlaps happened: both review-queue and policy-decided conflicts exist
    assert report.conflicts_open >= 2 and report.conflicts_auto >= 2
