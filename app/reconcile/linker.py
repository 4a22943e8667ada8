"""Records -> candidate pairs -> weights -> decisions -> person clusters.

Memory stays bounded by the records: candidate pairs are compared as they are generated and
kept only as three 4-byte integers each (the two record indexes and the comparison pattern
code); the weight of a pattern is computed once. Only pairs at or above the review
threshold are kept as :class:`ScoredPair` objects.
"""

from __future__ import annotations

import random
import time
import tomllib
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.reconcile.blocking import BlockingIndex, BlockingStats, candidate_pairs
from app.reconcile.cluster import Clustering, RefusedLink, cluster
from app.reconcile.features import FEATURES, NIK, Context, Observation, Prepared, compare, describe, prepare
from app.reconcile.model import Contribution, EMReport, FellegiSunter
from app.reconcile.records import PersonRecord

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "seed_data" / "reconcile.toml"
RADIX = tuple(len(f.levels) for f in FEATURES)

IDENTITY = ("nik", "name", "birth_date", "sex")
AUTO_MERGE, REVIEW, DISTINCT = "auto_merge", "review", "distinct"
Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class LinkConfig:
    upper: float = 18.0   # at or above: merge automatically (seed_data/reconcile.toml)
    lower: float = 8.0    # at or above (and below upper): review queue; below: distinct
    max_block: int = 60
    max_cluster: int = 8
    u_sample: int = 200_000
    em_max_iter: int = 100
    seed: int = 7

    @classmethod
    def load(cls, path: Path = DEFAULT_CONFIG, *, registry: bool = False) -> LinkConfig:
        """The file linker's settings, or with ``registry`` those of the registry's batch run
        and worker (``[registry]`` overrides ``[thresholds]``: see seed_data/reconcile.toml)."""
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        thresholds = {**data.get("thresholds", {}), **(data.get("registry", {}) if registry else {})}
        return cls(**thresholds, **data.get("engine", {}))


def encode(levels: Sequence[int]) -> int:
    code = 0
    for lv, radix in zip(levels, RADIX, strict=True):
        code = code * radix + lv
    return code


def decode(code: int) -> tuple[int, ...]:
    out = []
    for radix in reversed(RADIX):
        code, lv = divmod(code, radix)
        out.append(lv)
    return tuple(reversed(out))


def decide(weight: float, config: LinkConfig) -> str:
    if weight >= config.upper:
        return AUTO_MERGE
    return REVIEW if weight >= config.lower else DISTINCT


@dataclass(frozen=True)
class ScoredPair:
    a: str            # record_id
    b: str
    weight: float
    decision: str
    levels: tuple[int, ...]


@dataclass(frozen=True)
class Explanation:
    a: str
    b: str
    weight: float
    probability: float
    decision: str
    contributions: list[Contribution]
    observations: list[Observation]


@dataclass
class LinkStats:
    records: int = 0
    candidate_pairs: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    clusters: int = 0             # clusters of two or more records
    records_in_clusters: int = 0
    refused_links: int = 0
    blocking: BlockingStats = field(default_factory=BlockingStats)
    em: EMReport | None = None
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class LinkResult:
    prepared: list[Prepared]
    context: Context
    model: FellegiSunter
    config: LinkConfig
    pairs: list[ScoredPair]          # every candidate pair at or above ``config.lower``
    clustering: Clustering
    stats: LinkStats
    _scored: dict[tuple[int, int], float] = field(default_factory=dict, repr=False)

    def cluster_ids(self) -> dict[str, str]:
        """record_id -> cluster id (the smallest record_id of the cluster)."""
        out: dict[str, str] = {}
        for members in self.clustering.clusters().values():
            ids = sorted(self.prepared[i].record.record_id for i in members)
            for rid in ids:
                out[rid] = ids[0]
        return out

    def best_weight(self, record_index: int) -> float | None:
        return self.clustering.best_link.get(record_index)

    def refused(self) -> list[tuple[str, str, RefusedLink]]:
        return [(self.prepared[r.a].record.record_id, self.prepared[r.b].record.record_id, r)
                for r in self.clustering.refused]

    def explain(self, a: int, b: int) -> Explanation:
        return explain_pair(self.prepared[a], self.prepared[b], model=self.model,
                            context=self.context, config=self.config)


def explain_pair(a: Prepared, b: Prepared, *, model: FellegiSunter, context: Context,
                 config: LinkConfig) -> Explanation:
    """Everything a supervisor needs about one pair: weight, decision, and each reason."""
    levels = compare(a, b, context)
    weight = model.weight(levels)
    return Explanation(a.record.record_id, b.record.record_id, round(weight, 2),
                       model.probability(weight), decide(weight, config), model.explain(levels),
                       describe(a, b, levels))


def _sampler(prepared: Sequence[Prepared], context: Context, groups: Sequence[Sequence[int]] | None,
             *, strangers_only: bool = False) -> Callable[[random.Random], tuple[int, ...] | None]:
    """Random pairs of records: anywhere, or two records of one group (e.g. one KK).

    ``strangers_only`` skips pairs that are most likely one person (the same NIK, or the same
    full name: two members of one family rarely share one): inside one family they are
    common enough (an enumerator's second visit keeps the KK) to spoil u, which is about
    DIFFERENT people.
    """
    n = len(prepared)
    if groups is None:
        def anywhere(rng: random.Random) -> tuple[int, ...] | None:
            i, j = rng.randrange(n), rng.randrange(n)
            return None if i == j else compare(prepared[i], prepared[j], context)
        return anywhere
    # a record drawn uniformly among grouped records, then another of its group
    flat = [(g, i) for g in groups for i in g]

    def within(rng: random.Random) -> tuple[int, ...] | None:
        if not flat:
            return None
        group, i = flat[rng.randrange(len(flat))]
        j = group[rng.randrange(len(group))]
        if i == j:
            return None
        a, b = prepared[i], prepared[j]
        if strangers_only and ((a.nik and a.nik == b.nik) or a.folded_key == b.folded_key):
            return None
        return compare(a, b, context)
    return within


