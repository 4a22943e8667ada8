"""The file linker on synthetic Ternate data: blocking recall, precision/recall/F1, time, memory.

    .venv/bin/python bench/bench_reconcile.py --quick            # 2,000 households, ~30 s
    .venv/bin/python bench/bench_reconcile.py             # 60,000 households (1x), with and without NIKs
    .venv/bin/python bench/bench_reconcile.py --scales 1,2,4 --no-nik-scales 1
    .venv/bin/python bench/bench_reconcile.py --curve --households 10000   # threshold curve

Each link runs in a fresh child process (``--child``), so its wall time and peak memory
(``ru_maxrss``) are its own; it reads the CSV, links and writes clusters.csv exactly as
``sigap dedup link`` does. The truth is read by the parent for scoring, and by the child
only to count which true pairs the blocking produced (an observer on the candidate
stream: the engine's decisions never see it).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.reconcile import evaluate  # noqa: E402
from app.reconcile.linker import LinkConfig, link  # noqa: E402
from app.reconcile.records import read_csv  # noqa: E402
from app.reconcile.synthetic import write_synthetic  # noqa: E402
from app.registry.synthetic import load_kelurahan_codes  # noqa: E402


def child(persons: Path, truth_path: Path, output: Path) -> None:
    """Link one file; print a JSON line of the engine's figures."""
    started = time.perf_counter()
    records = read_csv(persons)
    truth = evaluate.read_truth(truth_path)
    wanted = evaluate.true_pairs(truth)
    ids = [r.record_id for r in records]
    found: set[tuple[str, str]] = set()

    def observe(a: int, b: int) -> None:
        x, y = ids[a], ids[b]
        key = (x, y) if x < y else (y, x)
        if key in wanted:
            found.add(key)

    result = link(records, config=LinkConfig.load(), on_pair=observe)
    clusters = result.cluster_ids()
    with output.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(("record_id", "cluster_id", "match_weight"))
        for p in result.prepared:
            w = result.best_weight(p.index)
            writer.writerow((p.record.record_id, clusters[p.record.record_id],
                             "" if w is None else f"{w:.2f}"))
    s = result.stats
    print(json.dumps({
        "records": s.records, "candidate_pairs": s.candidate_pairs,
        "blocking_recall": len(found) / len(wanted) if wanted else 1.0,
        "decisions": dict(s.decisions), "clusters": s.clusters, "refused": s.refused_links,
        "capped_blocks": s.blocking.capped_blocks, "skipped_pairs": s.blocking.skipped_pairs,
        "pairs_by_rule": dict(s.blocking.pairs_by_rule), "phases": s.seconds,
        "em_iterations": s.em.iterations if s.em else None,
        "wall_s": time.perf_counter() - started,
        "peak_mb": peak_mb(),
    }))


