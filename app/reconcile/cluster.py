"""Person clusters from auto-merge links, guarded against chaining.

Plain connected components join two different people through a third record (A~C by a NIK
typo, C~B by name and birth date, but A and B share nothing). The rule here:

1. Links at or above the upper threshold are taken strongest first (greedy agglomeration).
2. Two clusters merge only if EVERY pair across them weighs at least ``floor`` (the review
   threshold): complete linkage at the lower bound, single linkage at the upper. Pairs that
   were never candidates are scored on demand with the same model.
3. A cluster never grows beyond ``max_size`` records (a person registered more than a few
   times is rare; a big cluster is a symptom of chaining).

A link refused by rule 2 or 3 is returned in ``refused`` with the reason, for the review
queue: a supervisor decides, not the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RefusedLink:
    a: int
    b: int
    weight: float
    reason: str
    reason_id: str
    conflict: tuple[int, int] | None = None  # the weak pair across the two clusters


@dataclass
class Clustering:
    cluster_of: list[int]                      # record index -> representative index
    best_link: dict[int, float] = field(default_factory=dict)  # record -> strongest accepted link
    refused: list[RefusedLink] = field(default_factory=list)

    def clusters(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i, root in enumerate(self.cluster_of):
            out.setdefault(root, []).append(i)
        return out


def cluster(n: int, links: Iterable[tuple[int, int, float]], *,
            pair_weight: Callable[[int, int], float], floor: float, max_size: int = 8
            ) -> Clustering:
    """Greedy, chaining-guarded clustering of ``n`` records; see the module docstring."""
    members: dict[int, list[int]] = {}
    root = list(range(n))
    result = Clustering(cluster_of=root)
    for a, b, w in sorted(links, key=lambda t: (-t[2], t[0], t[1])):
        ra, rb = root[a], root[b]
        if ra == rb:
            result.best_link[a] = max(result.best_link.get(a, w), w)
            result.best_link[b] = max(result.best_link.get(b, w), w)
            continue
        ma, mb = members.get(ra, [ra]), members.get(rb, [rb])
        if len(ma) + len(mb) > max_size:
            result.refused.append(RefusedLink(
                a, b, w, f"cluster would exceed {max_size} records",
                f"kelompok akan melebihi {max_size} data"))
            continue
        weak = next(((x, y, wx) for x in ma for y in mb
                     if (x, y) != (a, b) and (wx := pair_weight(x, y)) < floor), None)
        if weak is not None:
            x, y, wx = weak
            result.refused.append(RefusedLink(
                a, b, w, f"would also join two records whose weight is only {wx:.1f}",
                f"akan ikut menggabungkan dua data yang bobotnya hanya {wx:.1f}", (x, y)))
            continue
        keep, gone = (ra, rb) if len(ma) >= len(mb) else (rb, ra)
        merged = ma + mb
        for x in merged:
            root[x] = keep
        members[keep] = merged
        members.pop(gone, None)
        result.best_link[a] = max(result.best_link.get(a, w), w)
        result.best_link[b] = max(result.best_link.get(b, w), w)
    return result
