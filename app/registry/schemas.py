"""API models of the registry.  Format rules live here; rules that need the whole record
(NIK vs birth date and sex, one head, ...) live in ``rules.py`` and run on the merged state."""

from __future__ import annotations

import types
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    Strict,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.errors import FieldProblem
from app.input import InputModel
from app.registry import identifiers
from app.registry.codes import (
    POWER_VA_CLASSES,
    Condition,
    CookingFuel,
    Disability,
    Education,
    FloorMaterial,
    HealthInsurance,
    LightingSource,
    MaritalStatus,
    Occupation,
    Relation,
    RoofMaterial,
    SchoolParticipation,
    SepticDistance,
    SewageDisposal,
    Sex,
    SourceChannel,
    Tenure,
    ToiletFacility,
    ToiletType,
    VerificationStatus,
    WallMaterial,
    WaterSource,
)


def _wrap(check: Any) -> Any:
    def validator(value: str) -> Any:
        try:
            return check(value)
        except identifiers.IdentifierInvalid as exc:
            raise PydanticCustomError(exc.problem.rule, exc.problem.message) from None
    return validator


def _nik(value: str) -> str:
    return identifiers.parse_nik(value).nik


def _power_va(value: int) -> int:
    if value not in POWER_VA_CLASSES:
        raise PydanticCustomError("power_va_class",
                                  "power_va must be a PLN class: " + ", ".join(map(str, POWER_VA_CLASSES)))
    return value


def _not_future(value: date) -> date:
    if value > date.today():
        raise PydanticCustomError("not_in_future", "date cannot be in the future")
    if value.year < 1900:
        raise PydanticCustomError("after_1900", "date must be after 1900")
    return value


Nik = Annotated[str, AfterValidator(_wrap(_nik))]
KkNumber = Annotated[str, AfterValidator(_wrap(identifiers.parse_kk))]
Phone = Annotated[str, Field(max_length=32), AfterValidator(_wrap(identifiers.normalise_phone))]
SBool = Annotated[bool, Strict()]
Count = Annotated[int, Strict(), Field(ge=0, le=100_000)]
RtRw = Annotated[str, Field(pattern=r"^[0-9]{1,3}$", description="1-3 digits, stored as 3 (002)"),
                 AfterValidator(lambda v: v.zfill(3))]
PastDate = Annotated[date, AfterValidator(_not_future)]
PowerVa = Annotated[int, Strict(), AfterValidator(_power_va)]
Name = Annotated[str, Field(min_length=1, max_length=120, pattern=r"\S")]

MAX_MEMBERS = 30


class HouseholdData(InputModel):
    """Housing, asset, livestock and programme answers of the field-visit form."""

    address: str | None = Field(default=None, max_length=200)
    rt: RtRw | None = None
    rw: RtRw | None = None
    latitude: Annotated[float, Strict(), Field(ge=-11.5, le=6.5)] | None = None
    longitude: Annotated[float, Strict(), Field(ge=94.5, le=141.5)] | None = None
    phone: Phone | None = None
    survey_date: PastDate | None = None
    tenure: Tenure | None = None
    land_certificate: SBool | None = None
    floor_area_m2: Annotated[int, Strict(), Field(gt=0, le=10_000)] | None = None
    floor_material: FloorMaterial | None = None
    wall_material: WallMaterial | None = None
    wall_condition: Condition | None = None
    roof_material: RoofMaterial | None = None
    roof_condition: Condition | None = None
    water_source: WaterSource | None = None
    septic_distance: SepticDistance | None = None
    lighting_source: LightingSource | None = None
    power_va: PowerVa | None = None
    cooking_fuel: CookingFuel | None = None
    toilet_facility: ToiletFacility | None = None
    toilet_type: ToiletType | None = None
    sewage_disposal: SewageDisposal | None = None
    asset_lpg_5_5kg: SBool | None = None
    asset_fridge: SBool | None = None
    asset_ac: SBool | None = None
    asset_water_heater: SBool | None = None
    asset_landline: SBool | None = None
    asset_tv: SBool | None = None
    asset_gold_10g: SBool | None = None
    asset_computer: SBool | None = None
    asset_motorbike: SBool | None = None
    asset_bicycle: SBool | None = None
    asset_car: SBool | None = None
    asset_boat: SBool | None = None
    asset_motorboat: SBool | None = None
    asset_smartphone: SBool | None = None
    asset_land: SBool | None = None
    asset_other_house: SBool | None = None
    asset_internet: SBool | None = None
    asset_bank_account: SBool | None = None
    livestock_cattle: Count | None = None
    livestock_buffalo: Count | None = None
    livestock_horse: Count | None = None
    livestock_pig: Count | None = None
    livestock_goat_sheep: Count | None = None
    livestock_poultry: Count | None = None
    receives_bpnt: SBool | None = None
    receives_pkh: SBool | None = None
    receives_electricity_subsidy: SBool | None = None
    receives_lpg_subsidy: SBool | None = None
    receives_local_aid: SBool | None = None


