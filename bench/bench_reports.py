"""The kecamatan x desil matrix on a Ternate-sized registry: the report vs ONE hand-written SQL.

    .venv/bin/python bench/bench_reports.py                                  # 1x: 60,000 families
    .venv/bin/python bench/bench_reports.py --scale 4                        # 4x
    .venv/bin/python bench/bench_reports.py --scale 0.2 --engines sqlite     # quick

For each engine a fresh database is migrated and loaded in bulk with the synthetic Ternate
families (app/reconcile/synthetic_registry.py, ~3.5 persons each); ``--official`` of them
(default 80%) get an official desil for 2026-Q1 and half of the rest a PMT estimate, so the
matrix has all three kinds of cell (official, ESTIMATE, belum ada desil). ``ANALYZE`` runs
once after loading (as autovacuum / a nightly job would). Then, in the same process and on the
same data, each measured ``--runs`` times, round robin (median, after one warm-up round):

- ``desil_matrix`` (families and persons): the function the API and the console call;
- ``GET /reports/desil-matrix`` through the ASGI app (TestClient: auth, JSON, all of it);
- the floor: ONE hand-written SQL aggregate computing the same matrix (latest official desil,
  else latest estimate, per kecamatan), whose result must equal the report's;
- the dashboard page ``GET /console`` (matrix, coverage, trend, checklist, HTML): counted
  afresh (``?refresh=1``, what the first reader after ``SIGAP_DASHBOARD_CACHE_SECONDS`` waits
  for) and as kept for the readers after it; a recount counts more than the matrix, so it is
  also compared with its own floor: the matrix SQL plus ONE hand-written statement of the
  checklist's counts per kelurahan (``CHECKLIST_SQL``), in one transaction.

The ratio report / floor is the figure of issue 8 (target: within 1.5x). The databases are
removed at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from rich.console import Console  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.auth.dependencies import SESSION_COOKIE  # noqa: E402
from app.auth.models import User  # noqa: E402
from app.auth.security import create_access_token, hash_password  # noqa: E402
from app.config import Environment, Settings  # noqa: E402
from app.db import build_engine, new_session, utcnow  # noqa: E402
from app.eligibility.store import DesilEstimate, DesilImport, FamilyDesil  # noqa: E402
from app.main import create_app  # noqa: E402
from app.reconcile import synthetic_registry  # noqa: E402
from app.registry.synthetic import load_kelurahan_codes  # noqa: E402
from app.reports.queries import Matrix, desil_matrix  # noqa: E402
from bench.bench_registry import DEFAULT_PG_URL, Databases  # noqa: E402

TERNATE_FAMILIES = 60_000
console = Console(width=200)

FLOOR_SQL = {
    "families": """
WITH official AS (
  SELECT household_id, desil, ROW_NUMBER() OVER (PARTITION BY household_id ORDER BY period DESC) AS rn
  FROM family_desil),
estimate AS (
  SELECT household_id, desil,
         ROW_NUMBER() OVER (PARTITION BY household_id ORDER BY computed_at DESC, id DESC) AS rn
  FROM desil_estimate)
SELECT kl.kecamatan_code,
       CASE WHEN o.household_id IS NOT NULL THEN o.desil ELSE e.desil END AS desil,
       COUNT(*) AS n
