"""The fields a rule may test, their types, allowed codes and wording in both languages.

All the Bahasa Indonesia and English wording of the rule interpreter lives here, so it can
be reviewed in one place.  A rule file naming a field or a code not listed here is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from app.registry import codes

Kind = Literal["bool", "number", "code"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: Kind
    label_id: str
    label_en: str
    codes: frozenset[str] | None = None
    # booleans: the phrase when true, and when false (id, en)
    yes: tuple[str, str] | None = None
    no: tuple[str, str] | None = None


def _code(name: str, enum: type[StrEnum], label_id: str, label_en: str) -> FieldSpec:
    return FieldSpec(name, "code", label_id, label_en, codes=frozenset(e.value for e in enum))


def _flag(name: str, yes: tuple[str, str], no: tuple[str, str]) -> FieldSpec:
    return FieldSpec(name, "bool", yes[0], yes[1], yes=yes, no=no)


def _int(name: str, label_id: str, label_en: str) -> FieldSpec:
    return FieldSpec(name, "number", label_id, label_en)


_ASSETS = {  # asset_<x>: (Bahasa noun, English noun phrase)
    "lpg_5_5kg": ("tabung LPG 5,5 kg atau lebih", "an LPG cylinder of 5.5 kg or more"),
    "fridge": ("kulkas", "a fridge"),
    "ac": ("AC", "an air conditioner"),
    "water_heater": ("pemanas air", "a water heater"),
    "landline": ("telepon rumah", "a landline"),
    "tv": ("televisi", "a TV"),
    "gold_10g": ("emas 10 gram atau lebih", "10 g of gold or more"),
    "computer": ("komputer/laptop", "a computer"),
    "motorbike": ("sepeda motor", "a motorbike"),
    "bicycle": ("sepeda", "a bicycle"),
    "car": ("mobil", "a car"),
    "boat": ("perahu", "a boat"),
    "motorboat": ("perahu motor", "a motorboat"),
    "smartphone": ("telepon pintar", "a smartphone"),
    "land": ("lahan", "land"),
    "other_house": ("rumah lain", "another house"),
    "internet": ("akses internet", "internet access"),
    "bank_account": ("rekening bank aktif", "an active bank account"),
}
_RECEIVES = {
    "bpnt": "Sembako/BPNT",
    "pkh": "PKH",
    "electricity_subsidy": ("subsidi listrik", "electricity subsidy"),
    "lpg_subsidy": ("subsidi LPG", "LPG subsidy"),
    "local_aid": ("bantuan daerah", "local aid"),
}
_LIVESTOCK = {
    "cattle": ("sapi", "cattle"),
    "buffalo": ("kerbau", "buffalo"),
    "horse": ("kuda", "horses"),
    "pig": ("babi", "pigs"),
    "goat_sheep": ("kambing/domba", "goats/sheep"),
    "poultry": ("unggas", "poultry"),
}


def _household_fields() -> dict[str, FieldSpec]:
    specs = [
        _code("tenure", codes.Tenure, "status kepemilikan rumah", "house tenure"),
        _flag(
            "land_certificate",
            ("punya sertifikat tanah", "has a land certificate"),
            ("tanpa sertifikat tanah", "no land certificate"),
        ),
        _int("floor_area_m2", "luas lantai (m2)", "floor area (m2)"),
        _int("floor_area_per_person", "luas lantai per orang (m2)", "floor area per person (m2)"),
        _code("floor_material", codes.FloorMaterial, "lantai", "floor"),
        _code("wall_material", codes.WallMaterial, "dinding", "walls"),
        _code("wall_condition", codes.Condition, "kondisi dinding", "wall condition"),
        _code("roof_material", codes.RoofMaterial, "atap", "roof"),
        _code("roof_condition", codes.Condition, "kondisi atap", "roof condition"),
        _code("water_source", codes.WaterSource, "sumber air minum", "drinking water"),
        _code("septic_distance", codes.SepticDistance, "jarak air ke septik", "water-to-septic distance"),
        _code("lighting_source", codes.LightingSource, "sumber penerangan", "lighting"),
        _int("power_va", "daya listrik (VA)", "power connection (VA)"),
        _code("cooking_fuel", codes.CookingFuel, "bahan bakar memasak", "cooking fuel"),
        _code("toilet_facility", codes.ToiletFacility, "fasilitas BAB", "toilet facility"),
        _code("toilet_type", codes.ToiletType, "jenis kloset", "toilet type"),
        _code("sewage_disposal", codes.SewageDisposal, "pembuangan tinja", "sewage disposal"),
        _int("member_count", "jumlah anggota keluarga", "family members"),
    ]
    for key, (noun_id, noun_en) in _ASSETS.items():
        specs.append(
            _flag(
                f"asset_{key}",
                (f"memiliki {noun_id}", f"owns {noun_en}"),
                (f"tidak memiliki {noun_id}", f"does not own {noun_en}"),
            )
        )
    for key, (noun_id, noun_en) in _LIVESTOCK.items():
        specs.append(_int(f"livestock_{key}", f"ternak {noun_id} (ekor)", f"{noun_en} (head)"))
    for key, name in _RECEIVES.items():
        name_id, name_en = (name, name) if isinstance(name, str) else name
        specs.append(
            _flag(
                f"receives_{key}",
                (f"menerima {name_id}", f"receives {name_en}"),
                (f"tidak menerima {name_id}", f"does not receive {name_en}"),
            )
        )
    return {s.name: s for s in specs}


HOUSEHOLD_FIELDS: dict[str, FieldSpec] = _household_fields()

MEMBER_FIELDS: dict[str, FieldSpec] = {
    s.name: s
    for s in [
        _int("age", "usia", "age"),
        _code("sex", codes.Sex, "jenis kelamin", "sex"),
        _code("relation", codes.Relation, "hubungan dengan kepala keluarga", "relation to the head"),
        _flag("pregnant", ("hamil", "pregnant"), ("tidak hamil", "not pregnant")),
        _code(
            "school_participation", codes.SchoolParticipation, "partisipasi sekolah", "school participation"
        ),
        _code("education", codes.Education, "pendidikan tertinggi", "highest education"),
        _flag(
            "finished_12_years",
            ("sudah tamat 12 tahun sekolah", "has finished 12 years of school"),
            ("belum tamat 12 tahun sekolah", "has not finished 12 years of school"),
        ),
        _code("occupation", codes.Occupation, "pekerjaan", "occupation"),
        _code("disability", codes.Disability, "disabilitas", "disability"),
        _flag(
            "disabled",
            ("penyandang disabilitas", "has a disability"),
            ("bukan penyandang disabilitas", "has no disability"),
        ),
        _flag(
            "disability_severe",
            ("disabilitas berat", "has a severe disability"),
            ("bukan disabilitas berat", "no severe disability"),
        ),
        _flag(
            "chronic_illness",
            ("penyakit kronis/katastropik", "chronic/catastrophic illness"),
            ("tanpa penyakit kronis", "no chronic illness"),
        ),
        _code("health_insurance", codes.HealthInsurance, "jaminan kesehatan", "health insurance"),
        _code("marital_status", codes.MaritalStatus, "status perkawinan", "marital status"),
        _flag("alive", ("masih hidup", "alive"), ("telah meninggal", "deceased")),
    ]
}

# Code wording in Bahasa Indonesia where it differs from the code (the rest read as the code).
CODE_LABELS_ID: dict[str, str] = {
    "civil_servant": "PNS/ASN",
    "military_police": "TNI/Polri",
    "in_school": "masih sekolah",
    "no_longer": "tidak sekolah lagi",
    "never": "tidak/belum pernah sekolah",
    "pbi_jk": "PBI-JK",
    "head": "kepala keluarga",
    "spouse": "istri/suami",
    "child": "anak",
    "male": "laki-laki",
    "female": "perempuan",
    "earth": "tanah",
    "none": "tidak ada",
}
CODE_LABELS_EN: dict[str, str] = {
    "civil_servant": "civil servant",
    "military_police": "military/police",
    "in_school": "in school",
    "no_longer": "no longer in school",
    "never": "never in school",
    "pbi_jk": "PBI-JK",
}


def code_label(value: object, lang: str) -> str:
    text = str(value)
    table = CODE_LABELS_ID if lang == "id" else CODE_LABELS_EN
    return table.get(text, text.replace("_", " "))


# Fixed sentences of the interpreter (id, en).
UNKNOWN = ("tidak diketahui", "unknown")
HEAD = ("kepala keluarga", "head of the family")
NO_HEAD = ("kepala keluarga tidak tercatat", "no head of the family recorded")
ANY_MEMBER = ("ada anggota keluarga dengan {}", "a family member with {}")
NO_MEMBER = ("tidak ada anggota keluarga dengan {}", "no family member with {}")
ANY_MEMBER_UNKNOWN = (
    "belum diketahui apakah ada anggota keluarga dengan {}",
    "not known whether a family member has {}",
)
ALL_MEMBERS = ("semua anggota keluarga: {}", "every family member: {}")
NOT_ALL_MEMBERS = ("tidak semua anggota keluarga: {}", "not every family member: {}")
ALL_MEMBERS_UNKNOWN = (
    "belum diketahui apakah semua anggota keluarga: {}",
    "not known whether every family member: {}",
)
COUNT = ("{} anggota keluarga dengan {}", "{} family members with {}")
COUNT_ALL = ("{} anggota keluarga", "{} family members")
COUNT_UNKNOWN = (
    "jumlah anggota keluarga dengan {} belum diketahui",
    "number of family members with {} not known",
)
NOT = ("bukan: {}", "not: {}")
OFFICIAL_REQUIRED = (
    "{} hanya perkiraan; program ini memerlukan desil resmi BPS",
    "{} is only an estimate; this programme needs an official BPS desil",
)
EXCLUDED = ("dikecualikan: {}", "excluded: {}")
TARGET_UNKNOWN = (
    "belum dapat ditentukan apakah termasuk sasaran: {}",
    "cannot tell yet whether in the target group: {}",
)
EXCLUSION_UNKNOWN = (
    'pengecualian "{}" belum dapat diperiksa: {}',
    'exclusion "{}" cannot be checked yet: {}',
)
AND = ("dan", "and")
OR = ("atau", "or")
