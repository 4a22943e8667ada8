"""What logging out costs every authenticated request: the revoked-token lookup that
``principal_from_token`` now makes, against the user lookup it always made, in the same run.

    .venv/bin/python bench/bench_auth.py                      # both engines
    .venv/bin/python bench/bench_auth.py --engines sqlite

A fresh migrated database per engine, 1,000 revoked tokens in it (a busy day of logouts), then,
round robin, ``--rounds`` times ``--calls`` lookups each in one read transaction: a token that
is NOT revoked (the common case, a miss), the user by primary key, and ``SELECT 1`` (the floor
of a round trip). Median microseconds per call, and the revoked lookup / user lookup ratio.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from rich.console import Console  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.auth import service  # noqa: E402
from app.auth.models import RevokedToken, User  # noqa: E402
from app.auth.security import hash_password  # noqa: E402
from app.db import build_engine, new_session, utcnow  # noqa: E402
from bench.bench_registry import DEFAULT_PG_URL, Databases  # noqa: E402

console = Console()


def measure(url: str, rounds: int, calls: int) -> dict[str, float]:
    engine = build_engine(url)
    try:
        with new_session(engine) as session:
            hashed = hash_password(secrets.token_hex(8))
            session.add(User(username="bench", password_hash=hashed, role="admin"))
            expires = utcnow() + timedelta(hours=8)
            session.add_all(RevokedToken(jti=secrets.token_hex(8), expires_at=expires) for _ in range(1000))
            session.commit()
        live = {"typ": "access", "jti": secrets.token_hex(8)}  # a token nobody logged out of
        figures: dict[str, Callable[[Session], object]] = {
            "revoked lookup": lambda s: service.is_revoked(s, live),
            "user lookup": lambda s: s.get(User, 1, populate_existing=True),
            "SELECT 1": lambda s: s.execute(text("SELECT 1")).all(),
        }
        times: dict[str, list[float]] = {name: [] for name in figures}
        for _ in range(rounds + 1):  # the first round warms up
            for name, fn in figures.items():
                with new_session(engine, read_only=True) as session:
                    fn(session)
                    started = time.perf_counter()
                    for _ in range(calls):
                        fn(session)
                    times[name].append((time.perf_counter() - started) / calls * 1e6)
        return {name: statistics.median(t[1:]) for name, t in times.items()}
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()
    console.print("engine | revoked lookup us | user lookup us | SELECT 1 us | revoked / user")
    for kind in args.engines.split(","):
        dbs = Databases(kind.strip(), args.pg_url)
        reason = dbs.check()
        if reason:
            console.print(f"[yellow]{kind}: skipped ({reason})[/]")
            continue
        try:
            r = measure(dbs.new("auth"), args.rounds, args.calls)
        finally:
            dbs.close()
        console.print(
            f"{kind} | {r['revoked lookup']:.0f} | {r['user lookup']:.0f} | {r['SELECT 1']:.0f} | "
            f"{r['revoked lookup'] / r['user lookup']:.2f}x",
            highlight=False,
        )


if __name__ == "__main__":
    main()
