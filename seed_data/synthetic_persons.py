"""Synthetic Ternate persons with injected duplicates and the truth (evaluation data).

A thin entry point; the generator is app/reconcile/synthetic.py and the error models are
documented in docs/reconciliation.md. The same as `sigap dedup synth`:

    .venv/bin/python seed_data/synthetic_persons.py --households 60000 --out persons.csv --truth truth.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.cli import cli

if __name__ == "__main__":
    cli(["dedup", "synth", *sys.argv[1:]])
