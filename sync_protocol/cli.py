"""``sigap-device``: the reference device client on the command line.

Messages for the enumerator are in Bahasa Indonesia; ``--help`` is in English.  Exit codes:
0 ok, 1 error, 2 device revoked or app update required.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from sync_protocol.client import (
    AuthenticationFailed,
    DeviceClient,
    DeviceRevoked,
    RetriesExhausted,
    RetryNotice,
    RetryPolicy,
    ServerError,
    SyncError,
    SyncEvent,
    UpgradeRequired,
)
from sync_protocol.store import LocalEditError, LocalRecord, StoreError

EXIT_ERROR = 1
EXIT_BLOCKED = 2  # revoked, or the app must be updated

app = typer.Typer(help="Sigap device: offline edits and sync protocol v1 (reference client)",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
out = Console()
err = Console(stderr=True)

OUTCOME_LABELS = {"applied": "diterapkan", "merged": "digabung", "conflict": "konflik",
                  "rejected": "ditolak", "duplicate": "duplikat"}


@dataclass(frozen=True)
class _Options:
    store: Path
    max_attempts: int
    deadline: float


@app.callback()
def _options(ctx: typer.Context,
             store: Annotated[Path, typer.Option(envvar="SIGAP_DEVICE_STORE",
                                                 help="device store file (SQLite)")] = Path("device.db"),
             max_attempts: Annotated[int, typer.Option(
                 min=1, envvar="SIGAP_DEVICE_MAX_ATTEMPTS",
                 help="tries per request on network errors and 408/429/502/503/504")] = 10,
             deadline: Annotated[float, typer.Option(
                 min=1, envvar="SIGAP_DEVICE_DEADLINE", help="give up retrying a request after SECONDS")
             ] = 1800.0,
             ) -> None:
    ctx.obj = _Options(store=store, max_attempts=max_attempts, deadline=deadline)


def _tell_retry(notice: RetryNotice) -> None:
    err.print(f"[yellow]{notice.failure}[/]: coba lagi dalam {notice.delay:.0f} dtk "
              f"(percobaan {notice.attempt + 1}/{notice.max_attempts})")


@contextmanager
def _client(ctx: typer.Context) -> Iterator[DeviceClient]:
    """Open the store; turn the client's errors into short messages and exit codes."""
    options: _Options = ctx.obj
    try:
        with DeviceClient(options.store, on_retry=_tell_retry,
                          retry=RetryPolicy(max_attempts=options.max_attempts, deadline=options.deadline)
                          ) as client:
            yield client
    except KeyboardInterrupt:
        err.print("Dibatalkan. Perubahan yang belum terkirim tetap tersimpan.")
        raise typer.Exit(EXIT_ERROR) from None
    except DeviceRevoked as exc:
        err.print(f"[red]Perangkat dicabut:[/] {exc.detail}")
        raise typer.Exit(EXIT_BLOCKED) from None
    except UpgradeRequired as exc:
        versions = ", ".join(map(str, exc.supported)) or "?"
        err.print(f"[red]Aplikasi harus diperbarui[/] (versi protokol didukung server: {versions}).")
        raise typer.Exit(EXIT_BLOCKED) from None
    except AuthenticationFailed as exc:
        err.print(f"[red]Gagal masuk:[/] {exc.detail or exc.error}. Periksa nama pengguna/kata sandi "
                  "atau daftarkan ulang perangkat (enrol).")
        raise typer.Exit(EXIT_ERROR) from None
    except RetriesExhausted as exc:
        err.print(f"[red]Jaringan gagal:[/] {exc}. Perubahan tetap tersimpan; coba sinkron lagi nanti.")
        raise typer.Exit(EXIT_ERROR) from None
    except ServerError as exc:
        err.print(f"[red]Server menolak (HTTP {exc.status} {exc.error}):[/] {exc.detail}")
        raise typer.Exit(EXIT_ERROR) from None
    except (SyncError, StoreError, LocalEditError) as exc:
        err.print(f"[red]Gagal:[/] {exc}")
        raise typer.Exit(EXIT_ERROR) from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        value = json.loads(text)
    except OSError as exc:
        err.print(f"[red]Berkas tidak bisa dibaca:[/] {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    except json.JSONDecodeError as exc:
        err.print(f"[red]JSON tidak sah:[/] {path}: {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    if not isinstance(value, dict):
        err.print(f"[red]JSON harus berupa objek:[/] {path}")
        raise typer.Exit(EXIT_ERROR)
    return value


def _record_json(client: DeviceClient, record: LocalRecord) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "entity": record.entity, "id": record.id, "household_id": record.household_id,
        "kelurahan_code": record.kelurahan_code, "version": record.version,
        "local_only": record.local_only, "pending_mutations": record.pending,
        "deleted_pending": record.data is None, "data": record.data}
    if record.entity == "household":
        shown["members"] = [{"id": m.id, "version": m.version, "local_only": m.local_only,
                             "pending_mutations": m.pending, "data": m.data}
                            for m in client.members(record.id)]
    return shown


@app.command()
def enrol(ctx: typer.Context,
          server: Annotated[str, typer.Option(help="server base URL, e.g. https://sigap.example.id")],
          username: Annotated[str, typer.Option(help="enumerator's username")],
          device_id: Annotated[str, typer.Option(help="this tablet's id, 8-64 of A-Za-z0-9._-")],
          password: Annotated[str, typer.Option(prompt="Kata sandi", hide_input=True,
                                                envvar="SIGAP_DEVICE_PASSWORD",
                                                help="prompted (hidden) if not given")],
          label: Annotated[str, typer.Option(help="e.g. the tablet's asset tag")] = "") -> None:
    """Register this device with the server (the enumerator's login is used once)."""
    with _client(ctx) as client:
        try:
            enrolment = client.enrol(server, username, password, device_id, label)
        except ValueError as exc:
            err.print(f"[red]Gagal:[/] {exc}")
            raise typer.Exit(EXIT_ERROR) from None
    out.print(f"Perangkat [bold]{enrolment.device_id}[/] terdaftar untuk {enrolment.username}; "
              f"wilayah: {', '.join(enrolment.scope) or '-'}")


@app.command()
def create(ctx: typer.Context,
           file: Annotated[Path, typer.Argument(help="JSON household with a 'members' list ('-': stdin)")]
           ) -> None:
    """Record a new household (offline)."""
    fields = _read_json(file)
    with _client(ctx) as client:
        hid = client.create_household(fields)
        n = len(client.members(hid))
    out.print(f"Keluarga dicatat: {hid} ({n} anggota); akan dikirim saat sinkron.")


@app.command("add-member")
def add_member(ctx: typer.Context, household_id: str,
               file: Annotated[Path, typer.Argument(help="JSON member ('-': stdin)")]) -> None:
    """Record a new member of a household on this device (offline)."""
    fields = _read_json(file)
    with _client(ctx) as client:
        mid = client.add_member(household_id, fields)
    out.print(f"Anggota dicatat: {mid}")


@app.command()
def edit(ctx: typer.Context, entity: Annotated[str, typer.Argument(help="household or member")],
         record_id: Annotated[str, typer.Argument(metavar="ID")],
         file: Annotated[Path, typer.Argument(help="JSON of the changed fields; null clears ('-': stdin)")]
         ) -> None:
    """Record changed fields of a record (offline)."""
    fields = _read_json(file)
    with _client(ctx) as client:
        seq = client.update(entity, record_id, fields)
    out.print("Tidak ada perubahan." if seq is None else f"Perubahan dicatat (seq {seq}).")


@app.command()
def delete(ctx: typer.Context, entity: Annotated[str, typer.Argument(help="household or member")],
           record_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Record a delete (offline)."""
    with _client(ctx) as client:
        seq = client.delete(entity, record_id)
    out.print(f"Penghapusan dicatat (seq {seq}).")


_PHOTO_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
                ".pdf": "application/pdf"}


@app.command()
def photo(ctx: typer.Context, household_id: str,
          file: Annotated[Path, typer.Argument(help="JPEG/PNG/WebP photo or PDF consent form", exists=True,
                                               dir_okay=False)],
          kind: Annotated[str, typer.Option(help="house_photo or consent_form")] = "house_photo") -> None:
    """Upload a house photo or consent form now (tus, resumes after drops) and link it at the next sync."""
    content_type = _PHOTO_TYPES.get(file.suffix.lower())
    if content_type is None:
        raise typer.BadParameter(f"jenis berkas tidak dikenal: {file.suffix} (jpg, png, webp, pdf)")
    with _client(ctx) as client:
        digest = client.upload_media(file, kind=kind, content_type=content_type)
        client.attach_media(household_id, digest, kind)
    out.print(f"Berkas terkirim (sha256 {digest[:12]}…); tautan ke keluarga dikirim saat sinkron.")


@app.command()
def sync(ctx: typer.Context) -> None:
    """Send pending changes, then receive the server's changes."""
    with _client(ctx) as client, Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                          MofNCompleteColumn(), console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def show(event: SyncEvent) -> None:
            if event.phase not in tasks:
                label = "Mengirim" if event.phase == "push" else "Menerima"
                tasks[event.phase] = bar.add_task(label, total=event.total)
            bar.update(tasks[event.phase], completed=event.done)

        report = client.sync(progress=show)
    outcomes = ", ".join(f"{OUTCOME_LABELS.get(k, k)} {v}" for k, v in sorted(report.outcomes.items()))
    out.print(f"Terkirim: {report.pushed} perubahan ({outcomes or '-'}) dalam {report.batches} paket.")
    out.print(f"Diterima: {report.upserts} data, {report.tombstones} dihapus, {report.pages} halaman.")
    if report.retries:
        out.print(f"Percobaan ulang: {report.retries}.")
    if report.attention:
        out.print(f"[yellow]{report.attention} hal perlu diperiksa:[/] jalankan `sigap-device status`.")


@app.command("sms-encode")
def sms_encode(ctx: typer.Context,
               resend: Annotated[bool, typer.Option(
                   "--resend", help="also mutations already handed to the SMS app")] = False) -> None:
    """Print pending changes as SMS texts (no data connection): send each line as one SMS."""
    with _client(ctx) as client:
        messages = client.sms_encode(resend=resend)
    if not messages:
        err.print("Tidak ada perubahan yang perlu dikirim lewat SMS.")
    for message in messages:
        if message.error:
            err.print(f"[yellow]seq {message.seq} tidak bisa lewat SMS[/] ({message.error}); "
                      "akan dikirim saat sinkron internet.")
            continue
        for i, text in enumerate(message.texts, 1):
            err.print(f"seq {message.seq}, SMS {i}/{len(message.texts)}:")
            print(text)


@app.command("sms-ack")
def sms_ack(ctx: typer.Context,
            text: Annotated[str, typer.Argument(help='the server\'s reply, e.g. "SIGAP OK 12 AB7Q ..."')]
            ) -> None:
    """Record the server's SMS reply: the change counts as delivered if its code checks out."""
    with _client(ctx) as client:
        result = client.sms_ack(text)
    if result.status == "acknowledged":
        words = {"OK": "diterima", "KONFLIK": "diterima dengan konflik", "TOLAK": "ditolak"}
        word = words[result.word or "OK"]
        out.print(f"Perubahan seq {result.seq} {word} server.")
        if result.word != "OK":
            out.print("[yellow]Periksa:[/] jalankan `sigap-device status`.")
    elif result.status == "already":
        out.print(f"Perubahan seq {result.seq} sudah tercatat terkirim.")
    else:
        reason = ("kode balasan tidak cocok (bukan dari server Sigap untuk perangkat ini)"
                  if result.status == "bad_code" else "bukan balasan SMS Sigap")
        err.print(f"[red]Balasan ditolak:[/] {reason}. Tidak ada yang diubah.")
        raise typer.Exit(EXIT_ERROR)


@app.command()
def status(ctx: typer.Context,
           dismiss: Annotated[list[int] | None, typer.Option(
               help="clear an attention item by its number (repeat)")] = None) -> None:
    """Show enrolment, pending changes, record counts and items needing attention."""
    with _client(ctx) as client:
        if dismiss:
            out.print(f"{client.dismiss(dismiss)} catatan dihapus dari daftar.")
        st = client.status()
    table = Table(title="Status perangkat", show_header=False)
    table.add_column("")
    table.add_column("")
    enrolled = f"{st.device_id} ({st.username}) di {st.server_url}" if st.enrolled else "belum"
    table.add_row("Terdaftar", enrolled)
    table.add_row("Wilayah", ", ".join(st.scope) or "-")
    table.add_row("Token berlaku s.d.", st.token_expires_at or "-")
    table.add_row("Belum terkirim", str(st.pending))
    table.add_row("Keluarga / anggota", f"{st.records['household']} / {st.records['member']}")
    table.add_row("Belum dikonfirmasi server", str(st.local_only))
    table.add_row("Sinkron terakhir", st.last_sync_at or "belum pernah")
    table.add_row("Posisi tarik (cursor)", "ada" if st.has_cursor else "belum (tarik penuh)")
    table.add_row("Perlu diperiksa", str(len(st.attention)))
    out.print(table)
    if st.attention:
        items = Table(title="Perlu diperiksa")
        for name in ("No", "Jenis", "Data", "Alasan"):
            items.add_column(name)
        for item in st.attention:
            kind = "ditolak" if item.kind == "rejected" else "konflik"
            if item.kind == "rejected":
                reasons = [f"{p.get('field')}: {p.get('message') or p.get('rule')}" for p in item.details]
                reason = "; ".join(reasons) or item.message or f"status {item.status}"
            else:
                reason = "; ".join(f"{c.get('field')}: server={c.get('server_value')!r}, "
                                   f"perangkat={c.get('device_value')!r} ({c.get('resolution')})"
                                   for c in item.details)
            what = f"{item.op} {item.entity} {item.record_id[:8]} (seq {item.seq})"
            items.add_row(str(item.id), kind, what, reason)
        out.print(items)


@app.command()
def show(ctx: typer.Context, entity: Annotated[str, typer.Argument(help="household or member")],
         record_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Print a record on this device as JSON (a household with its members)."""
    with _client(ctx) as client:
        record = client.record(entity, record_id)
        if record is None:
            err.print(f"{entity} {record_id} tidak ada di perangkat.")
            raise typer.Exit(EXIT_ERROR)
        shown = _record_json(client, record)
    out.print_json(json.dumps(shown, ensure_ascii=False))


@app.command("list")
def list_households(ctx: typer.Context) -> None:
    """List the households on this device."""
    with _client(ctx) as client:
        rows = []
        for household in client.households():
            members = client.members(household.id)
            head = next((m.data or {} for m in members if (m.data or {}).get("relation") == "head"), {})
            state = ("baru" if household.local_only
                     else "belum terkirim" if household.pending else f"v{household.version}")
            rows.append((household.id, household.kelurahan_code or "-",
                         str((household.data or {}).get("kk_number", "-")),
                         str(head.get("full_name", "-")), str(len(members)), state))
    table = Table(title=f"Keluarga di perangkat ({len(rows)})", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("ID", "Kelurahan", "No. KK", "Kepala", "Jml", "Status"):
        # ids whole, to copy them, however narrow the terminal (other columns fold instead)
        table.add_column(name, no_wrap=name == "ID", min_width=36 if name == "ID" else None,
                         overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.print(table)


_TASK_KINDS = {"verify_lead": "Verifikasi pendaftaran mandiri (SMS/USSD)",
               "verify_death": "Verifikasi kematian (data Dukcapil)",
               "reverify_appeal": "Survei ulang (sanggah)"}


@app.command()
def tasks(ctx: typer.Context) -> None:
    """List the field visits the server asks for in this device's area (after a sync)."""
    with _client(ctx) as client:
        open_tasks = client.tasks()
        rows = []
        for task in open_tasks:
            household = client.record("household", task.household_id)
            data = household.data or {} if household else {}
            rows.append((task.household_id, task.kelurahan_code or "-", str(data.get("phone", "-")),
                         _TASK_KINDS.get(task.kind, task.kind), task.note, task.created_at[:10]))
    table = Table(title=f"Tugas lapangan ({len(rows)})", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("Keluarga (ID)", "Kelurahan", "Telepon", "Tugas", "Catatan", "Sejak"):
        first = name == "Keluarga (ID)"
        table.add_column(name, no_wrap=first, min_width=36 if first else None, overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def main() -> None:
    app(sys.argv[1:], prog_name=os.path.basename(sys.argv[0]) or "sigap-device")


if __name__ == "__main__":
    main()
