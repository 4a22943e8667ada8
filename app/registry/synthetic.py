"""Deterministic synthetic families for the demo data set, tests and benchmarks.

Every record is valid by the registry's rules: NIKs carry the birth date (+40 for women)
of their holder and a real region prefix, KK numbers are unique, and each family has
exactly one head.  No real person's data is used.
"""

from __future__ import annotations

import csv
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from app.registry import codes
from app.registry.identifiers import nik_birth_digits

MALE = ["Abdul", "Ahmad", "Muhammad", "Rizal", "Hasan", "Ismail", "Yusuf", "Fadli", "Irfan",
        "Rahmat", "Arif", "Sukri", "Jafar", "Nasir", "Samsul", "Budi", "Hendra", "Imran", "Iksan",
        "Rusdi", "Yakub", "Anwar", "Saiful", "Taufik", "Zulkifli"]
FEMALE = ["Siti", "Nurhayati", "Fatma", "Aisyah", "Rahma", "Hadija", "Mariam", "Salma", "Nur",
          "Wahyuni", "Sri", "Ani", "Rosita", "Halima", "Kartini", "Dewi", "Yulianti", "Saida",
          "Nurlela", "Rukmini", "Asma", "Zainab", "Farida", "Sumarni", "Irma"]
FAMILY = ["Sangaji", "Hamid", "Umar", "Abdullah", "Kiat", "Soleman", "Tomagola", "Syah",
          "Latif", "Baay", "Gani", "Ibrahim", "Mahmud", "Djafar", "Hi. Usman", "Ali", "Naser",
          "Rahman", "Saleh", "Kadir", "Marsaoly", "Buamona", "Fabanyo", "Tidore", "Sabtu"]
PLACES = ["Ternate", "Ternate", "Ternate", "Tidore", "Sofifi", "Jailolo", "Tobelo", "Manado",
          "Makassar", "Labuha"]
# region prefixes (PPKKCC) for people whose NIK was first issued outside Ternate
OTHER_REGIONS = ["820101", "820401", "737101", "717101", "827201"]


