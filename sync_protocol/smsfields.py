"""Field tables and value codings of the SMS format K2 (docs/sms-fallback.md, section 4).

Each record field has a number (its position in the table) and a kind; each kind has its
packing.  Tables, code lists and the reference lists of ``smsref`` are frozen for the
format: append, never reorder.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sync_protocol import smsmodel
from sync_protocol.smsbits import BitReader, BitWriter, SmsFormatError, width
from sync_protocol.smsref import KELURAHAN, PLACES


class SmsEncodeError(ValueError):
    """This mutation cannot travel by SMS in this format (it can still go over HTTP)."""


# --- code lists (append-only: a code added later gets the next number) ------------------
TENURE = ("own", "rent", "rent_free", "official", "other")
FLOOR = ("marble_granite", "ceramic", "parquet_vinyl", "tile_terrazzo", "wood_board", "cement_brick",
         "bamboo", "earth", "other")
WALL = ("brick_masonry", "plastered_bamboo", "wood_board", "bamboo", "logs", "other")
ROOF = ("concrete", "clay_tile", "asbestos", "zinc", "wood_shingle", "bamboo", "thatch_leaves", "other")
CONDITION = ("good", "poor")
WATER = ("bottled", "refill", "piped_metered", "piped_retail", "borehole_pump", "protected_well",
         "unprotected_well", "protected_spring", "unprotected_spring", "surface_water", "rain_water",
         "other")
SEPTIC = ("under_10m", "at_least_10m", "unknown")
LIGHTING = ("pln_metered", "pln_unmetered", "non_pln", "none")
FUEL = ("electricity", "lpg_above_3kg", "lpg_3kg", "gas_city", "biogas", "kerosene", "briquette",
        "charcoal", "firewood", "none", "other")
TOILET = ("own", "shared", "public", "none")
TOILET_TYPE = ("gooseneck", "plengsengan", "pit", "none")
SEWAGE = ("septic_tank", "wastewater_treatment", "pit_hole", "river_sea", "open_ground", "other")
POWER_VA = (0, 450, 900, 1300, 2200, 3500, 4400, 5500, 6600, 7700, 10600, 11000, 13200, 16500, 22000,
            23000)
VERIFICATION = ("self_reported", "field_verified", "dukcapil_matched", "rejected")
SEX = ("male", "female")
RELATION = ("head", "spouse", "child", "child_in_law", "grandchild", "parent", "parent_in_law",
            "other_relative", "domestic_worker", "other")
MARITAL = ("single", "married", "divorced", "widowed")
EDUCATION = ("none", "sd", "smp", "sma", "d1_d3", "d4_s1", "s2_s3")
SCHOOL = ("never", "in_school", "no_longer")
OCCUPATION = ("not_working", "farmer", "fisher", "laborer", "trader", "private_employee", "entrepreneur",
              "civil_servant", "military_police", "informal_worker", "student", "housekeeping", "retired",
              "other")
DISABILITY = ("none", "physical", "visual", "hearing", "speech", "intellectual", "mental", "multiple")
INSURANCE = ("none", "pbi_jk", "bpjs_independent", "bpjs_employer", "other")
CODE_LISTS: dict[str, tuple[str, ...]] = {
    "Tenure": TENURE, "FloorMaterial": FLOOR, "WallMaterial": WALL, "RoofMaterial": ROOF,
    "Condition": CONDITION, "WaterSource": WATER, "SepticDistance": SEPTIC, "LightingSource": LIGHTING,
    "CookingFuel": FUEL, "ToiletFacility": TOILET, "ToiletType": TOILET_TYPE, "SewageDisposal": SEWAGE,
    "VerificationStatus": VERIFICATION, "Sex": SEX, "Relation": RELATION, "MaritalStatus": MARITAL,
    "Education": EDUCATION, "SchoolParticipation": SCHOOL, "Occupation": OCCUPATION,
    "Disability": DISABILITY, "HealthInsurance": INSURANCE}

_ASSETS = ("lpg_5_5kg", "fridge", "ac", "water_heater", "landline", "tv", "gold_10g", "computer",
           "motorbike", "bicycle", "car", "boat", "motorboat", "smartphone", "land", "other_house",
           "internet", "bank_account")
_LIVESTOCK = ("cattle", "buffalo", "horse", "pig", "goat_sheep", "poultry")
_PROGRAMMES = ("bpnt", "pkh", "electricity_subsidy", "lpg_subsidy", "local_aid")

# field number = position in the table (never reorder, only append)
HOUSEHOLD_FIELDS: tuple[tuple[str, str | tuple[str, ...]], ...] = (
    ("kelurahan_code", "kelurahan"), ("kk_number", "kk"), ("address", "text"), ("rt", "digits"),
    ("rw", "digits"), ("latitude", "lat"), ("longitude", "lon"), ("phone", "phone"),
    ("survey_date", "date"), ("verification_status", VERIFICATION), ("kk_change_reason", "text"),
    ("tenure", TENURE), ("land_certificate", "bool"), ("floor_area_m2", "uint"), ("floor_material", FLOOR),
    ("wall_material", WALL), ("wall_condition", CONDITION), ("roof_material", ROOF),
    ("roof_condition", CONDITION), ("water_source", WATER), ("septic_distance", SEPTIC),
    ("lighting_source", LIGHTING), ("power_va", "power"), ("cooking_fuel", FUEL),
    ("toilet_facility", TOILET), ("toilet_type", TOILET_TYPE), ("sewage_disposal", SEWAGE),
    *((f"asset_{a}", "bool") for a in _ASSETS), *((f"livestock_{a}", "uint") for a in _LIVESTOCK),
    *((f"receives_{p}", "bool") for p in _PROGRAMMES),
)
MEMBER_FIELDS: tuple[tuple[str, str | tuple[str, ...]], ...] = (
    ("full_name", "text"), ("sex", SEX), ("relation", RELATION), ("birth_date", "date"), ("nik", "nik"),
    ("birth_place", "place"), ("marital_status", MARITAL), ("education", EDUCATION),
    ("school_participation", SCHOOL), ("occupation", OCCUPATION), ("disability", DISABILITY),
    ("disability_severe", "bool"), ("chronic_illness", "bool"), ("pregnant", "bool"),
    ("health_insurance", INSURANCE), ("alive", "bool"), ("death_date", "date"),
)
Table = tuple[tuple[str, str | tuple[str, ...]], ...]


# --- field values ----------------------------------------------------------------------------

@dataclass
class Context:
    device_id: str
    seq: int
    region: str | None = None                       # PPKKCC of the household's kelurahan
    texts: list[str] = field(default_factory=list)  # earlier text values, for references
    record: dict[str, Any] = field(default_factory=dict)  # the record being coded, so far


def fail(name: str, why: str) -> SmsEncodeError:
    return SmsEncodeError(f"{name}: {why}")


_TITLE, _UPPER, _UTF8, _REF = range(4)


def _suffix(text: str) -> str:
    i = text.find(" ")
    return text[i:] if i > 0 else ""


def _put_text(w: BitWriter, value: Any, ctx: Context, name: str) -> None:
    """The shortest of: a reference to an earlier text; the model's coding (title or upper
    case mode, ending with the tail of an earlier text or not); the UTF-8 bytes."""
    if not isinstance(value, str):
        raise fail(name, "not a string")
    texts = ctx.texts
    if value in texts:
        w.put(_REF, 2)
        w.put(texts.index(value), width(len(texts)))
        return
    tails = sorted(((len(_suffix(t)), j) for j, t in enumerate(texts)
                    if _suffix(t) and value.endswith(_suffix(t)) and len(value) > len(_suffix(t))),
                   reverse=True)
    options = []
    for literal, tail in [(value[:-n], j) for n, j in tails[:1]] + [(value, None)]:
        for mode in (_TITLE, _UPPER):
            option = BitWriter()
            option.put(mode, 2)
            smsmodel.put_literal(option, literal, upper=mode == _UPPER, tail=tail is not None)
            if tail is not None:
                option.put(tail, width(len(texts)))
            options.append(option)
    raw = value.encode()
    option = BitWriter()
    option.put(_UTF8, 2)
    option.uvar(len(raw), 4)
    option.put(int.from_bytes(raw, "big"), 8 * len(raw))
    options.append(option)
    w.extend(min(options, key=len))
    texts.append(value)


def _get_text(r: BitReader, ctx: Context) -> str:
    mode, texts = r.get(2), ctx.texts
    if mode == _REF:
        return texts[_index(r, len(texts))]  # not added again, as on the writing side
    if mode == _UTF8:
        n = r.uvar(4)
        try:
            value = r.get(8 * n).to_bytes(n, "big").decode()
        except UnicodeDecodeError:
            raise SmsFormatError("text is not UTF-8") from None
    else:
        value, tail = smsmodel.get_literal(r, upper=mode == _UPPER)
        if tail:
            value += _suffix(texts[_index(r, len(texts))])
    texts.append(value)
    return value


def _index(r: BitReader, n: int) -> int:
    if n == 0:
        raise SmsFormatError("reference to an earlier text, but there is none")
    i = r.get(width(n))
    if i >= n:
        raise SmsFormatError("reference to a text that does not exist")
    return i


def _digit_value(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _put_digits(w: BitWriter, value: str, n: int) -> None:
    w.put(int(value), width(10**n))


def _get_digits(r: BitReader, n: int) -> str:
    v = r.get(width(10**n))
    if v >= 10**n:
        raise SmsFormatError("digits out of range")
    return f"{v:0{n}d}"


_EPOCH = date(1900, 1, 1)
KEL_PATTERN = re.compile(r"^[0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}$")
# micro-degrees (origin, span): Kota Ternate (Pulau Ternate, Hiri, Moti, Batang Dua) with a
# margin, then Indonesia (the registry's bounds)
_BOXES = {"lat": ((0, 2_000_000), (-11_500_000, 18_000_000)),
          "lon": ((126_000_000, 2_000_000), (94_500_000, 47_000_000))}


def _iso_date(value: Any, name: str) -> date:
    if not isinstance(value, str):
        raise fail(name, "not an ISO date string")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise fail(name, "not an ISO date") from None
    if parsed.isoformat() != value or parsed < _EPOCH or (parsed - _EPOCH).days >= 2**16:
        raise fail(name, "date not in YYYY-MM-DD form between 1900 and 2079")
    return parsed


def _dated_stem(ctx: Context) -> str | None:
    """ddmmyy of the record's birth date (+40 on the day for women), as a NIK carries it."""
    born, sex = ctx.record.get("birth_date"), ctx.record.get("sex")
    if not isinstance(born, str) or sex not in SEX:
        return None
    d = date.fromisoformat(born)
    return f"{d.day + (40 if sex == 'female' else 0):02d}{d.month:02d}{d.year % 100:02d}"


