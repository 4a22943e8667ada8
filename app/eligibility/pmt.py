"""The PMT estimate: a family's desil ESTIMATED from its field-visit answers.

A linear model of the log of monthly per-capita spending (``seed_data/pmt.toml``: variables,
weights, cut-offs, version, and the source and assumptions of each).  The weights are
illustrative until calibrated; every :class:`Estimate` says ``kind="estimate"`` /
``PERKIRAAN``, carries the model version, the effect of every variable and the variables
that were missing (and imputed).  Too many missing -> no desil: the family needs data.
"""

from __future__ import annotations

import math
import tomllib
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, NamedTuple

from app.eligibility.facts import ESTIMATE_LABEL_EN, ESTIMATE_LABEL_ID, NO_DESIL, DesilInfo, FamilyFacts

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "seed_data" / "pmt.toml"

VarKind = Literal["numeric", "categorical", "flag"]


class Contribution(NamedTuple):
    variable: str
    value: Any  # the value used (the imputed one when the answer was missing)
    effect: float  # log points added to the reference family's prediction


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    kind: VarKind
    impute: Any
    weight: float = 0.0
    transform: Literal["log", "identity"] = "identity"
    reference: float = 0.0
    floor: float | None = None
    effects: Mapping[str, float] | None = None

    def effect(self, value: Any) -> float:
        if self.kind == "flag":
            return self.weight if value else 0.0
        if self.kind == "categorical":
            assert self.effects is not None
            return self.effects[str(value)]
        return self.weight * (self._t(float(value)) - self._t(self.reference))

    def _t(self, x: float) -> float:
        if self.floor is not None:
            x = max(x, self.floor)
        return math.log(x) if self.transform == "log" else x


@dataclass(frozen=True, slots=True)
class PmtModel:
    version: str
    reference_log_pc_spending: float
    cutoffs_log: tuple[float, ...]  # 9 increasing cut-offs on the log scale
    variables: tuple[Variable, ...]
    max_missing: int
    required: frozenset[str]

    def desil_of(self, predicted: float) -> int:
        return bisect_right(self.cutoffs_log, predicted) + 1


@dataclass(frozen=True, slots=True)
class Estimate:
    desil: int | None  # None: too much missing, needs data
    predicted_log_pc_spending: float | None
    model_version: str
    contributions: tuple[Contribution, ...]
    missing: tuple[str, ...]
    kind: Literal["estimate"] = "estimate"
    label_id: str = ESTIMATE_LABEL_ID  # "PERKIRAAN": how every reader sees it
    label_en: str = ESTIMATE_LABEL_EN

    @property
    def needs_data(self) -> bool:
        return self.desil is None

    @property
    def predicted_pc_spending(self) -> int | None:
        """Rupiah per person per month (rounded to Rp 1,000)."""
        p = self.predicted_log_pc_spending
        return None if p is None else int(round(math.exp(p), -3))

    def desil_info(self) -> DesilInfo:
        return NO_DESIL if self.desil is None else DesilInfo.estimate(self.desil, self.model_version)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label_id,
            "desil": self.desil,
            "predicted_log_pc_spending": self.predicted_log_pc_spending,
            "model_version": self.model_version,
            "missing": list(self.missing),
            "contributions": [list(c) for c in self.contributions],
        }


def load_model(path: Path = DEFAULT_MODEL) -> PmtModel:
    """Read and check the model file; a ValueError names the variable and the problem."""
    return model_from_dict(tomllib.loads(path.read_text(encoding="utf-8")))


def model_from_dict(data: Mapping[str, Any]) -> PmtModel:
    try:
        version = str(data["version"])
        cutoffs = [float(c) for c in data["cutoffs_rupiah"]]
        if len(cutoffs) != 9 or any(b <= a for a, b in pairwise(cutoffs)):
            raise ValueError("cutoffs_rupiah: 9 increasing amounts (upper bounds of desil 1-9)")
        variables = tuple(_variable(v) for v in data["variables"])
        names = [v.name for v in variables]
        unknown = set(names) - set(DERIVED)
        if unknown:
            raise ValueError(f"unknown variable(s) {sorted(unknown)} (known: {sorted(DERIVED)})")
        if len(set(names)) != len(names):
            raise ValueError("a variable is listed twice")
        required = frozenset(data.get("required", ()))
        if not required <= set(names):
            raise ValueError(f"required names a variable not in the model: {sorted(required - set(names))}")
        return PmtModel(
            version=version,
            reference_log_pc_spending=float(data["reference_log_pc_spending"]),
            cutoffs_log=tuple(math.log(c) for c in cutoffs),
            variables=variables,
            max_missing=int(data.get("max_missing", 6)),
            required=required,
        )
    except KeyError as exc:
        raise ValueError(f"PMT model: missing key {exc}") from None


