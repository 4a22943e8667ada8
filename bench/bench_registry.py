"""Registry benchmark: bulk create through the service layer vs a plain INSERT baseline,
keyset list pages (with member loading) and fuzzy name search, on SQLite and PostgreSQL.

    cd /work/main && .venv/bin/python bench/bench_registry.py                # 50,000 households
    cd /work/main && .venv/bin/python bench/bench_registry.py --households 2000 --engines sqlite

Every database is created by this script (SQLite: a temp directory; PostgreSQL: a fresh
database on the server of SIGAP_BENCH_POSTGRES_URL, default the one tests/conftest.py uses),
migrated with Alembic, loaded with Ternate's wilayah, and removed again at the end, also on
error or Ctrl-C.  See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import Engine, create_engine, func, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from app import migrate  # noqa: E402
from app.audit.models import AuditEntry  # noqa: E402
from app.db import build_engine, new_session, utcnow  # noqa: E402
from app.registry import present, repository, search  # noqa: E402
from app.registry.models import Household, KkHistory, Member  # noqa: E402
from app.registry.schemas import HouseholdCreate  # noqa: E402
from app.registry.service import create_household  # noqa: E402
from app.registry.synthetic import SyntheticRegistry  # noqa: E402
from app.seeding import SEED_ACTOR, SYSTEM_PRINCIPAL, load_wilayah  # noqa: E402

DEFAULT_PG_URL = os.environ.get(
    "SIGAP_BENCH_POSTGRES_URL",
    os.environ.get("SIGAP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
WILAYAH_CSV = PROJECT_ROOT / "seed_data" / "ternate_wilayah.csv"
KECAMATAN = "82.71.02"
SEARCH_NAMES = ("Siti Hamid", "Muhamad Sangaji", "nurhayati tomagola", "Hj. Fatma Umar",
                "Rizal")
# SEED_ACTOR (channel "import") makes every household source=import and, by default,
# verification_status=self_reported.  So that the verification_status filter selects a
# realistic share instead of all or nothing, the benchmark sets the status explicitly on
# each family before validation: 60 % self_reported, 30 % field_verified,
# 10 % dukcapil_matched, derived from the family's (deterministic) id.
STATUS_BY_DECILE = (["self_reported"] * 6) + (["field_verified"] * 3) + ["dukcapil_matched"]

console = Console()


# --------------------------------------------------------------------------- figures

@dataclass
class Figure:
    engine: str
    n: int
    name: str
    value: float | None
    unit: str
    note: str = ""


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)

    def add(self, engine: str, n: int, name: str, value: float | None, unit: str,
            note: str = "") -> None:
        self.figures.append(Figure(engine, n, name, value, unit, note))
        shown = "-" if value is None else _fmt(value)
        console.print(f"  [bold]{engine}[/] {escape(name)}: {shown} {unit} {escape(note)}".rstrip(),
                      highlight=False, soft_wrap=True)

    def table(self) -> str:
        header = ("engine", "N", "figure", "value", "unit", "ratio / note")
        rows = [header] + [
            (f.engine, str(f.n), f.name, "-" if f.value is None else _fmt(f.value), f.unit, f.note)
            for f in self.figures]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
        out = []
        for j, r in enumerate(rows):
            cells = [r[i].rjust(widths[i]) if i in (1, 3) else r[i].ljust(widths[i])
                     for i in range(len(widths))]
            out.append("  ".join(cells) + "  " + r[-1])
            if j == 0:
                out.append("  ".join("-" * w for w in widths) + "  " + "-" * 12)
        return "\n".join(line.rstrip() for line in out)


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=console.is_terminal)


class Ticker:
    """Plain progress lines when stdout is not a terminal (nohup > file), every ``step``."""

    def __init__(self, label: str, total: int, parts: int = 10) -> None:
        self.label, self.total = label, total
        self.step = max(1, total // parts)
        self.t0 = time.perf_counter()
        self.enabled = not console.is_terminal

    def __call__(self, done: int) -> None:
        if self.enabled and (done % self.step == 0 or done == self.total):
            console.print(f"    {self.label}: {done:,}/{self.total:,} "
                          f"({time.perf_counter() - self.t0:,.0f} s)", highlight=False)


# --------------------------------------------------------------------------- databases

class Databases:
    """Creates, and always removes, the benchmark databases of one engine kind."""

    def __init__(self, kind: str, pg_url: str) -> None:
        self.kind, self.pg_url = kind, pg_url
        self.cleanups: list[Callable[[], None]] = []
        self.tmp_dir: Path | None = None
        self.admin: Engine | None = None

    def check(self) -> str | None:
        """None if usable, else the reason (PostgreSQL unreachable)."""
        if self.kind == "sqlite":
            return None
        try:
            self.admin = create_engine(self.pg_url, isolation_level="AUTOCOMMIT",
                                       connect_args={"connect_timeout": 5})
            with self.admin.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            if self.admin is not None:
                self.admin.dispose()
                self.admin = None
            return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
        return None

    def new(self, label: str) -> str:
        """URL of a fresh, migrated database with the wilayah reference data loaded."""
        if self.kind == "sqlite":
            if self.tmp_dir is None:
                self.tmp_dir = Path(tempfile.mkdtemp(prefix="sigap-bench-"))
                tmp = self.tmp_dir
                self.cleanups.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
            url = f"sqlite:///{self.tmp_dir / f'{label}.db'}"
        else:
            assert self.admin is not None
            name = f"sigap_bench_{os.getpid()}_{label}_{secrets.token_hex(3)}"
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin = self.admin

            def drop(name: str = name) -> None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

            self.cleanups.append(drop)
            url = make_url(self.pg_url).set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url)
        engine = build_engine(url)
        try:
            with Session(engine) as session:
                load_wilayah(session, WILAYAH_CSV)
                session.commit()
        finally:
            engine.dispose()
        return url

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as exc:
                console.print(f"[red]cleanup failed: {exc}[/]")
        self.cleanups.clear()
        if self.admin is not None:
            self.admin.dispose()
            self.admin = None


# --------------------------------------------------------------------------- data

def families(n: int, seed: int) -> Iterator[dict[str, Any]]:
    for data in SyntheticRegistry(seed=seed).households(n):
        data["verification_status"] = STATUS_BY_DECILE[uuid.UUID(data["id"]).int % 10]
        yield data


HH_COLUMNS = [c.name for c in Household.__table__.columns]  # type: ignore[attr-defined]
MEMBER_COLUMNS = [c.name for c in Member.__table__.columns]  # type: ignore[attr-defined]


def baseline_rows(data: dict[str, Any], now: datetime
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The household and member rows the service would store, built without the ORM."""
    hh = dict.fromkeys(HH_COLUMNS)
    hh.update({k: v for k, v in data.items() if k != "members"})
    hh_id = uuid.UUID(data["id"])
    hh.update(id=hh_id, address=data.get("address") or "", source="import", version=1,
              created_at=now, updated_at=now)
    members = []
    for m in data["members"]:
        row = dict.fromkeys(MEMBER_COLUMNS)
        row.update(m)
        row.update(id=uuid.UUID(m["id"]), household_id=hh_id, alive=True, version=1,
                   birth_date=date.fromisoformat(m["birth_date"]) if m.get("birth_date") else None,
                   created_at=now, updated_at=now)
        members.append(row)
    return hh, members


