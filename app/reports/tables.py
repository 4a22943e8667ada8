"""A report as a flat table (what CSV and XLSX carry) and the small-cell suppression of
published tables.

A :class:`Table` lists its count cells' linear relations (``equations``: a row's cells sum to
its total, a column's to the total row, official + estimate = all ...). :func:`suppress`
hides every count 0 < n < k (primary), then keeps hiding more cells (secondary) until no
hidden cell can be recomputed from the published ones through ANY combination of those
equations: a hidden cell is recoverable exactly when its unit vector lies in the row space
of the equations restricted to the hidden cells (checked by Gaussian elimination modulo a
61-bit prime; the coefficients are small integers, so the rank is the rational rank).
Zero cells are published: a zero identifies no family.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Cell = tuple[int, str]  # (row index, column key)
Equation = list[tuple[Cell, int]]  # sum(coef * value) == 0
ColumnKind = Literal["text", "count", "derived"]
SUPPRESSED = "*"
_P = (1 << 61) - 1


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    kind: ColumnKind = "count"
    # derived columns (a percentage) are hidden when any of these count columns is
    depends_on: tuple[str, ...] = ()


@dataclass
class Table:
    name: str  # the report, e.g. "desil-matrix"
    title: str  # in Bahasa Indonesia, for the file
    columns: list[Column]
    rows: list[dict[str, Any]]
    equations: list[Equation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # printed under the table
    suppressed: set[Cell] = field(default_factory=set)

    def value(self, cell: Cell) -> Any:
        row, key = cell
        return self.rows[row].get(key)

    def count_cells(self) -> list[Cell]:
        keys = [c.key for c in self.columns if c.kind == "count"]
        return [(i, k) for i in range(len(self.rows)) for k in keys if isinstance(self.rows[i].get(k), int)]


def line(cells: Iterable[Cell], total: Cell) -> Equation:
    """``sum(cells) == total``."""
    return [*((c, 1) for c in cells), (total, -1)]


def recoverable(hidden: set[Cell], equations: list[Equation]) -> set[Cell]:
    """The hidden cells whose value follows from the published cells and the equations."""
    if not hidden:
        return set()
    index = {c: i for i, c in enumerate(sorted(hidden))}
    rows: list[dict[int, int]] = []
    for eq in equations:
        r: dict[int, int] = {}
        for cell, coef in eq:
            if cell in index:
                j = index[cell]
                r[j] = (r.get(j, 0) + coef) % _P
        r = {j: v for j, v in r.items() if v}
        if r:
            rows.append(r)
    pivots: dict[int, dict[int, int]] = {}  # pivot column -> reduced row (pivot coefficient 1)
    for r in rows:
        for p, prow in pivots.items():
            if p in r:
                f = r[p]
                for j, v in prow.items():
                    r[j] = (r.get(j, 0) - f * v) % _P
                r = {j: v for j, v in r.items() if v}
        if not r:
            continue
        p = min(r)
        inv = pow(r[p], _P - 2, _P)
        r = {j: v * inv % _P for j, v in r.items()}
        for q, qrow in pivots.items():  # keep every stored row reduced on the new pivot
            if p in qrow:
                f = qrow[p]
                for j, v in r.items():
                    qrow[j] = (qrow.get(j, 0) - f * v) % _P
                pivots[q] = {j: v for j, v in qrow.items() if v}
        pivots[p] = r
    cells = sorted(hidden)
    return {cells[p] for p, r in pivots.items() if len(r) == 1}


def suppress(table: Table, k: int) -> Table:
    """Hide small cells and enough others that none can be recomputed; marks ``table.suppressed``."""
    cells = table.count_cells()
    hidden = {c for c in cells if 0 < table.value(c) < k}
    by_cell: dict[Cell, list[Equation]] = {}
    for eq in table.equations:
        for cell, _ in eq:
            by_cell.setdefault(cell, []).append(eq)
    while True:
        exposed = recoverable(hidden, table.equations)
        if not exposed:
            break
        added = False
        for cell in sorted(exposed):
            # a line where this cell is the only hidden one gives it away directly: hide a
            # second cell of that line (a line that already has another hidden cell first)
            lines = sorted(by_cell.get(cell, []), key=lambda eq: sum(c in hidden for c, _ in eq))
            for eq in lines:
                if sum(c in hidden for c, _ in eq) > 1:
                    break
                partners = [c for c, _ in eq if c not in hidden and isinstance(table.value(c), int)]
                if partners:
                    # the smallest non-zero cell hides least information; a zero only if nothing else
                    hidden.add(min(partners, key=lambda c: (table.value(c) == 0, table.value(c), c)))
                    added = True
        if not added:  # exposed only through other lines: hide the smallest cell still shown
            rest = [c for c in cells if c not in hidden]
            if not rest:
                break
            hidden.add(min(rest, key=lambda c: (table.value(c) == 0, table.value(c), c)))
    table.suppressed = hidden
    for row_index, key in hidden:
        table.rows[row_index][key] = SUPPRESSED
    for i, row in enumerate(table.rows):
        for c in table.columns:
            if c.kind == "derived" and any((i, d) in hidden for d in c.depends_on):
                row[c.key] = SUPPRESSED
    return table