def fit_model(prepared: Sequence[Prepared], context: Context, patterns: Counter[int], *,
              config: LinkConfig) -> tuple[FellegiSunter, EMReport]:
    """u from random pairs, then m and the prior by EM over the candidate patterns.

    Three kinds of random pairs: strangers (u); two people of one KK (u_family); two NIKs
    with the same birth digits, for the NIK levels "same birth digits" and "one off in the
    region or serial", whose u must be taken among people born the same day, since the
    birth date feature already counted that agreement (the chain rule: P(birth, NIK) =
    P(birth) P(NIK | birth)).
    """
    model = FellegiSunter()
    if len(prepared) > 1:
        by_kk: dict[str, list[int]] = {}
        by_birth_digits: dict[str, list[int]] = {}
        for p in prepared:
            if p.kk:
                by_kk.setdefault(p.kk, []).append(p.index)
            if p.nik and len(p.nik) == 16:
                by_birth_digits.setdefault(p.nik[6:12], []).append(p.index)
        model.u = model.count_levels(config.u_sample, _sampler(prepared, context, None),
                                     seed=config.seed)
        model.u_family = model.count_levels(
            config.u_sample // 4,
            _sampler(prepared, context, [g for g in by_kk.values() if len(g) > 1], strangers_only=True),
            seed=config.seed + 1)
        same_day = model.count_levels(
            config.u_sample // 4,
            _sampler(prepared, context, [g for g in by_birth_digits.values() if len(g) > 1]),
            seed=config.seed + 2)
        for level in (NIK.level("one_off_serial"), NIK.level("same_birth_digits")):
            model.u[0][level] = model.u_family[0][level] = same_day[0][level]
        model.refresh()
    decoded = {decode(c): k for c, k in patterns.items()}
    # Stage 1: who is the same PERSON, from identity features only. On all features at once,
    # EM finds "same household" instead (most candidate pairs are members of one family,
    # agreeing on KK, address, phone and surname).
    n = len(prepared)
    model.prior = 1.0 / max(n, 2)
    report = model.estimate_m(decoded, max_iter=config.em_max_iter, only=IDENTITY,
                              total_pairs=max(n * (n - 1) // 2, 1))
    # Stage 2: the household features' m given those persons (one M-step).
    model.estimate_m_given(decoded, by=IDENTITY)
    return model, report


def link(records: Sequence[PersonRecord], *, config: LinkConfig | None = None,
         model: FellegiSunter | None = None, progress: Progress | None = None,
         on_pair: Callable[[int, int], None] | None = None) -> LinkResult:
    """Link a whole file. With ``model=None`` the model is estimated from these records."""
    config = config or LinkConfig()
    stats = LinkStats(records=len(records))
    clock = time.perf_counter()

    def tick(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stats.seconds[phase] = round(now - clock, 3)
        clock = now

    def report(phase: str, done: int, total: int) -> None:
        if progress:
            progress(phase, done, total)

    n = len(records)
    prepared: list[Prepared] = []
    for i, rec in enumerate(records):
        prepared.append(prepare(rec, i))
        if i % 10_000 == 0:
            report("prepare", i, n)
    report("prepare", n, n)
    context = Context.build(prepared)
    tick("prepare")

    left, right, codes = array("I"), array("I"), array("I")
    patterns: Counter[int] = Counter()
    index = BlockingIndex(max_block=config.max_block)
    last = -1
    for a, b, _rule in candidate_pairs(prepared, index=index):
        if on_pair:
            on_pair(a, b)
        code = encode(compare(prepared[a], prepared[b], context))
        left.append(a)
        right.append(b)
        codes.append(code)
        patterns[code] += 1
        if b != last and b % 10_000 == 0:
            report("compare", b, n)
            last = b
    report("compare", n, n)
    stats.blocking = index.stats
    stats.candidate_pairs = len(codes)
    del index
    tick("block+compare")

    if model is None:
        model, stats.em = fit_model(prepared, context, patterns, config=config)
    tick("estimate")

    weight_of = {code: model.weight(decode(code)) for code in patterns}
    pairs: list[ScoredPair] = []
    scored: dict[tuple[int, int], float] = {}
    auto: list[tuple[int, int, float]] = []
    for a, b, code in zip(left, right, codes, strict=True):
        w = weight_of[code]
        decision = decide(w, config)
        stats.decisions[decision] += 1
        if decision == DISTINCT:
            continue
        scored[a, b] = w
        pairs.append(ScoredPair(prepared[a].record.record_id, prepared[b].record.record_id,
                                round(w, 3), decision, decode(code)))
        if decision == AUTO_MERGE:
            auto.append((a, b, w))
    del left, right, codes

    def pair_weight(x: int, y: int) -> float:
        key = (x, y) if x < y else (y, x)
        if key not in scored:
            scored[key] = model.weight(compare(prepared[key[0]], prepared[key[1]], context))
        return scored[key]

    clustering = cluster(n, auto, pair_weight=pair_weight, floor=config.lower,
                         max_size=config.max_cluster)
    groups = [g for g in clustering.clusters().values() if len(g) > 1]
    stats.clusters = len(groups)
    stats.records_in_clusters = sum(len(g) for g in groups)
    stats.refused_links = len(clustering.refused)
    tick("decide+cluster")
    return LinkResult(prepared, context, model, config, pairs, clustering, stats, scored)
