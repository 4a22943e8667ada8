"""Code lists for the categorical answers of the field-visit form.

Values are English identifiers (the API language); ``LABELS_ID`` gives the Bahasa
Indonesia wording officials and residents read.  The lists follow the Regsosek 2022
household form (see docs/glossary.md); extending a list is a one-line change here.
"""

from __future__ import annotations

from enum import StrEnum


class SourceChannel(StrEnum):
    enumerator = "enumerator"
    sms = "sms"
    ussd = "ussd"
    import_ = "import"
    api = "api"


class VerificationStatus(StrEnum):
    self_reported = "self_reported"
    field_verified = "field_verified"
    dukcapil_matched = "dukcapil_matched"
    rejected = "rejected"


# Allowed verification transitions: forward along the chain, or to rejected and back
# to self_reported for a re-visit.  Anything else is a data-entry mistake.
VERIFICATION_TRANSITIONS: dict[VerificationStatus, set[VerificationStatus]] = {
    VerificationStatus.self_reported: {VerificationStatus.field_verified, VerificationStatus.rejected},
    VerificationStatus.field_verified: {VerificationStatus.dukcapil_matched,
                                        VerificationStatus.rejected,
                                        VerificationStatus.self_reported},
    VerificationStatus.dukcapil_matched: {VerificationStatus.rejected,
                                          VerificationStatus.field_verified},
    VerificationStatus.rejected: {VerificationStatus.self_reported,
                                  VerificationStatus.field_verified},
}


# Who may SET a verification status.  Dukcapil matching comes from an admin (later: the
# Dukcapil matching import), never from a field agent's tablet.
STATUSES_SETTABLE: dict[str, frozenset[str]] = {
    "admin": frozenset(s.value for s in VerificationStatus),
    "enumerator": frozenset({"self_reported", "field_verified", "rejected"}),
    "dinsos": frozenset(),
    "supervisor": frozenset(),
}


class Tenure(StrEnum):
    own = "own"
    rent = "rent"
    rent_free = "rent_free"
    official = "official"
    other = "other"


class FloorMaterial(StrEnum):
    marble_granite = "marble_granite"
    ceramic = "ceramic"
    parquet_vinyl = "parquet_vinyl"
    tile_terrazzo = "tile_terrazzo"
    wood_board = "wood_board"
    cement_brick = "cement_brick"
    bamboo = "bamboo"
    earth = "earth"
    other = "other"


class WallMaterial(StrEnum):
    brick_masonry = "brick_masonry"
    plastered_bamboo = "plastered_bamboo"
    wood_board = "wood_board"
    bamboo = "bamboo"
    logs = "logs"
    other = "other"


class RoofMaterial(StrEnum):
    concrete = "concrete"
    clay_tile = "clay_tile"
    asbestos = "asbestos"
    zinc = "zinc"
    wood_shingle = "wood_shingle"
    bamboo = "bamboo"
    thatch_leaves = "thatch_leaves"
    other = "other"


class Condition(StrEnum):
    good = "good"
    poor = "poor"


class WaterSource(StrEnum):
    bottled = "bottled"
    refill = "refill"
    piped_metered = "piped_metered"
    piped_retail = "piped_retail"
    borehole_pump = "borehole_pump"
    protected_well = "protected_well"
    unprotected_well = "unprotected_well"
    protected_spring = "protected_spring"
    unprotected_spring = "unprotected_spring"
    surface_water = "surface_water"
    rain_water = "rain_water"
    other = "other"


class SepticDistance(StrEnum):
    under_10m = "under_10m"
    at_least_10m = "at_least_10m"
    unknown = "unknown"


class LightingSource(StrEnum):
    pln_metered = "pln_metered"
    pln_unmetered = "pln_unmetered"
    non_pln = "non_pln"
    none = "none"


class CookingFuel(StrEnum):
    electricity = "electricity"
    lpg_above_3kg = "lpg_above_3kg"
    lpg_3kg = "lpg_3kg"
    gas_city = "gas_city"
    biogas = "biogas"
    kerosene = "kerosene"
    briquette = "briquette"
    charcoal = "charcoal"
    firewood = "firewood"
    none = "none"
    other = "other"


class ToiletFacility(StrEnum):
    own = "own"
    shared = "shared"
    public = "public"
    none = "none"


class ToiletType(StrEnum):
    gooseneck = "gooseneck"
    plengsengan = "plengsengan"
    pit = "pit"
    none = "none"


class SewageDisposal(StrEnum):
    septic_tank = "septic_tank"
    wastewater_treatment = "wastewater_treatment"
    pit_hole = "pit_hole"
    river_sea = "river_sea"
    open_ground = "open_ground"
    other = "other"


# Installed power per electricity meter, in VA (PLN tariff classes).
POWER_VA_CLASSES = (0, 450, 900, 1300, 2200, 3500, 4400, 5500, 6600, 7700, 10600, 11000, 13200,
                    16500, 22000, 23000)


class Sex(StrEnum):
    male = "male"
    female = "female"


class Relation(StrEnum):
    head = "head"
    spouse = "spouse"
    child = "child"
    child_in_law = "child_in_law"
    grandchild = "grandchild"
    parent = "parent"
    parent_in_law = "parent_in_law"
    other_relative = "other_relative"
    domestic_worker = "domestic_worker"
    other = "other"


class MaritalStatus(StrEnum):
    single = "single"
    married = "married"
    divorced = "divorced"
    widowed = "widowed"


class Education(StrEnum):
    none = "none"
    sd = "sd"
    smp = "smp"
    sma = "sma"
    d1_d3 = "d1_d3"
    d4_s1 = "d4_s1"
    s2_s3 = "s2_s3"


class SchoolParticipation(StrEnum):
    never = "never"
    in_school = "in_school"
    no_longer = "no_longer"


class Occupation(StrEnum):
    not_working = "not_working"
    farmer = "farmer"
    fisher = "fisher"
    laborer = "laborer"
    trader = "trader"
    private_employee = "private_employee"
    entrepreneur = "entrepreneur"
    civil_servant = "civil_servant"
    military_police = "military_police"
    informal_worker = "informal_worker"
    student = "student"
    housekeeping = "housekeeping"
    retired = "retired"
    other = "other"


class Disability(StrEnum):
    none = "none"
    physical = "physical"
    visual = "visual"
    hearing = "hearing"
    speech = "speech"
    intellectual = "intellectual"
    mental = "mental"
    multiple = "multiple"


class HealthInsurance(StrEnum):
    none = "none"
    pbi_jk = "pbi_jk"
    bpjs_independent = "bpjs_independent"
    bpjs_employer = "bpjs_employer"
    other = "other"


LABELS_ID: dict[str, str] = {
    "enumerator": "Petugas lapangan (tablet)",
    "sms": "SMS",
    "ussd": "USSD",
    "import": "Impor berkas",
    "api": "API",
    "self_reported": "Pendaftaran mandiri",
    "field_verified": "Terverifikasi lapangan",
    "dukcapil_matched": "Padan Dukcapil",
    "rejected": "Ditolak",
    "head": "Kepala keluarga",
    "spouse": "Istri/suami",
    "child": "Anak",
    "male": "Laki-laki",
    "female": "Perempuan",
}
