"""Three-way field merge with per-field policies: a pure function, no I/O.

The device sends the fields it changed and the ``base_version`` it had; the server knows
which fields changed since that version (and not by this device).  For every field the
device changed:

- the server did not change it since base_version: take the device's value;
- the server changed it to the SAME value: nothing to do (both sides agree);
- the server changed it to a different value: the field's policy decides, and the losing
  value is reported so that it can be kept with the conflict record:

  ``server_if_verified``  identity fields: keep the server value when the record was
                          verified against Dukcapil, else send to review;
  ``later_visit``         observations: the value from the later field visit wins
                          (equal or unknown visit dates go to review);
  ``server_wins``         keep the server value (the device value is still recorded);
  ``review``              a supervisor decides; the server value stays meanwhile.

Fields the server changed and the device did not touch are simply kept: the mutation is
then reported as ``merged``.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sync_protocol.messages import Outcome, Resolution


class Policy(StrEnum):
    server_if_verified = "server_if_verified"
    later_visit = "later_visit"
    server_wins = "server_wins"
    review = "review"


@dataclass(frozen=True)
class FieldPolicies:
    """Per entity, an ordered list of (pattern, policy); first match wins; else ``default``."""

    rules: Mapping[str, tuple[tuple[str, Policy], ...]]
    default: Policy = Policy.review

    def policy_for(self, entity: str, field_name: str) -> Policy:
        for pattern, policy in self.rules.get(entity, ()):
            if fnmatch.fnmatchcase(field_name, pattern):
                return policy
        return self.default

    @classmethod
    def from_toml(cls, text: str) -> FieldPolicies:
        """``default = "review"`` and one table per entity: ``policy = ["field", "glob*"]``."""
        raw = tomllib.loads(text)
        default = Policy(raw.pop("default", Policy.review.value))
        rules: dict[str, tuple[tuple[str, Policy], ...]] = {}
        for entity, table in raw.items():
            if not isinstance(table, dict):
                raise ValueError(f"[{entity}] must be a table of policy = [fields]")
            pairs: list[tuple[str, Policy]] = []
            for policy_name, patterns in table.items():
                policy = Policy(policy_name)  # ValueError names an unknown policy
                if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                    raise ValueError(f"[{entity}] {policy_name} must be a list of field names")
                pairs += [(p, policy) for p in patterns]
            # exact names before globs, so "asset_car" can override "asset_*"
            pairs.sort(key=lambda pair: any(ch in pair[0] for ch in "*?["))
            rules[entity] = tuple(pairs)
        return cls(rules=rules, default=default)


@dataclass(frozen=True)
class MergeContext:
    server_verified: bool = False        # identity checked against Dukcapil
    device_visit: date | None = None     # field-visit date the device's values come from
    server_visit: date | None = None     # field-visit date of the server's current values


@dataclass(frozen=True)
class FieldDecision:
    field: str
    server_value: Any
    device_value: Any
    policy: Policy
    resolution: Resolution


@dataclass
class MergeResult:
    apply: dict[str, Any] = field(default_factory=dict)   # fields to write now
    merged_fields: list[str] = field(default_factory=list)
    decisions: list[FieldDecision] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        if self.decisions:
            return Outcome.conflict
        return Outcome.merged if self.merged_fields else Outcome.applied

    @property
    def pending(self) -> list[FieldDecision]:
        return [d for d in self.decisions if d.resolution is Resolution.pending_review]


def _decide(policy: Policy, ctx: MergeContext) -> Resolution:
    if policy is Policy.server_wins:
        return Resolution.server_kept
    if policy is Policy.server_if_verified:
        return Resolution.server_kept if ctx.server_verified else Resolution.pending_review
    if policy is Policy.later_visit:
        if ctx.device_visit is None or ctx.server_visit is None or ctx.device_visit == ctx.server_visit:
            return Resolution.pending_review
        return (Resolution.device_applied if ctx.device_visit > ctx.server_visit
                else Resolution.server_kept)
    return Resolution.pending_review


def merge_fields(*, entity: str, device: Mapping[str, Any], server: Mapping[str, Any],
                 changed_on_server: Collection[str], policies: FieldPolicies,
                 context: MergeContext = MergeContext()) -> MergeResult:
    """Decide, field by field, what a device's update does to the server's current record.

    ``device``: the fields the device changed, with its new values (already normalised the
    way the server stores them).  ``server``: the server's current values.
    ``changed_on_server``: fields changed since the device's base_version by anyone else.
    """
    result = MergeResult()
    changed = set(changed_on_server)
    result.merged_fields = sorted(changed - set(device))
    for name, value in device.items():
        current = server.get(name)
        if name not in changed:
            if value != current:
                result.apply[name] = value
            continue
        if value == current:
            continue  # both sides made the same change
        policy = policies.policy_for(entity, name)
        resolution = _decide(policy, context)
        if resolution is Resolution.device_applied:
            result.apply[name] = value
        result.decisions.append(FieldDecision(field=name, server_value=current, device_value=value,
                                              policy=policy, resolution=resolution))
    return result