# --------------------------------------------------------------------------- steps

@dataclass
class CreateResult:
    households: int
    members: int
    seconds: float
    validate_s: float
    service_s: float
    commit_s: float
    cpu_s: float


def bench_service_create(url: str, n: int, seed: int, commit_every: int) -> CreateResult:
    engine = build_engine(url)
    members = 0
    t_validate = t_service = t_commit = 0.0
    tick = Ticker("service create", n)
    cpu0 = time.process_time()
    try:
        with Session(engine, expire_on_commit=False) as session, progress_bar() as bar:
            task = bar.add_task("service create_household", total=n)
            for i, data in enumerate(families(n, seed), start=1):
                members += len(data["members"])
                t0 = time.perf_counter()
                validated = HouseholdCreate.model_validate(data)
                t1 = time.perf_counter()
                create_household(session=session, data=validated, actor=SEED_ACTOR,
                                 principal=SYSTEM_PRINCIPAL)
                t2 = time.perf_counter()
                t_validate += t1 - t0
                t_service += t2 - t1
                if i % commit_every == 0 or i == n:
                    session.commit()
                    t_commit += time.perf_counter() - t2
                    bar.update(task, completed=i)
                    tick(i)
    finally:
        engine.dispose()
    cpu = time.process_time() - cpu0  # includes generating the synthetic families
    return CreateResult(n, members, t_validate + t_service + t_commit,
                        t_validate, t_service, t_commit, cpu)


