"""What every report endpoint shares: permissions, query parameters, JSON-or-file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response

from app.auth.dependencies import SettingsDep, actor_from, require
from app.auth.permissions import Action, Principal
from app.config import Settings
from app.db import utcnow
from app.errors import Forbidden, InvalidData, NotAuthenticated, OutOfArea, error_responses
from app.reports import export
from app.reports.export import Format, Made
from app.reports.queries import Period
from app.reports.tables import Table

Reader = Annotated[Principal, Depends(require(Action.report_read))]
FamilyReader = Annotated[Principal, Depends(require(Action.household_read))]
ERRORS = error_responses(NotAuthenticated, Forbidden, OutOfArea, InvalidData)
FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {export.CSV_TYPE.split(";")[0]: {}, export.XLSX_TYPE: {}},
        "description": "JSON, or with format=csv|xlsx the report as a file (Content-Disposition names it)",
    }
}
RESPONSES: dict[int | str, dict[str, Any]] = {**ERRORS, **FILES}
FormatQ = Annotated[Format, Query(description="json (default), csv or xlsx (a file; needs report:export)")]
PublishQ = Annotated[
    bool,
    Query(
        description="csv/xlsx for publication: small cells suppressed, no NIK/KK (k = SIGAP_REPORT_MIN_CELL)"
    ),
]
KecamatanQ = Annotated[
    str | None, Query(description="Kemendagri code, e.g. 82.71.07: rows become its kelurahan")
]
FromQ = Annotated[date | None, Query(description="registered on or after (YYYY-MM-DD)")]
ToQ = Annotated[date | None, Query(description="registered on or before (YYYY-MM-DD)")]
PeriodQ = Annotated[str, Query(pattern=r"^\d{4}-Q[1-4]$", description="recipient list period, e.g. 2026-Q1")]


def date_range(start: date | None, end: date | None, field: str) -> Period:
    if end is not None and end >= date.max:  # the day after it is the bound (Period.where)
        raise InvalidData.one(field, "max", f"{field} paling lambat / at the latest 9999-12-30")
    if start is not None and end is not None and end < start:
        raise InvalidData.one(
            field, "after_start", f"{field} sebelum tanggal awal / is before the start date"
        )
    return Period(start, end)


def publishable(publish: bool, **narrowing: Any) -> None:
    """A published file is the one city-wide table of a report, without filters. Small cells
    are suppressed within ONE table; a narrowed table (a kecamatan's kelurahan, one desil
    source, a date range, one programme) shares figures with the city-wide one, and the two
    together can give a hidden cell back (e.g. official = all - estimate)."""
    used = sorted(name for name, value in narrowing.items() if value not in (None, "all"))
    if publish and used:
        raise InvalidData.one(
            "publish",
            "city_table_only",
            "publikasi hanya untuk tabel seluruh kota tanpa filter (" + ", ".join(used) + "): tabel yang "
            "dipersempit bisa dibandingkan dengan tabel kota dan membuka sel yang disembunyikan / only "
            "the city-wide table without filters can be published: a narrowed table compared with it "
            "could reveal hidden cells",
        )


@dataclass(frozen=True)
class Output:
    """What the caller asked a report endpoint for: JSON, or the report as a csv/xlsx file,
    for publication or not (the ``format`` and ``publish`` query parameters)."""

    request: Request
    settings: Settings
    format: Format
    publish: bool

    def file(
        self, principal: Principal, filters: dict[str, Any], table: Callable[[], Table]
    ) -> Response | None:
        """None for JSON; else the file, recorded in the audit log once it is made (``table``
        is called only then). A file leaves Sigap: it needs report:export."""
        if self.format == "json":
            if self.publish:
                raise InvalidData.one(
                    "publish", "file_only", "publish hanya untuk format csv/xlsx / only for csv or xlsx"
                )
            return None
        if not principal.can(Action.report_export):
            raise Forbidden(f"role {principal.role.value} may not {Action.report_export.value}")
        k = self.settings.report_min_cell
        made = Made(
            by=principal.username,
            role=principal.role.value,
            at=utcnow(),
            filters=jsonable(filters),
            publish=self.publish,
            k=k,
        )
        built = export.prepare(table(), publish=self.publish, k=k)
        response = export.file_response(built, self.format, made)  # first: no record of a file not made
        # a GET's own transaction is read-only (SQLite: a deferred BEGIN that cannot always be
        # upgraded after a long read), so the record of the export is written in one of its own
        with self.request.app.state.session_factory() as writer:
            export.record_export(
                writer, actor=actor_from(principal, self.request), table=built, fmt=self.format, made=made
            )
            writer.commit()
        return response


def output(
    request: Request, settings: SettingsDep, format: FormatQ = "json", publish: PublishQ = False
) -> Output:
    return Output(request, settings, format, publish)


OutputQ = Annotated[Output, Depends(output)]


def jsonable(filters: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in filters.items()}
