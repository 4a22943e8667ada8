"""``sigap recipients import|errors``: who actually receives each programme, and the errors."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.audit.service import ActorRef
from app.eligibility import recipient_service
from app.eligibility.desil_cli import cli_session, console, show_import
from app.eligibility.keyed_file import check_period
from app.eligibility.keyed_match import write_report
from app.eligibility.recipient_file import read_recipient_file
from app.eligibility.recipient_repository import ErrorKind
from app.errors import InvalidData
from app.reconcile.records import CsvInputError

recipients_cli = typer.Typer(
    help="Recipient lists (who receives each programme) and exclusion/inclusion errors", no_args_is_help=True
)
ACTOR = ActorRef(user_id=None, name="recipients-cli", channel="import")
ERRORS_HEADER = (
    "jenis/kind",
    "kecamatan",
    "nama kecamatan",
    "kelurahan",
    "nama kelurahan",
    "keluarga/household_id",
    "anggota/member_id",
    "keputusan/outcome",
    "desil",
    "alasan",
    "reason",
)


def _refuse(message_id: str, message: str) -> typer.Exit:
    console.print(f"[red]{message_id}[/]", highlight=False)
    console.print(f"[red]{message}[/]", highlight=False)
    return typer.Exit(2)


@recipients_cli.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="recipient list, CSV or XLSX (NIK and/or NO_KK)")],
    programme: Annotated[str, typer.Option(help="programme id of the active rule set, e.g. pkh, pbi_jk")],
    period: Annotated[str, typer.Option(help="the period the list covers, YYYY-Qn (e.g. 2026-Q1)")],
    report: Annotated[
        Path | None,
        typer.Option(help="where rows not imported are listed (default: FILE.report.csv beside the input)"),
    ] = None,
    accept_valid: Annotated[
        bool, typer.Option("--accept-valid", help="import the valid rows even if others are invalid")
    ] = False,
) -> None:
    """Import who receives a programme in a period: all or nothing per file, unmatched rows reported."""
    report_path = report or file.with_name(file.stem + ".report.csv")
    with cli_session() as session:
        try:
            unit = recipient_service.programme_unit(session=session, programme_id=programme)
            data = read_recipient_file(file, period=period, unit=unit)
        except CsvInputError as exc:
            raise _refuse(exc.message_id, exc.message) from None
        except InvalidData as exc:
            raise _refuse("program tidak dikenal", exc.message) from None
        result = recipient_service.import_recipients(
            session=session, data=data, programme_id=programme, actor=ACTOR, accept_valid=accept_valid
        )
        session.commit()
    if result.report:
        write_report(report_path, result.report, value_header=None)
    show_import(
        result,
        data,
        title=f"Penerima {programme} {data.period} / recipients ({unit})",
        what=f"{programme} {data.period}",
        written=("baru / new", "sudah terdaftar / already listed"),
        report_path=report_path,
    )


@recipients_cli.command("errors")
def errors_command(
    programme: Annotated[str, typer.Option(help="programme id of the active rule set, e.g. pkh")],
    period: Annotated[str, typer.Option(help="recipient list period, YYYY-Qn")],
    output: Annotated[
        Path | None, typer.Option(help="also write every error (both kinds, with reasons) to this CSV")
    ] = None,
) -> None:
    """Exclusion (eligible, not receiving) and inclusion (receiving, not eligible) errors per kecamatan."""
    try:
        period = check_period(period)
    except CsvInputError as exc:
        raise _refuse(exc.message_id, exc.message) from None
    with cli_session() as session:
        try:
            recipient_service.programme_unit(session=session, programme_id=programme)
        except InvalidData as exc:
            raise _refuse("program tidak dikenal", exc.message) from None
        areas = recipient_service.error_summary(session=session, programme_id=programme, period=period)
        if output is not None:
            kinds: tuple[ErrorKind, ...] = ("exclusion", "inclusion")
            with output.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(ERRORS_HEADER)
                rows = [
                    e
                    for kind in kinds
                    for e in recipient_service.list_errors(
                        session=session, kind=kind, programme_id=programme, period=period
                    )
                ]
                rows.sort(key=lambda e: (e.kecamatan_code, e.kelurahan_code, e.kind, e.key))
                for e in rows:
                    text_id, text_en = recipient_service.reason_texts(e)
                    writer.writerow(
                        (
                            "eksklusi/exclusion" if e.kind == "exclusion" else "inklusi/inclusion",
                            e.kecamatan_code,
                            e.kecamatan_name,
                            e.kelurahan_code,
                            e.kelurahan_name,
                            e.household_id,
                            e.member_id or "",
                            e.outcome or "",
                            e.desil if e.desil is not None else "",
                            text_id,
                            text_en,
                        )
                    )
    table = Table(title=f"Salah sasaran {programme} {period} / targeting errors")
    table.add_column("kecamatan")
    table.add_column("layak, tidak menerima / exclusion", justify="right")
    table.add_column("menerima, tidak layak / inclusion", justify="right")
    for a in areas:
        table.add_row(f"{a.kecamatan_code} {a.kecamatan_name}", f"{a.exclusion:,}", f"{a.inclusion:,}")
    table.add_row(
        "jumlah / total", f"{sum(a.exclusion for a in areas):,}", f"{sum(a.inclusion for a in areas):,}"
    )
    console.print(table)
    if output is not None:
        console.print(f"rincian / details: {output}", highlight=False)
