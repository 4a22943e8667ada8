"""The decision function: a family's facts and desil + a rule set -> one decision per programme.

``evaluate`` is pure and deterministic: the same facts, desil, rule set and reference date
give equal decisions in the same order (programmes in rule-file order; for person-level
programmes, members in key order).  The database side stores :meth:`Decision.as_dict` and
can compare :meth:`Decision.fingerprint` to skip writing an unchanged decision.

How an outcome is reached (per programme, and per person for person-level ones):

1. an exclusion that holds -> ``not_eligible``, whatever else is true or unknown;
2. the conditions (``when``) fail -> ``not_eligible`` with the failing reasons;
3. they cannot be decided (no desil, an input missing) -> ``needs_data``;
4. they hold, but an exclusion could not be checked (``if_unknown: needs_data``) -> ``needs_data``;
5. otherwise ``eligible`` with the reasons that made it so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from app.eligibility import fields as F
from app.eligibility.conditions import Context, Result, Text, Values, resolve
from app.eligibility.facts import DesilInfo, FamilyFacts, member_values
from app.eligibility.rules import Exclusion, Programme, RuleSet, Unit

Outcome = Literal["eligible", "not_eligible", "needs_data"]
ReasonKind = Literal["condition", "exclusion", "target"]
ELIGIBLE: Outcome = "eligible"
NOT_ELIGIBLE: Outcome = "not_eligible"
NEEDS_DATA: Outcome = "needs_data"
OUTCOME_LABELS: dict[str, Text] = {
    ELIGIBLE: ("layak", "eligible"),
    NOT_ELIGIBLE: ("tidak layak", "not eligible"),
    NEEDS_DATA: ("perlu data", "needs data"),
}


@dataclass(frozen=True, slots=True)
class Reason:
    kind: ReasonKind
    rule: str  # the programme id, or the exclusion id
    holds: bool | None  # the answer this reason explains (None: could not be decided)
    text_id: str  # Bahasa Indonesia
    text_en: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rule": self.rule,
            "holds": self.holds,
            "text_id": self.text_id,
            "text_en": self.text_en,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    programme_id: str
    unit: Unit
    family_key: str
    member_key: str | None  # person-level programmes: who
    outcome: Outcome
    reasons: tuple[Reason, ...]
    missing: tuple[str, ...]  # inputs that would let a needs_data decision be made
    inputs: tuple[tuple[str, Any], ...]  # every input the rule reads, sorted (audit)
    desil: DesilInfo
    ruleset: str  # id@version
    ruleset_digest: str
    reference_date: date

    @property
    def subject(self) -> tuple[str, str, str | None]:
        return (self.programme_id, self.family_key, self.member_key)

    def text(self, lang: Literal["id", "en"] = "id") -> str:
        """``desil 3 (BPS 2026-Q1) <= 4; ada anak usia 0-6``."""
        return "; ".join(r.text_id if lang == "id" else r.text_en for r in self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "programme_id": self.programme_id,
            "unit": self.unit,
            "family_key": self.family_key,
            "member_key": self.member_key,
            "outcome": self.outcome,
            "reasons": [r.as_dict() for r in self.reasons],
            "missing": list(self.missing),
            "inputs": {k: _jsonable(v) for k, v in self.inputs},
            "desil": self.desil.as_dict(),
            "ruleset": self.ruleset,
            "ruleset_digest": self.ruleset_digest,
            "reference_date": self.reference_date.isoformat(),
        }

    def fingerprint(self) -> str:
        """sha256 of the decision's canonical JSON: equal inputs and rules, equal fingerprint."""
        raw = json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _jsonable(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


def build_context(
    facts: FamilyFacts, desil: DesilInfo, day: date
) -> tuple[Context, list[tuple[str, Values]]]:
    """The evaluation context at ``day``, and every member present then (alive or not)."""
    present: list[tuple[str, Values]] = []
    for person in facts.members:
        values = member_values(person, day)
        age = values["age"]
        if age is not None and age < 0:  # born after the reference date
            continue
        present.append((person.key, values))
    living = [(k, v) for k, v in present if v["alive"]]
    head = next(((k, v) for k, v in present if v["relation"] == "head"), None)
    household = dict(facts.household)
    household["member_count"] = len(living)
    area = household.get("floor_area_m2")
    household["floor_area_per_person"] = area / len(living) if area is not None and living else None
    return Context(household=household, members=living, head=head, desil=desil), present


def _inputs(
    programme: Programme, ctx: Context, present: Sequence[tuple[str, Values]]
) -> tuple[tuple[str, Any], ...]:
    """``desil*``, then ``household.<field>`` by name, then ``member[<key>].<field>`` by key
    and name: the same order for the same inputs."""
    out: list[tuple[str, Any]] = []
    member_fields: list[str] = []
    for name in programme.inputs:  # sorted
        scope, _, field = name.partition(".")
        if scope == "desil":
            d = ctx.desil
            out += [
                ("desil", d.desil),
                ("desil.period", d.period or d.model_version),
                ("desil.source", d.source),
            ]
        elif scope == "household":
            out.append((name, ctx.household.get(field)))
        else:
            member_fields.append(field)
    for key, values in present:  # in key order
        out.extend((f"member[{key}].{field}", values.get(field)) for field in member_fields)
    return tuple(out)


def _reasons(kind: ReasonKind, rule: str, result: Result) -> list[Reason]:
    return [Reason(kind, rule, result.value, t[0], t[1]) for t in resolve(result.texts)]


def _excluded(ex: Exclusion, result: Result) -> Reason:
    texts = resolve(result.texts)
    detail = ("; ".join(t[0] for t in texts), "; ".join(t[1] for t in texts))
    t = F.EXCLUDED
    return Reason(
        "exclusion",
        ex.id,
        True,
        t[0].format(ex.label[0]) + f" ({detail[0]})",
        t[1].format(ex.label[1]) + f" ({detail[1]})",
    )


def _check(ex: Exclusion, ctx: Context, cache: dict[str, Result]) -> Result:
    """An exclusion's answer; a family-level one is worked out once per family."""
    if ex.per_person:
        return ex.when.evaluate(ctx)
    if ex.id not in cache:
        cache[ex.id] = ex.when.evaluate(ctx)
    return cache[ex.id]


def _decide(
    programme: Programme, ctx: Context, cache: dict[str, Result]
) -> tuple[Outcome, list[Reason], tuple[str, ...]]:
    checked = [(ex, _check(ex, ctx, cache)) for ex in programme.exclude]
    hits = [_excluded(ex, r) for ex, r in checked if r.value is True]
    if hits:
        return NOT_ELIGIBLE, hits, ()
    main = programme.when.evaluate(ctx)
    reasons = _reasons("condition", programme.id, main)
    if main.value is False:
        return NOT_ELIGIBLE, reasons, ()
    unknown = [(ex, r) for ex, r in checked if r.value is None and ex.if_unknown == "needs_data"]
    missing = main.missing + tuple(m for _, r in unknown for m in r.missing)
    if main.value is None:
        return NEEDS_DATA, reasons, _dedupe(missing)
    if unknown:
        t = F.EXCLUSION_UNKNOWN
        for ex, r in unknown:
            texts = resolve(r.texts)
            why = ("; ".join(x[0] for x in texts), "; ".join(x[1] for x in texts))
            reasons.append(
                Reason(
                    "exclusion",
                    ex.id,
                    None,
                    t[0].format(ex.label[0], why[0]),
                    t[1].format(ex.label[1], why[1]),
                )
            )
        return NEEDS_DATA, reasons, _dedupe(missing)
    return ELIGIBLE, reasons, ()


def _dedupe(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def evaluate(ruleset: RuleSet, facts: FamilyFacts, desil: DesilInfo, reference_date: date) -> list[Decision]:
    """One decision per programme, and per member present at the date for person-level ones.

    A person-level programme decides about each member its ``target`` selects (all members
    present when it has none, the deceased included so that an exclusion can say why);
    a member the target leaves out gets no decision, one the target cannot place (e.g. no
    birth date) gets ``needs_data``.
    """
    ctx, present = build_context(facts, desil, reference_date)
    out: list[Decision] = []
    cache: dict[str, Result] = {}

    def decision(
        prog: Programme,
        member_key: str | None,
        outcome: Outcome,
        reasons: Sequence[Reason],
        missing: tuple[str, ...],
        inputs: tuple[tuple[str, Any], ...],
    ) -> Decision:
        return Decision(
            programme_id=prog.id,
            unit=prog.unit,
            family_key=facts.key,
            member_key=member_key,
            outcome=outcome,
            reasons=tuple(reasons),
            missing=missing,
            inputs=inputs,
            desil=desil,
            ruleset=ruleset.label,
            ruleset_digest=ruleset.digest,
            reference_date=reference_date,
        )

    for prog in ruleset.programmes:
        inputs = _inputs(prog, ctx, present)
        if prog.unit == "family":
            out.append(decision(prog, None, *_decide(prog, ctx, cache), inputs))
            continue
        for key, values in present:
            ctx.member = (key, values)
            if prog.target is not None:
                target = prog.target.evaluate(ctx)
                if target.value is False:
                    continue
                if target.value is None:
                    t = F.TARGET_UNKNOWN
                    reasons = [
                        Reason("target", prog.id, None, t[0].format(x[0]), t[1].format(x[1]))
                        for x in resolve(target.texts)
                    ]
                    out.append(decision(prog, key, NEEDS_DATA, reasons, _dedupe(target.missing), inputs))
                    continue
            out.append(decision(prog, key, *_decide(prog, ctx, cache), inputs))
        ctx.member = None
    return out
