"""Candidate pairs without comparing all pairs: blocking keys kept in an in-memory index.

A record is compared only with records that share at least one key:

==============  ==========================================================================
rule            key
==============  ==========================================================================
nik             the NIK digits
nik_near        a NIK one digit off or with two neighbouring digits swapped, where one of
                them looks wrong (see ``BlockingIndex._nik_near``)
kk              the KK number
phone           the phone number (62...)
name_place      kelurahan + the sound keys of two name tokens (each pair of the first three
                informative tokens, sorted, so word order does not matter)
birth_name      birth date with day and month sorted (a swap keeps the key) + the first two
                letters of a folded name token
==============  ==========================================================================

The index is incremental (:meth:`BlockingIndex.candidates` then :meth:`BlockingIndex.add`),
so the batch linker and a future worker that links one new record at a time use the same
code. A block stops growing at ``max_block`` records: later records sharing only that key
are not compared with it, and the pairs so skipped are counted in :class:`BlockingStats`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import combinations

from app.reconcile.features import NIK, Prepared, nik_level
from app.reconcile.names import COMMON_FOLDED, is_initial, sound_key

NIK_ONE_OFF = frozenset({NIK.level("one_off"), NIK.level("one_off_serial")})
RULES = ("nik", "nik_near", "kk", "phone", "name_place", "birth_name")


@dataclass
class BlockingStats:
    records: int = 0
    pairs: int = 0
    pairs_by_rule: Counter[str] = field(default_factory=Counter)  # credited to the first rule
    capped_blocks: int = 0
    skipped_pairs: int = 0  # pairs a full block did not produce (another key may have)


def nik_neighbours(nik: str) -> Iterator[str]:
    """Every string one digit off, or with two neighbouring digits swapped."""
    for i, digit in enumerate(nik):
        head, tail = nik[:i], nik[i + 1:]
        for d in "0123456789":
            if d != digit:
                yield head + d + tail
    for i in range(len(nik) - 1):
        if nik[i] != nik[i + 1]:
            yield nik[:i] + nik[i + 1] + nik[i] + nik[i + 2:]


def loose(p: Prepared) -> bool:
    """A NIK that may carry a typo: it looks wrong, or no birth date says otherwise."""
    return not p.nik_ok or p.birth is None


def nik_masks(nik: str) -> list[str]:
    """The 16 one-digit masks of a NIK: two NIKs one digit apart share one of them."""
    return [nik[:i] + "*" + nik[i + 1:] for i in range(len(nik))]


def nik_swaps(nik: str) -> list[str]:
    """The NIK with each pair of neighbouring (different) digits swapped."""
    return [nik[:i] + nik[i + 1] + nik[i] + nik[i + 2:] for i in range(len(nik) - 1)
            if nik[i] != nik[i + 1]]


def _name_place_keys(p: Prepared) -> list[str]:
    if not p.kelurahan:
        return []
    informative = [t for t in p.folded if not is_initial(t)]
    rare = [t for t in informative if t not in COMMON_FOLDED] or informative
    keys = sorted({sound_key(t) for t in rare[:3]})
    if len(keys) == 1:
        return [f"{p.kelurahan}|{keys[0]}"]
    return [f"{p.kelurahan}|{x}|{y}" for x, y in combinations(keys, 2)]


def _birth_name_keys(p: Prepared) -> list[str]:
    if p.birth is None:
        return []
    lo, hi = sorted((p.birth.day, p.birth.month))
    stem = f"{p.birth.year}{lo:02d}{hi:02d}"
    return sorted({f"{stem}|{t[:2]}" for t in p.folded if not is_initial(t)})


def block_keys(p: Prepared) -> dict[str, list[str]]:
    """The keys of the plain rules (``nik``, ``kk``, ``phone``, ``name_place``, ``birth_name``)."""
    return {
        "nik": [p.nik] if p.nik and len(p.nik) >= 8 else [],
        "kk": [p.kk] if p.kk and len(p.kk) >= 8 else [],
        "phone": [p.phone] if p.phone else [],
        "name_place": _name_place_keys(p),
        "birth_name": _birth_name_keys(p),
    }


def has_full_nik(p: Prepared) -> bool:
    return bool(p.nik) and len(p.nik or "") == 16


def typo_keys(p: Prepared) -> dict[str, list[str]]:
    """What a loose record registers for ``nik_near``: its masks and its swapped variants."""
    if not has_full_nik(p) or not loose(p):
        return {"nik_mask": [], "nik_swap": []}
    assert p.nik is not None
    return {"nik_mask": nik_masks(p.nik), "nik_swap": nik_swaps(p.nik)}


def near_lookups(p: Prepared) -> list[tuple[str, str]]:
    """The (table, key) lookups that find the records one NIK typo away from ``p``.

    A loose record looks up every variant of its NIK among all NIKs (``nik``); any record
    looks up its masks among loose records' masks and its NIK among their swaps. The hits
    are then kept only if :func:`features.nik_level` says ``one_off*``.
    """
    if not has_full_nik(p):
        return []
    assert p.nik is not None
    out: list[tuple[str, str]] = []
    if loose(p):
        out += [("nik", v) for v in nik_neighbours(p.nik)]
    out += [("nik_mask", m) for m in nik_masks(p.nik)]
    out.append(("nik_swap", p.nik))
    return out


def is_near(a: Prepared, b: Prepared) -> bool:
    return nik_level(a, b) in NIK_ONE_OFF


class BlockingIndex:
    """Records added so far, by blocking key; see the module docstring."""

    def __init__(self, *, max_block: int = 60) -> None:
        self.max_block = max_block
        self.index: dict[str, dict[str, list[int]]] = {r: {} for r in RULES if r != "nik_near"}
        self.overflow: Counter[tuple[str, str]] = Counter()
        self.stats = BlockingStats()
        self.records: dict[int, Prepared] = {}  # records with a NIK, for nik_near
        self.loose_masks: dict[str, list[int]] = {}
        self.loose_swaps: dict[str, list[int]] = {}

    @staticmethod
    def keys(p: Prepared) -> dict[str, list[str]]:
        return block_keys(p)

    def candidates(self, p: Prepared) -> dict[int, str]:
        """Indexes of the records added so far that share a key with ``p`` -> the first rule."""
        found: dict[int, str] = {}
        keys = self.keys(p)
        for rule in RULES:
            if rule == "nik_near":
                if has_full_nik(p):
                    for j in self._nik_near(p):
                        found.setdefault(j, rule)
                continue
            table = self.index[rule]
            for key in keys[rule]:
                for j in table.get(key, ()):
                    found.setdefault(j, rule)
                if (rule, key) in self.overflow:
                    self.stats.skipped_pairs += self.overflow[rule, key]
        return found

    def _nik_near(self, p: Prepared) -> Iterator[int]:
        """Earlier records whose NIK is one typo away (``nik_level``: ``one_off*``).

        Many people have valid NIKs one digit apart (born the same day: serials 0001 and
        0002; or born a day apart), so a one-off between two NIKs that look right is no typo:
        one of the two must look wrong or lack a birth date ("loose"). A loose record looks
        up all 16x9 + 15 variants of its NIK; any other only looks for loose records, through
        the 16 one-digit masks and the swaps that loose records registered (17 lookups).
        """
        tables = {"nik": self.index["nik"], "nik_mask": self.loose_masks, "nik_swap": self.loose_swaps}
        seen: set[int] = set()
        for table, key in near_lookups(p):
            for j in tables[table].get(key, ()):
                if j not in seen:
                    seen.add(j)
                    if is_near(p, self.records[j]):
                        yield j

    def add(self, p: Prepared) -> None:
        self.stats.records += 1
        if has_full_nik(p):
            self.records[p.index] = p
            typo = typo_keys(p)
            for key in typo["nik_mask"]:
                self.loose_masks.setdefault(key, []).append(p.index)
            for key in typo["nik_swap"]:
                self.loose_swaps.setdefault(key, []).append(p.index)
        for rule, keys in self.keys(p).items():
            table = self.index[rule]
            for key in keys:
                block = table.setdefault(key, [])
                if len(block) < self.max_block:
                    block.append(p.index)
                else:
                    if (rule, key) not in self.overflow:
                        self.stats.capped_blocks += 1
                    self.overflow[rule, key] += 1


def candidate_pairs(records: Iterable[Prepared], *, max_block: int = 60,
                    index: BlockingIndex | None = None) -> Iterator[tuple[int, int, str]]:
    """Each candidate pair once, as (earlier index, later index, rule that found it)."""
    index = index or BlockingIndex(max_block=max_block)
    for p in records:
        found = index.candidates(p)
        for j in sorted(found):
            rule = found[j]
            index.stats.pairs += 1
            index.stats.pairs_by_rule[rule] += 1
            yield j, p.index, rule
        index.add(p)
