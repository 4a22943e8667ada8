"""Drill 5: the database goes away under load.

A real ``sigap serve`` process (PostgreSQL) with writers (POST /households, each a household
and three members: not idempotent) and readers (GET /households) running while the database
drops every connection:
(a) on the shared PostgreSQL: ``pg_terminate_backend`` of every connection to the drill's
    database, repeatedly (what the app sees when the server restarts; restarting the shared
    cluster would disturb the other tests running on this machine);
(b) on a private PostgreSQL cluster (initdb + pg_ctl from the machine's binaries, in a
    temporary directory, run as the ``postgres`` user): a real ``pg_ctl restart -m immediate``
    (a crash of the database server, recovery from its WAL) twice under load.
Every answer must be a 2xx or a 503 with Retry-After in the ``{"error","detail"}`` format,
never a 500; every 201 must be in the database, whole; no household is half written (all
three members or none); the service recovers by itself (no restart of Sigap) and the audit
chain verifies (the server's own sealer thread resumed and sealed everything written since).
SQLite has no database server to restart: skipped with a message."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from app.db import build_engine
from app.registry.models import Household
from tests.conftest import pg_admin_engine
from tests.factories import HIRI_FAUDU, household
from tests.faults.helpers import Server, audit_verified, figure, free_port, ok, scalar

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "rahasia-panjang-sekali"
WRITERS, READERS = 4, 2


class Load:
    """Writers and readers against the server until stopped; every answer classified."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base, self.headers = base, headers
        self.stop = threading.Event()
        self.answers: Counter[str] = Counter()
        self.acked: list[str] = []       # 201: household ids
        self.unclear: list[str] = []     # 503 or a dropped connection: KK numbers, written or not
        self.bad: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._write, daemon=True) for _ in range(WRITERS)]
        self.threads += [threading.Thread(target=self._read, daemon=True) for _ in range(READERS)]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def _classify(self, r: httpx.Response) -> str:
        if r.status_code < 300:
            return str(r.status_code)
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code == 503 and isinstance(body, dict) and set(body) == {"error", "detail"} \
                and r.headers.get("Retry-After"):
            return f"503 {body['error']}"
        with self.lock:
            self.bad.append(f"{r.status_code} {r.text[:300]}")
        return f"BAD {r.status_code}"

    def _write(self) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=30) as http:
            while not self.stop.is_set():
                data = household(HIRI_FAUDU)
                try:
                    r = http.post("/households", json=data)
                except httpx.TransportError as exc:
                    with self.lock:
                        self.answers[f"transport {type(exc).__name__}"] += 1
                        self.unclear.append(data["kk_number"])
                    continue
                kind = self._classify(r)
                with self.lock:
                    self.answers[kind] += 1
                    if r.status_code == 201:
                        self.acked.append(r.json()["id"])
                    else:
                        self.unclear.append(data["kk_number"])
                if r.status_code == 503:
                    time.sleep(0.2)

    def _read(self) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=30) as http:
            while not self.stop.is_set():
                try:
                    r = http.get("/households", params={"kelurahan": HIRI_FAUDU, "limit": 20})
                except httpx.TransportError as exc:
                    with self.lock:
                        self.answers[f"read transport {type(exc).__name__}"] += 1
                    continue
                kind = self._classify(r)
                with self.lock:
                    self.answers[f"read {kind}"] += 1
                if r.status_code == 503:
                    time.sleep(0.2)


def recovered(server: Server, headers: dict[str, str], timeout: float = 30) -> float:
    """Seconds until a write succeeds again, then ten more in a row must."""
    started = time.monotonic()
    with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
        while http.post("/households", json=household(HIRI_FAUDU)).status_code != 201:
            assert time.monotonic() - started < timeout, "the service did not recover by itself"
            time.sleep(0.2)
        took = time.monotonic() - started
        for _ in range(10):
            r = http.post("/households", json=household(HIRI_FAUDU))
            assert r.status_code == 201, r.text
    return took


def sealer_resumed(url: str, timeout: float = 20) -> None:
    """Background work resumes: the server's own audit sealer (every second here) seals what
    was written since the outage, without help from the CLI."""
    engine = build_engine(url)
    try:
        deadline = time.monotonic() + timeout
        while scalar(engine, "SELECT COUNT(*) FROM audit_log WHERE chain_seq IS NULL"):
            assert time.monotonic() < deadline, "the server's audit sealer did not resume"
            time.sleep(0.3)
        assert scalar(engine, "SELECT COUNT(*) FROM audit_log") > 0
    finally:
        engine.dispose()