def _put_nik(w: BitWriter, value: Any, ctx: Context, name: str) -> None:
    if not isinstance(value, str):
        raise fail(name, "not a string")
    stem = _dated_stem(ctx)
    if len(value) == 16 and _digit_value(value):
        if stem is not None and value[6:12] == stem:
            if value[:6] == ctx.region:
                w.put(1, 2)
            else:
                w.put(2, 2)
                _put_digits(w, value[:6], 6)
            _put_digits(w, value[12:], 4)
        else:
            w.put(0, 2)
            _put_digits(w, value, 16)
        return
    w.put(3, 2)
    _put_text(w, value, ctx, name)


def _get_nik(r: BitReader, ctx: Context) -> str:
    mode = r.get(2)
    if mode == 0:
        return _get_digits(r, 16)
    if mode == 3:
        return _get_text(r, ctx)
    stem = _dated_stem(ctx)
    region = ctx.region if mode == 1 else _get_digits(r, 6)
    if stem is None or region is None:
        raise SmsFormatError("NIK refers to a birth date, sex or region the record lacks")
    return region + stem + _get_digits(r, 4)


def _put_kk(w: BitWriter, value: Any, ctx: Context, name: str) -> None:
    if not isinstance(value, str):
        raise fail(name, "not a string")
    if len(value) == 16 and _digit_value(value):
        dd, mm, yy = int(value[6:8]), int(value[8:10]), int(value[10:12])
        if value[:6] == ctx.region and 1 <= dd <= 31 and 1 <= mm <= 12:
            w.put(1, 2)
            w.put(dd, 5)
            w.put(mm, 4)
            w.put(yy, 7)
            _put_digits(w, value[12:], 4)
        else:
            w.put(0, 2)
            _put_digits(w, value, 16)
        return
    w.put(2, 2)
    _put_text(w, value, ctx, name)


