"""The same synthetic file through Splink (DuckDB backend), for comparison with bench_reconcile.

Splink is not a project dependency: run this with the interpreter of a separate venv, e.g.

    python3 -m venv bench/.splink-venv
    bench/.splink-venv/bin/pip install 'splink>=4.0,<5' pandas
    bench/.splink-venv/bin/python bench/bench_splink.py --persons persons.csv --output splink.csv

and score ``splink.csv`` (record_id, cluster_id) with the same evaluation as our engine
(``bench_reconcile.py --splink-python bench/.splink-venv/bin/python`` does all of it).

The Splink model is a reasonable one written the way its documentation suggests: names lower
cased without punctuation (Splink has no Indonesian name rules), Jaro-Winkler on the full name
with term-frequency adjustment, Splink's date-of-birth comparison, exact NIK (Levenshtein
levels on NIK made relatives look alike), exact kelurahan and sex (KK and phone only as
blocking rules: as comparisons they made every family look like one person); u from 10
million random pairs; the prior from deterministic rules; m by EM in two sessions (blocked
on birth date, then on the name); clusters at match probabilities 0.5, 0.8 and 0.95 (one
file each: ``OUTPUT_0.5.csv`` ...; the benchmark reports the best of them, chosen with the
truth, which our engine does not get).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import time
from pathlib import Path


def peak_mb() -> float:
    """Peak resident memory since exec (VmHWM; see bench_reconcile.peak_mb)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--thresholds", default="0.5,0.8,0.95",
                        help="match probabilities to cluster at; one output file each")
    args = parser.parse_args()

    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    started = time.perf_counter()
    df = pd.read_csv(args.persons, dtype=str, keep_default_na=False)
    df = df.replace({"": None})
    df["full_name"] = df["full_name"].map(
        lambda s: " ".join(re.sub(r"[^a-z ]", " ", s.lower()).split()) if s else None)
    has_nik = df["nik"].notna().any()

    comparisons = [
        cl.JaroWinklerAtThresholds("full_name", [0.95, 0.88]).configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison("birth_date", input_is_string=True),
        cl.ExactMatch("sex"),
        # one place column: Splink's guidance is to avoid columns predictable from each other,
        # and KK, phone and kelurahan all say "same family" (they remain blocking rules)
        cl.ExactMatch("kelurahan_code"),
    ]
    rules = [block_on("kk_number"), block_on("phone"),
             block_on("birth_date", "substr(full_name, 1, 2)"),
             block_on("kelurahan_code", "substr(full_name, 1, 4)")]
    deterministic = [block_on("full_name", "birth_date")]
    if has_nik:
        # exact only: Levenshtein levels on NIK rate relatives alike (twins' NIKs differ in
        # one serial digit, parents' and children's in a few birth digits)
        comparisons.insert(0, cl.ExactMatch("nik"))
        rules = [block_on("nik"), block_on("substr(nik, 1, 12)"), *rules]
        deterministic = [block_on("nik"), *deterministic]
    settings = SettingsCreator(link_type="dedupe_only", unique_id_column_name="record_id",
                               comparisons=comparisons, blocking_rules_to_generate_predictions=rules)
    linker = Linker(df, settings, db_api=DuckDBAPI())
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("full_name"))
    thresholds = [float(t) for t in args.thresholds.split(",")]
    predictions = linker.inference.predict(threshold_match_probability=min(thresholds))
    for threshold in thresholds:
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold).as_pandas_dataframe()
        clusters[["record_id", "cluster_id"]].to_csv(
            args.output.with_name(f"{args.output.stem}_{threshold:g}{args.output.suffix}"), index=False)
    print(json.dumps({"wall_s": time.perf_counter() - started,
                      "peak_mb": peak_mb(),
                      "predicted_pairs": int(
                          predictions.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0])}))


if __name__ == "__main__":
    main()
