"""A recipient list (CSV or XLSX from the programme or the bank): a keyed file without a value.

Each row names one recipient by NIK and/or KK; reading and checks are
:mod:`app.eligibility.keyed_file`'s. Family programmes (PKH, Sembako, BLT): the head's NIK
and/or the KK, one row per family. Person programmes (PBI-JK, PIP): the person's NIK, one row
per person; several rows may share a KK.
"""

from __future__ import annotations

from pathlib import Path

from app.eligibility.keyed_file import FileSpec, KeyedFile, read_keyed_file

RECIPIENT_NIK_ALIASES = ("NIK_PENERIMA", "NIK_KPM", "NIK_PESERTA", "NIK_SISWA")
FAMILY_SPEC = FileSpec(value=None, nik_aliases=RECIPIENT_NIK_ALIASES, nik_hint="NIK (NIK_KPM)")
PERSON_SPEC = FileSpec(
    value=None, nik_aliases=RECIPIENT_NIK_ALIASES, nik_hint="NIK (NIK_PESERTA)", unique_keys=("nik",)
)


def read_recipient_file(path: Path, *, period: str, unit: str) -> KeyedFile:
    """The file's rows and its row problems; CsvInputError when the file itself is refused."""
    return read_keyed_file(path, period=period, spec=PERSON_SPEC if unit == "person" else FAMILY_SPEC)