def _get_kk(r: BitReader, ctx: Context) -> str:
    mode = r.get(2)
    if mode == 0:
        return _get_digits(r, 16)
    if mode == 2:
        return _get_text(r, ctx)
    if mode != 1 or ctx.region is None:
        raise SmsFormatError("KK mode not valid here")
    dd, mm, yy = r.get(5), r.get(4), r.get(7)
    if not (1 <= dd <= 31 and 1 <= mm <= 12 and yy <= 99):
        raise SmsFormatError("KK date digits out of range")
    return f"{ctx.region}{dd:02d}{mm:02d}{yy:02d}" + _get_digits(r, 4)


def put_value(w: BitWriter, kind: str | tuple[str, ...], value: Any, ctx: Context, name: str) -> None:
    if isinstance(kind, tuple):
        if value not in kind:
            raise fail(name, f"code {value!r} is not in the SMS code list")
        w.put(kind.index(value), width(len(kind)))
    elif kind == "bool":
        if not isinstance(value, bool):
            raise fail(name, "not a boolean")
        w.put(int(value), 1)
    elif kind in ("uint", "power"):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
            raise fail(name, "not a whole number 0 .. 2^31-1")
        if kind == "power":
            w.put(int(value in POWER_VA), 1)
            if value in POWER_VA:
                w.put(POWER_VA.index(value), 4)
                return
        w.uvar(value)
    elif kind == "date":
        w.put((_iso_date(value, name) - _EPOCH).days, 16)
    elif kind == "text":
        _put_text(w, value, ctx, name)
    elif kind in ("lat", "lon"):
        if not isinstance(value, float):
            raise fail(name, "not a decimal number")
        micro = round(value * 1_000_000)
        exact = struct.pack(">d", micro / 1_000_000) == struct.pack(">d", value)  # -0.0 stays raw
        for origin, span in _BOXES[kind]:  # 1 bit per box: inside it?
            inside = exact and 0 <= micro - origin <= span
            w.put(int(inside), 1)
            if inside:
                w.put(micro - origin, width(span + 1))
                return
        w.put(int.from_bytes(struct.pack(">d", value), "big"), 64)
    elif kind == "digits":
        ok = isinstance(value, str) and 1 <= len(value) <= 8 and _digit_value(value)
        padded = ok and len(value) == 3  # RT/RW as the registry writes them: "005"
        w.put(int(padded), 1)
        if padded:
            w.uvar(int(value), 4)
            return
        w.put(int(ok), 1)
        if ok:
            w.put(len(value) - 1, 3)
            _put_digits(w, value, len(value))
        else:
            _put_text(w, value, ctx, name)
    elif kind == "phone":
        _put_phone(w, value, ctx, name)
    elif kind == "kelurahan":
        w.put(int(value in KELURAHAN), 1)
        if value in KELURAHAN:
            w.put(KELURAHAN.index(value), width(len(KELURAHAN)))
            return
        ok = isinstance(value, str) and bool(KEL_PATTERN.match(value))
        w.put(int(ok), 1)
        if ok:
            _put_digits(w, value.replace(".", ""), 10)
        else:
            _put_text(w, value, ctx, name)
    elif kind == "place":
        _put_place(w, value, ctx, name)
    elif kind == "kk":
        _put_kk(w, value, ctx, name)
    else:
        _put_nik(w, value, ctx, name)


