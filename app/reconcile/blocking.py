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


def _loose(p: Prepared) -> bool:
    """A NIK that may carry a typo: it looks wrong, or no birth date says otherwise."""
    return not p.nik_ok or p.birth is None


def _masks(nik: str) -> list[str]:
    return [nik[:i] + "*" + nik[i + 1:] for i in range(len(nik))]


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
        return {
            "nik": [p.nik] if p.nik and len(p.nik) >= 8 else [],
            "kk": [p.kk] if p.kk and len(p.kk) >= 8 else [],
            "phone": [p.phone] if p.phone else [],
            "name_place": _name_place_keys(p),
            "birth_name": _birth_name_keys(p),
        }

    def candidates(self, p: Prepared) -> dict[int, str]:
        """Indexes of the records added so far that share a key with ``p`` -> the first rule."""
        found: dict[int, str] = {}
        keys = self.keys(p)
        for rule in RULES:
            if rule == "nik_near":
                if p.nik and len(p.nik) == 16:
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
        assert p.nik is not None
        seen: set[int] = set()
        hits: list[int] = []
        if _loose(p):
            for variant in nik_neighbours(p.nik):
                hits.extend(self.index["nik"].get(variant, ()))
        for key in _masks(p.nik):
            hits.extend(self.loose_masks.get(key, ()))
        hits.extend(self.loose_swaps.get(p.nik, ()))
        for j in hits:
            if j not in seen:
                seen.add(j)
                if nik_level(p, self.records[j]) in NIK_ONE_OFF:
                    yield j

    def add(self, p: Prepared) -> None:
        self.stats.records += 1
        if p.nik and len(p.nik) == 16:
            self.records[p.index] = p
            if _loose(p):
                for key in _masks(p.nik):
                    self.loose_masks.setdefault(key, []).append(p.index)
                for i in range(15):
                    if p.nik[i] != p.nik[i + 1]:
                        swapped = p.nik[:i] + p.nik[i + 1] + p.nik[i] + p.nik[i + 2:]
                        self.loose_swaps.setdefault(swapped, []).append(p.index)
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
