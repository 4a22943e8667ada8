"""Valid test data: NIKs that agree with their holder's birth date and sex, KK numbers."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from app.registry.identifiers import nik_birth_digits

_serial = itertools.count(1)


def _next_serial() -> int:
    """1..9999 over and over: a NIK/KK serial has four digits. The suite as a whole draws more
    than 9,999 (the desil-import crash drill alone makes 10,000 NIKs); each test's data is
    rolled back or lives in a database of its own, so a serial used again later collides with
    nothing."""
    return (next(_serial) - 1) % 9999 + 1

HIRI_FAUDU = "82.71.07.1001"
HIRI_TOMAJIKO = "82.71.07.1002"
MOTI_KELURAHAN = "82.71.04.1001"
SELATAN_KELURAHAN = "82.71.02.1001"


def nik(birth: date, sex: str = "male", region: str = "827107", serial: int | None = None) -> str:
    return f"{region}{nik_birth_digits(birth, sex)}{serial or _next_serial():04d}"


def kk(region: str = "827107", serial: int | None = None) -> str:
    return f"{region}1203{15:02d}{serial or _next_serial():04d}"


def member(relation: str = "head", sex: str = "male", birth: date = date(1980, 5, 17),
           **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "full_name": extra.pop("full_name", "Abdul Hamid" if sex == "male" else "Siti Hamid"),
        "sex": sex, "relation": relation, "birth_date": birth.isoformat(),
        "nik": nik(birth, sex),
    }
    data.update(extra)
    return data


def household(kelurahan: str = HIRI_FAUDU, members: list[dict[str, Any]] | None = None,
              **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kelurahan_code": kelurahan,
        "kk_number": kk(kelurahan.replace(".", "")[:6]),
        "address": "Jl. Kie Raha No. 7", "rt": "002", "rw": "001",
        "floor_material": "cement_brick", "power_va": 900, "asset_motorbike": True,
        "members": members or [member("head"),
                               member("spouse", "female", date(1984, 2, 3)),
                               member("child", "female", date(2015, 9, 30), full_name="Nur Hamid")],
    }
    data.update(extra)
    return data
