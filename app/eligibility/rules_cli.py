"""``sigap rules load|dry-run|activate|list`` and ``sigap score run``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from app.appeals.service import today_in_ternate
from app.audit.service import ActorRef
from app.eligibility import repository as repo
from app.eligibility import rules_service, scoring
from app.eligibility.decide import OUTCOME_LABELS
from app.eligibility.desil_cli import cli_session
from app.eligibility.loader import parse_ruleset
from app.eligibility.rules import RuleSetInvalid
from app.errors import AppError

rules_cli = typer.Typer(help="Programme rule sets: load, dry run, activate, list", no_args_is_help=True)
score_cli = typer.Typer(help="Eligibility decisions for every canonical family", no_args_is_help=True)
console = Console(stderr=True)
ACTOR = ActorRef(user_id=None, name="rules-cli", channel="cli")


def _refuse_rules(exc: RuleSetInvalid) -> typer.Exit:
    console.print(
        f"[red]aturan ditolak, tidak disimpan / rule set refused, not stored "
        f"({len(exc.errors)} kesalahan / error(s)):[/]",
        highlight=False,
    )
    for e in exc.errors:
        console.print(f"  {exc.source} {e}", highlight=False)
    return typer.Exit(2)


def _date(text: str | None) -> date:
    """The given day, else today in Ternate (WIT, UTC+9), whatever the server's clock zone."""
    return date.fromisoformat(text) if text else today_in_ternate()


@rules_cli.command("load")
def load_command(
    file: Annotated[Path, typer.Argument(help="rule file (YAML), see docs/eligibility.md")],
) -> None:
    """Validate and store a rule file as a draft (an invalid file is refused with line and reason)."""
    try:
        with cli_session() as session:
            record, created = rules_service.load_rules(
                session=session, text=file.read_text(encoding="utf-8"), source_name=file.name, actor=ACTOR
            )
            session.commit()
            label, status = record.label, record.status
    except RuleSetInvalid as exc:
        raise _refuse_rules(exc) from None
    except AppError as exc:
        console.print(f"[red]{exc.message}[/]", highlight=False)
        raise typer.Exit(2) from None
    what = "disimpan / stored" if created else "sudah ada, sama persis / already stored, identical"
    console.print(
        f"{label}: {what} ({status}); aktifkan dengan / activate with: sigap rules activate {label}",
        highlight=False,
    )


@rules_cli.command("activate")
def activate_command(label: Annotated[str, typer.Argument(help="e.g. ternate-bansos@2026.2")]) -> None:
    """Make a stored rule set the active one (the previous one is retired)."""
    try:
        with cli_session() as session:
            record = rules_service.activate(session=session, label=label, actor=ACTOR)
            session.commit()
            console.print(f"{record.label} aktif / active; jalankan / run: sigap score run", highlight=False)
    except AppError as exc:
        console.print(f"[red]{exc.message}[/]", highlight=False)
        raise typer.Exit(2) from None


@rules_cli.command("list")
def list_command() -> None:
    """Every stored rule set and its status."""
    table = Table(title="Aturan program / rule sets")
    for name in ("label", "status", "digest", "dimuat / loaded", "aktif sejak / active since"):
        table.add_column(name)
    with cli_session() as session:
        for r in repo.rule_sets(session):
            table.add_row(
                r.label,
                r.status,
                r.digest[:12],
                f"{r.created_at:%Y-%m-%d %H:%M} {r.created_by}",
                f"{r.activated_at:%Y-%m-%d %H:%M}" if r.activated_at else "-",
            )
    Console().print(table)


