"""Blocking in the database: ``match_key`` rows and the candidates of one household.

The keys are those of the in-memory :class:`blocking.BlockingIndex` (the same functions:
``block_keys``, ``typo_keys``, ``near_lookups``, ``is_near``), so the worker and the batch
linker propose the same pairs:

- every canonical member stores its plain keys (``nik``, ``kk``, ``phone``, ``name_place``,
  ``birth_name``) and, when its NIK is loose (looks wrong, or no birth date), the NIK-typo
  keys ``nik_mask`` (16 one-digit masks) and ``nik_swap`` (neighbouring digits swapped);
- the candidates of a member are the members sharing a plain key, plus those a NIK typo
  away: a loose member looks up the 16x9 + 15 variants of its NIK among ``nik`` keys, every
  member looks up its masks among ``nik_mask`` and its NIK among ``nik_swap``; those hits
  are kept only if ``features.nik_level`` says one digit off or two swapped.

A plain block holding more than ``max_block`` other members is skipped (counted in
``Candidates.capped_keys``), like a full block of the in-memory index. Keys longer than
the column (a long kelurahan + two long sound keys) are stored as a digest. Keys made of NIK
or KK digits (``nik``, ``kk``, ``nik_mask``, ``nik_swap``) are stored as their blind index
under the current index key (app/pii.py): equal keys stay equal, the table holds no NIK.
After an index key rotation ``sigap keys rotate`` rebuilds this table.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlmodel import Session

from app import bulk, pii
from app.reconcile import source
from app.reconcile.blocking import RULES, block_keys, is_near, near_lookups, typo_keys
from app.reconcile.features import Prepared, prepare
from app.reconcile.source import SourceMember
from app.reconcile.store import MatchKey

_TABLE = MatchKey.__table__  # type: ignore[attr-defined]
KEY_LENGTH = 40
PLAIN = tuple(r for r in RULES if r != "nik_near")
_IN_CHUNK = 500


BLINDED = frozenset({"nik", "kk", "nik_mask", "nik_swap"})


def storable(rule: str, key: str) -> str:
    """The key as stored: its blind index (NIK and KK rules), itself, or a digest when it
    would not fit the column."""
    if rule in BLINDED:
        return pii.keyring().blind("match", key)
    if len(key) <= KEY_LENGTH:
        return key
    return "#" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def stored_keys(p: Prepared) -> set[tuple[str, str]]:
    """(rule, key) rows of one member."""
    out = {(rule, storable(rule, k)) for rule, keys in block_keys(p).items() for k in keys}
    out |= {(rule, storable(rule, k)) for rule, keys in typo_keys(p).items() for k in keys}
    return out


@dataclass
class Pool:
    """Prepared members by id (``Prepared.index`` numbers them in arrival order)."""

    members: dict[uuid.UUID, SourceMember] = field(default_factory=dict)
    prepared: dict[uuid.UUID, Prepared] = field(default_factory=dict)

    def add(self, members: Iterable[SourceMember]) -> None:
        for m in members:
            if m.member_id not in self.prepared:
                self.members[m.member_id] = m
                self.prepared[m.member_id] = prepare(m.record, len(self.prepared))

    def household(self, household_id: uuid.UUID) -> list[uuid.UUID]:
        return [i for i, m in self.members.items() if m.household_id == household_id]


@dataclass
class Candidates:
    own: list[uuid.UUID]                                   # the household's members
    pairs: dict[tuple[uuid.UUID, uuid.UUID], str] = field(default_factory=dict)  # (own, other) -> rule
    capped_keys: int = 0   # plain keys skipped because their block is larger than max_block


def _rows(member: SourceMember, p: Prepared) -> list[dict[str, object]]:
    return [{"member_id": member.member_id, "rule": rule, "key": key,
             "household_id": member.household_id} for rule, key in sorted(stored_keys(p))]


def refresh(session: Session, household_id: uuid.UUID, pool: Pool) -> None:
    """Replace the household's match keys by those of its members now in ``pool``."""
    session.execute(delete(_TABLE).where(_TABLE.c.household_id == household_id))
    rows = [r for mid in pool.household(household_id)
            for r in _rows(pool.members[mid], pool.prepared[mid])]
    bulk.insert(session, _TABLE, rows)


