"""The ``sigap`` command line: serve, migrate, seed, users, sms, openapi, netsim, dedup, desil,
rules, score, audit, report snapshot."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlmodel import Session

from app import migrate as migrations
from app.audit.cli import audit_cli
from app.auth.models import Role
from app.auth.schemas import UserCreate
from app.config import PROJECT_ROOT, get_settings
from app.db import engine_from_settings, new_session
from app.eligibility.desil_cli import desil_cli
from app.eligibility.recipients_cli import recipients_cli
from app.eligibility.rules_cli import rules_cli, score_cli
from app.ops.keys_cli import keys_cli
from app.reconcile.commands import dedup_cli
from app.reconcile.dukcapil_cli import dukcapil_cli
from app.reports.cli import report_cli
from app.reports.progress_cli import snapshot_command

cli = typer.Typer(help="Sigap: Kota Ternate social-assistance registry", no_args_is_help=True,
                  pretty_exceptions_enable=False)
users_cli = typer.Typer(help="Manage users", no_args_is_help=True)
cli.add_typer(users_cli, name="users")
sms_cli = typer.Typer(help="Outbound SMS", no_args_is_help=True)
cli.add_typer(sms_cli, name="sms")
cli.add_typer(dedup_cli, name="dedup")
cli.add_typer(dukcapil_cli, name="dukcapil")
cli.add_typer(desil_cli, name="desil")
cli.add_typer(rules_cli, name="rules")
cli.add_typer(score_cli, name="score")
cli.add_typer(recipients_cli, name="recipients")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(keys_cli, name="keys")
# `sigap report snapshot` (app/reports/progress_cli.py) beside `sigap report targets`
report_cli.command("snapshot")(snapshot_command)
cli.add_typer(report_cli, name="report")
console = Console(stderr=True)
OPENAPI_PATH = PROJECT_ROOT / "openapi" / "openapi.json"


@contextmanager
def _session() -> Iterator[Session]:
    """A session on the configured database; the engine is disposed afterwards."""
    engine = engine_from_settings(get_settings())
    try:
        with new_session(engine) as session:
            yield session
    finally:
        engine.dispose()


@cli.command()
def serve(host: str = "127.0.0.1", port: int = 8000,
          workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
          reload: bool = False) -> None:
    """Run the API with uvicorn."""
    import uvicorn

    settings = get_settings()
    console.print(f"[bold]Sigap[/] on http://{host}:{port}  (docs: http://{host}:{port}/docs)"
                  f"  database: {settings.database_url.split('@')[-1]}")
    uvicorn.run("app.asgi:app", host=host, port=port, workers=workers, reload=reload,
                log_config=None, proxy_headers=True)


@cli.command()
def migrate(revision: Annotated[str, typer.Argument(help="target revision")] = "head",
            down: Annotated[bool, typer.Option("--down", help="downgrade to REVISION")] = False
            ) -> None:
    """Bring the database schema to REVISION (default: head) with Alembic."""
    url = get_settings().database_url
    if down:
        migrations.downgrade(url, revision)
    else:
        migrations.upgrade(url, revision)
    with _session() as session:
        console.print(f"schema at {migrations.current_revision(session.get_bind())}")  # type: ignore[arg-type]


@cli.command()
def backup(
    output: Annotated[
        Path | None, typer.Option(help="backup file (default: var/backups/sigap-ENGINE-UTCTIME.{db,dump})")
    ] = None,
) -> None:
    """Back up the database with the engine's own tool (SQLite backup API, pg_dump), while the
    service runs; writes FILE and FILE.manifest.json (row counts, audit head, SHA-256), the
    manifest signed with the audit key (SIGAP_AUDIT_SECRET, else derived from SIGAP_SECRET_KEY)."""
    from app.db import utcnow
    from app.ops import backup as ops_backup

    settings = get_settings()
    if output is None:
        engine_name = "sqlite" if settings.is_sqlite else "postgresql"
        ext = "db" if settings.is_sqlite else "dump"
        output = PROJECT_ROOT / "var" / "backups" / f"sigap-{engine_name}-{utcnow():%Y%m%dT%H%M%SZ}.{ext}"
    try:
        manifest = ops_backup.backup(settings.database_url, output, key=settings.audit_key)
    except ops_backup.BackupError as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from None
    console.print(
        f"cadangan / backup: {output} ({output.stat().st_size:,} bytes, {sum(manifest.counts.values()):,} "
        f"baris / rows, revisi / revision {manifest.revision}, audit {manifest.audit_head[0]})",
        highlight=False,
    )


@cli.command()
def restore(
    file: Annotated[Path, typer.Argument(help="a backup written by `sigap backup` (its manifest beside it)")],
    into: Annotated[
        str | None,
        typer.Option(help="database URL to restore into (default: SIGAP_DATABASE_URL); must be empty"),
    ] = None,
    allow_unsigned: Annotated[
        bool, typer.Option(help="accept a manifest without a signature (made before they were signed)")
    ] = False,
) -> None:
    """Restore a backup into an EMPTY database, then verify row counts, schema revision and the
    audit chain against the manifest (exit 1 if they differ, 2 if refused: a manifest not signed
    with this installation's audit key, a corrupt file, a database that is not empty)."""
    from app.ops import backup as ops_backup

    settings = get_settings()
    try:
        report = ops_backup.restore(
            file, into or settings.database_url, audit_key=settings.audit_key, allow_unsigned=allow_unsigned
        )
    except ops_backup.BackupError as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from None
    for problem in report.problems:
        console.print(f"[red]{problem}[/]", highlight=False)
    if not report.ok:
        console.print("[red]PEMULIHAN TIDAK COCOK DENGAN MANIFES / RESTORE DOES NOT MATCH THE MANIFEST[/]")
        raise typer.Exit(1)
    if not report.manifest.signature:
        console.print(
            "[bold yellow]MANIFES TIDAK BERTANDA TANGAN (--allow-unsigned): jumlah baris dan rantai audit "
            "cocok, tetapi isi data keluarga tidak terbukti asli / UNSIGNED MANIFEST: row counts and the "
            "audit chain match, but the families' data is not proven genuine[/]",
            highlight=False,
        )
    console.print(
        f"dipulihkan dan diperiksa / restored and verified: {sum(report.counts.values()):,} baris / rows "
        f"in {len(report.counts)} tabel / tables, revisi / revision {report.revision}, rantai audit utuh / "
        f"audit chain intact ({report.audit.checked:,})",
        highlight=False,
    )


@cli.command()
def seed(demo: Annotated[int, typer.Option(help="synthetic demo families to add (0: none)")] = 0
         ) -> None:
    """Load Ternate's kecamatan and kelurahan (both code systems) and optional demo families."""
    from app.seeding import SEED_ACTOR, load_wilayah, seed_demo_households

    settings = get_settings()
    with _session() as session:
        kec, kel = load_wilayah(session, settings.seed_data_dir / "ternate_wilayah.csv")
        session.commit()
        console.print(f"wilayah: {kec} kecamatan, {kel} kelurahan")
        from app.eligibility.rules_service import ensure_active

        active = ensure_active(session=session, actor=SEED_ACTOR)
        session.commit()
        console.print(f"rule set: {active.label if active else 'none active'}")
        if demo:
            with Progress(TextColumn("demo families"), BarColumn(), MofNCompleteColumn(),
                          TimeRemainingColumn(), console=console) as bar:
                task = bar.add_task("demo", total=demo)
                created = seed_demo_households(
                    session, demo, progress=lambda n: bar.advance(task, n))
            session.commit()
            console.print(f"demo: {created} new families ({demo - created} already present)")


@users_cli.command("create")
def users_create(
    username: str,
    role: Role,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True,
                                          confirmation_prompt=True)],
    kecamatan: Annotated[str | None, typer.Option(help="for supervisors")] = None,
    kelurahan: Annotated[list[str] | None, typer.Option(help="for enumerators; repeat")] = None,
    full_name: str = "",
) -> None:
    """Create a user (admin, dinsos, supervisor, enumerator)."""
    from pydantic import ValidationError

    from app.auth import service
    from app.errors import AppError
    from app.seeding import SEED_ACTOR

    try:
        data = UserCreate(username=username, password=password, role=role,
                          kecamatan_code=kecamatan, kelurahan_codes=kelurahan or [],
                          full_name=full_name)
        with _session() as session:
            user = service.create_user(session=session, data=data, actor=SEED_ACTOR)
            session.commit()
    except ValidationError as exc:
        for err in exc.errors():
            console.print(f"[red]{'.'.join(map(str, err['loc']))}: {err['msg']}[/]")
        raise typer.Exit(2) from None
    except AppError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(2) from None
    console.print(f"created user {user.username} ({user.role}) id={user.id}")