def bench_baseline(url: str, n: int, seed: int, commit_every: int, batch: int
                   ) -> tuple[int, float]:
    """executemany INSERT of the same household and member rows; returns (rows, seconds)."""
    engine = build_engine(url)
    hh_table = Household.__table__  # type: ignore[attr-defined]
    member_table = Member.__table__  # type: ignore[attr-defined]
    rows_written = 0
    seconds = 0.0
    tick = Ticker("baseline insert", n)
    try:
        with progress_bar() as bar:
            task = bar.add_task("baseline executemany", total=n)
            gen = families(n, seed)
            done = 0
            while done < n:
                chunk = [next(gen) for _ in range(min(commit_every, n - done))]
                now = utcnow()
                hh_rows: list[dict[str, Any]] = []
                m_rows: list[dict[str, Any]] = []
                for data in chunk:  # row building is not timed: it is not database work
                    hh, ms = baseline_rows(data, now)
                    hh_rows.append(hh)
                    m_rows.extend(ms)
                t0 = time.perf_counter()
                with engine.begin() as conn:
                    for start in range(0, len(hh_rows), batch):
                        conn.execute(hh_table.insert(), hh_rows[start:start + batch])
                    for start in range(0, len(m_rows), batch):
                        conn.execute(member_table.insert(), m_rows[start:start + batch])
                seconds += time.perf_counter() - t0
                rows_written += len(hh_rows) + len(m_rows)
                done += len(chunk)
                bar.update(task, completed=done)
                tick(done)
    finally:
        engine.dispose()
    return rows_written, seconds


def _count(session: Session, model: Any) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


@dataclass
class PageTimes:
    list_ms: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    households: int = 0


def walk_pages(engine: Engine, filters: repository.HouseholdFilter, pages: int, size: int,
               progress: Callable[[], None]) -> PageTimes:
    """Walk up to ``pages`` keyset pages the way GET /households does (one session each)."""
    out = PageTimes()
    after: tuple[datetime, uuid.UUID] | None = None
    for _ in range(pages):
        with new_session(engine, read_only=True) as session:  # what a GET request gets
            t0 = time.perf_counter()
            rows = repository.list_households(session, filters=filters, scope=None,
                                              after=after, limit=size + 1)
            t1 = time.perf_counter()
            page = rows[:size]
            present.households_public(session, page, SYSTEM_PRINCIPAL)
            t2 = time.perf_counter()
            if page:
                after = (page[-1].created_at, page[-1].id)
            session.rollback()
        out.list_ms.append((t1 - t0) * 1000)
        out.page_ms.append((t2 - t0) * 1000)
        out.households += len(page)
        progress()
        if len(rows) <= size:
            break
    return out


def pick_kelurahan(engine: Engine) -> str:
    """The kelurahan of kecamatan KECAMATAN with the most households (deterministic)."""
    with Session(engine) as session:
        stmt = (select(Household.kelurahan_code, func.count())
                .where(col(Household.kelurahan_code).startswith(KECAMATAN + "."))
                .group_by(Household.kelurahan_code)
                .order_by(func.count().desc(), Household.kelurahan_code))
        row = session.exec(stmt).first()
        session.rollback()
    return row[0] if row else KECAMATAN + ".1001"


