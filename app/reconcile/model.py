"""Fellegi-Sunter: per feature level, m = P(level | same person), u = P(level | different).

* ``u`` is counted on random pairs of records (almost all random pairs are two different
  people), with one pseudo-count per level so that a level never seen gets a finite weight.
* ``m`` and the share of matches among the candidate pairs (``prior``) are estimated by EM
  on the candidate pairs with ``u`` held fixed (as Splink does), from the counts of each
  distinct comparison pattern, so EM costs nothing even for millions of pairs.
* A missing value (a ``neutral`` level) is neither evidence for nor against: it is left out
  of the likelihood and its weight is 0.

The match weight of a pair is the sum over features of log2(m/u) of the observed level;
:meth:`FellegiSunter.explain` keeps every term, so a supervisor sees why two records linked.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from app.reconcile.features import FEATURES, HOUSEHOLD, SAME_KK, Feature


@dataclass(frozen=True)
class Contribution:
    feature: str
    level: str
    weight: float  # log2(m/u), bits of evidence; negative is evidence against
    reason: str
    reason_id: str


@dataclass
class EMReport:
    iterations: int
    converged: bool
    prior: float
    log_likelihood: list[float] = field(default_factory=list)


def _initial_m(feature: Feature) -> list[float]:
    raw = [0.0 if lv.neutral else 4.0 ** -i for i, lv in enumerate(feature.levels)]
    total = sum(raw)
    return [x / total for x in raw]


@dataclass
class FellegiSunter:
    features: tuple[Feature, ...] = FEATURES
    m: list[list[float]] = field(default_factory=list)
    u: list[list[float]] = field(default_factory=list)
    # u among different people of ONE family (same KK): twins share a birth date, siblings a
    # surname; what is rare between strangers is not rare between them
    u_family: list[list[float]] = field(default_factory=list)
    prior: float = 0.01
    _weights: list[list[float]] = field(default_factory=list, repr=False)
    _weights_family: list[list[float]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._household = next(k for k, f in enumerate(self.features) if f.name == HOUSEHOLD.name)
        if not self.m:
            self.m = [_initial_m(f) for f in self.features]
        if not self.u:
            self.u = [[1.0 / len(f.levels)] * len(f.levels) for f in self.features]
        if not self.u_family:
            self.u_family = [list(row) for row in self.u]
        self.refresh()

    def _table(self, u: list[list[float]]) -> list[list[float]]:
        return [[0.0 if lv.neutral or m <= 0 or uu <= 0 else math.log2(m / uu)
                 for lv, m, uu in zip(f.levels, ms, us, strict=True)]
                for f, ms, us in zip(self.features, self.m, u, strict=True)]

    def refresh(self) -> None:
        self._weights = self._table(self.u)
        family = self._table(self.u_family)
        # the household feature itself is always weighed against strangers
        family[self._household] = self._weights[self._household]
        self._weights_family = family

    def _u_for(self, levels: Sequence[int]) -> list[list[float]]:
        return self.u_family if levels[self._household] == SAME_KK else self.u

    # -- scoring -----------------------------------------------------------------------------
    def weight(self, levels: Sequence[int]) -> float:
        w = self._weights_family if levels[self._household] == SAME_KK else self._weights
        return sum(w[k][lv] for k, lv in enumerate(levels))

    def explain(self, levels: Sequence[int]) -> list[Contribution]:
        w = self._weights_family if levels[self._household] == SAME_KK else self._weights
        out = []
        for k, (feature, lv) in enumerate(zip(self.features, levels, strict=True)):
            level = feature.levels[lv]
            out.append(Contribution(feature.name, level.name, round(w[k][lv], 2),
                                    level.reason, level.reason_id))
        return out

    def probability(self, weight: float) -> float:
        """P(same person) for a candidate pair of this weight, with the estimated prior."""
        logit = weight + math.log2(self.prior / (1.0 - self.prior))
        return 1.0 / (1.0 + 2.0 ** -max(min(logit, 60.0), -60.0))

    # -- estimation --------------------------------------------------------------------------
    def count_levels(self, n: int, sample: Callable[[random.Random], Sequence[int] | None],
                     *, seed: int = 7) -> list[list[float]]:
        """Level frequencies on ``n`` random pairs (``sample`` draws one pair or None).

        One pseudo-count per level, so a level never seen has a small, finite probability.
        """
        rng = random.Random(seed)
        counts = [[1.0 if not lv.neutral else 0.0 for lv in f.levels] for f in self.features]
        for _ in range(n):
            levels = sample(rng)
            if levels is None:
                continue
            for k, lv in enumerate(levels):
                counts[k][lv] += 1.0
        return [_normalise(c, f) for c, f in zip(counts, self.features, strict=True)]

    def estimate_m(self, patterns: Mapping[tuple[int, ...], int], *, max_iter: int = 100,
                   tol: float = 1e-5, only: Sequence[str] | None = None,
                   fixed: Sequence[str] = (), total_pairs: int | None = None) -> EMReport:
        """EM over distinct patterns with their counts; ``u`` fixed, ``m`` and prior estimated.

        ``only``: the features the likelihood uses (others are ignored, their m unchanged);
        ``fixed``: features whose m is used but not re-estimated.
        ``total_pairs``: all pairs of the data set (n(n-1)/2). The prior is then the chance
        that two RANDOM records match, as u is counted on random pairs: blocking chose the
        candidates by the very values the features compare, so given the features the
        choice adds nothing (Splink's "probability two random records match"). Taking the
        share of matches among candidates instead makes a shared birth date alone look
        like a match, and EM drifts to "anything blocked together is a match".
        """
        used = [only is None or f.name in only for f in self.features]
        neutral = [[lv.neutral or not used[k] for lv in f.levels]
                   for k, f in enumerate(self.features)]
        items = list(patterns.items())
        report = EMReport(0, False, self.prior)
        prior = self.prior
        for iteration in range(1, max_iter + 1):
            counts = [[0.0] * len(f.levels) for f in self.features]
            loglik = 0.0
            matched = 0.0
            total = 0.0
            for pattern, count in items:
                pm = prior
                pu = 1.0 - prior
                u = self._u_for(pattern)
                for k, lv in enumerate(pattern):
                    if not neutral[k][lv]:
                        pm *= self.m[k][lv]
                        pu *= u[k][lv]
                post = pm / (pm + pu) if pm + pu > 0 else 0.0
                loglik += count * math.log(pm + pu) if pm + pu > 0 else 0.0
                matched += post * count
                total += count
                for k, lv in enumerate(pattern):
                    counts[k][lv] += post * count
            new_m = [_normalise([c + 1e-3 for c in row], f) for row, f in
                     zip(counts, self.features, strict=True)]
            for k, f in enumerate(self.features):
                if f.name in fixed or not used[k]:
                    new_m[k] = self.m[k]
            denominator = total_pairs or total
            new_prior = min(max(matched / denominator, 1e-12), 1 - 1e-6) if denominator else prior
            change = max(abs(a - b) for row_new, row_old in zip(new_m, self.m, strict=True)
                         for a, b in zip(row_new, row_old, strict=True))
            change = max(change, abs(new_prior - prior))
            self.m, prior = new_m, new_prior
            report.log_likelihood.append(loglik)
            report.iterations = iteration
            if change < tol:
                report.converged = True
                break
        self.prior = prior
        report.prior = prior
        self.refresh()
        return report

    def estimate_m_given(self, patterns: Mapping[tuple[int, ...], int], *, by: Sequence[str]
                         ) -> None:
        """One M-step for the features not in ``by``, with posteriors from ``by`` only.

        Used for features that describe the household rather than the person (KK, address,
        phone, family members): left in the E-step, they would make EM find "same family".
        """
        use = [f.name in by for f in self.features]
        counts = [[0.0] * len(f.levels) for f in self.features]
        for pattern, count in patterns.items():
            pm, pu = self.prior, 1.0 - self.prior
            u = self._u_for(pattern)
            for k, lv in enumerate(pattern):
                if use[k] and not self.features[k].levels[lv].neutral:
                    pm *= self.m[k][lv]
                    pu *= u[k][lv]
            post = pm / (pm + pu) if pm + pu > 0 else 0.0
            for k, lv in enumerate(pattern):
                counts[k][lv] += post * count
        for k, f in enumerate(self.features):
            if not use[k]:
                self.m[k] = _normalise([c + 1e-3 for c in counts[k]], f)
        self.refresh()

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, object]:
        return {"prior": self.prior, "features": {
            f.name: {lv.name: {"m": round(m, 8), "u": round(u, 10), "u_family": round(uf, 10),
                               "weight": round(w, 3), "weight_family": round(wf, 3)}
                     for lv, m, u, uf, w, wf in zip(f.levels, ms, us, ufs, ws, wfs, strict=True)}
            for f, ms, us, ufs, ws, wfs in zip(self.features, self.m, self.u, self.u_family,
                                               self._weights, self._weights_family, strict=True)}}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> FellegiSunter:
        feats = data["features"]
        assert isinstance(feats, Mapping)
        m = [[float(feats[f.name][lv.name]["m"]) for lv in f.levels] for f in FEATURES]
        u = [[float(feats[f.name][lv.name]["u"]) for lv in f.levels] for f in FEATURES]
        uf = [[float(feats[f.name][lv.name]["u_family"]) for lv in f.levels] for f in FEATURES]
        prior = data["prior"]
        assert isinstance(prior, int | float)
        return cls(FEATURES, m, u, uf, float(prior))


def _normalise(counts: list[float], feature: Feature) -> list[float]:
    total = sum(c for c, lv in zip(counts, feature.levels, strict=True) if not lv.neutral)
    return [0.0 if lv.neutral or not total else c / total
            for c, lv in zip(counts, feature.levels, strict=True)]


def pattern_counts(patterns: Sequence[tuple[int, ...]]) -> Counter[tuple[int, ...]]:
    return Counter(patterns)