@users_cli.command("demo")
def users_demo() -> None:
    """Create or reset the demo users (admin, dinsos, supervisor, enumerator); prints them."""
    from app.seeding import ensure_demo_users

    with _session() as session:
        password, made = ensure_demo_users(session)
        session.commit()
    table = Table(title="Demo users (password reset on every run)")
    for col_name in ("username", "role", "password"):
        table.add_column(col_name)
    for username, role in made:
        table.add_row(username, role, password)
    Console().print(table)


@sms_cli.command("flush")
def sms_flush(limit: Annotated[int, typer.Option(min=1, help="send at most this many")] = 1000) -> None:
    """Send queued SMS with the configured sender (SIGAP_SMS_SENDER), e.g. from cron.

    Stops at the first message the gateway refuses (it stays queued for the next run) and
    then exits 1, so cron reports it.
    """
    from functools import partial

    from app.channels import outbound

    settings = get_settings()
    engine = engine_from_settings(settings)
    sent = failed = 0
    try:
        with new_session(engine, read_only=True) as session:
            total = min(outbound.queued(session), limit)
        sender = outbound.sender_for(settings)
        with Progress(TextColumn(f"SMS via {sender.name}"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task("sms", total=total)
            while sent + failed < total:
                ok, bad = outbound.flush(partial(new_session, engine), settings, limit=1, sender=sender)
                sent, failed = sent + ok, failed + bad
                bar.advance(task, ok + bad)
                if bad or not ok:  # refused (kept for the next run), or nothing left
                    break
        with new_session(engine, read_only=True) as session:
            left = outbound.queued(session)
    finally:
        engine.dispose()
    console.print(f"sent {sent}, refused {failed}, still queued {left}")
    if failed:
        raise typer.Exit(1)


@cli.command()
def openapi(check: Annotated[bool, typer.Option(help="fail if the file is out of date")] = False,
            path: Path = OPENAPI_PATH) -> None:
    """Write the OpenAPI document to openapi/openapi.json (or check it is current)."""
    from app.main import create_app

    text = render_openapi(create_app())
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            console.print(f"[red]{path} is out of date: run `sigap openapi`[/]")
            raise typer.Exit(1)
        console.print(f"{path} is current")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {path}")


@cli.command()
def netsim(
    profile: Annotated[str | None, typer.Option(help="link profile: hiri, moti, kota (see --list)")] = None,
    listen: Annotated[str, typer.Option(help="HOST:PORT the tablets connect to")] = "127.0.0.1:8001",
    upstream: Annotated[str, typer.Option(help="HOST:PORT of the Sigap server")] = "127.0.0.1:8000",
    seed: Annotated[int | None, typer.Option(help="replay the faults of an earlier run")] = None,
    time_scale: Annotated[float, typer.Option(
        help="divide every duration by X and multiply bandwidth by X")] = 1.0,
    list_profiles: Annotated[bool, typer.Option("--list", help="list the profiles and exit")] = False,
    profiles_file: Annotated[Path | None, typer.Option(help="default: seed_data/netsim_profiles.toml")
                             ] = None,
) -> None:
    """Proxy TCP through a simulated island link (latency, bandwidth, resets, outages); Ctrl-C stops."""
    import logging

    from rich.logging import RichHandler

    from app.netsim import DEFAULT_PROFILES_FILE, NetSim, ProfileError, load_profiles

    try:
        profiles = load_profiles(profiles_file or DEFAULT_PROFILES_FILE)
    except ProfileError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    if list_profiles:
        table = Table(title="netsim profiles (docs/connectivity.md)")
        for col_name in ("profile", "description", "one-way latency", "down / up kbit/s", "outages"):
            table.add_column(col_name)
        for prof in profiles.values():
            table.add_row(prof.name, prof.description, f"{prof.latency_ms:g} +- {prof.jitter_ms:g} ms",
                          f"{prof.downlink_kbit_s:g} / {prof.uplink_kbit_s:g}",
                          "yes" if prof.has_outages else "no")
        Console().print(table)
        return
    if profile is None or profile not in profiles:
        console.print(f"[red]--profile: choose one of {', '.join(profiles)} (got {profile!r})[/]")
        raise typer.Exit(2)
    if not time_scale > 0:
        console.print(f"[red]--time-scale must be > 0 (got {time_scale})[/]")
        raise typer.Exit(2)
    sim = NetSim(profiles[profile], listen=_host_port(listen, "--listen"),
                 upstream=_host_port(upstream, "--upstream"), seed=seed, time_scale=time_scale)
    table = Table(title=f"{profile}: {sim.profile.description}", show_header=False)
    for label, value in sim.profile.summary():
        table.add_row(label, value)
    console.print(table)
    for paragraph in sim.profile.sources.split("\n\n"):
        console.print(" ".join(paragraph.split()), style="dim", highlight=False)
    console.print(f"seed {sim.seed} (replay this run with --seed {sim.seed})")
    handler = RichHandler(console=console, show_path=False)
    logging.getLogger("app.netsim").addHandler(handler)
    logging.getLogger("app.netsim").setLevel(logging.INFO)
    try:
        sim.run(on_ready=lambda port: console.print(
            f"listening on {sim.listen[0]}:{port} -> {upstream}  (Ctrl-C to stop)"))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        console.print(f"[red]cannot listen on {listen}: {exc}[/]")
        raise typer.Exit(1) from None
    finally:
        logging.getLogger("app.netsim").removeHandler(handler)
    stats = Table(title=f"{profile}, seed {sim.seed}", show_header=False)
    for key, count in sim.stats().as_dict().items():
        stats.add_row(key, f"{count:.1f}" if isinstance(count, float) else str(count))
    console.print(stats)


def _host_port(value: str, option: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise typer.BadParameter(f"expected HOST:PORT (got {value!r})", param_hint=option)
    return host, int(port)


def render_openapi(app: object) -> str:
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"  # type: ignore[attr-defined]


def main() -> None:
    cli(sys.argv[1:])


if __name__ == "__main__":
    main()