FROM household h
JOIN kelurahan kl ON kl.code = h.kelurahan_code
LEFT JOIN official o ON o.household_id = h.id AND o.rn = 1
LEFT JOIN estimate e ON e.household_id = h.id AND e.rn = 1
WHERE h.deleted_at IS NULL
GROUP BY kl.kecamatan_code, CASE WHEN o.household_id IS NOT NULL THEN o.desil ELSE e.desil END
""",
}
FLOOR_SQL["persons"] = (
    FLOOR_SQL["families"]
    .replace("COUNT(*) AS n", "SUM(pc.n) AS n")
    .replace(
        "WHERE h.deleted_at IS NULL",
        "JOIN (SELECT household_id, COUNT(*) AS n FROM member WHERE deleted_at IS NULL\n"
        "      GROUP BY household_id) pc ON pc.household_id = h.id\nWHERE h.deleted_at IS NULL",
    )
)

# What the dashboard's checklist counts, per kelurahan, by hand in ONE statement: families and
# verification, persons and Dukcapil checks, the latest change of households, official desil
# and estimates, pending appeals, targets, and the duplicate candidates city-wide. (Scoring
# counts decisions of the active rule set: the bench has none, so neither side counts them.)
CHECKLIST_SQL = """
WITH hh AS (
  SELECT kelurahan_code AS k,
         COUNT(*) FILTER (WHERE deleted_at IS NULL) AS families,
         COUNT(*) FILTER (WHERE deleted_at IS NULL
                          AND verification_status IN ('field_verified', 'dukcapil_matched')) AS verified,
         COUNT(*) FILTER (WHERE deleted_at IS NULL AND verification_status = 'rejected') AS rejected,
         MAX(updated_at) AS changed
  FROM household GROUP BY kelurahan_code),
pp AS (
  SELECT h.kelurahan_code AS k, COUNT(*) AS persons, COUNT(d.member_id) AS checked,
         COUNT(*) FILTER (WHERE d.status = 'matched') AS matched
  FROM member m JOIN household h ON h.id = m.household_id
  LEFT JOIN dukcapil_check d ON d.member_id = m.id
  WHERE h.deleted_at IS NULL AND m.deleted_at IS NULL GROUP BY h.kelurahan_code),
fd AS (SELECT h.kelurahan_code AS k, MAX(f.updated_at) AS changed
       FROM family_desil f JOIN household h ON h.id = f.household_id GROUP BY h.kelurahan_code),
de AS (SELECT h.kelurahan_code AS k, MAX(e.computed_at) AS changed
       FROM desil_estimate e JOIN household h ON h.id = e.household_id GROUP BY h.kelurahan_code),
ap AS (SELECT kelurahan_code AS k, COUNT(*) AS pending FROM appeal
       WHERE status NOT IN ('upheld', 'rejected') GROUP BY kelurahan_code)
SELECT kl.code, hh.families, hh.verified, hh.rejected, pp.persons, pp.checked, pp.matched,
       hh.changed, fd.changed, de.changed, ap.pending, t.families,
       (SELECT COUNT(*) FROM match_candidate WHERE status = 'pending'),
       (SELECT COUNT(*) FROM match_candidate WHERE status = 'merged')
FROM kelurahan kl
LEFT JOIN hh ON hh.k = kl.code LEFT JOIN pp ON pp.k = kl.code LEFT JOIN fd ON fd.k = kl.code
LEFT JOIN de ON de.k = kl.code LEFT JOIN ap ON ap.k = kl.code
LEFT JOIN kelurahan_target t ON t.kelurahan_code = kl.code
"""


def interleaved(figures: dict[str, Callable[[], Any]], runs: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Median seconds of each figure over ``runs`` rounds (after one warm-up round), and its result."""
    results = {name: fn() for name, fn in figures.items()}  # warm-up: plans, caches
    times: dict[str, list[float]] = {name: [] for name in figures}
    for _ in range(runs):
        for name, fn in figures.items():
            t0 = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}, results