def get_value(r: BitReader, kind: str | tuple[str, ...], ctx: Context) -> Any:
    if isinstance(kind, tuple):
        i = r.get(width(len(kind)))
        if i >= len(kind):
            raise SmsFormatError("code number not in the list")
        return kind[i]
    if kind == "bool":
        return bool(r.get(1))
    if kind in ("uint", "power"):
        return POWER_VA[r.get(4)] if kind == "power" and r.get(1) else r.uvar()
    if kind == "date":
        return (_EPOCH + timedelta(days=r.get(16))).isoformat()
    if kind == "text":
        return _get_text(r, ctx)
    if kind in ("lat", "lon"):
        for origin, span in _BOXES[kind]:
            if r.get(1):
                offset = r.get(width(span + 1))
                if offset > span:
                    raise SmsFormatError("coordinate out of range")
                return (offset + origin) / 1_000_000
        value: float = struct.unpack(">d", r.get(64).to_bytes(8, "big"))[0]
        return value
    if kind == "digits":
        if r.get(1):
            value = r.uvar(4)
            if value > 999:
                raise SmsFormatError("RT/RW out of range")
            return f"{value:03d}"
        return _get_digits(r, r.get(3) + 1) if r.get(1) else _get_text(r, ctx)
    if kind == "phone":
        return _get_phone(r, ctx)
    if kind == "kelurahan":
        kelurahan = _get_kelurahan(r, ctx)
        if KEL_PATTERN.match(kelurahan):
            ctx.region = kelurahan.replace(".", "")[:6]
        return kelurahan
    if kind == "place":
        return _get_place(r, ctx)
    return _get_kk(r, ctx) if kind == "kk" else _get_nik(r, ctx)


