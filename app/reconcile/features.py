"""Pairwise comparison: two prepared records -> one level per feature, each with a reason.

:func:`compare` is the fast path used on every candidate pair (a tuple of level indexes);
:func:`describe` turns the same comparison into sentences for a supervisor, in English and
Bahasa Indonesia. Both are pure. The probabilistic weight of each level comes from
:mod:`app.reconcile.model`; here we only say what was observed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from rapidfuzz.distance import JaroWinkler
from rapidfuzz.fuzz import token_set_ratio

from app.reconcile.names import TokenWeights, fold, is_initial, normalise
from app.reconcile.records import PersonRecord
from app.registry.identifiers import IdentifierInvalid, nik_consistency, parse_nik


@dataclass(frozen=True)
class Level:
    name: str
    reason: str      # English
    reason_id: str   # Bahasa Indonesia
    neutral: bool = False  # missing data: weight 0 by construction


@dataclass(frozen=True)
class Feature:
    name: str
    levels: tuple[Level, ...]

    def level(self, name: str) -> int:
        return next(i for i, lv in enumerate(self.levels) if lv.name == name)


L = Level
NIK = Feature("nik", (
    L("exact", "same NIK", "NIK sama"),
    L("exact_suspect", "same NIK, but it disagrees with a stated birth date or sex, or is malformed",
      "NIK sama, tetapi tidak cocok dengan tanggal lahir/jenis kelamin atau formatnya salah"),
    L("one_off", "NIK differs by one digit or two swapped digits in the birth date part",
      "NIK beda satu angka atau dua angka tertukar pada bagian tanggal lahir"),
    L("one_off_serial", "NIK one digit off in the region or serial, and one NIK looks wrong",
      "NIK beda satu angka pada kode wilayah atau nomor urut, dan salah satu NIK meragukan"),
    L("same_birth_digits", "valid NIKs with the same birth digits, another region or serial",
      "NIK sah dengan angka tanggal lahir sama, kode wilayah atau nomor urut beda"),
    L("different_suspect", "different NIK, but one of them looks wrong",
      "NIK berbeda, tetapi salah satunya meragukan"),
    L("different", "different valid NIKs", "NIK berbeda dan keduanya sah"),
    L("missing", "NIK missing on one record", "NIK kosong pada salah satu data", neutral=True),
))
NAME = Feature("name", (
    L("exact", "same name (titles and word order ignored)",
      "nama sama (gelar dan urutan kata diabaikan)"),
    L("exact_common", "same name, but a very common one", "nama sama, tetapi nama yang sangat umum"),
    L("spelling", "same name in another spelling (old spelling, Moh./Muhammad)",
      "nama sama dengan ejaan lain (ejaan lama, Moh./Muhammad)"),
    L("initial", "names agree where one has an initial (M. / Muhammad)",
      "nama cocok, salah satu memakai inisial (M. / Muhammad)"),
    L("similar", "names nearly equal (a typing error)", "nama hampir sama (salah ketik)"),
    L("partial", "one name contained in the other (a name left out)",
      "satu nama termuat dalam nama lain (ada nama yang tidak ditulis)"),
    L("different", "different names", "nama berbeda"),
    L("missing", "name missing", "nama kosong", neutral=True),
))
BIRTH = Feature("birth_date", (
    L("exact", "same birth date", "tanggal lahir sama"),
    L("swapped", "birth date with day and month swapped", "tanggal lahir dengan hari dan bulan tertukar"),
    L("one_digit", "birth date one digit off", "tanggal lahir beda satu angka"),
    L("same_year", "same birth year only", "hanya tahun lahir sama"),
    L("different", "different birth dates", "tanggal lahir berbeda"),
    L("missing", "birth date missing", "tanggal lahir kosong", neutral=True),
))
SEX = Feature("sex", (
    L("same", "same sex", "jenis kelamin sama"),
    L("different", "different sex", "jenis kelamin berbeda"),
    L("missing", "sex missing", "jenis kelamin kosong", neutral=True),
))
# Everything about where and with whom the person lives is ONE feature: KK, address, phone
# and family members come together (a family shares all of them), so counting each
# separately would add the same evidence several times.
HOUSEHOLD = Feature("household", (
    L("same_kk", "same family card (KK)", "Nomor KK sama"),
    L("shared_members", "another KK, but other family members match (a family that moved)",
      "KK lain, tetapi anggota keluarga lain cocok (keluarga yang pindah)"),
    L("same_address", "same address in the same kelurahan", "alamat sama di kelurahan yang sama"),
    L("same_phone", "same phone number", "nomor HP sama"),
    L("same_rt_rw", "same RT/RW in the same kelurahan", "RT/RW sama di kelurahan yang sama"),
    L("same_kelurahan", "same kelurahan, other address", "kelurahan sama, alamat lain"),
    L("same_kecamatan", "same kecamatan, other kelurahan", "kecamatan sama, kelurahan lain"),
    L("different", "different kecamatan, nothing shared", "kecamatan berbeda, tidak ada yang sama"),
    L("missing", "no KK, address or phone to compare", "tidak ada KK, alamat, atau HP untuk dibandingkan",
      neutral=True),
))
FEATURES: tuple[Feature, ...] = (NIK, NAME, BIRTH, SEX, HOUSEHOLD)
SAME_KK = 0  # HOUSEHOLD level index

_RT_RW = re.compile(r"\brt\.?\s*0*(\d{1,3})\s*/?\s*(?:rw\.?)?\s*0*(\d{1,3})?")
_ADDR_NOISE = re.compile(r"\b(jl|jln|jalan|no|nomor|rt|rw|kel|kelurahan)\b|[^a-z0-9 ]")
_PHONE_DIGITS = re.compile(r"\D")


@dataclass(slots=True)
class Prepared:
    """A record with everything comparisons need computed once."""

    index: int
    record: PersonRecord
    tokens: tuple[str, ...]
    folded: tuple[str, ...]
    informative: tuple[str, ...]  # folded tokens that are not initials
    name_key: str
    folded_key: str
    birth: dt.date | None
    birth_str: str | None
    sex: str | None
    nik: str | None
    nik_ok: bool
    kk: str | None
    kelurahan: str | None
    address: str | None
    rt_rw: tuple[int, int | None] | None
    phone: str | None
    member_key: tuple[str, int] | None


def _clean_number(value: str | None) -> str | None:
    if not value:
        return None
    digits = _PHONE_DIGITS.sub("", value)
    return digits or None


def normalise_phone_digits(value: str | None) -> str | None:
    """``0812-...``, ``+62812...`` and ``62812...`` -> ``62812...``; no lookups (fast)."""
    digits = _clean_number(value)
    if not digits or len(digits) < 8:
        return None
    if digits.startswith("0"):
        digits = "62" + digits[1:]
    elif digits.startswith("8"):
        digits = "62" + digits
    return digits


def _nik_ok(nik: str, birth: dt.date | None, sex: str | None) -> bool:
    try:
        info = parse_nik(nik)
    except IdentifierInvalid:
        return False
    return not nik_consistency(info, birth_date=birth, sex=sex)


def prepare(record: PersonRecord, index: int = 0) -> Prepared:
    tokens = normalise(record.full_name) if record.full_name else ()
    folded = tuple(fold(t) for t in tokens)
    nik = _clean_number(record.nik)
    address = None
    rt_rw = None
    if record.address:
        low = record.address.lower()
        m = _RT_RW.search(low)
        if m:
            rt_rw = (int(m.group(1)), int(m.group(2)) if m.group(2) else None)
            low = low[:m.start()] + low[m.end():]
        address = " ".join(_ADDR_NOISE.sub(" ", low).split()) or None
    informative = tuple(t for t in folded if not is_initial(t))
    member_key = (informative[0], record.birth_date.year) if informative and record.birth_date else None
    return Prepared(
        index=index, record=record, tokens=tokens, folded=folded, informative=informative,
        name_key=" ".join(sorted(tokens)), folded_key=" ".join(sorted(folded)),
        birth=record.birth_date,
        birth_str=record.birth_date.strftime("%Y%m%d") if record.birth_date else None,
        sex=record.sex, nik=nik, nik_ok=bool(nik) and _nik_ok(nik or "", record.birth_date, record.sex),
        kk=_clean_number(record.kk_number), kelurahan=record.kelurahan_code or None,
        address=address, rt_rw=rt_rw, phone=normalise_phone_digits(record.phone),
        member_key=member_key)


@dataclass
class Context:
    """What the comparison knows about the whole data set: token weights and families."""

    weights: TokenWeights = field(default_factory=TokenWeights)
    # KK number -> member keys (first name, birth year) of the records carrying it
    members: Mapping[str, frozenset[tuple[str, int]]] = field(default_factory=dict)
    # full names (folded, word order ignored) -> records carrying them; a name carried by
    # ``common_name_count`` or more records agrees by chance too often to count as "exact"
    name_counts: Mapping[str, int] = field(default_factory=dict)
    common_name_count: int = 5

    _weight_cache: dict[str, float] = field(default_factory=dict, repr=False)

    def token_weight(self, token: str) -> float:
        w = self._weight_cache.get(token)
        if w is None:
            w = self._weight_cache[token] = self.weights.weight(token)
        return w

    @classmethod
    def build(cls, records: Sequence[Prepared]) -> Context:
        weights = TokenWeights()
        name_counts: Counter[str] = Counter(p.folded_key for p in records if p.folded_key)
        families: dict[str, set[tuple[str, int]]] = {}
        for p in records:
            if p.folded:
                weights.counts.update(set(p.informative))
                weights.total += 1
            if p.kk and p.member_key:
                families.setdefault(p.kk, set()).add(p.member_key)
        return cls(weights=weights, members={k: frozenset(v) for k, v in families.items()},
                   name_counts=name_counts)


# -- the comparisons ------------------------------------------------------------------------

def nik_level(a: Prepared, b: Prepared) -> int:
    """NIK tier. A NIK is "suspect" when malformed or at odds with its own record's birth
    date or sex; a suspect NIK still counts, with the weight EM gives its tier."""
    if not a.nik or not b.nik:
        return 7
    suspect = not (a.nik_ok and b.nik_ok)
    if a.nik == b.nik:
        return 1 if suspect else 0
    if len(a.nik) == len(b.nik):
        diff = [i for i, (x, y) in enumerate(zip(a.nik, b.nik, strict=True)) if x != y]
        if len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                              and a.nik[diff[0]] == b.nik[diff[1]] and a.nik[diff[1]] == b.nik[diff[0]]):
            if any(6 <= i <= 11 for i in diff):
                if a.birth is not None and b.birth is not None and (not suspect or a.birth != b.birth):
                    # the stated birth dates differ as well: two people born on different
                    # days (the birth date feature counts that difference), not a typo
                    return 5 if suspect else 6
                return 2
            # region or serial one off: as likely two people born the same day (serials 0001
            # and 0002, a neighbouring kecamatan) as a typo, so weighed among those
            return 3 if suspect else 4
        if len(a.nik) == 16 and not suspect and a.nik[6:12] == b.nik[6:12]:
            return 4
    return 5 if suspect else 6


def _directional(src: Sequence[str], dst: Sequence[str], weight: Callable[[str], float]) -> float:
    """Weighted share of ``src``'s informative tokens found (Jaro-Winkler) in ``dst``."""
    if not dst:
        return 0.0
    total = matched = 0.0
    for t in src:
        w = weight(t)
        total += w
        matched += w * max(JaroWinkler.similarity(t, s) for s in dst)
    return matched / total if total else 0.0


