"""Hand-built families for the eligibility tests (plain objects, like registry rows)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from app.eligibility.facts import FamilyFacts, facts_from_rows

REF = dt.date(2026, 6, 30)  # the reference date of most tests


@dataclass
class Row:
    """A stand-in for a SQLModel row: only attributes."""

    id: str
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None


def born(age: int, *, on: dt.date = REF, days_after_birthday: int = 0) -> dt.date:
    """A birth date giving exactly ``age`` full years at ``on`` (+ some days)."""
    day = on - dt.timedelta(days=days_after_birthday)
    try:
        return day.replace(year=day.year - age)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year - age, day=28)


def member(key: str, *, relation: str = "child", age: int | None = 30, **values: Any) -> Row:
    data: dict[str, Any] = {
        "relation": relation, "sex": "female", "birth_date": born(age) if age is not None else None,
        "pregnant": False, "school_participation": "no_longer", "education": "sma",
        "occupation": "informal_worker", "disability": "none", "disability_severe": False,
        "chronic_illness": False, "health_insurance": "none", "alive": True, "death_date": None,
    }
    data.update(values)
    return Row(key, data)


def head(**values: Any) -> Row:
    values.setdefault("age", 45)
    values.setdefault("sex", "male")
    return member("m0-head", relation="head", **values)


MODEST_HOUSE: dict[str, Any] = {
    "kelurahan_code": "82.71.01.1001", "floor_area_m2": 36, "floor_material": "cement_brick",
    "wall_material": "brick_masonry", "roof_material": "zinc", "water_source": "refill",
    "toilet_facility": "own", "lighting_source": "pln_metered", "power_va": 900,
    "cooking_fuel": "lpg_3kg", "asset_car": False, "asset_ac": False, "asset_fridge": False,
    "asset_computer": False, "asset_water_heater": False, "asset_other_house": False,
    "asset_motorbike": True, "asset_gold_10g": False, "asset_motorboat": False,
    "asset_lpg_5_5kg": False, "asset_internet": False, "asset_smartphone": True,
    "asset_bank_account": False, "asset_land": False, "asset_tv": True,
}


def family(*members: Row, key: str = "hh-1", **house: Any) -> FamilyFacts:
    """A family with a head (unless one is given) living in MODEST_HOUSE, changed by ``house``."""
    people = list(members)
    if not any(m.relation == "head" for m in people):
        people.insert(0, head())
    return facts_from_rows(Row(key, {**MODEST_HOUSE, **house}), people)
