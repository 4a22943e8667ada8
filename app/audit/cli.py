"""``sigap audit seal|verify``: the audit log's hash chain (app/audit/chain.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from app.audit import chain
from app.config import get_settings
from app.db import engine_from_settings, new_session, utcnow

audit_cli = typer.Typer(
    help="Audit log: seal entries into the hash chain, verify the chain", no_args_is_help=True
)
console = Console(stderr=True)


def _anchor(text: str | None) -> tuple[int, str] | None:
    if not text:
        return None
    seq, sep, digest = text.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        raise typer.BadParameter(
            "SEQ:HASH, e.g. 1234:3f0a... (64 hex digits), as printed by `sigap audit verify`"
        )
    return int(seq), digest


@audit_cli.command("seal")
def seal_command() -> None:
    """Seal the entries not yet in the chain (the server does this every few seconds; run it
    from cron where the server's sealer is off)."""
    settings = get_settings()
    engine = engine_from_settings(settings)
    try:
        with new_session(engine) as session:
            count = chain.seal(session, settings.audit_key)
    finally:
        engine.dispose()
    console.print(f"disegel / sealed: {count:,} entri / entries", highlight=False)


@audit_cli.command("verify")
def verify_command(
    head: Annotated[
        str | None,
        typer.Option(help="an anchor recorded earlier, SEQ:HASH: the chain must still contain it"),
    ] = None,
) -> None:
    """Recompute the chain; exit 1 if any entry was edited or deleted, or the tail was cut."""
    settings = get_settings()
    anchor = _anchor(head)
    engine = engine_from_settings(settings)
    try:
        with new_session(engine, read_only=True) as session:
            result = chain.verify(session, settings.audit_key, anchor=anchor)
    finally:
        engine.dispose()
    for p in result.problems[:50]:
        console.print(f"[red]{p.kind}: {p.message}[/]", highlight=False)
    if len(result.problems) > 50:
        console.print(f"[red]... {len(result.problems) - 50} lagi / more[/]")
    if result.unsealed:
        age = utcnow() - result.oldest_unsealed if result.oldest_unsealed else None
        stale = age is not None and age > chain.STALE_UNSEALED
        colour = "yellow" if stale else "dim"
        console.print(
            f"[{colour}]belum disegel / not sealed yet: {result.unsealed:,} entri, tertua / oldest "
            f"{result.oldest_unsealed:%Y-%m-%d %H:%M:%S} UTC{' (sealer not running?)' if stale else ''}[/]",
            highlight=False,
        )
    if not result.ok:
        console.print(
            f"[red]RANTAI AUDIT RUSAK / AUDIT CHAIN BROKEN: {len(result.problems)} masalah / problem(s)[/]"
        )
        raise typer.Exit(1)
    console.print(
        f"rantai utuh / chain intact: {result.checked:,} entri / entries; jangkar / anchor "
        f"{result.head_seq}:{result.head_hash}",
        highlight=False,
    )
