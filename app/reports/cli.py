"""``sigap report targets import FILE``: registration targets per kelurahan (all or nothing)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.audit.service import ActorRef
from app.eligibility.desil_cli import cli_session
from app.reconcile.records import CsvInputError
from app.reports import targets

report_cli = typer.Typer(help="Reports: registration targets", no_args_is_help=True)
targets_cli = typer.Typer(help="Registration targets per kelurahan (coverage report)", no_args_is_help=True)
report_cli.add_typer(targets_cli, name="targets")
console = Console(stderr=True)
ACTOR = ActorRef(user_id=None, name="report-cli", channel="import")


@targets_cli.command("import")
def import_command(
    file: Annotated[
        Path, typer.Argument(help="CSV or XLSX: kelurahan code (Kemendagri or BPS), KELUARGA [, JIWA]")
    ],
    source: Annotated[
        str, typer.Option(help='where the figures come from, e.g. "Dukcapil Kota Ternate 2026-06"')
    ],
    as_of: Annotated[str | None, typer.Option(help="date of the figures, YYYY-MM-DD")] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="where refused rows are listed (default: FILE.report.csv beside the input)"),
    ] = None,
) -> None:
    """Import targets: every row checked first; any problem refuses the whole file."""
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        message = f"{as_of!r}: tanggal YYYY-MM-DD / a date YYYY-MM-DD"
        raise typer.BadParameter(message, param_hint="--as-of") from None
    with cli_session() as session:
        try:
            result = targets.import_targets(
                session=session, path=file, source=source[:80], as_of=day, actor=ACTOR
            )
        except CsvInputError as exc:
            console.print(f"[red]{exc.message_id}[/]\n[red]{exc.message}[/]", highlight=False)
            raise typer.Exit(2) from None
        if result.status == "refused":
            session.rollback()
            path = report or file.with_name(file.stem + ".report.csv")
            targets.write_report(path, result.problems)
            console.print(
                f"[red]berkas ditolak, tidak ada yang diimpor / file refused, nothing imported: "
                f"{len(result.problems)} masalah / problem(s)[/]",
                highlight=False,
            )
            for p in result.problems[:20]:
                console.print(f"  {p}", highlight=False)
            console.print(f"laporan / report: {path}", highlight=False)
            raise typer.Exit(2)
        session.commit()
    console.print(
        f"target diimpor / targets imported: {len(result.rows)} kelurahan; "
        f"berubah / written: {result.written}; tetap / unchanged: {result.unchanged}",
        highlight=False,
    )