def bench_reads(engine: Engine, kind: str, n: int, pages: int, size: int,
                search_repeats: int, report: Report) -> None:
    kelurahan = pick_kelurahan(engine)
    cases = [
        ("no filter", repository.HouseholdFilter()),
        (f"kecamatan={KECAMATAN}", repository.HouseholdFilter(kecamatan_code=KECAMATAN)),
        (f"kelurahan={kelurahan}", repository.HouseholdFilter(kelurahan_code=kelurahan)),
        ("verification_status=field_verified",
         repository.HouseholdFilter(verification_status="field_verified")),
        ("source=import", repository.HouseholdFilter(source="import")),
    ]
    results: list[tuple[str, PageTimes]] = []
    with progress_bar() as bar:
        task = bar.add_task("list pages", total=pages * len(cases))
        for label, filters in cases:
            before = bar.tasks[0].completed
            times = walk_pages(engine, filters, pages, size, lambda: bar.advance(task))
            # a filter that runs out of rows early: count the skipped pages as done
            bar.update(task, completed=before + pages)
            results.append((label, times))
    for label, t in results:
        note = f"{len(t.page_ms)} pages, {t.households:,} households"
        report.add(kind, n, f"page [{label}] list+members median", statistics.median(t.page_ms),
                   "ms", note)
        report.add(kind, n, f"page [{label}] list+members p95", p95(t.page_ms), "ms")
        report.add(kind, n, f"page [{label}] list only median", statistics.median(t.list_ms),
                   "ms", f"p95 {_fmt(p95(t.list_ms))} ms")
        depth = len(t.list_ms)
        if depth >= 20:
            first = statistics.median(t.list_ms[:10])
            last = statistics.median(t.list_ms[-10:])
            report.add(kind, n, f"page [{label}] list only, last 10 / first 10 pages",
                       last / first if first else None, "x",
                       f"first {_fmt(first)} ms, last {_fmt(last)} ms")

    timings: list[float] = []
    hits: dict[str, int] = {}
    with progress_bar() as bar:
        task = bar.add_task("search.by_name", total=len(SEARCH_NAMES) * search_repeats)
        for _ in range(search_repeats):
            for name in SEARCH_NAMES:
                with new_session(engine, read_only=True) as session:
                    t0 = time.perf_counter()
                    found = search.by_name(session, name, SYSTEM_PRINCIPAL, limit=20)
                    timings.append((time.perf_counter() - t0) * 1000)
                    session.rollback()
                hits[name] = len(found)
                bar.advance(task)
    report.add(kind, n, "search.by_name median", statistics.median(timings), "ms",
               f"{len(timings)} calls, names {', '.join(repr(k) for k in SEARCH_NAMES)}; "
               f"max {_fmt(max(timings))} ms")


def run_engine(kind: str, args: argparse.Namespace, report: Report) -> None:
    n = args.households
    console.rule(f"[bold]{kind}[/]  N={n:,}")
    dbs = Databases(kind, args.pg_url)
    reason = dbs.check()
    if reason is not None:
        msg = f"SKIPPED: {kind} not reachable at {args.pg_url} ({reason})"
        console.print(f"[yellow]{escape(msg)}[/]", highlight=False, soft_wrap=True)
        report.add(kind, n, "SKIPPED", None, "", f"not reachable at {args.pg_url}: {reason}")
        return
    try:
        # 1. service layer
        console.print("  creating database for the service run ...")
        url = dbs.new("service")
        res = bench_service_create(url, n, args.seed, args.commit_every)
        hh_rate = res.households / res.seconds
        member_rate = res.members / res.seconds
        svc_rows_rate = (res.households + res.members) / res.seconds
        report.add(kind, n, "service create: households/s", hh_rate, "hh/s",
                   f"{res.members:,} members, {res.seconds:,.1f} s total, "
                   f"commit every {args.commit_every}")
        report.add(kind, n, "service create: members/s", member_rate, "rows/s")
        report.add(kind, n, "service create: household+member rows/s", svc_rows_rate, "rows/s")
        report.add(kind, n, "service create: ms per household", 1000 * res.seconds / n, "ms",
                   f"validate {1000 * res.validate_s / n:.2f} + create_household "
                   f"{1000 * res.service_s / n:.2f} + commit {1000 * res.commit_s / n:.2f}")
        report.add(kind, n, "service create: benchmark process CPU per household",
                   1000 * res.cpu_s / n, "ms", "wall time minus this = waiting (DB server, I/O, "
                   "other load); includes ~0.2 ms of data generation")
        engine = build_engine(url)
        try:
            with Session(engine) as session:
                counts = {m.__name__: _count(session, m)
                          for m in (Household, Member, KkHistory, AuditEntry)}
                session.rollback()
            assert counts["Household"] == n and counts["Member"] == res.members, counts
            all_rows = sum(counts.values())
            report.add(kind, n, "service create: all rows written/s", all_rows / res.seconds,
                       "rows/s", "incl. " + ", ".join(f"{v:,} {k}" for k, v in counts.items()
                                                      if k in ("KkHistory", "AuditEntry")))
            if kind == "postgresql" and not args.no_analyze:
                # autovacuum would do this within a minute of a 50k load; do it explicitly so
                # the planner sees the real table sizes
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("ANALYZE"))

            # 2. baseline in a second fresh database of the same engine
            console.print("  creating database for the executemany baseline ...")
            base_url = dbs.new("baseline")
            rows, seconds = bench_baseline(base_url, n, args.seed, args.commit_every,
                                           args.batch)
            base_rate = rows / seconds
            report.add(kind, n, "baseline executemany: household+member rows/s", base_rate,
                       "rows/s", f"{rows:,} rows, {seconds:,.1f} s, batches of {args.batch}")
            report.add(kind, n, "ratio service/baseline (rows/s)", svc_rows_rate / base_rate, "x",
                       f"baseline is {base_rate / svc_rows_rate:,.1f}x faster")
            if kind == "sqlite" and dbs.tmp_dir is not None:
                for suffix in ("", "-wal", "-shm"):
                    Path(str(dbs.tmp_dir / "baseline.db") + suffix).unlink(missing_ok=True)

            # 3. reads over the data set of step 1
            gc.collect()
            bench_reads(engine, kind, n, args.pages, args.page_size, args.search_repeats, report)
        finally:
            engine.dispose()
    finally:
        dbs.close()
        console.print(f"  {kind}: benchmark databases removed")