@rules_cli.command("dry-run")
def dry_run_command(
    file: Annotated[Path, typer.Argument(help="candidate rule file")],
    reference_date: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD (default: that of the last finished run, else today)")
    ] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="also the groups that do not change")] = False,
) -> None:
    """What the candidate rules would change against the current decisions; nothing is written."""
    try:
        candidate = parse_ruleset(file.read_text(encoding="utf-8"), source=file.name)
    except RuleSetInvalid as exc:
        raise _refuse_rules(exc) from None
    with cli_session() as session:
        last = repo.latest_finished_run(session)
        day = _date(reference_date) if reference_date or last is None else last.reference_date
        total = repo.count_households(session)
        with Progress(
            TextColumn("uji coba / dry run"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("dry", total=total)
            result = rules_service.dry_run(
                session=session,
                ruleset=candidate,
                reference_date=day,
                checkpoint=lambda done: bar.update(task, completed=done),
            )
        session.rollback()
    table = Table(
        title=f"Uji coba / dry run {candidate.label} vs decisions now, {day} "
        "(tidak disimpan / nothing written)"
    )
    for name in (
        "program",
        "kecamatan",
        "desil",
        "sebelum / before",
        "sesudah / after",
        "keluarga / families",
        "subjek / subjects",
    ):
        table.add_column(name, justify="right" if name.startswith(("kel", "sub")) else "left")
    rows = sorted(result.rows.items()) if all_rows else result.changes()
    for (programme, kec, desil, before, after), (families, subjects) in rows:
        table.add_row(programme, kec, desil, before, after, f"{families:,}", f"{subjects:,}")
    if not rows:
        table.add_row("-", "-", "-", "-", "-", "0", "0")
    Console().print(table)
    totals = Table(title="Keluarga yang berubah status / families changing status")
    totals.add_column("program")
    totals.add_column("keluarga / families", justify="right")
    for programme in sorted({p.id for p in candidate.programmes} | set(result.changing)):
        totals.add_row(programme, f"{result.changing.get(programme, 0):,}")
    Console().print(totals)
    console.print(f"keluarga dievaluasi / families evaluated: {result.families:,}", highlight=False)


@score_cli.command("run")
def score_run_command(
    reference_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: today)")] = None,
) -> None:
    """Decide every canonical family for every programme of the active rule set; idempotent.

    One run at a time: exit code 3 while another run is alive (cron may simply retry)."""
    day = _date(reference_date)
    with cli_session() as session:
        record = rules_service.ensure_active(session=session, actor=ACTOR)
        session.commit()
        if record is None:
            console.print("[red]tidak ada aturan aktif / no active rule set: sigap rules activate LABEL[/]")
            raise typer.Exit(2)
        total = repo.count_households(session)
        with Progress(
            TextColumn(f"keputusan / scoring {record.label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("score", total=total)

            def checkpoint(done: int) -> None:
                session.commit()
                bar.update(task, completed=done)

            try:
                summary = scoring.score_all(
                    session=session, record=record, reference_date=day, actor=ACTOR, checkpoint=checkpoint
                )
            except scoring.ScoreRunBusy as exc:
                console.print(f"[red]{exc.message}[/]", highlight=False)
                raise typer.Exit(3) from None
            except scoring.RunAbandoned:
                console.print(
                    "[red]penilaian ini diambil alih oleh penilaian lain (lama tanpa tanda hidup); "
                    "berhenti / this run was taken over by another run after a long stall; stopping[/]",
                    highlight=False,
                )
                raise typer.Exit(3) from None
        session.commit()
    table = Table(
        title=f"Keputusan kelayakan / eligibility decisions: run #{summary.run_id}, "
        f"{summary.ruleset}, {summary.reference_date}"
    )
    for name in ("program", "hasil / outcome", "ditulis / written", "tetap / unchanged"):
        table.add_column(name, justify="right" if "/" in name and name[0] in "dt" else "left")
    for (programme, outcome), (written, unchanged) in sorted(summary.counts.items()):
        words = OUTCOME_LABELS.get(outcome, (outcome, outcome))
        table.add_row(programme, f"{words[0]} / {words[1]}", f"{written:,}", f"{unchanged:,}")
    Console().print(table)
    totals = Table(show_header=False)
    for label, value in (
        ("keluarga / families", summary.families),
        ("orang / persons", summary.persons),
        ("keputusan ditulis / decisions written", summary.written),
        ("keputusan tetap / decisions unchanged", summary.unchanged),
        ("keputusan tidak berlaku lagi / decisions retired", summary.retired),
    ):
        totals.add_row(label, f"{value:,}")
    Console().print(totals)
