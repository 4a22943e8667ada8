"""``sigap dukcapil check``: check the registry's members against a Dukcapil extract file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
from app.reconcile.dukcapil import (
    STATUS_TEXT,
    STATUSES,
    CheckSummary,
    ExtractFileAdapter,
    active_household_ids,
    check_households,
)
from app.reconcile.records import CsvInputError
from app.wilayah import repository as wilayah_repo

dukcapil_cli = typer.Typer(help="Identity check against Dukcapil", no_args_is_help=True)
console = Console(stderr=True)
ACTOR = ActorRef(user_id=None, name="dukcapil-extract", channel="import")
COMMIT_EVERY = 2000  # households per transaction: a city-wide run keeps what it has done


@contextmanager
def _session() -> Iterator[Session]:
    engine = engine_from_settings(get_settings())
    try:
        with new_session(engine) as session:
            yield session
    finally:
        engine.dispose()


@dukcapil_cli.command("check")
def check_command(
    extract: Annotated[Path, typer.Option(
        help="Dukcapil extract CSV (NIK, NO_KK, NAMA_LGKP, TMPT_LHR, TGL_LHR, JENIS_KLMIN, "
             "STAT_HIDUP/TGL_KEMATIAN): see docs/dukcapil.md")],
    kecamatan: Annotated[str | None, typer.Option(
        help="only the households of this kecamatan (82.71.CC or its BPS code)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report only; change nothing")] = False,
) -> None:
    """Check every active member against the extract; set or withdraw dukcapil_matched."""
    try:
        adapter = ExtractFileAdapter.from_file(extract)
    except CsvInputError as exc:
        console.print(f"[red]{exc.message_id}[/]", highlight=False)
        console.print(f"[red]{exc.message}[/]", highlight=False)
        raise typer.Exit(2) from None
    summary = CheckSummary()
    with _session() as session:
        kec_code = None
        if kecamatan is not None:
            kec_code = wilayah_repo.resolve_kecamatan_code(session, kecamatan)
            if kec_code is None:
                console.print(f"[red]--kecamatan: kecamatan {kecamatan!r} tidak ada "
                              f"(kecamatan {kecamatan!r} does not exist)[/]", highlight=False)
                raise typer.Exit(2)
        ids = active_household_ids(session, kecamatan_code=kec_code)
        with Progress(TextColumn("cek Dukcapil / check"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task("check", total=len(ids))
            for start in range(0, len(ids), COMMIT_EVERY):
                def progress(done: int, _total: int, base: int = start) -> None:
                    bar.update(task, completed=base + done)

                summary.add(check_households(session, adapter, ids[start:start + COMMIT_EVERY], ACTOR,
                                             progress=progress))
                if not dry_run:
                    session.commit()
        if dry_run:
            session.rollback()
    _print_summary(summary, adapter, kec_code, dry_run)


def _print_summary(s: CheckSummary, adapter: ExtractFileAdapter, kecamatan: str | None,
                   dry_run: bool) -> None:
    table = Table(title="Cek identitas Dukcapil / identity check"
                  + (" (uji coba, tidak disimpan / dry run, nothing saved)" if dry_run else ""))
    table.add_column("status")
    table.add_column("keterangan / meaning")
    table.add_column("anggota / members", justify="right")
    for status in STATUSES:
        table.add_row(status, f"{STATUS_TEXT[status][1]} / {STATUS_TEXT[status][0]}",
                      f"{s.statuses.get(status, 0):,}")
    console.print(table)
    totals = Table(show_header=False)
    for label, value in (
        ("sumber / source", f"{adapter.source} ({len(adapter):,} penduduk / persons)"),
        ("wilayah / area", kecamatan or "seluruh kota / whole city"),
        ("keluarga diperiksa / households checked", f"{s.households:,}"),
        ("anggota diperiksa / members checked", f"{s.members:,}"),
        ("hasil baru atau berubah / results new or changed", f"{s.written:,}"),
        ("hasil tetap / results unchanged", f"{s.unchanged:,}"),
        ("menjadi padan Dukcapil / moved to dukcapil_matched", f"{len(s.promoted):,}"),
        ("kembali ke terverifikasi lapangan / back to field_verified", f"{len(s.demoted):,}"),
        ("padan, tetapi belum diverifikasi lapangan / agree, not field_verified yet",
         f"{s.agree_unverified:,}"),
        ("kunjungan untuk memastikan kematian / death visits opened", f"{s.death_visits:,}"),
    ):
        totals.add_row(label, value)
    console.print(totals)
