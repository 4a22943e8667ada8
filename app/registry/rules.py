"""Rules that need a whole record, checked on the state a write would produce.

Pure functions: they take plain mappings and return problems (errors) or warnings, each
naming the field and the rule, so the API, sync and SMS channels share one rule book.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.errors import FieldProblem
from app.registry.identifiers import IdentifierInvalid, nik_consistency, parse_nik


def member_problems(state: Mapping[str, Any], *, prefix: str = "") -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    nik = state.get("nik")
    if nik:
        try:
            info = parse_nik(nik)
        except IdentifierInvalid as exc:  # stored data from before a rule existed
            problems.append(FieldProblem(field=f"{prefix}nik", rule=exc.problem.rule,
                                         message=exc.problem.message))
        else:
            for p in nik_consistency(info, birth_date=state.get("birth_date"), sex=state.get("sex")):
                problems.append(FieldProblem(field=f"{prefix}nik", rule=p.rule, message=p.message))
    if state.get("pregnant") and state.get("sex") != "female":
        problems.append(FieldProblem(field=f"{prefix}pregnant", rule="pregnant_female_only",
                                     message="only a female member can be pregnant"))
    if state.get("death_date") is not None and state.get("alive", True):
        problems.append(FieldProblem(field=f"{prefix}death_date", rule="death_date_requires_deceased",
                                     message="death_date is set but alive is true"))
    if state.get("disability_severe") and state.get("disability") in (None, "none"):
        problems.append(FieldProblem(field=f"{prefix}disability_severe", rule="severity_needs_disability",
                                     message="disability_severe needs a disability other than none"))
    birth, death = state.get("birth_date"), state.get("death_date")
    if birth is not None and death is not None and death < birth:
        problems.append(FieldProblem(field=f"{prefix}death_date", rule="after_birth_date",
                                     message="death_date is before birth_date"))
    return problems


def head_problems(relations: Sequence[str], *, field: str = "members") -> list[FieldProblem]:
    heads = sum(1 for r in relations if r == "head")
    if heads == 1:
        return []
    if heads == 0:
        return [FieldProblem(field=field, rule="one_head",
                             message="a household needs exactly one member with relation head")]
    return [FieldProblem(field=field, rule="one_head",
                         message=f"a household has exactly one head, got {heads}")]


def member_warnings(state: Mapping[str, Any], *, prefix: str = "") -> list[FieldProblem]:
    nik = state.get("nik")
    if not nik:
        return []
    try:
        info = parse_nik(nik)
    except IdentifierInvalid:
        return []
    if info.in_ternate:
        return []
    return [FieldProblem(field=f"{prefix}nik", rule="region_not_ternate",
                         message="NIK was first issued outside Kota Ternate; valid, but check "
                                 "the person has moved here")]