def drill(url: str, tmp_path: Path, disrupt: Callable[[], None], rounds: int) -> tuple[Load, float, Server]:
    server = Server(url, tmp_path / "server.log", SIGAP_AUDIT_SEAL_SECONDS="1", SIGAP_DB_POOL_SIZE="6",
                    SIGAP_DB_POOL_TIMEOUT="3")
    server.start()
    try:
        token = httpx.post(f"{server.base}/auth/token", data={"username": "admin1", "password": PASSWORD}
                           ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        with Load(server.base, headers) as load:
            time.sleep(1.0)
            for _ in range(rounds):
                disrupt()
                time.sleep(1.0)
        took = recovered(server, headers)
        assert server.proc is not None and server.proc.poll() is None, "the server died"
        sealer_resumed(url)
    finally:
        server.stop()
    return load, took, server


def check(url: str, load: Load) -> int:
    assert not load.bad, f"answers that are neither 2xx nor a clean 503: {load.bad[:5]}"
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            ids = {str(i) for i in conn.execute(text("SELECT id FROM household")).scalars()}
            kks = set(conn.execute(select(Household.kk_number)).scalars())  # opened: sealed at rest
        lost = [h for h in load.acked if h not in ids and h.replace("-", "") not in ids]
        assert not lost, f"acknowledged households lost: {lost[:5]}"
        half = scalar(engine, "SELECT COUNT(*) FROM household h WHERE (SELECT COUNT(*) FROM member m "
                              "WHERE m.household_id = h.id) <> 3")
        assert half == 0, "a household was half written"
        assert len(kks) == len(ids), "a household was written twice"
    finally:
        engine.dispose()
    return sum(1 for k in load.unclear if k in kks)


def prepare() -> None:
    ok("migrate")
    ok("seed")
    ok("users", "create", "admin1", "admin", "--password", PASSWORD)


def test_connections_terminated_under_load(database_url: str, db_kind: str, tmp_path: Path) -> None:
    if db_kind != "postgresql":
        pytest.skip("SQLite: no database server whose connections could drop (a file in the process)")
    started = time.monotonic()
    prepare()
    admin = pg_admin_engine()
    assert admin is not None
    name = database_url.rsplit("/", 1)[-1]
    terminated = 0

    def disrupt() -> None:
        nonlocal terminated
        with admin.connect() as conn:
            terminated += len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d "
                "AND pid <> pg_backend_pid()"), {"d": name}).all())

    load, took, _ = drill(database_url, tmp_path, disrupt, rounds=5)
    written_of_unclear = check(database_url, load)
    audit_verified()
    figure("5a connections terminated", db_kind, rounds=5, connections_terminated=terminated,
           answers=dict(load.answers), acknowledged_checked=len(load.acked),
           unclear_then_found_whole=f"{written_of_unclear}/{len(load.unclear)}", server_500=0, lost=0,
           recovered_after=f"{took:.1f}s", seconds=f"{time.monotonic() - started:.1f}")


@pytest.fixture
def private_cluster(db_kind: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """A PostgreSQL cluster of this test's own (port, data directory), and its restart."""
    if db_kind != "postgresql":
        pytest.skip("SQLite: no database server to restart")
    if not (PG_BIN / "initdb").exists() or os.geteuid() != 0:
        pytest.skip(f"no {PG_BIN}/initdb or not root: the real restart drill was NOT run")
    home = Path(tempfile.mkdtemp(prefix="sigap-pg-"))
    shutil.chown(home, "postgres")
    home.chmod(0o755)
    data, port = home / "data", free_port()
    as_pg = ["runuser", "-u", "postgres", "--"]

    def pg_ctl(*args: str) -> None:
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(home / "pg.log"),
                        "-w", "-t", "60", *args], check=True, capture_output=True)

    subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync"], check=True, capture_output=True)
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1"
    pg_ctl("-o", options, "start")
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        eng = create_engine(url, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text("CREATE DATABASE drill"))
        eng.dispose()
        yield (url.rsplit("/", 1)[0] + "/drill",
               lambda: pg_ctl("-o", options, "-m", "immediate", "restart"))
    finally:
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_database_server_restarted_under_load(private_cluster: tuple[str, Callable[[], None]],
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.config import get_settings

    started = time.monotonic()
    url, restart = private_cluster
    monkeypatch.setenv("SIGAP_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        prepare()
        restarts = itertools.count()

        def disrupt() -> None:
            restart()
            next(restarts)

        load, took, _ = drill(url, tmp_path, disrupt, rounds=2)
        written_of_unclear = check(url, load)
        audit_verified()
    finally:
        get_settings.cache_clear()
    figure("5b pg_ctl restart -m immediate", "postgresql (private cluster)", restarts=next(restarts),
           answers=dict(load.answers), acknowledged_checked=len(load.acked),
           unclear_then_found_whole=f"{written_of_unclear}/{len(load.unclear)}", server_500=0, lost=0,
           recovered_after=f"{took:.1f}s", seconds=f"{time.monotonic() - started:.1f}")


def test_which_database_errors_mean_unavailable() -> None:
    """The rule behind drill 5's 503s (app.errors.is_unavailable), without a server."""
    import sqlite3

    import psycopg
    from sqlalchemy.exc import OperationalError

    from app.errors import is_unavailable

    def wrap(orig: Exception, invalidated: bool = False) -> OperationalError:
        return OperationalError("SELECT 1", {}, orig, connection_invalidated=invalidated)

    assert is_unavailable(wrap(psycopg.errors.AdminShutdown("terminating connection")))
    assert is_unavailable(wrap(psycopg.OperationalError("connection refused")))
    assert is_unavailable(wrap(sqlite3.OperationalError("x"), invalidated=True))
    assert not is_unavailable(wrap(sqlite3.OperationalError("no such table: household")))
    assert not is_unavailable(wrap(psycopg.errors.DeadlockDetected("deadlock")))
