"""Database blocking proposes exactly the pairs of the in-memory index."""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session

from app.reconcile import dbblock, source
from app.reconcile.blocking import BlockingIndex, candidate_pairs
from app.reconcile.features import prepare
from tests.reconcile_db.helpers import load_generated


class TestDatabaseBlocking:
    def test_same_candidates_as_the_in_memory_index(self, db: Session) -> None:
        load_generated(db, 120)
        members = list(source.iter_members(db, chunk=97))
        pool = dbblock.Pool()
        pool.add(members)
        households = sorted({m.household_id for m in members}, key=str)
        for hid in households:
            dbblock.refresh(db, hid, pool)
        db.flush()

        prepared = [prepare(m.record, i) for i, m in enumerate(members)]
        index = BlockingIndex(max_block=60)
        memory: dict[str, set[str]] = defaultdict(set)
        for a, b, _rule in candidate_pairs(prepared, index=index):
            ra, rb = members[a].record.record_id, members[b].record.record_id
            memory[ra].add(rb)
            memory[rb].add(ra)
        assert index.stats.capped_blocks == 0
        assert any(rule == "nik_near" for rule in index.stats.pairs_by_rule)

        database: dict[str, set[str]] = defaultdict(set)
        fresh = dbblock.Pool()
        capped = 0
        for hid in households:
            found = dbblock.candidates_for(db, hid, pool=fresh)
            capped += found.capped_keys
            for own, other in found.pairs:
                database[str(own)].add(str(other))
        assert capped == 0
        assert dict(database) == dict(memory)
        assert sum(len(v) for v in memory.values()) > 200

    def test_a_large_block_is_skipped_and_counted(self, db: Session) -> None:
        load_generated(db, 40)
        members = list(source.iter_members(db))
        pool = dbblock.Pool()
        pool.add(members)
        for hid in {m.household_id for m in members}:
            dbblock.refresh(db, hid, pool)
        db.flush()
        hid = members[0].household_id
        some = dbblock.candidates_for(db, hid, pool=dbblock.Pool(), max_block=60)
        none = dbblock.candidates_for(db, hid, pool=dbblock.Pool(), max_block=0)
        assert some.pairs
        assert none.capped_keys > 0
        assert all(rule == "nik_near" for rule in none.pairs.values())

    def test_keys_longer_than_the_column_are_stored_as_a_digest(self) -> None:
        long = "82.71.02.1001|" + "a" * 30 + "|" + "b" * 30
        key = dbblock.storable("name_place", long)
        assert len(key) <= dbblock.KEY_LENGTH and key == dbblock.storable("name_place", long)
        assert dbblock.storable("name_place", "short") == "short"
        nik = "8271014506900001"
        blinded = dbblock.storable("nik", nik)
        assert nik not in blinded and len(blinded) <= dbblock.KEY_LENGTH
        assert blinded == dbblock.storable("nik", nik) != dbblock.storable("nik", "8271014506900002")