def _initial_compatible(a: Sequence[str], b: Sequence[str]) -> bool:
    """Every token pairs up, by equality or as an initial with a word of that letter."""
    left, right = list(a), list(b)
    for t in list(left):
        if not is_initial(t) and t in right:
            left.remove(t)
            right.remove(t)
    for side, other in ((left, right), (right, left)):
        for t in [x for x in side if is_initial(x)]:
            hit = next((o for o in other if not is_initial(o) and o.startswith(t)), None)
            if hit is None:
                hit = next((o for o in other if o == t), None)
            if hit is None:
                return False
            side.remove(t)
            other.remove(hit)
    return not left and not right


def name_level(a: Prepared, b: Prepared, ctx: Context) -> int:
    if not a.folded or not b.folded:
        return 7
    if a.folded_key == b.folded_key:
        if ctx.name_counts.get(a.folded_key, 0) >= ctx.common_name_count:
            return 1
        return 0 if a.name_key == b.name_key else 2
    if (len(a.informative) < len(a.folded) or len(b.informative) < len(b.folded)) and \
            _initial_compatible(a.folded, b.folded):
        return 3
    ab = _directional(a.informative, b.informative, ctx.token_weight)
    ba = _directional(b.informative, a.informative, ctx.token_weight)
    if min(ab, ba) >= 0.9:
        return 4
    if max(ab, ba) >= 0.95:
        return 5
    return 6


