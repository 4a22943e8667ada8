"""Clusters guarded against chaining, and the blocking index."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from app.reconcile.blocking import BlockingIndex, candidate_pairs, nik_neighbours
from app.reconcile.cluster import cluster
from app.reconcile.features import prepare
from app.reconcile.records import PersonRecord


class TestChainingGuard:
    """A (NIK typo) ~ C ~ B: A and C strong, C and B strong, A and B clearly different."""

    WEIGHTS: ClassVar[dict[tuple[int, int], float]] = {(0, 2): 30.0, (1, 2): 25.0, (0, 1): -20.0}

    def weight(self, a: int, b: int) -> float:
        return self.WEIGHTS[(a, b) if a < b else (b, a)]

    def test_the_weaker_link_is_refused_and_reported(self) -> None:
        result = cluster(3, [(0, 2, 30.0), (1, 2, 25.0)], pair_weight=self.weight, floor=8.0)
        groups = sorted(sorted(g) for g in result.clusters().values())
        assert groups == [[0, 2], [1]]
        [refused] = result.refused
        assert (refused.a, refused.b) == (1, 2)
        assert refused.conflict is not None and set(refused.conflict) == {0, 1}
        assert "weight is only -20.0" in refused.reason and "bobotnya" in refused.reason_id

    def test_plain_connected_components_would_have_chained(self) -> None:
        # the same links with no guard (floor far below every weight) join all three
        result = cluster(3, [(0, 2, 30.0), (1, 2, 25.0)], pair_weight=self.weight, floor=-100.0)
        assert len(result.clusters()) == 1

    def test_three_records_of_one_person_merge(self) -> None:
        result = cluster(3, [(0, 1, 30.0), (1, 2, 25.0)], pair_weight=lambda a, b: 20.0, floor=8.0)
        assert len(result.clusters()) == 1
        assert result.best_link == {0: 30.0, 1: 30.0, 2: 25.0}

    def test_cluster_size_is_capped(self) -> None:
        links = [(i, i + 1, 30.0) for i in range(9)]
        result = cluster(10, links, pair_weight=lambda a, b: 30.0, floor=8.0, max_size=4)
        assert max(len(g) for g in result.clusters().values()) == 4
        assert result.refused and "exceed 4" in result.refused[0].reason


class TestBlocking:
    def test_nik_neighbours(self) -> None:
        variants = list(nik_neighbours("8271041203850001"))
        assert len(variants) == 16 * 9 + 13  # 13 neighbouring pairs of unequal digits
        assert "8271042103850001" in variants and "8271041203850002" in variants

    def test_typo_in_nik_found_and_family_found(self) -> None:
        born = dt.date(1985, 3, 12)
        records = [
            PersonRecord("a", "Ahmad Sangaji", born, "male", "8271041203850001", "8271040101100001"),
            # NIK day digit typo: disagrees with the stated birth date, one digit off
            PersonRecord("b", "Ahmad Sanggaji", born, "male", "8271041303850001"),
            PersonRecord("c", "Fatimah Umar", dt.date(1990, 1, 1), "female", None, "8271040101100001"),
            PersonRecord("d", "Rizal Tomagola", dt.date(1970, 5, 5), "male", "8271070505700001"),
        ]
        prepared = [prepare(r, i) for i, r in enumerate(records)]
        pairs = {(a, b): rule for a, b, rule in candidate_pairs(prepared)}
        assert pairs[(0, 1)] in ("nik_near", "birth_name")
        assert pairs[(0, 2)] == "kk"
        assert not any(3 in p for p in pairs)

    def test_a_full_block_stops_growing_and_counts_what_it_skipped(self) -> None:
        records = [PersonRecord(str(i), f"Nama{i} Orang{i}", None, None, None, "8271040101100001")
                   for i in range(8)]
        index = BlockingIndex(max_block=5)
        pairs = list(candidate_pairs([prepare(r, i) for i, r in enumerate(records)], index=index))
        assert len(pairs) == 5 * 4 // 2 + 3 * 5  # all pairs among the first 5, then 5 each
        assert index.stats.capped_blocks == 1
        assert index.stats.skipped_pairs == 1 + 2  # the 7th misses the 6th, the 8th both