def git_revision() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        head = subprocess.run([git, "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,  # noqa: S603
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run([git, "status", "--porcelain", "--", "app", "migrations"],  # noqa: S603
                               cwd=PROJECT_ROOT, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (app/ or migrations/ modified)" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=50_000,
                        help="households to create (default 50,000; ~4 members each)")
    parser.add_argument("--engines", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql (default both)")
    parser.add_argument("--pages", type=int, default=200,
                        help="max keyset pages walked per filter (default 200)")
    parser.add_argument("--page-size", type=int, default=50, help="households per page (50)")
    parser.add_argument("--commit-every", type=int, default=1000,
                        help="households per transaction in the create runs (1000)")
    parser.add_argument("--batch", type=int, default=1000,
                        help="rows per executemany in the baseline (1000)")
    parser.add_argument("--seed", type=int, default=2026, help="SyntheticRegistry seed")
    parser.add_argument("--search-repeats", type=int, default=3,
                        help="times each search name is timed (3)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL,
                        help="PostgreSQL server (a user that may CREATE DATABASE); default "
                             "$SIGAP_BENCH_POSTGRES_URL or the tests' server")
    parser.add_argument("--no-analyze", action="store_true",
                        help="do not ANALYZE PostgreSQL after the bulk load")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - {"sqlite", "postgresql"}
    if unknown or not engines:
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown)) or '(none)'}")
    if args.households < 1:
        parser.error("--households must be at least 1")

    started = datetime.now()
    console.print(f"Sigap registry benchmark  {started:%Y-%m-%d %H:%M}  python "
                  f"{platform.python_version()}  {platform.machine()} {os.cpu_count()} cpu  "
                  f"N={args.households:,}  engines={','.join(engines)}  pages={args.pages}  "
                  f"git {git_revision()}",
                  highlight=False, soft_wrap=True)
    report = Report()
    failed = False
    try:
        for kind in engines:
            try:
                run_engine(kind, args, report)
            except Exception:
                failed = True
                console.print_exception()
                report.add(kind, args.households, "FAILED", None, "", "see the traceback above")
    except KeyboardInterrupt:
        failed = True
        console.print("[red]interrupted: figures so far below[/]")
    finally:
        elapsed = (datetime.now() - started).total_seconds()
        console.rule("figures")
        console.print(report.table(), highlight=False, soft_wrap=True, markup=False)
        console.print(f"wall time {elapsed / 60:.1f} min", highlight=False)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