def _variable(v: Mapping[str, Any]) -> Variable:
    name = v.get("name", "?")
    kind = v.get("kind")
    if kind == "categorical":
        effects = {str(k): float(x) for k, x in v.get("effects", {}).items()}
        if str(v.get("impute")) not in effects:
            raise ValueError(f"PMT variable {name}: impute {v.get('impute')!r} is not one of its levels")
        return Variable(name, "categorical", impute=str(v["impute"]), effects=effects)
    if kind == "flag":
        return Variable(name, "flag", impute=bool(v.get("impute", False)), weight=float(v["weight"]))
    if kind == "numeric":
        transform = v.get("transform", "identity")
        if transform not in ("log", "identity"):
            raise ValueError(f"PMT variable {name}: transform must be log or identity")
        floor = v.get("floor")
        return Variable(
            name,
            "numeric",
            impute=float(v["impute"]),
            weight=float(v["weight"]),
            transform=transform,
            reference=float(v["reference"]),
            floor=None if floor is None else float(floor),
        )
    raise ValueError(f"PMT variable {name}: kind must be numeric, categorical or flag")


# ---------------------------------------------------------------- variables from the facts
@dataclass(frozen=True, slots=True)
class _Family:
    facts: FamilyFacts
    ages: tuple[int | None, ...]  # living members at the date

    @property
    def size(self) -> int:
        return len(self.ages)


def _household(name: str) -> Callable[[_Family], Any]:
    return lambda f: f.facts.household.get(name)


def _dependency_share(f: _Family) -> float | None:
    if not f.ages or None in f.ages:
        return None
    return sum(1 for a in f.ages if a is not None and (a < 15 or a >= 65)) / len(f.ages)


def _floor_area_pp(f: _Family) -> float | None:
    area = f.facts.household.get("floor_area_m2")
    return None if area is None or not f.size else area / f.size


def _power_class(f: _Family) -> str | None:
    va, light = f.facts.household.get("power_va"), f.facts.household.get("lighting_source")
    if light in ("none", "non_pln") or va == 0:
        return "none"
    if va is None:
        return None
    return "450" if va <= 450 else "900" if va <= 900 else "1300" if va <= 1300 else "2200_plus"


def _head(attr: str) -> Callable[[_Family], Any]:
    def get(f: _Family) -> Any:
        head = f.facts.head
        return None if head is None else getattr(head, attr)

    return get


DERIVED: dict[str, Callable[[_Family], Any]] = {
    "household_size": lambda f: f.size or None,
    "dependency_share": _dependency_share,
    "floor_area_per_person": _floor_area_pp,
    "power_class": _power_class,
    "head_education": _head("education"),
    "head_occupation": _head("occupation"),
    **{
        n: _household(n)
        for n in (
            "floor_material",
            "wall_material",
            "roof_material",
            "water_source",
            "toilet_facility",
            "cooking_fuel",
        )
    },
    **{
        f"asset_{a}": _household(f"asset_{a}")
        for a in (
            "car",
            "ac",
            "fridge",
            "computer",
            "water_heater",
            "other_house",
            "motorbike",
            "gold_10g",
            "motorboat",
            "lpg_5_5kg",
            "internet",
            "smartphone",
            "bank_account",
            "land",
            "tv",
            "landline",
            "boat",
            "bicycle",
        )
    },
}


def estimate(model: PmtModel, facts: FamilyFacts, reference_date: date) -> Estimate:
    """Estimate the family's desil at ``reference_date`` (ages, who is alive)."""
    ages = tuple(
        m.age_at(reference_date)
        for m in facts.members
        if m.alive_at(reference_date) and (m.birth_date is None or m.birth_date <= reference_date)
    )
    family = _Family(facts, ages)
    total = model.reference_log_pc_spending
    contributions: list[Contribution] = []
    missing: list[str] = []
    for var in model.variables:
        value = DERIVED[var.name](family)
        if value is not None and var.kind == "categorical" and str(value) not in (var.effects or {}):
            value = None  # a code the model has no weight for counts as missing
        if value is None:
            missing.append(var.name)
            value = var.impute
        effect = round(var.effect(value), 6)
        total += effect
        contributions.append(Contribution(var.name, value, effect))
    if len(missing) > model.max_missing or model.required & set(missing):
        return Estimate(None, None, model.version, tuple(contributions), tuple(missing))
    predicted = round(total, 6)
    return Estimate(model.desil_of(predicted), predicted, model.version, tuple(contributions), tuple(missing))
