"""Household (keluarga), member (anggota keluarga) and KK history tables.

Categorical answers are stored as short strings and validated against ``codes`` at the
API boundary (schemas), so adding a code never needs an enum migration.  Two partial
unique indexes carry the registry's identity rules in the database itself:
one active head per household, and one active household per NIK / per KK number (on the
blind indexes: NIK and KK numbers are sealed at rest, see app/pii.py).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, DateTime, Index, text
from sqlmodel import Field, SQLModel

from app.db import utcnow
from app.pii import INDEX_LENGTH, Sealed, blind_index

_TS = DateTime(timezone=True)


class Household(SQLModel, table=True):
    __tablename__ = "household"
    __table_args__ = (
        Index("uq_household_active_kk", "kk_bidx", unique=True,
              sqlite_where=text("deleted_at IS NULL AND kk_bidx IS NOT NULL"),
              postgresql_where=text("deleted_at IS NULL AND kk_bidx IS NOT NULL")),
        # keyset order (created_at, id), alone and behind each equality filter of the list
        # API: low-cardinality single-column indexes made the planner sort instead (29 ms ->
        # 1.6 ms per page on 50,000 families, SQLite)
        Index("ix_household_list", "created_at", "id"),
        Index("ix_household_kelurahan_list", "kelurahan_code", "created_at", "id"),
        Index("ix_household_source_list", "source", "created_at", "id"),
        Index("ix_household_status_list", "verification_status", "created_at", "id"),
        # a merged-away record is never active: every "deleted_at IS NULL" query (lists,
        # unique identities, the change feed, scoring) leaves it out without knowing of merges
        CheckConstraint("merged_into_id IS NULL OR deleted_at IS NOT NULL", name="merged_is_inactive"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # sealed; found and kept unique through kk_bidx (app/pii.py)
    kk_number: str | None = Field(default=None, sa_type=Sealed("kk"))
    kk_bidx: str | None = Field(default=None, max_length=INDEX_LENGTH)
    kelurahan_code: str = Field(foreign_key="kelurahan.code", max_length=13)
    address: str = Field(default="", max_length=200)
    rt: str | None = Field(default=None, max_length=3)
    rw: str | None = Field(default=None, max_length=3)
    latitude: float | None = None
    longitude: float | None = None
    phone: str | None = Field(default=None, max_length=16)
    survey_date: date | None = None
    # housing
    tenure: str | None = Field(default=None, max_length=24)
    land_certificate: bool | None = None
    floor_area_m2: int | None = None
    floor_material: str | None = Field(default=None, max_length=24)
    wall_material: str | None = Field(default=None, max_length=24)
    wall_condition: str | None = Field(default=None, max_length=8)
    roof_material: str | None = Field(default=None, max_length=24)
    roof_condition: str | None = Field(default=None, max_length=8)
    water_source: str | None = Field(default=None, max_length=24)
    septic_distance: str | None = Field(default=None, max_length=16)
    lighting_source: str | None = Field(default=None, max_length=16)
    power_va: int | None = None
    cooking_fuel: str | None = Field(default=None, max_length=16)
    toilet_facility: str | None = Field(default=None, max_length=8)
    toilet_type: str | None = Field(default=None, max_length=16)
    sewage_disposal: str | None = Field(default=None, max_length=24)
    # assets
    asset_lpg_5_5kg: bool | None = None
    asset_fridge: bool | None = None
    asset_ac: bool | None = None
    asset_water_heater: bool | None = None
    asset_landline: bool | None = None
    asset_tv: bool | None = None
    asset_gold_10g: bool | None = None
    asset_computer: bool | None = None
    asset_motorbike: bool | None = None
    asset_bicycle: bool | None = None
    asset_car: bool | None = None
    asset_boat: bool | None = None
    asset_motorboat: bool | None = None
    asset_smartphone: bool | None = None
    asset_land: bool | None = None
    asset_other_house: bool | None = None
    asset_internet: bool | None = None
    asset_bank_account: bool | None = None
    # livestock (head counts)
    livestock_cattle: int | None = None
    livestock_buffalo: int | None = None
    livestock_horse: int | None = None
    livestock_pig: int | None = None
    livestock_goat_sheep: int | None = None
    livestock_poultry: int | None = None
    # programmes currently received
    receives_bpnt: bool | None = None
    receives_pkh: bool | None = None
    receives_electricity_subsidy: bool | None = None
    receives_lpg_subsidy: bool | None = None
    receives_local_aid: bool | None = None
    # provenance and lifecycle
    source: str = Field(max_length=16)
    verification_status: str = Field(max_length=20)
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_TS, index=True)
    deleted_at: datetime | None = Field(default=None, sa_type=_TS)
    # set when reconciliation merged this record into another (see app/reconcile/merge.py)
    merged_into_id: uuid.UUID | None = Field(default=None, foreign_key="household.id")
    created_by: int | None = Field(default=None, foreign_key="app_user.id")
    updated_by: int | None = Field(default=None, foreign_key="app_user.id")


class Member(SQLModel, table=True):
    __tablename__ = "member"
    __table_args__ = (
        Index("uq_member_active_nik", "nik_bidx", unique=True,
              sqlite_where=text("deleted_at IS NULL AND nik_bidx IS NOT NULL"),
              postgresql_where=text("deleted_at IS NULL AND nik_bidx IS NOT NULL")),
        Index("uq_member_one_head", "household_id", unique=True,
              sqlite_where=text("deleted_at IS NULL AND relation = 'head'"),
              postgresql_where=text("deleted_at IS NULL AND relation = 'head'")),
        Index("ix_member_household", "household_id"),
        CheckConstraint("merged_into_id IS NULL OR deleted_at IS NOT NULL", name="merged_is_inactive"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    household_id: uuid.UUID = Field(foreign_key="household.id")
    nik: str | None = Field(default=None, sa_type=Sealed("nik"))  # sealed; see nik_bidx
    nik_bidx: str | None = Field(default=None, max_length=INDEX_LENGTH)
    full_name: str = Field(max_length=120)
    sex: str = Field(max_length=6)
    birth_place: str | None = Field(default=None, max_length=80)
    birth_date: date | None = None
    relation: str = Field(max_length=20)
    marital_status: str | None = Field(default=None, max_length=10)
    education: str | None = Field(default=None, max_length=8)
    school_participation: str | None = Field(default=None, max_length=10)
    occupation: str | None = Field(default=None, max_length=20)
    disability: str | None = Field(default=None, max_length=12)
    disability_severe: bool | None = None
    chronic_illness: bool | None = None
    pregnant: bool | None = None
    health_insurance: str | None = Field(default=None, max_length=20)
    alive: bool = True
    death_date: date | None = None
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    deleted_at: datetime | None = Field(default=None, sa_type=_TS)
    merged_into_id: uuid.UUID | None = Field(default=None, foreign_key="member.id")


class KkHistory(SQLModel, table=True):
    """Every KK number a household has carried; a KK changes on move, split, divorce, death."""

    __tablename__ = "kk_history"

    id: int | None = Field(default=None, primary_key=True)
    household_id: uuid.UUID = Field(foreign_key="household.id", index=True)
    kk_number: str = Field(sa_type=Sealed("kk"))
    kk_bidx: str | None = Field(default=None, max_length=INDEX_LENGTH, index=True)
    valid_from: datetime = Field(default_factory=utcnow, sa_type=_TS)
    valid_until: datetime | None = Field(default=None, sa_type=_TS)
    reason: str | None = Field(default=None, max_length=200)
    recorded_by: int | None = Field(default=None, foreign_key="app_user.id")


# written by the server only, never copied, diffed into the audit log or sent to a device
# (the blind indexes are derived, and keyed: they stay in the database)
HOUSEHOLD_SYSTEM_FIELDS = frozenset({
    "id", "version", "created_at", "updated_at", "deleted_at", "created_by", "updated_by",
    "merged_into_id", "kk_bidx",
})
MEMBER_SYSTEM_FIELDS = frozenset({
    "id", "household_id", "version", "created_at", "updated_at", "deleted_at", "merged_into_id",
    "nik_bidx",
})


class FieldTask(SQLModel, table=True):
    """A visit an enumerator of the kelurahan must make, e.g. to verify a self-registration.

    Self-registrations by SMS/USSD create them; tablets pull the tasks of their area with
    the households (entity ``task`` in the change feed); verifying the household closes them.
    """

    __tablename__ = "field_task"
    __table_args__ = (Index("ix_field_task_area_status", "kelurahan_code", "status"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    household_id: uuid.UUID = Field(foreign_key="household.id", index=True)
    kelurahan_code: str = Field(foreign_key="kelurahan.code", max_length=13)
    kind: str = Field(max_length=24)             # verify_lead
    status: str = Field(default="open", max_length=12)     # open, done, cancelled
    note: str = Field(default="", max_length=200)
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    closed_at: datetime | None = Field(default=None, sa_type=_TS)


blind_index(Household, source="kk_number", target="kk_bidx", domain="kk")
blind_index(Member, source="nik", target="nik_bidx", domain="nik")
blind_index(KkHistory, source="kk_number", target="kk_bidx", domain="kk")