def load(url: str, families: int, official: float, seed: int) -> tuple[int, int]:
    engine = build_engine(url)
    fams = synthetic_registry.families(families, seed=seed, kelurahan_codes=load_kelurahan_codes())
    with Session(engine) as session:
        loaded = synthetic_registry.load(session, fams)
        imp = DesilImport(file_name="bench.csv", sha256="0" * 64, period="2026-Q1", imported_by="bench")
        session.add(imp)
        session.flush()
        rng = random.Random(seed)
        ids = [f.household_id for f in fams]
        rng.shuffle(ids)
        cut = round(len(ids) * official)
        now = utcnow()
        desil_rows = [
            {
                "household_id": hid,
                "period": "2026-Q1",
                "desil": rng.randint(1, 10),
                "source": "bps",
                "import_id": imp.id,
                "row_number": i + 2,
                "updated_at": now,
            }
            for i, hid in enumerate(ids[:cut])
        ]
        rest = ids[cut:]
        estimate_rows = [
            {
                "household_id": hid,
                "model_version": "pmt-bench",
                "desil": rng.randint(1, 10),
                "contributions": [],
                "missing": [],
                "fingerprint": "bench",
                "computed_at": now - timedelta(days=1),
            }
            for hid in rest[: len(rest) // 2]
        ]
        for model, rows in ((FamilyDesil, desil_rows), (DesilEstimate, estimate_rows)):
            for start in range(0, len(rows), 5000):
                session.execute(insert(model), rows[start : start + 5000])
        session.commit()
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    engine.dispose()
    return loaded.households, loaded.members


def measure(kind: str, url: str, runs: int) -> dict[str, Any]:
    engine = build_engine(url)
    settings = Settings(
        environment=Environment.test,
        database_url=url,
        secret_key="bench-" + "x" * 40,
        log_json=False,
        log_level="WARNING",
    )
    with Session(engine) as session:
        user = User(username="bench-admin", password_hash=hash_password("bench password"), role="admin")
        session.add(user)
        session.commit()
        token, _ = create_access_token(settings=settings, user_id=user.id or 0, role="admin")
    out: dict[str, Any] = {"engine": kind}
    app = create_app(settings, engine=engine)
    headers = {"Authorization": f"Bearer {token}"}

    def floor(unit: str) -> list[Any]:
        with new_session(engine, read_only=True) as session:  # a GET request's kind of transaction
            return list(session.execute(text(FLOOR_SQL[unit])).all())

    def dashboard_floor() -> tuple[list[Any], list[Any]]:
        """The matrix and the checklist's counts by hand, in one transaction: the same
        database work as a dashboard recount, without the app around it."""
        with new_session(engine, read_only=True) as session:
            return (
                list(session.execute(text(FLOOR_SQL["families"])).all()),
                list(session.execute(text(CHECKLIST_SQL)).all()),
            )

    def report(unit: str) -> Matrix:
        with new_session(engine, read_only=True) as session:
            return desil_matrix(session, scope=None, unit=unit)

    with TestClient(app) as client:
        client.cookies.set(SESSION_COOKIE, token)  # the console's login, for the dashboard page
        figures: dict[str, Callable[[], Any]] = {
            "floor families": lambda: floor("families"),
            "floor dashboard": dashboard_floor,
            "report families": lambda: report("families"),
            "api families": lambda: client.get("/reports/desil-matrix", headers=headers),
            "floor persons": lambda: floor("persons"),
            "report persons": lambda: report("persons"),
            "xlsx publish": lambda: client.get(
                "/reports/desil-matrix?format=xlsx&publish=true", headers=headers
            ),
            # the whole dashboard: matrix, coverage, trend, checklist, rendered to HTML;
            # counted afresh (?refresh=1, as when its figures have expired), then the page as
            # the next reader within SIGAP_DASHBOARD_CACHE_SECONDS gets it
            "dashboard counted": lambda: client.get("/console?refresh=1"),
            "dashboard kept": lambda: client.get("/console"),
        }
        # round robin, so that a busy spell of the machine falls on every figure alike
        times, results = interleaved(figures, runs)
        for name in ("api families", "xlsx publish", "dashboard counted", "dashboard kept"):
            assert results[name].status_code == 200, results[name].text
        for unit in ("families", "persons"):
            expected: dict[tuple[str, str], int] = {}
            for kec, desil, n in results[f"floor {unit}"]:
                expected[(kec, "none" if desil is None else str(desil))] = int(n)
            m: Matrix = results[f"report {unit}"]
            got = {(r.code, k): v for r in m.rows for k, v in r.cells.items() if v}
            if got != expected:
                raise SystemExit(f"{kind}: the report and the hand-written SQL disagree ({unit})")
            out[unit] = {
                "report_s": times[f"report {unit}"],
                "floor_s": times[f"floor {unit}"],
                "total": m.total,
            }
        out["api_s"], out["xlsx_publish_s"] = times["api families"], times["xlsx publish"]
        out["dashboard_s"], out["dashboard_kept_s"] = times["dashboard counted"], times["dashboard kept"]
        out["dashboard_floor_s"] = times["floor dashboard"]
        _, checklist_rows = results["floor dashboard"]
        for unit, column in (("families", 1), ("persons", 4)):
            counted = sum(int(r[column] or 0) for r in checklist_rows)
            if counted != out[unit]["total"]:
                raise SystemExit(f"{kind}: the hand-written checklist counts {counted} {unit}, the matrix "
                                 f"{out[unit]['total']}")
    engine.dispose()
    return out


def run_engine(
    kind: str, families: int, official: float, seed: int, pg_url: str, runs: int
) -> dict[str, Any]:
    dbs = Databases(kind, pg_url)
    reason = dbs.check()
    if reason:
        console.print(f"[yellow]{kind}: skipped ({reason})[/]")
        return {}
    try:
        url = dbs.new("reports")
        started = time.perf_counter()
        households, members = load(url, families, official, seed)
        console.print(
            f"{kind}: loaded {households:,} households, {members:,} persons in "
            f"{time.perf_counter() - started:.0f} s"
        )
        result = measure(kind, url, runs)
        result.update(households=households, members=members)
        return result
    finally:
        dbs.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = Ternate, 60,000 families")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument(
        "--official", type=float, default=0.8, help="share of families with an official desil"
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs per figure (median)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()
    families = round(TERNATE_FAMILIES * args.scale)
    results = [
        r
        for kind in args.engines.split(",")
        if (r := run_engine(kind.strip(), families, args.official, args.seed, args.pg_url, args.runs))
    ]
    console.print(
        f"\nDesil matrix: {families:,} generated families (scale {args.scale}), median of {args.runs} runs"
    )
    header = (
        "engine",
        "households",
        "persons",
        "unit",
        "desil_matrix ms",
        "hand SQL ms",
        "ratio",
        "GET /reports/desil-matrix ms",
        "GET / hand SQL",
        "xlsx publish ms",
        "GET /console counted ms",
        "counted / hand SQL",
        "GET /console kept ms",
        "kept / hand SQL",
        "hand SQL matrix+checklist ms",
        "counted / that",
    )
    console.print(" | ".join(header))
    for r in results:
        for unit in ("families", "persons"):
            u = r[unit]
            api = r["api_s"] if unit == "families" else None
            console.print(
                " | ".join(
                    (
                        r["engine"],
                        f"{r['households']:,}",
                        f"{r['members']:,}",
                        unit,
                        f"{u['report_s'] * 1000:.1f}",
                        f"{u['floor_s'] * 1000:.1f}",
                        f"{u['report_s'] / u['floor_s']:.2f}x",
                        f"{api * 1000:.1f}" if api else "-",
                        f"{api / u['floor_s']:.2f}x" if api else "-",
                        f"{r['xlsx_publish_s'] * 1000:.1f}" if api else "-",
                        f"{r['dashboard_s'] * 1000:.1f}" if api else "-",
                        f"{r['dashboard_s'] / u['floor_s']:.2f}x" if api else "-",
                        f"{r['dashboard_kept_s'] * 1000:.1f}" if api else "-",
                        f"{r['dashboard_kept_s'] / u['floor_s']:.2f}x" if api else "-",
                        f"{r['dashboard_floor_s'] * 1000:.1f}" if api else "-",
                        f"{r['dashboard_s'] / r['dashboard_floor_s']:.2f}x" if api else "-",
                    )
                )
            )


if __name__ == "__main__":
    main()
