"""Candidate pairs without comparing all pairs: blocking keys kept in an in-memory index.

A record is compared only with records that share at least one key:

==============  ==========================================================================
rule            key
==============  ==========================================================================
nik             the NIK digits
nik_near        a NIK one digit off or with two neighbouring digits swapped (looked up as
                the 16x9 + 15 variants of the NIK in the ``nik`` index: no extra keys)
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

NIK_ONE_OFF = NIK.level("one_off")
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
                    # many people have valid NIKs one digit apart (born the same day: serials
                    # 0001 and 0002; or born a day apart); only a NIK that looks wrong is a typo
                    nik_index = self.index["nik"]
                    for variant in nik_neighbours(p.nik):
                        for j in nik_index.get(variant, ()):
                            if j not in found and nik_level(p, self.records[j]) == NIK_ONE_OFF:
                                found[j] = rule
                continue
            table = self.index[rule]
            for key in keys[rule]:
                for j in table.get(key, ()):
                    found.setdefault(j, rule)
                if (rule, key) in self.overflow:
                    self.stats.skipped_pairs += self.overflow[rule, key]
        return found

    def add(self, p: Prepared) -> None:
        self.stats.records += 1
        if p.nik and len(p.nik) == 16:
            self.records[p.index] = p
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