def birth_level(a: Prepared, b: Prepared) -> int:
    if a.birth is None or b.birth is None or a.birth_str is None or b.birth_str is None:
        return 5
    if a.birth == b.birth:
        return 0
    if (a.birth.year == b.birth.year and a.birth.day == b.birth.month
            and a.birth.month == b.birth.day):
        return 1
    if sum(x != y for x, y in zip(a.birth_str, b.birth_str, strict=True)) == 1:
        return 2
    if a.birth.year == b.birth.year:
        return 3
    return 4


def _eq_level(x: object, y: object) -> int:
    if x is None or y is None:
        return 2
    return 0 if x == y else 1


def household_level(a: Prepared, b: Prepared, ctx: Context) -> int:
    if a.kk and b.kk:
        if a.kk == b.kk:
            return 0
        ma, mb = ctx.members.get(a.kk), ctx.members.get(b.kk)
        if ma and mb:
            ma = ma - {a.member_key} if a.member_key else ma
            mb = mb - {b.member_key} if b.member_key else mb
            if ma & mb:
                return 1
    same_kel = bool(a.kelurahan) and a.kelurahan == b.kelurahan
    if same_kel and a.address and b.address and token_set_ratio(a.address, b.address) >= 90 and (
            a.rt_rw is None or b.rt_rw is None or a.rt_rw[0] == b.rt_rw[0]):
        return 2
    if a.phone and a.phone == b.phone:
        return 3
    if same_kel:
        return 4 if a.rt_rw and b.rt_rw and a.rt_rw == b.rt_rw else 5
    if a.kelurahan and b.kelurahan:
        return 6 if a.kelurahan[:8] == b.kelurahan[:8] else 7
    return 8


