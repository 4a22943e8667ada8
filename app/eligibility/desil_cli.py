"""``sigap desil import|estimate|calibrate``: official desil files, PMT estimates, calibration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlmodel import Session

from app.audit.service import ActorRef
from app.config import get_settings
from app.db import engine_from_settings, new_session
from app.eligibility import desil_service
from app.eligibility import repository as repo
from app.eligibility.desil_file import read_desil_file
from app.eligibility.keyed_file import KeyedFile
from app.eligibility.keyed_match import ImportResult
from app.eligibility.pmt import DEFAULT_MODEL, load_model
from app.reconcile.records import CsvInputError

desil_cli = typer.Typer(help="Desil: official BPS imports, PMT estimates, calibration", no_args_is_help=True)
console = Console(stderr=True)
ACTOR = ActorRef(user_id=None, name="desil-cli", channel="import")


@contextmanager
def cli_session() -> Iterator[Session]:
    engine = engine_from_settings(get_settings())
    try:
        with new_session(engine) as session:
            yield session
    finally:
        engine.dispose()


def show_import(
    result: ImportResult,
    data: KeyedFile,
    *,
    title: str,
    what: str,
    written: tuple[str, str],
    report_path: Path,
) -> None:
    """The outcome of a keyed-file import (desil, recipients) for the official at the terminal:
    refused (the first problems, the report file; exit 2), already imported, or the summary
    table. ``written`` labels the written and unchanged counts."""
    if result.status == "refused":
        console.print(
            f"[red]berkas ditolak, tidak ada yang diimpor / file refused, nothing imported: "
            f"{len(data.problems)} masalah / problem(s)[/]",
            highlight=False,
        )
        for p in sorted(data.problems, key=lambda p: p.row)[:20]:
            console.print(f"  {p}", highlight=False)
        if len(data.problems) > 20:
            console.print(f"  ... ({len(data.problems) - 20} lagi / more)")
        console.print(
            f"laporan / report: {report_path}  (--accept-valid: impor baris yang valid / import the "
            "valid rows)",
            highlight=False,
        )
        raise typer.Exit(2)
    if result.status == "already_imported":
        console.print(
            f"berkas ini sudah diimpor untuk {what} (impor #{result.import_id}); tidak ada "
            f"perubahan / already imported for {what} (import #{result.import_id}); "
            "nothing changed",
            highlight=False,
        )
        return
    table = Table(title=title, show_header=False)
    for label, value in (
        ("berkas / file", f"{data.name} (judul di baris / header on row {data.header_row})"),
        ("baris / rows", data.total),
        ("padan / matched", result.matched),
        (written[0], result.written),
        (written[1], result.unchanged),
        ("tidak padan / unmatched", result.count("unmatched")),
        ("meragukan / ambiguous", result.count("ambiguous")),
        ("tidak valid (dilewati) / invalid (skipped)", result.count("invalid")),
    ):
        table.add_row(label, f"{value:,}" if isinstance(value, int) else value)
    console.print(table)
    if result.report:
        console.print(
            f"laporan baris yang tidak diimpor / report of rows not imported: {report_path}", highlight=False
        )


def _refuse(exc: CsvInputError) -> typer.Exit:
    console.print(f"[red]{exc.message_id}[/]", highlight=False)
    console.print(f"[red]{exc.message}[/]", highlight=False)
    return typer.Exit(2)


@desil_cli.command("import")
def import_command(
    file: Annotated[
        Path, typer.Argument(help="BPS/DTSEN extract, CSV or XLSX (NIK/NIK_KRT and/or NO_KK, DESIL)")
    ],
    period: Annotated[str, typer.Option(help="the BPS period of the ranking, YYYY-Qn (e.g. 2026-Q1)")],
    report: Annotated[
        Path | None,
        typer.Option(help="where rows not imported are listed (default: FILE.report.csv beside the input)"),
    ] = None,
    accept_valid: Annotated[
        bool, typer.Option("--accept-valid", help="import the valid rows even if others are invalid")
    ] = False,
) -> None:
    """Import official desil for a period: all or nothing per file, unmatched rows reported."""
    try:
        data = read_desil_file(file, period=period)
    except CsvInputError as exc:
        raise _refuse(exc) from None
    report_path = report or file.with_name(file.stem + ".report.csv")
    with cli_session() as session:
        result = desil_service.import_desil(
            session=session, data=data, actor=ACTOR, accept_valid=accept_valid
        )
        session.commit()
    if result.report:
        desil_service.write_report(report_path, result.report)
    show_import(
        result,
        data,
        title=f"Impor desil BPS {data.period} / official desil import",
        what=data.period,
        written=("tersimpan baru atau berubah / written (new or changed)", "tetap / unchanged"),
        report_path=report_path,
    )


@desil_cli.command("estimate")
def estimate_command(
    all_households: Annotated[
        bool, typer.Option("--all", help="also families that have an official desil (for calibration)")
    ] = False,
    model: Annotated[Path, typer.Option(help="PMT model file")] = DEFAULT_MODEL,
    reference_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: today)")] = None,
) -> None:
    """Compute the PMT ESTIMATE (PERKIRAAN) for families without an official desil."""
    pmt = load_model(model)
    day = date.fromisoformat(reference_date) if reference_date else date.today()
    with cli_session() as session:
        total = repo.count_households(session, without_official=not all_households)
        with Progress(
            TextColumn("perkiraan desil / ESTIMATE"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("estimate", total=total)

            def checkpoint(done: int) -> None:
                session.commit()
                bar.update(task, completed=done)

            summary = desil_service.estimate_households(
                session=session,
                model=pmt,
                reference_date=day,
                include_official=all_households,
                checkpoint=checkpoint,
            )
        session.commit()
    table = Table(title=f"Perkiraan desil (PERKIRAAN, model {pmt.version}) / desil ESTIMATE")
    table.add_column("desil")
    table.add_column("keluarga / families", justify="right")
    for d in range(1, 11):
        table.add_row(str(d), f"{summary.by_desil.get(d, 0):,}")
    table.add_row("perlu data / needs data", f"{summary.needs_data:,}")
    console.print(table)
    console.print(
        f"keluarga / families: {summary.households:,}; tersimpan / written: {summary.written:,}; "
        f"tetap / unchanged: {summary.unchanged:,}",
        highlight=False,
    )


@desil_cli.command("calibrate")
def calibrate_command(
    model: Annotated[
        Path, typer.Option(help="PMT model file (its version selects the estimates)")
    ] = DEFAULT_MODEL,
    output: Annotated[Path | None, typer.Option(help="also write the report to this file")] = None,
) -> None:
    """How the ESTIMATE agrees with the official desil where a family has both."""
    version = load_model(model).version
    with cli_session() as session:
        report = desil_service.calibrate(session=session, model_version=version)
    text = f"model {version}\n" + report.table()
    typer.echo(text)
    if output is not None:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"written to {output}", highlight=False)
