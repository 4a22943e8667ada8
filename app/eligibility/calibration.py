"""How the PMT estimate agrees with the official desil where a family has both."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DECILES = range(1, 11)


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    n: int
    matrix: tuple[tuple[int, ...], ...]  # matrix[official - 1][estimated - 1]
    exact: int
    within_one: int  # |official - estimated| <= 1 (exact included)
    official_counts: tuple[int, ...]  # families per official desil 1..10
    estimated_counts: tuple[int, ...]  # families per estimated desil 1..10
    mean_abs_error: float | None  # in deciles

    @property
    def share_exact(self) -> float | None:
        return self.exact / self.n if self.n else None

    @property
    def share_within_one(self) -> float | None:
        return self.within_one / self.n if self.n else None

    def exact_share_by_official(self) -> tuple[float | None, ...]:
        return tuple(
            row[d - 1] / total if total else None
            for d, row, total in zip(DECILES, self.matrix, self.official_counts, strict=True)
        )

    def table(self) -> str:
        """The confusion matrix (rows official, columns estimated) and the summary figures."""
        head = "official\\est " + "".join(f"{d:>6}" for d in DECILES) + "   total  exact"
        lines = [f"PMT calibration: {self.n} families with both an official and an estimated desil", head]
        for d, row, share in zip(DECILES, self.matrix, self.exact_share_by_official(), strict=True):
            shown = "     -" if share is None else f"{share:>6.0%}"
            lines.append(
                f"desil {d:>2}     "
                + "".join(f"{c:>6}" for c in row)
                + f"  {self.official_counts[d - 1]:>6} {shown}"
            )
        lines.append("estimated    " + "".join(f"{c:>6}" for c in self.estimated_counts))
        if self.n:
            assert self.share_exact is not None and self.share_within_one is not None
            lines.append(
                f"exact: {self.exact} ({self.share_exact:.1%})   within one decile: "
                f"{self.within_one} ({self.share_within_one:.1%})   "
                f"mean absolute error: {self.mean_abs_error:.2f} deciles"
            )
        else:
            lines.append("no pairs: nothing to compare")
        return "\n".join(lines)


def calibration_report(pairs: Iterable[tuple[int, int]]) -> CalibrationReport:
    """``pairs`` of (official desil, estimated desil), each 1-10."""
    matrix = [[0] * 10 for _ in DECILES]
    n = exact = within = abs_sum = 0
    for official, estimated in pairs:
        for v in (official, estimated):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10:
                raise ValueError(f"a desil must be an integer 1-10, got {v!r}")
        matrix[official - 1][estimated - 1] += 1
        n += 1
        gap = abs(official - estimated)
        exact += gap == 0
        within += gap <= 1
        abs_sum += gap
    return CalibrationReport(
        n=n,
        matrix=tuple(tuple(r) for r in matrix),
        exact=exact,
        within_one=within,
        official_counts=tuple(sum(r) for r in matrix),
        estimated_counts=tuple(sum(matrix[o][e] for o in range(10)) for e in range(10)),
        mean_abs_error=abs_sum / n if n else None,
    )
