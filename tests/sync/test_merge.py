"""The pure three-way field merge and the policy file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_protocol.merge import FieldPolicies, MergeContext, Policy, merge_fields
from sync_protocol.messages import Outcome, Resolution

POLICIES = FieldPolicies.from_toml(
    (Path(__file__).parents[2] / "seed_data" / "sync_field_policies.toml").read_text()
)


def test_the_shipped_policy_file() -> None:
    assert POLICIES.policy_for("household", "asset_car") is Policy.later_visit
    assert POLICIES.policy_for("household", "kk_number") is Policy.review
    assert POLICIES.policy_for("member", "nik") is Policy.server_if_verified
    assert POLICIES.policy_for("member", "unlisted_field") is Policy.review


def test_exact_names_beat_globs_and_bad_files_are_refused() -> None:
    p = FieldPolicies.from_toml('[household]\nlater_visit = ["asset_*"]\nreview = ["asset_car"]\n')
    assert (p.policy_for("household", "asset_car"), p.policy_for("household", "asset_tv")) == (
        Policy.review,
        Policy.later_visit,
    )
    with pytest.raises(ValueError, match="sometimes"):
        FieldPolicies.from_toml('[household]\nsometimes = ["asset_tv"]\n')
    with pytest.raises(ValueError, match="list"):
        FieldPolicies.from_toml('[household]\nreview = "asset_tv"\n')


def test_policies_decide_same_field_conflicts() -> None:
    later = MergeContext(device_visit=date(2026, 11, 20), server_visit=date(2026, 11, 10))
    earlier = MergeContext(device_visit=date(2026, 11, 1), server_visit=date(2026, 11, 10))
    args = {
        "entity": "household",
        "server": {"asset_tv": False},
        "changed_on_server": {"asset_tv"},
        "policies": POLICIES,
    }
    won = merge_fields(device={"asset_tv": True}, context=later, **args)  # type: ignore[arg-type]
    lost = merge_fields(device={"asset_tv": True}, context=earlier, **args)  # type: ignore[arg-type]
    tie = merge_fields(device={"asset_tv": True}, **args)  # type: ignore[arg-type]
    assert (won.apply, won.decisions[0].resolution) == ({"asset_tv": True}, Resolution.device_applied)
    assert (lost.apply, lost.decisions[0].resolution) == ({}, Resolution.server_kept)
    assert (tie.apply, tie.decisions[0].resolution) == ({}, Resolution.pending_review)
    assert won.outcome is lost.outcome is tie.outcome is Outcome.conflict
    verified = merge_fields(
        entity="member",
        device={"nik": "1"},
        server={"nik": "2"},
        changed_on_server={"nik"},
        policies=POLICIES,
        context=MergeContext(server_verified=True),
    )
    assert verified.decisions[0].resolution is Resolution.server_kept


values = st.one_of(st.none(), st.booleans(), st.integers(0, 5), st.sampled_from(["a", "b"]))
records = st.dictionaries(st.sampled_from(["asset_tv", "rt", "tenure", "kk_number", "x"]), values)


@given(
    device=records,
    server=records,
    changed=st.sets(st.sampled_from(["asset_tv", "rt", "tenure", "kk_number", "x"])),
)
def test_no_device_value_is_ever_dropped_silently(
    device: dict[str, object], server: dict[str, object], changed: set[str]
) -> None:
    """Every field the device sent is written, already equal, or carried in a decision."""
    result = merge_fields(
        entity="household", device=device, server=server, changed_on_server=changed, policies=POLICIES
    )
    decided = {d.field: d for d in result.decisions}
    for name, value in device.items():
        assert (
            result.apply.get(name, object()) == value
            or server.get(name) == value
            or decided[name].device_value == value
        )
        if name in decided:  # and the losing or pending server value is on record too
            assert decided[name].server_value == server.get(name)
    assert not set(result.apply) - set(device)
    assert set(result.merged_fields) == changed - set(device)