def forget(session: Session, household_id: uuid.UUID) -> None:
    session.execute(delete(_TABLE).where(_TABLE.c.household_id == household_id))


def rebuild(session: Session, members: Iterable[tuple[SourceMember, Prepared]], *,
            chunk: int = 20_000) -> int:
    """Every match key again, in bulk (the batch run); returns the rows written."""
    session.execute(delete(_TABLE))
    written = 0
    rows: list[dict[str, object]] = []
    for member, p in members:
        rows += _rows(member, p)
        if len(rows) >= chunk:
            bulk.insert(session, _TABLE, rows)
            written += len(rows)
            rows = []
    bulk.insert(session, _TABLE, rows)
    return written + len(rows)


def _lookup(session: Session, rule: str, keys: set[str]
            ) -> Iterator[tuple[str, uuid.UUID]]:
    ordered = sorted(keys)
    for start in range(0, len(ordered), _IN_CHUNK):
        stmt = select(_TABLE.c.key, _TABLE.c.member_id).where(
            _TABLE.c.rule == rule, _TABLE.c.key.in_(ordered[start:start + _IN_CHUNK]))
        for key, member_id in session.execute(stmt):
            yield str(key), member_id


def _block_sizes(session: Session, rule: str, keys: set[str]) -> dict[str, int]:
    ordered = sorted(keys)
    out: dict[str, int] = {}
    for start in range(0, len(ordered), _IN_CHUNK):
        stmt = (select(_TABLE.c.key, func.count()).where(
            _TABLE.c.rule == rule, _TABLE.c.key.in_(ordered[start:start + _IN_CHUNK]))
            .group_by(_TABLE.c.key))
        out.update({k: int(n) for k, n in session.execute(stmt)})
    return out


def candidates_for(session: Session, household_id: uuid.UUID, *, pool: Pool,
                   max_block: int = 60) -> Candidates:
    """The members sharing a blocking key with a member of the household (its own other
    members included), by indexed lookups; the hits are loaded into ``pool``."""
    pool.add(source.members_of(session, [household_id]))
    own = pool.household(household_id)
    result = Candidates(own=own)
    plain: dict[str, dict[str, list[uuid.UUID]]] = {r: {} for r in PLAIN}
    near: dict[str, dict[str, list[uuid.UUID]]] = {"nik": {}, "nik_mask": {}, "nik_swap": {}}
    for mid in own:
        p = pool.prepared[mid]
        for rule, keys in block_keys(p).items():
            for k in keys:
                plain[rule].setdefault(storable(rule, k), []).append(mid)
        for table, k in near_lookups(p):
            near[table].setdefault(storable(table, k), []).append(mid)

    found: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
    for rule in PLAIN:
        wanted = plain[rule]
        if not wanted:
            continue
        sizes = _block_sizes(session, rule, set(wanted))
        allowed = set()
        for k in wanted:
            # the block holds the member looking it up: the others are one fewer
            if sizes.get(k, 0) - 1 > max_block:
                result.capped_keys += 1
            else:
                allowed.add(k)
        for k, other in _lookup(session, rule, allowed):
            for mid in wanted[k]:
                if other != mid:
                    found.setdefault((mid, other), rule)
    near_hits: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for table, wanted in near.items():
        if wanted:
            for k, other in _lookup(session, table, set(wanted)):
                near_hits.update((mid, other) for mid in wanted[k] if other != mid)
    missing = {o for pair in (*found, *near_hits) for o in pair[1:]} - set(pool.prepared)
    if missing:
        pool.add(source.members_by_id(session, missing))
    for mid, other in sorted(near_hits, key=lambda x: (str(x[0]), str(x[1]))):
        if (mid, other) not in found and other in pool.prepared and \
                is_near(pool.prepared[mid], pool.prepared[other]):
            found[mid, other] = "nik_near"
    # a hit whose member is no longer canonical (keys not yet refreshed) is dropped
    result.pairs = {k: v for k, v in found.items() if k[1] in pool.prepared}
    return result
