"""``sigap report snapshot [--period YYYY-MM] [--replace]``: freeze the month's aggregates.

Meant for cron: no prompt, one line per step on stderr, and the exit code says what
happened: 0 taken, replaced, or already taken (nothing changed); 2 refused (a bad period);
1 anything else (the database unreachable...), so cron reports it.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from app.audit.service import ActorRef
from app.eligibility.desil_cli import cli_session
from app.errors import InvalidData
from app.reports import snapshots

snapshot_cli = typer.Typer(help="Report snapshots for the trends (one per month)", no_args_is_help=True)
console = Console(stderr=True)
ACTOR = ActorRef(user_id=None, name="report-cli", channel="cli")


@snapshot_cli.command("snapshot")
def snapshot_command(
    period: Annotated[
        str | None, typer.Option(help="the month, YYYY-MM (default: the current month in Ternate)")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="take the period again if it was already taken (audited)")
    ] = False,
) -> None:
    """Store this month's families and persons per kelurahan x desil and the current decisions
    per programme, so that trends compare like with like. Idempotent per period."""
    try:
        chosen = snapshots.check_period(period) if period is not None else snapshots.current_period()
    except InvalidData as exc:
        console.print(f"[red]periode tidak valid / invalid period: {exc.message}[/]", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"snapshot {chosen}: menghitung / counting ...", highlight=False)
    with cli_session() as session:
        result = snapshots.take_snapshot(session=session, period=chosen, actor=ACTOR, replace=replace)
        session.commit()
    figures = (
        f"{result.families:,} keluarga / families, {result.persons:,} jiwa / persons, "
        f"{result.decisions:,} keputusan / decisions, aturan / rule set {result.rule_set_label or '-'}"
    )
    if result.status == "already_taken":
        console.print(
            f"snapshot {chosen} sudah diambil / already taken at {result.taken_at:%Y-%m-%d %H:%M} UTC "
            f"({figures}); tidak ada yang berubah / nothing changed (--replace to retake)",
            highlight=False,
        )
        return
    verb = "diambil ulang / replaced" if result.status == "replaced" else "diambil / taken"
    console.print(f"snapshot {chosen} {verb}: {figures}", highlight=False)
