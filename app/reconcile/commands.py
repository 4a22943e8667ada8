"""``sigap dedup``: link a CSV file of persons into clusters; write evaluation data; re-reconcile
the registry (``run``) and keep it reconciled as records arrive (``worker``)."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.ops.progress import phase_bars
from app.reconcile.linker import DEFAULT_CONFIG, REVIEW, LinkConfig, LinkResult, link
from app.reconcile.records import CsvInputError, read_csv

dedup_cli = typer.Typer(help="Find duplicate persons (reconciliation)", no_args_is_help=True)
console = Console(stderr=True)
OUTPUT_COLUMNS = ("record_id", "cluster_id", "match_weight")
REVIEW_COLUMNS = ("record_id_a", "record_id_b", "match_weight", "probability", "decision",
                  "reasons_id", "reasons")


def _fail(exc: CsvInputError) -> typer.Exit:
    console.print(f"[red]{exc.message_id}[/]", highlight=False)
    console.print(f"[red]{exc.message}[/]", highlight=False)
    return typer.Exit(2)


@dedup_cli.command("link")
def link_command(
    input_path: Annotated[Path, typer.Option("--input", help="CSV: record_id, full_name, birth_date, "
                                             "sex, nik, kk_number, address, kelurahan_code, phone")],
    output: Annotated[Path, typer.Option(help="CSV written: record_id, cluster_id, match_weight")],
    review: Annotated[Path | None, typer.Option(
        help="also write the pairs for review (and links refused by the chaining guard), with reasons")
    ] = None,
    config_path: Annotated[Path, typer.Option("--config", help="thresholds and engine settings")
                           ] = DEFAULT_CONFIG,
) -> None:
    """Link the persons of a CSV file: same person -> same cluster_id."""
    started = time.perf_counter()
    try:
        records = read_csv(input_path)
    except CsvInputError as exc:
        raise _fail(exc) from None
    config = LinkConfig.load(config_path)
    with phase_bars(console) as progress:
        result = link(records, config=config, progress=progress)
    _write_clusters(result, output)
    if review is not None:
        _write_review(result, review)
    _summary(result, time.perf_counter() - started, output, review)


def _write_clusters(result: LinkResult, path: Path) -> None:
    ids = result.cluster_ids()
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(OUTPUT_COLUMNS)
        for p in result.prepared:
            w = result.best_weight(p.index)
            rid = p.record.record_id
            writer.writerow((rid, ids[rid], "" if w is None else f"{w:.2f}"))


def _reasons(result: LinkResult, a: int, b: int) -> tuple[str, str, str]:
    ex = result.explain(a, b)
    shown = [c for c in ex.contributions if c.weight]
    reasons_id = "; ".join(f"{c.reason_id} ({c.weight:+.1f})" for c in shown)
    reasons = "; ".join(f"{c.reason} ({c.weight:+.1f})" for c in shown)
    return f"{ex.probability:.3f}", reasons_id, reasons


def _write_review(result: LinkResult, path: Path) -> None:
    index = {p.record.record_id: p.index for p in result.prepared}
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(REVIEW_COLUMNS)
        for pair in result.pairs:
            if pair.decision == REVIEW:
                prob, rid_, rs = _reasons(result, index[pair.a], index[pair.b])
                writer.writerow((pair.a, pair.b, f"{pair.weight:.2f}", prob, REVIEW, rid_, rs))
        for a, b, refused in result.refused():
            prob, rid_, rs = _reasons(result, refused.a, refused.b)
            writer.writerow((a, b, f"{refused.weight:.2f}", prob, "refused_chain",
                             f"{refused.reason_id}; {rid_}", f"{refused.reason}; {rs}"))


def _summary(result: LinkResult, seconds: float, output: Path, review: Path | None) -> None:
    s = result.stats
    table = Table(title="Pencocokan data / record linkage", show_header=False)
    rows = [
        ("data dibaca / records", f"{s.records:,}"),
        ("pasangan kandidat / candidate pairs", f"{s.candidate_pairs:,}"),
        ("gabung otomatis / auto-merge", f"{s.decisions.get('auto_merge', 0):,}"),
        ("perlu diperiksa / review", f"{s.decisions.get('review', 0):,}"),
        ("berbeda / distinct", f"{s.decisions.get('distinct', 0):,}"),
        ("kelompok (2+ data) / clusters", f"{s.clusters:,} ({s.records_in_clusters:,} records)"),
        ("ditolak penjaga rantai / refused by chaining guard", f"{s.refused_links:,}"),
        ("blok dibatasi / capped blocks", f"{s.blocking.capped_blocks:,} "
                                          f"({s.blocking.skipped_pairs:,} pairs skipped)"),
        ("ambang / thresholds", f"merge >= {result.config.upper:g}, review >= {result.config.lower:g}"),
        ("waktu / time", f"{seconds:.1f} s"),
        ("hasil / output", str(output) + (f", review: {review}" if review else "")),
    ]
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


@dedup_cli.command("synth")
def synth_command(
    households: Annotated[int, typer.Option(min=1, help="households to generate (~3.5 persons each)")],
    out: Annotated[Path, typer.Option(help="persons CSV (the linker's input)")],
    truth: Annotated[Path, typer.Option(help="truth CSV: record_id, person_id, household_id, "
                                        "scenario, errors")],
    seed: int = 2026,
    dup_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of persons duplicated")
                        ] = 0.05,
    no_nik: Annotated[bool, typer.Option("--no-nik", help="leave every NIK empty")] = False,
) -> None:
    """Write synthetic Ternate persons with injected duplicates, and the truth."""
    from app.reconcile.synthetic import write_synthetic
    from app.registry.synthetic import load_kelurahan_codes

    count = write_synthetic(households=households, persons_path=out, truth_path=truth, seed=seed,
                            kelurahan_codes=load_kelurahan_codes(), dup_rate=dup_rate,
                            drop_nik=no_nik)
    console.print(f"{count:,} records from {households:,} households -> {out}; truth -> {truth}")


@dedup_cli.command("run")
def run_command(
    merge: Annotated[bool, typer.Option(help="merge the automatic household proposals")] = True,
    config_path: Annotated[Path, typer.Option("--config", help="thresholds and engine settings")
                           ] = DEFAULT_CONFIG,
) -> None:
    """Re-reconcile the whole registry: match keys, model, review queue, automatic merges."""
    from app.config import get_settings
    from app.db import engine_from_settings
    from app.reconcile.batch import run_batch

    engine = engine_from_settings(get_settings())
    started = time.perf_counter()
    try:
        with phase_bars(console) as progress:
            summary = run_batch(engine, config=LinkConfig.load(config_path, registry=True), progress=progress,
                                merge_auto=merge)
    finally:
        engine.dispose()
    table = Table(title="Rekonsiliasi registri / registry reconciliation", show_header=False)
    links = summary.person_links
    rows = [
        ("anggota dibaca / members read", f"{summary.records:,} ({summary.households:,} households)"),
        ("pasangan kandidat / candidate pairs", f"{summary.candidate_pairs:,}"),
        ("pasangan orang / person links", f"{links.get('auto_merge', 0):,} auto, "
                                          f"{links.get('review', 0):,} review"),
        ("ditolak penjaga rantai / refused by chaining guard", f"{summary.refused_by_chaining_guard:,}"),
        ("keluarga ganda / household candidates", f"{summary.household_candidates:,} "
                                                  f"({summary.household_auto:,} automatic)"),
        ("digabung otomatis / auto-merged", f"{summary.auto_merged:,}" + (
            f" ({summary.merge_refused:,} refused)" if summary.merge_refused else "")),
        ("keluarga perlu diperiksa / households to review", f"{summary.household_review:,}"),
        ("satu orang di dua keluarga / member in two families", f"{summary.member_in_two_families:,}"),
        ("orang ganda dalam satu keluarga / twice in one family", f"{summary.member_twice_in_one_family:,}"),
        ("sudah diputuskan / already decided", f"{summary.kept_decided:,}"),
        ("tidak berlaku lagi / superseded", f"{summary.superseded:,}"),
        ("kunci blok / match keys", f"{summary.match_keys:,} ({summary.capped_blocks:,} capped blocks)"),
        ("waktu / time", f"{time.perf_counter() - started:.1f} s "
                         + ", ".join(f"{k} {v:.1f}" for k, v in summary.seconds.items())),
    ]
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


@dedup_cli.command("worker")
def worker_command(
    poll: Annotated[float, typer.Option(min=0.1, help="seconds between polls when idle")] = 2.0,
    limit: Annotated[int, typer.Option(min=1, help="change-feed rows per transaction (each holds "
                                                   "the write lock on SQLite: keep it small)")] = 20,
) -> None:
    """Check every new or changed household as it arrives (runs until Ctrl-C)."""
    import threading

    from app.config import get_settings
    from app.db import engine_from_settings
    from app.reconcile import worker

    engine = engine_from_settings(get_settings())
    stop = threading.Event()

    def report(result: worker.Round) -> None:
        if result.households:
            console.print(f"seq {result.cursor:,}: {result.households} households checked, "
                          f"{result.candidates} candidates"
                          + (f", [red]{len(result.failed)} failed[/]" if result.failed else ""))

    console.print("reconcile worker running (Ctrl-C to stop)")
    try:
        worker.run(engine, poll_seconds=poll, limit=limit, stop=stop, on_round=report)
    except KeyboardInterrupt:
        stop.set()
    finally:
        engine.dispose()
