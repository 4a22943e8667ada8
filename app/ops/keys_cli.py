"""``sigap keys new|status|rotate``: the keys that seal NIK and KK numbers (app/pii.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app import pii
from app.config import get_settings
from app.db import engine_from_settings, new_session
from app.ops import keys
from app.ops.progress import phase_bars

keys_cli = typer.Typer(help="Keys sealing NIK/KK numbers at rest: make, inspect, rotate",
                       no_args_is_help=True)
console = Console(stderr=True)


@keys_cli.command("new")
def new_command(key_id: Annotated[str, typer.Argument(help="1-8 letters, digits, - or _, e.g. k2")]) -> None:
    """Print a fresh key line (id:base64url) to put first in SIGAP_PII_KEYS or SIGAP_PII_INDEX_KEYS."""
    try:
        print(pii.new_key(key_id))
    except pii.KeySettingError as exc:
        raise typer.BadParameter(str(exc)) from None


def _status_table(status: keys.KeyStatus, ring: pii.Keyring) -> Table:
    table = Table(title=f"kunci / keys: segel / sealing {ring.seal_id}, indeks / index {ring.index_id}")
    for name in ("kolom / column", "jenis / kind", "kunci / key", "baris / rows", ""):
        table.add_column(name)
    for kind, groups, current in (("segel / sealed", status.sealed, ring.seal_id),
                                  ("indeks / index", status.indexes, ring.index_id)):
        for column, counts in sorted(groups.items()):
            for kid, n in sorted(counts.items()):
                note = "" if kid == current else "perlu rotasi / to rotate"
                table.add_row(column, kind, kid, f"{n:,}", note)
    return table


@keys_cli.command("status")
def status_command() -> None:
    """How many values each key holds; exit 1 if some are not under the current keys."""
    engine = engine_from_settings(get_settings())
    try:
        with new_session(engine, read_only=True) as session:
            status = keys.status(session)
    finally:
        engine.dispose()
    ring = pii.keyring()
    console.print(_status_table(status, ring))
    pending = status.pending(ring)
    console.print(f"belum dirotasi / not yet rotated: {pending:,}", highlight=False)
    raise typer.Exit(1 if pending else 0)


@keys_cli.command("rotate")
def rotate_command(
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="rows per transaction")] = 1000,
) -> None:
    """Seal every value and blind index under the current (first) keys; resumable, and a
    rerun after success changes nothing. Keep the old keys configured until it has finished."""
    engine = engine_from_settings(get_settings())
    try:
        with phase_bars(console, remaining=True) as progress:
            report = keys.rotate(engine, batch=batch, progress=progress)
    except keys.RotationBlocked as exc:
        console.print(f"[red]rotasi berhenti / rotation stopped:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    for table, n in report.rewritten.items():
        console.print(f"{table}: {n:,} baris ditulis ulang / rows rewritten", highlight=False)
    if report.match_keys is not None:
        console.print(f"match_key: dibangun ulang / rebuilt, {report.match_keys:,}", highlight=False)
    if report.remaining:
        console.print(f"[yellow]{report.remaining:,} nilai masih di kunci lama / values still under an old "
                      "key[/] (written meanwhile by a server with the old settings): restart every server "
                      "on the new keys, then rerun", highlight=False)
        raise typer.Exit(1)