def _get_kelurahan(r: BitReader, ctx: Context) -> str:
    if r.get(1):
        i = r.get(width(len(KELURAHAN)))
        if i >= len(KELURAHAN):
            raise SmsFormatError("kelurahan number not in the list")
        return KELURAHAN[i]
    if not r.get(1):
        return _get_text(r, ctx)
    d = _get_digits(r, 10)
    return f"{d[:2]}.{d[2:4]}.{d[4:6]}.{d[6:]}"


def _put_place(w: BitWriter, value: Any, ctx: Context, name: str) -> None:
    """1 bit: from the gazetteer (1 bit upper case, the place's number) or text (0).  A place
    already in the payload goes as text: a reference to it is shorter."""
    listed = value if value in PLACES else value.title() if isinstance(value, str) else None
    gazetteer = listed in PLACES and value not in ctx.texts and value in (listed, listed.upper())
    w.put(int(gazetteer), 1)
    if not gazetteer:
        _put_text(w, value, ctx, name)
        return
    w.put(int(value != listed), 1)
    w.put(PLACES.index(listed), width(len(PLACES)))
    ctx.texts.append(value)


def _get_place(r: BitReader, ctx: Context) -> str:
    if not r.get(1):
        return _get_text(r, ctx)
    upper = r.get(1)
    i = r.get(width(len(PLACES)))
    if i >= len(PLACES):
        raise SmsFormatError("place number not in the list")
    value = PLACES[i].upper() if upper else PLACES[i]
    ctx.texts.append(value)
    return value


_PHONE_PREFIXES = ("+62", "+", "")  # modes 0-2; mode 3: text


def _put_phone(w: BitWriter, value: Any, ctx: Context, name: str) -> None:
    if not isinstance(value, str):
        raise fail(name, "not a string")
    for mode, prefix in enumerate(_PHONE_PREFIXES):
        rest = value[len(prefix):]
        if value.startswith(prefix) and 1 <= len(rest) <= 20 and _digit_value(rest):
            w.put(mode, 2)
            w.put(len(rest) - 1, 5)
            _put_digits(w, rest, len(rest))
            return
    w.put(3, 2)
    _put_text(w, value, ctx, name)


def _get_phone(r: BitReader, ctx: Context) -> str:
    mode = r.get(2)
    if mode == 3:
        return _get_text(r, ctx)
    n = r.get(5) + 1
    if n > 20:
        raise SmsFormatError("phone too long")
    return _PHONE_PREFIXES[mode] + _get_digits(r, n)