@dataclass
class SyntheticRegistry:
    seed: int = 2026
    kelurahan_codes: list[str] = field(default_factory=list)
    _rng: random.Random = field(init=False)
    _serials: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        if not self.kelurahan_codes:
            self.kelurahan_codes = load_kelurahan_codes()

    def _serial(self, key: str) -> str:
        # each seed starts its serials elsewhere, so two seeded batches in one database do
        # not hand out the same NIK or KK (up to ~50 people per region and birth date)
        # (wraps after 9999; a clash would then be refused by the registry's unique indexes)
        n = self._serials.get(key, (self.seed * 53) % 9900) % 9999 + 1
        self._serials[key] = n
        return f"{n:04d}"

    def nik(self, region: str, birth: date, sex: str) -> str:
        stem = region + nik_birth_digits(birth, sex)
        return stem + self._serial(stem)

    def kk(self, region: str) -> str:
        issued = date(2010, 1, 1) + timedelta(days=self._rng.randrange(5700))
        stem = f"{region}{issued.day:02d}{issued.month:02d}{issued.year % 100:02d}"
        return stem + self._serial("kk" + stem)

    def _birth(self, age_from: int, age_to: int) -> date:
        days = self._rng.randrange(age_from * 365, age_to * 365 + 1)
        return date(2026, 6, 30) - timedelta(days=days)

    def _person(self, *, sex: str, relation: str, birth: date, family: str,
                home_region: str) -> dict[str, Any]:
        rng = self._rng
        region = home_region if rng.random() > 0.05 else rng.choice(OTHER_REGIONS)
        first = rng.choice(MALE if sex == "male" else FEMALE)
        age = 2026 - birth.year
        adult = age >= 18
        return {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "nik": self.nik(region, birth, sex) if age >= 1 or rng.random() < 0.5 else None,
            "full_name": f"{first} {family}",
            "sex": sex,
            "relation": relation,
            "birth_place": rng.choice(PLACES),
            "birth_date": birth.isoformat(),
            "marital_status": ("married" if relation in ("head", "spouse") and rng.random() < 0.85
                               else "single" if not adult else rng.choice(["single", "widowed"])),
            "education": rng.choice(list(codes.Education)).value if age >= 7 else None,
            "school_participation": ("in_school" if 6 <= age <= 18 else
                                     "no_longer" if age > 18 else "never"),
            "occupation": (rng.choice(["fisher", "farmer", "trader", "laborer", "informal_worker",
                                       "civil_servant", "housekeeping", "not_working"])
                           if adult else "student" if age >= 6 else None),
            "disability": "none" if rng.random() > 0.04 else "physical",
            "chronic_illness": rng.random() < 0.08,
            "pregnant": sex == "female" and 20 <= age <= 40 and rng.random() < 0.05,
            "health_insurance": rng.choice(["none", "pbi_jk", "bpjs_independent", "bpjs_employer"]),
        }

    def household(self) -> dict[str, Any]:
        rng = self._rng
        kelurahan = rng.choice(self.kelurahan_codes)
        region = kelurahan.replace(".", "")[:6]
        family = rng.choice(FAMILY)
        head_sex = "male" if rng.random() < 0.85 else "female"
        head_birth = self._birth(22, 80)
        members = [self._person(sex=head_sex, relation="head", birth=head_birth, family=family,
                                home_region=region)]
        if head_sex == "male" and rng.random() < 0.85:
            members.append(self._person(sex="female", relation="spouse",
                                        birth=self._birth(20, 75), family=family,
                                        home_region=region))
        for _ in range(rng.choice([0, 1, 1, 2, 2, 2, 3, 3, 4, 4])):  # ~4 members a family
            members.append(self._person(sex=rng.choice(["male", "female"]), relation="child",
                                        birth=self._birth(0, 25), family=family,
                                        home_region=region))
        if rng.random() < 0.1:
            members.append(self._person(sex=rng.choice(["male", "female"]), relation="parent",
                                        birth=self._birth(60, 90), family=family,
                                        home_region=region))

        def pick(enum: type[codes.StrEnum]) -> str:
            return rng.choice(list(enum)).value

        poor = rng.random() < 0.35
        data: dict[str, Any] = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "kelurahan_code": kelurahan,
            "kk_number": self.kk(region),
            "address": f"Jl. {rng.choice(FAMILY)} No. {rng.randint(1, 200)}",
            "rt": f"{rng.randint(1, 12):03d}", "rw": f"{rng.randint(1, 6):03d}",
            "latitude": round(0.79 + rng.uniform(-0.05, 0.05), 6),
            "longitude": round(127.36 + rng.uniform(-0.05, 0.05), 6),
            "phone": f"+62812{rng.randint(10_000_000, 99_999_999)}" if rng.random() < 0.7 else None,
            "tenure": pick(codes.Tenure),
            "floor_area_m2": rng.randint(12, 150),
            "floor_material": "earth" if poor and rng.random() < 0.3 else pick(codes.FloorMaterial),
            "wall_material": pick(codes.WallMaterial),
            "roof_material": pick(codes.RoofMaterial),
            "water_source": pick(codes.WaterSource),
            "lighting_source": "pln_metered" if not poor else pick(codes.LightingSource),
            "power_va": rng.choice([450, 900] if poor else [900, 1300, 2200, 3500]),
            "cooking_fuel": "firewood" if poor and rng.random() < 0.4 else "lpg_3kg",
            "toilet_facility": pick(codes.ToiletFacility),
            "asset_motorbike": rng.random() < (0.3 if poor else 0.8),
            "asset_car": not poor and rng.random() < 0.15,
            "asset_boat": rng.random() < 0.1,
            "asset_smartphone": rng.random() < 0.6,
            "asset_fridge": not poor and rng.random() < 0.6,
            "livestock_poultry": rng.randint(0, 10) if rng.random() < 0.3 else 0,
            "receives_pkh": poor and rng.random() < 0.4,
            "receives_bpnt": poor and rng.random() < 0.5,
            "members": members,
        }
        return data

    def household_of(self, size: int) -> dict[str, Any]:
        """A family of exactly ``size`` members: more children, or fewer members, as needed."""
        data = self.household()
        members, family = data["members"][:size], data["members"][0]["full_name"].split(" ", 1)[1]
        region = data["kelurahan_code"].replace(".", "")[:6]
        while len(members) < size:
            members.append(self._person(sex=self._rng.choice(["male", "female"]), relation="child",
                                        birth=self._birth(0, 25), family=family, home_region=region))
        data["members"] = members
        return data

    def households(self, n: int) -> Iterator[dict[str, Any]]:
        for _ in range(n):
            yield self.household()


def load_kelurahan_codes(path: Path | None = None) -> list[str]:
    from app.config import get_settings

    path = path or get_settings().seed_data_dir / "ternate_wilayah.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        return [r["kode_kemendagri"] for r in csv.DictReader(fh) if r["level"] == "kelurahan"]
