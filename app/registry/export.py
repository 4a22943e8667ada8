"""Streamed CSV export of a filtered household list (one row per household).

The generator owns its own read session and walks keyset pages, so memory stays flat
however many households match, and the request's write transaction is not held open
while a slow client downloads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator

from sqlmodel import Session

from app.auth.permissions import Principal
from app.registry import repository
from app.registry.present import households_public
from app.registry.schemas import HouseholdData

PAGE = 1000
_DATA_FIELDS = list(HouseholdData.model_fields)
COLUMNS = ["id", "kecamatan_code", "kelurahan_code", "kk_number", "head_name", "head_nik",
           "member_count", "source", "verification_status", "version", "created_at",
           "updated_at", *_DATA_FIELDS]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV
    injection); numbers are numbers and stay as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _line(values: list[object]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([_cell(v) for v in values])
    return buf.getvalue()


def iter_csv(session_factory: Callable[..., Session], *, filters: repository.HouseholdFilter,
             principal: Principal) -> Iterator[str]:
    yield "\ufeff" + _line(list(COLUMNS))  # BOM so spreadsheet programs read UTF-8
    after = None
    with session_factory(read_only=True) as session:
        while True:
            page = repository.list_households(session, filters=filters,
                                              scope=principal.kelurahan_scope,
                                              after=after, limit=PAGE)
            if not page:
                return
            chunk = []
            for h in households_public(session, page, principal):
                head = next((m for m in h.members if m.relation == "head"), None)
                row = h.model_dump(mode="json")
                row.update(head_name=head.full_name if head else None,
                           head_nik=head.nik if head else None, member_count=len(h.members))
                chunk.append(_line([row.get(c) for c in COLUMNS]))
            yield "".join(chunk)
            after = (page[-1].created_at, page[-1].id)
            session.expunge_all()