def peak_mb() -> float:
    """This process's peak resident memory since exec (VmHWM; ru_maxrss would also count
    the memory of the parent at fork time, which Linux carries across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(workdir: Path, households: int, *, nik: bool, seed: int,
            splink_python: str | None = None) -> dict[str, object]:
    persons, truth = workdir / f"persons_{households}_{nik}.csv", workdir / f"truth_{households}.csv"
    write_synthetic(households=households, persons_path=persons, truth_path=truth, seed=seed,
                    kelurahan_codes=load_kelurahan_codes(), drop_nik=not nik)
    output = workdir / "clusters.csv"
    proc = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "--child", str(persons), str(truth), str(output)],
        check=True, capture_output=True, text=True)
    figures: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    with output.open(newline="", encoding="utf-8") as fh:
        predicted = {row["record_id"]: row["cluster_id"] for row in csv.DictReader(fh)}
    actual = evaluate.read_truth(truth)
    figures["pairs"] = evaluate.pair_scores(predicted, actual)
    figures["clusters_exact"] = evaluate.cluster_scores(predicted, actual)
    figures["households"] = households
    figures["nik"] = nik
    if splink_python:
        splink_out = workdir / "splink.csv"
        started = time.perf_counter()
        proc = subprocess.run(  # noqa: S603 - the given interpreter and our script
            [splink_python, str(Path(__file__).with_name("bench_splink.py")), "--persons", str(persons),
             "--output", str(splink_out)], check=True, capture_output=True, text=True)
        splink: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
        splink["wall_outside_s"] = time.perf_counter() - started
        best = None
        for path in sorted(workdir.glob("splink_*.csv")):
            with path.open(newline="", encoding="utf-8") as fh:
                found = {row["record_id"]: row["cluster_id"] for row in csv.DictReader(fh)}
            predicted_splink = {rid: found.get(rid, rid) for rid in actual}
            scores = evaluate.pair_scores(predicted_splink, actual)
            if best is None or scores.f1 > best[1].f1:
                best = (path.stem.removeprefix("splink_"), scores,
                        evaluate.cluster_scores(predicted_splink, actual))
            path.unlink()
        assert best is not None
        splink["threshold"], splink["pairs"], splink["clusters_exact"] = best
        figures["splink"] = splink
    return figures


def curve(workdir: Path, households: int, seed: int) -> None:
    """Pairwise precision/recall of "weight >= t" over the scored candidates, with and without NIK."""
    for nik in (True, False):
        persons, truth = workdir / f"curve_{nik}.csv", workdir / "curve_truth.csv"
        write_synthetic(households=households, persons_path=persons, truth_path=truth, seed=seed,
                        kelurahan_codes=load_kelurahan_codes(), drop_nik=not nik)
        result = link(read_csv(persons), config=LinkConfig(lower=-5.0, upper=1000.0))
        weights = {(p.a, p.b): p.weight for p in result.pairs}
        print(f"\nthreshold curve, {households:,} households, NIK {'present' if nik else 'absent'} "
              f"(pairs scored >= -5 of {result.stats.candidate_pairs:,} candidates)")
        print(f"{'weight >=':>10} {'precision':>10} {'recall':>8} {'F1':>7} {'pairs':>8}")
        steps = [float(t) for t in range(0, 32, 2)]
        for th, sc in evaluate.scored_pair_curve(weights, evaluate.read_truth(truth), steps):
            print(f"{th:>10.0f} {sc.precision:>10.4f} {sc.recall:>8.4f} {sc.f1:>7.4f} {sc.predicted:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=60_000, help="1x scale (Ternate: 60,000)")
    parser.add_argument("--scales", default="1", help="multiples of --households, with NIKs")
    parser.add_argument("--no-nik-scales", default="1", help="multiples run with every NIK removed")
    parser.add_argument("--quick", action="store_true", help="2,000 households, 1x only")
    parser.add_argument("--curve", action="store_true", help="print the threshold curve and exit")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--splink-python", help="interpreter of a venv with splink: also run "
                        "bench_splink.py on the same files (not a project dependency)")
    parser.add_argument("--child", nargs=3, metavar=("PERSONS", "TRUTH", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*(Path(p) for p in args.child))
        return
    if args.quick:
        args.households, args.scales, args.no_nik_scales = 2000, "1", "1"
    with tempfile.TemporaryDirectory(prefix="sigap-recon-") as tmp:
        workdir = Path(tmp)
        if args.curve:
            curve(workdir, args.households, args.seed)
            return
        config = LinkConfig.load()
        print(f"thresholds: merge >= {config.upper:g}, review >= {config.lower:g} "
              f"(seed_data/reconcile.toml); seed {args.seed}")
        runs = [(float(s), True) for s in args.scales.split(",") if s] + \
               [(float(s), False) for s in args.no_nik_scales.split(",") if s]
        rows = []
        for scale, nik in runs:
            households = round(args.households * scale)
            figures = run_one(workdir, households, nik=nik, seed=args.seed,
                              splink_python=args.splink_python)
            rows.append(figures)
            print(f"\n== {households:,} households ({scale:g}x), NIK {'present' if nik else 'absent'}")
            print(f"records {figures['records']:,}  candidate pairs {figures['candidate_pairs']:,}  "
                  f"blocking recall {figures['blocking_recall']:.4f}  capped blocks "
                  f"{figures['capped_blocks']} ({figures['skipped_pairs']} pairs skipped)")
            print(f"decisions {figures['decisions']}  clusters {figures['clusters']:,}  "
                  f"refused by chaining guard {figures['refused']}  EM iterations {figures['em_iterations']}")
            print(f"pairs     {figures['pairs'].line()}")  # type: ignore[attr-defined]
            print(f"clusters  {figures['clusters_exact'].line()}")  # type: ignore[attr-defined]
            print(f"wall {figures['wall_s']:.1f} s (phases {figures['phases']}), "
                  f"peak memory {figures['peak_mb']:.0f} MB")
            if "splink" in figures:
                sp = figures["splink"]
                assert isinstance(sp, dict)
                print(f"Splink    pairs {sp['pairs'].line()} (best at match probability "
                      f"{sp['threshold']})")
                print(f"Splink    clusters {sp['clusters_exact'].line()}")
                print(f"Splink    wall {sp['wall_s']:.1f} s, peak memory {sp['peak_mb']:.0f} MB")
        print("\n| households | NIK | records | candidate pairs | blocking recall | pair P | pair R "
              "| pair F1 | cluster P | cluster R | cluster F1 | wall s | peak MB |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for f in rows:
            p, c = f["pairs"], f["clusters_exact"]
            print(f"| {f['households']:,} | {'yes' if f['nik'] else 'no'} | {f['records']:,} | "
                  f"{f['candidate_pairs']:,} | {f['blocking_recall']:.4f} | {p.precision:.4f} | "  # type: ignore[attr-defined]
                  f"{p.recall:.4f} | {p.f1:.4f} | {c.precision:.4f} | {c.recall:.4f} | {c.f1:.4f} | "  # type: ignore[attr-defined]
                  f"{f['wall_s']:.0f} | {f['peak_mb']:.0f} |")
            if "splink" in f:
                sp = f["splink"]
                assert isinstance(sp, dict)
                p, c = sp["pairs"], sp["clusters_exact"]
                print(f"| (Splink) | {'yes' if f['nik'] else 'no'} | {f['records']:,} | - | - | "
                      f"{p.precision:.4f} | {p.recall:.4f} | {p.f1:.4f} | {c.precision:.4f} | "
                      f"{c.recall:.4f} | {c.f1:.4f} | {sp['wall_s']:.0f} | {sp['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
