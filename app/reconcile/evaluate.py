"""Precision, recall and F1 of a clustering against the truth (evaluation only).

The engine never imports this module: the truth is read here, after the decisions.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    true_positives: int
    predicted: int
    actual: int

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def line(self) -> str:
        return (f"precision {self.precision:.4f}  recall {self.recall:.4f}  F1 {self.f1:.4f}  "
                f"(tp {self.true_positives}, predicted {self.predicted}, actual {self.actual})")


def _scores(tp: int, predicted: int, actual: int) -> Scores:
    return Scores(tp / predicted if predicted else 1.0, tp / actual if actual else 1.0,
                  tp, predicted, actual)


def read_truth(path: Path) -> dict[str, str]:
    """record_id -> person_id."""
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["record_id"]: row["person_id"] for row in csv.DictReader(fh)}


def groups(assignment: Mapping[str, str]) -> list[frozenset[str]]:
    out: dict[str, set[str]] = {}
    for rid, gid in assignment.items():
        out.setdefault(gid, set()).add(rid)
    return [frozenset(g) for g in out.values()]


def pairs_of(clusters: Iterable[frozenset[str]]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for g in clusters:
        if len(g) > 1:
            out.update(combinations(sorted(g), 2))
    return out


def true_pairs(truth: Mapping[str, str]) -> set[tuple[str, str]]:
    return pairs_of(groups(truth))


def pair_scores(predicted: Mapping[str, str], truth: Mapping[str, str]) -> Scores:
    p, t = pairs_of(groups(predicted)), true_pairs(truth)
    return _scores(len(p & t), len(p), len(t))


def cluster_scores(predicted: Mapping[str, str], truth: Mapping[str, str]) -> Scores:
    """Exact clusters: a predicted cluster of 2+ records counts only if it is a whole person."""
    p = {g for g in groups(predicted) if len(g) > 1}
    t = {g for g in groups(truth) if len(g) > 1}
    return _scores(len(p & t), len(p), len(t))


def scored_pair_curve(weights: Mapping[tuple[str, str], float], truth: Mapping[str, str],
                      thresholds: Iterable[float]) -> list[tuple[float, Scores]]:
    """Pairwise precision/recall of "weight >= threshold" over the candidate pairs given."""
    actual = true_pairs(truth)
    labelled = [(w, (a, b) if a < b else (b, a)) for (a, b), w in weights.items()]
    out = []
    for th in thresholds:
        chosen = [p for w, p in labelled if w >= th]
        tp = sum(1 for p in chosen if p in actual)
        out.append((th, _scores(tp, len(chosen), len(actual))))
    return out
