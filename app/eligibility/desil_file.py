"""An official desil file from BPS/DTSEN (CSV or XLSX): a keyed file with a DESIL column.

Reading, header detection and the row checks are :mod:`app.eligibility.keyed_file`'s; this
module adds only what is desil: the column's names and "a whole number 1-10".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.eligibility.keyed_file import FileSpec, KeyedFile, KeyedRow, RowProblem, cell_text, read_keyed_file

DESIL_ALIASES = ("DESIL", "DESIL_NASIONAL", "DESIL_NAS", "PERINGKAT_DESIL", "DECILE", "DESIL_KESEJAHTERAAN")
DesilFile = KeyedFile
DesilRow = KeyedRow


def parse_desil(value: Any, row: int, column: str) -> tuple[int | None, RowProblem | None]:
    text = cell_text(value)
    number: int | None = None
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif text.isascii() and text.isdigit():
        number = int(text)
    if number is None:
        return None, RowProblem(
            row,
            column,
            f"desil {text!r} is not a whole number 1-10" if text else "desil is empty",
            f"desil {text!r} bukan bilangan bulat 1-10" if text else "desil kosong",
        )
    if not 1 <= number <= 10:
        return None, RowProblem(
            row, column, f"desil {number} is outside 1-10", f"desil {number} di luar 1-10"
        )
    return number, None


DESIL_SPEC = FileSpec(value="desil", value_aliases=DESIL_ALIASES, parse_value=parse_desil)


def read_desil_file(path: Path, *, period: str) -> DesilFile:
    """The file's rows and its row problems; CsvInputError when the file itself is refused."""
    return read_keyed_file(path, period=period, spec=DESIL_SPEC)