def compare(a: Prepared, b: Prepared, ctx: Context) -> tuple[int, ...]:
    """The level index of every feature in :data:`FEATURES`, in that order."""
    return (nik_level(a, b), name_level(a, b, ctx), birth_level(a, b), _eq_level(a.sex, b.sex),
            household_level(a, b, ctx))


@dataclass(frozen=True)
class Observation:
    feature: str
    level: str
    reason: str
    reason_id: str
    detail: str


def describe(a: Prepared, b: Prepared, levels: Sequence[int]) -> list[Observation]:
    """The comparison in words, with the values compared (names in full, NIKs masked)."""
    from app.registry.identifiers import mask

    detail = {
        "nik": f"{mask(a.nik) or '-'} / {mask(b.nik) or '-'}",
        "name": f"{a.record.full_name or '-'} / {b.record.full_name or '-'}",
        "birth_date": f"{a.birth or '-'} / {b.birth or '-'}",
        "sex": f"{a.sex or '-'} / {b.sex or '-'}",
        "household": f"KK {mask(a.kk) or '-'} / {mask(b.kk) or '-'}; "
                     f"{a.kelurahan or '-'} {a.record.address or ''} / {b.kelurahan or '-'} "
                     f"{b.record.address or ''}; HP {'…' + a.phone[-4:] if a.phone else '-'} / "
                     f"{'…' + b.phone[-4:] if b.phone else '-'}",
    }
    out = []
    for feature, level in zip(FEATURES, levels, strict=True):
        lv = feature.levels[level]
        out.append(Observation(feature.name, lv.name, lv.reason, lv.reason_id, detail[feature.name]))
    return out