class MemberData(InputModel):
    nik: Nik | None = None
    birth_place: str | None = Field(default=None, max_length=80)
    birth_date: PastDate | None = None
    marital_status: MaritalStatus | None = None
    education: Education | None = None
    school_participation: SchoolParticipation | None = None
    occupation: Occupation | None = None
    disability: Disability | None = None
    disability_severe: SBool | None = None
    chronic_illness: SBool | None = None
    pregnant: SBool | None = None
    health_insurance: HealthInsurance | None = None
    death_date: PastDate | None = None


class MemberCreate(MemberData):
    id: uuid.UUID | None = Field(default=None, description="client-generated UUID (optional)")
    full_name: Name
    sex: Sex
    relation: Relation
    alive: SBool = True


class MemberUpdate(MemberData):
    """Partial update: only the fields sent change; ``null`` clears an optional field."""

    version: Annotated[int, Strict(), Field(ge=1, description="the version you last read")]
    full_name: Name | None = None
    sex: Sex | None = None
    relation: Relation | None = None
    alive: SBool | None = None


class HouseholdCreate(HouseholdData):
    id: uuid.UUID | None = Field(default=None, description="client-generated UUID (optional)")
    kelurahan_code: str = Field(max_length=16, description="Kemendagri or BPS code")
    kk_number: KkNumber | None = None
    verification_status: VerificationStatus | None = Field(
        default=None, description="defaults to field_verified for enumerators, else self_reported")
    members: list[MemberCreate] = Field(min_length=1, max_length=MAX_MEMBERS)

    @model_validator(mode="after")
    def _distinct_members(self) -> HouseholdCreate:
        niks = [m.nik for m in self.members if m.nik]
        if len(niks) != len(set(niks)):
            raise PydanticCustomError("nik_unique_in_household", "the same NIK appears twice")
        ids = [m.id for m in self.members if m.id]
        if len(ids) != len(set(ids)):
            raise PydanticCustomError("id_unique", "the same member id appears twice")
        return self


class HouseholdUpdate(HouseholdData):
    version: Annotated[int, Strict(), Field(ge=1, description="the version you last read")]
    kelurahan_code: str | None = Field(default=None, max_length=16)
    kk_number: KkNumber | None = None
    kk_change_reason: str | None = Field(default=None, max_length=200,
                                         description="why the KK number changed (kept in KK history)")
    verification_status: VerificationStatus | None = None


def _unconstrained(annotation: Any) -> Any:
    """The type without its input rules (validators, ranges, strictness); enums are kept."""
    if get_origin(annotation) is Annotated:
        return _unconstrained(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return Union[tuple(_unconstrained(a) for a in get_args(annotation))]  # noqa: UP007
    return annotation


def _output_fields(model: type[BaseModel], *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {name: (_unconstrained(f.annotation), None) for name, f in model.model_fields.items()
            if name not in skip}


# Output models are built from the input models minus their rules: a row stored before a
# rule existed (an import, an older code list) must still be readable and exportable.
_MemberDataOut: type[BaseModel] = create_model(
    "MemberDataOut", **_output_fields(MemberData, skip=frozenset({"nik", "birth_date"})))
_HouseholdDataOut: type[BaseModel] = create_model(
    "HouseholdDataOut", **_output_fields(HouseholdData, skip=frozenset({"phone"})))


class MemberPublic(_MemberDataOut):
    id: uuid.UUID
    nik: str | None = Field(default=None, description="masked (8271********0001) for some roles")
    full_name: str
    sex: Sex
    relation: Relation
    birth_date: date | None = Field(
        default=None, description="withheld for roles that see NIKs masked (it would unmask them)")
    birth_year: int | None = None
    alive: bool
    version: int
    created_at: datetime
    updated_at: datetime


class HouseholdPublic(_HouseholdDataOut):
    id: uuid.UUID
    kelurahan_code: str
    kecamatan_code: str
    kk_number: str | None = None
    phone: str | None = None
    source: SourceChannel
    verification_status: VerificationStatus
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    members: list[MemberPublic]
    warnings: list[FieldProblem] = Field(
        default_factory=list, description="data that is valid but worth a second look")


class HouseholdList(BaseModel):
    data: list[HouseholdPublic]
    count: int
    next_cursor: str | None


class SearchHit(BaseModel):
    household: HouseholdPublic
    score: float = Field(description="0-100; 100 for exact identifier matches")
    matched_on: str = Field(description="nik, kk_number or name")
    matched_name: str | None = None


class SearchResult(BaseModel):
    data: list[SearchHit]
    count: int


class HistoryEntry(BaseModel):
    occurred_at: datetime
    actor: str
    channel: str
    action: str
    entity_type: str
    entity_id: str
    changes: dict[str, list[Any]]


class KkHistoryEntry(BaseModel):
    kk_number: str
    valid_from: datetime
    valid_until: datetime | None
    reason: str | None


class HouseholdHistory(BaseModel):
    household_id: uuid.UUID
    entries: list[HistoryEntry]
    kk_numbers: list[KkHistoryEntry]
