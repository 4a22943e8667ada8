"""Eligibility, the pure core: facts, desil provenance, the PMT estimate, programme rules,
decisions with reasons, and the comparison of two runs (docs/eligibility.md).

Nothing in this package touches the database: plain dataclasses in, plain dataclasses out.
"""

from app.eligibility.calibration import CalibrationReport, calibration_report
from app.eligibility.compare import Comparison, Transition, compare
from app.eligibility.decide import Decision, Reason, evaluate
from app.eligibility.facts import NO_DESIL, DesilInfo, FamilyFacts, PersonFacts, facts_from_rows
from app.eligibility.loader import load_ruleset, parse_ruleset
from app.eligibility.pmt import Estimate, PmtModel, estimate, load_model
from app.eligibility.rules import RuleError, RuleSet, RuleSetInvalid

__all__ = [
    "NO_DESIL",
    "CalibrationReport",
    "Comparison",
    "Decision",
    "DesilInfo",
    "Estimate",
    "FamilyFacts",
    "PersonFacts",
    "PmtModel",
    "Reason",
    "RuleError",
    "RuleSet",
    "RuleSetInvalid",
    "Transition",
    "calibration_report",
    "compare",
    "estimate",
    "evaluate",
    "facts_from_rows",
    "load_model",
    "load_ruleset",
    "parse_ruleset",
]
