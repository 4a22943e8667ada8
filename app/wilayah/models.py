"""Kecamatan and kelurahan of Kota Ternate, keyed by the Kemendagri code, with the BPS code."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Kecamatan(SQLModel, table=True):
    __tablename__ = "kecamatan"

    code: str = Field(primary_key=True, max_length=8, description="Kemendagri, e.g. 82.71.01")
    bps_code: str = Field(max_length=7, unique=True, description="BPS, e.g. 8271010")
    name: str = Field(max_length=80)


class Kelurahan(SQLModel, table=True):
    __tablename__ = "kelurahan"

    code: str = Field(primary_key=True, max_length=13, description="Kemendagri, e.g. 82.71.01.1001")
    kecamatan_code: str = Field(foreign_key="kecamatan.code", index=True, max_length=8)
    bps_code: str | None = Field(default=None, max_length=10, unique=True,
                                 description="BPS MFD 2018; absent for Tongole")
    name: str = Field(max_length=80)
    bps_name: str | None = Field(default=None, max_length=80)
