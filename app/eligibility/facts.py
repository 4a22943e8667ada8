"""What eligibility reads about a family: plain, immutable facts, and the desil's provenance.

The facts are built from registry rows by :func:`facts_from_rows` (any objects with the
registry's attribute names, so SQLModel rows and test doubles both work) or directly.
Nothing here touches a database.

Two answers the form leaves blank but that are not unknown are filled in, and only these:
a man is not pregnant, and someone recorded with no disability has no severe disability.
Every other blank stays ``None`` (unknown), which the rules treat as "needs data".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any, Literal

# Household attributes copied into the facts: the field-visit form (housing, assets,
# livestock, programmes received) and where the family lives.
HOUSEHOLD_ATTRIBUTES: tuple[str, ...] = (
    "kelurahan_code",
    "tenure",
    "land_certificate",
    "floor_area_m2",
    "floor_material",
    "wall_material",
    "wall_condition",
    "roof_material",
    "roof_condition",
    "water_source",
    "septic_distance",
    "lighting_source",
    "power_va",
    "cooking_fuel",
    "toilet_facility",
    "toilet_type",
    "sewage_disposal",
    "asset_lpg_5_5kg",
    "asset_fridge",
    "asset_ac",
    "asset_water_heater",
    "asset_landline",
    "asset_tv",
    "asset_gold_10g",
    "asset_computer",
    "asset_motorbike",
    "asset_bicycle",
    "asset_car",
    "asset_boat",
    "asset_motorboat",
    "asset_smartphone",
    "asset_land",
    "asset_other_house",
    "asset_internet",
    "asset_bank_account",
    "livestock_cattle",
    "livestock_buffalo",
    "livestock_horse",
    "livestock_pig",
    "livestock_goat_sheep",
    "livestock_poultry",
    "receives_bpnt",
    "receives_pkh",
    "receives_electricity_subsidy",
    "receives_lpg_subsidy",
    "receives_local_aid",
)

# Education levels that mean 12 years of schooling are finished (SMA or higher).
TWELVE_YEARS_DONE = frozenset({"sma", "d1_d3", "d4_s1", "s2_s3"})
TWELVE_YEARS_NOT_DONE = frozenset({"none", "sd", "smp"})


@dataclass(frozen=True, slots=True)
class PersonFacts:
    key: str  # the member's id, as text
    relation: str | None = None
    sex: str | None = None
    birth_date: date | None = None
    pregnant: bool | None = None
    school_participation: str | None = None
    education: str | None = None
    occupation: str | None = None
    disability: str | None = None
    disability_severe: bool | None = None
    chronic_illness: bool | None = None
    health_insurance: str | None = None
    marital_status: str | None = None
    alive: bool = True
    death_date: date | None = None

    def age_at(self, day: date) -> int | None:
        """Full years at ``day``; ``None`` when the birth date is unknown.

        A birthday counts from the day itself: 6 on the sixth birthday, 21 on the 21st.
        Someone born on 29 February becomes a year older on 1 March in a common year
        (the birthday has not come until the calendar passes 28 February).
        """
        b = self.birth_date
        if b is None:
            return None
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def alive_at(self, day: date) -> bool:
        """Alive on ``day``: recorded alive, or died after it (a retrospective run)."""
        if self.alive:
            return True
        return self.death_date is not None and self.death_date > day


@dataclass(frozen=True, slots=True)
class FamilyFacts:
    key: str  # the household's id, as text
    household: Mapping[str, Any]  # HOUSEHOLD_ATTRIBUTES -> value (None: unknown)
    members: tuple[PersonFacts, ...] = ()

    def __post_init__(self) -> None:
        # immutable and ordered by member key, so that evaluation never depends on row order
        object.__setattr__(self, "household", MappingProxyType(dict(self.household)))
        object.__setattr__(self, "members", tuple(sorted(self.members, key=lambda m: m.key)))

    @property
    def head(self) -> PersonFacts | None:
        return next((m for m in self.members if m.relation == "head"), None)


DesilSource = Literal["official", "estimate"]

# How an estimate is named wherever a resident or an official reads it.
ESTIMATE_LABEL_ID = "PERKIRAAN"
ESTIMATE_LABEL_EN = "ESTIMATE"


@dataclass(frozen=True, slots=True)
class DesilInfo:
    """A family's desil and where it came from.

    ``official``: imported from BPS/DTSEN for ``period`` (e.g. ``2026-Q1``).
    ``estimate``: computed here by the PMT model ``model_version``; always labelled so.
    ``desil is None``: no desil yet ("belum ada desil").
    """

    desil: int | None = None
    source: DesilSource | None = None
    period: str | None = None
    model_version: str | None = None

    def __post_init__(self) -> None:
        if self.desil is None:
            if self.source is not None:
                raise ValueError("a desil source without a desil")
            return
        if not isinstance(self.desil, int) or isinstance(self.desil, bool) or not 1 <= self.desil <= 10:
            raise ValueError(f"desil must be an integer 1-10, got {self.desil!r}")
        if self.source == "official" and not self.period:
            raise ValueError("an official desil needs its BPS period (e.g. 2026-Q1)")
        if self.source == "estimate" and not self.model_version:
            raise ValueError("an estimated desil needs the PMT model version")
        if self.source not in ("official", "estimate"):
            raise ValueError(f"desil source must be official or estimate, got {self.source!r}")

    @classmethod
    def official(cls, desil: int, period: str) -> DesilInfo:
        return cls(desil, "official", period=period)

    @classmethod
    def estimate(cls, desil: int, model_version: str) -> DesilInfo:
        return cls(desil, "estimate", model_version=model_version)

    def label(self, lang: Literal["id", "en"]) -> str:
        """``desil 3 (BPS 2026-Q1)``, ``desil 3 (PERKIRAAN, model pmt-2026.1)``, ``belum ada desil``."""
        if self.desil is None:
            return "belum ada desil" if lang == "id" else "no desil yet"
        if self.source == "official":
            return f"desil {self.desil} (BPS {self.period})"
        word = ESTIMATE_LABEL_ID if lang == "id" else ESTIMATE_LABEL_EN
        return f"desil {self.desil} ({word}, model {self.model_version})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "desil": self.desil,
            "source": self.source,
            "period": self.period,
            "model_version": self.model_version,
        }


NO_DESIL = DesilInfo()


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


# The member attributes a person's facts are made of, in the order :func:`person_facts` takes them.
PERSON_ATTRIBUTES: tuple[str, ...] = (
    "id",
    "relation",
    "sex",
    "birth_date",
    "pregnant",
    "school_participation",
    "education",
    "occupation",
    "disability",
    "disability_severe",
    "chronic_illness",
    "health_insurance",
    "marital_status",
    "alive",
    "death_date",
)


def person_facts(
    member_id: Any,
    relation: str | None,
    sex: str | None,
    birth_date: date | None,
    pregnant: Any,
    school_participation: str | None,
    education: str | None,
    occupation: str | None,
    disability: str | None,
    disability_severe: Any,
    chronic_illness: Any,
    health_insurance: str | None,
    marital_status: str | None,
    alive: Any,
    death_date: date | None,
) -> PersonFacts:
    """A member's facts from its values (:data:`PERSON_ATTRIBUTES` order), the two blanks
    that are not unknown filled in. Batch reads pass selected columns positionally here:
    no attribute look-ups per row."""
    preg = _opt_bool(pregnant)
    if preg is None and sex == "male":
        preg = False
    severe = _opt_bool(disability_severe)
    if severe is None and disability == "none":
        severe = False
    return PersonFacts(
        key=str(member_id),
        relation=relation,
        sex=sex,
        birth_date=birth_date,
        pregnant=preg,
        school_participation=school_participation,
        education=education,
        occupation=occupation,
        disability=disability,
        disability_severe=severe,
        chronic_illness=_opt_bool(chronic_illness),
        health_insurance=health_insurance,
        marital_status=marital_status,
        alive=True if alive is None else bool(alive),
        death_date=death_date,
    )


def person_from_row(row: Any) -> PersonFacts:
    """A member row (or anything with the registry's member attributes) as facts."""
    # an attribute not there is unknown (None); ``alive`` not there means alive
    return person_facts(row.id, *(getattr(row, name, None) for name in PERSON_ATTRIBUTES[1:]))


def facts_from_rows(household: Any, members: Iterable[Any]) -> FamilyFacts:
    """Facts from a household row and its member rows (SQLModel rows or look-alikes).

    Members deleted or merged away (``deleted_at`` set) are left out: eligibility reads
    canonical records only.
    """
    values = {name: getattr(household, name, None) for name in HOUSEHOLD_ATTRIBUTES}
    people = tuple(person_from_row(m) for m in members if getattr(m, "deleted_at", None) is None)
    return FamilyFacts(key=str(household.id), household=values, members=people)


def member_values(person: PersonFacts, day: date) -> dict[str, Any]:
    """The member fields the rule vocabulary knows, derived ones included, at ``day``."""
    age = person.age_at(day)
    disability = person.disability
    edu = person.education
    return {
        "age": age,
        "sex": person.sex,
        "relation": person.relation,
        "pregnant": person.pregnant,
        "school_participation": person.school_participation,
        "education": edu,
        "finished_12_years": (
            True if edu in TWELVE_YEARS_DONE else False if edu in TWELVE_YEARS_NOT_DONE else None
        ),
        "occupation": person.occupation,
        "disability": disability,
        "disabled": None if disability is None else disability != "none",
        "disability_severe": person.disability_severe,
        "chronic_illness": person.chronic_illness,
        "health_insurance": person.health_insurance,
        "marital_status": person.marital_status,
        "alive": person.alive_at(day),
    }
