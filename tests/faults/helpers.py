"""Shared by the fault drills: real processes (uvicorn, the ``sigap`` CLI) started, killed with
SIGKILL and restarted; a one-line figure per drill; the audit chain sealed and verified."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[2]


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "SIGAP_DATABASE_URL": database_url, "SIGAP_LOG_JSON": "false",
            "COLUMNS": "250", **extra}


def sigap(database_url: str, *args: object, check: bool = True, timeout: float = 120,
          **extra: str) -> subprocess.CompletedProcess[str]:
    """``sigap ARGS`` as its own process (it commits, it can be killed)."""
    done = subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], cwd=ROOT,
                          env=cli_env(database_url, **extra), capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert done.returncode == 0, f"sigap {args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def spawn(database_url: str, *args: object, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "app.cli", *map(str, args)], cwd=ROOT,
                                env=cli_env(database_url, **extra), stdout=out, stderr=subprocess.STDOUT)


def sigkill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no handler, no atexit, no rollback sent; the database sees a dead client."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def ok(*args: object) -> str:
    """``sigap ARGS`` in this process (setup and checks; the ``database_url`` fixture has set
    SIGAP_DATABASE_URL): no interpreter start-up to pay."""
    from typer.testing import CliRunner

    from app.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def audit_verified() -> str:
    """Seal what is unsealed, then recompute the whole chain (exit 0 or the test fails)."""
    ok("audit", "seal")
    return ok("audit", "verify")


def scalar(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one() or 0)


def figure(drill: str, engine_kind: str, **numbers: object) -> None:
    """The drill's one-line figure (pytest -s shows it; -rA keeps it in the report)."""
    parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in numbers.items())
    print(f"\nFAULT DRILL {drill} [{engine_kind}]: {parts}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``sigap serve`` on a fixed port, killed and restarted at will."""

    def __init__(self, database_url: str, log: Path, **extra: str) -> None:
        self.database_url = database_url
        self.log = log
        self.extra = extra
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 40) -> None:
        self.proc = spawn(self.database_url, "serve", "--port", self.port, log=self.log, **self.extra)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, f"server exited early:\n{self.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None:
            sigkill(self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                sigkill(self.proc)
