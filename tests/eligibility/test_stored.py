"""The stored form of a decision: the fast fingerprint is the definition's, byte for byte."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.eligibility.decide import Decision, Reason, evaluate
from app.eligibility.facts import DesilInfo, FamilyFacts
from app.eligibility.loader import load_ruleset
from app.eligibility.stored import DecisionEncoder, content_fingerprint
from tests.eligibility.test_properties import desils, families

RULES = load_ruleset()
DAY = dt.date(2026, 6, 30)
NOW = dt.datetime(2026, 6, 30, 8, 0, tzinfo=dt.UTC)


def _check(encoder: DecisionEncoder, decisions: list[Decision]) -> None:
    encoder.next_family()
    for d in decisions:
        fp = encoder.fingerprint(d)
        assert fp == content_fingerprint(d)
        row = encoder.row(d, household_id=uuid.uuid4(), member_id=None, fp=fp, now=NOW)
        data = d.as_dict()
        for column in ("reasons", "missing", "inputs"):
            assert row[column] == json.dumps(data[column])  # what SQLAlchemy's JSON type writes


class TestDecisionEncoder:
    @settings(max_examples=120, deadline=None)
    @given(st.lists(st.tuples(families, desils), min_size=1, max_size=4))
    def test_fingerprints_and_columns_equal_the_definition(
        self, cases: list[tuple[FamilyFacts, DesilInfo]]
    ) -> None:
        encoder = DecisionEncoder(rule_set_id=1, run_id=1)  # one encoder: its caches span families
        for facts, desil in cases:
            _check(encoder, evaluate(RULES, facts, desil, DAY))

    def test_dates_non_ascii_and_numbers_that_equal_booleans(self) -> None:
        reason = Reason("condition", "pkh", True, "usia ≥ 60 — lansia", "aged ≥ 60")
        base: dict[str, Any] = {
            "programme_id": "pkh", "unit": "family", "family_key": "hh", "member_key": None,
            "outcome": "eligible", "reasons": (reason,), "missing": (),
            "desil": DesilInfo.official(3, "2026-Q1"), "ruleset": "x@1", "ruleset_digest": "d" * 64,
            "reference_date": DAY,
        }
        one = Decision(**base, inputs=(("household.power_va", 1), ("member[a].birth", dt.date(1960, 2, 29))))
        true = Decision(**base, inputs=(("household.power_va", True), ("member[a].birth", None)))
        _check(DecisionEncoder(rule_set_id=1, run_id=1), [one, true])
