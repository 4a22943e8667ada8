"""The `sigap` CLI and the README's run path, end to end against a real uvicorn process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from app.cli import cli

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


class TestCommands:
    def test_migrate_seed_users(self, database_url: str) -> None:
        invoke("migrate")
        out = invoke("seed", "--demo", "15")
        assert "8 kecamatan, 78 kelurahan" in out and "15 new families" in out
        assert "0 new families (15 already present)" in invoke("seed", "--demo", "15")
        out = invoke("users", "demo")
        assert "admin" in out and re.search(r"demo-\S+", out)

    def test_users_create_validates(self, database_url: str) -> None:
        invoke("migrate")
        invoke("seed")
        ok = runner.invoke(cli, ["users", "create", "spv.moti", "supervisor", "--password",
                                 "long-enough-pw", "--kecamatan", "82.71.04"])
        assert ok.exit_code == 0, ok.output
        bad = runner.invoke(cli, ["users", "create", "enum.x", "enumerator", "--password",
                                  "long-enough-pw"])
        assert bad.exit_code == 2 and "at least one assigned kelurahan" in bad.output
        short = runner.invoke(cli, ["users", "create", "enum.y", "dinsos", "--password", "short"])
        assert short.exit_code == 2 and "password" in short.output

    def test_migrate_down_and_up(self, database_url: str) -> None:
        invoke("migrate")
        assert "schema at None" in invoke("migrate", "base", "--down")
        assert "schema at None" not in invoke("migrate")


class TestOpenapiCommand:
    def test_check_passes_on_the_committed_file_and_fails_on_a_stale_one(
            self, tmp_path: Path) -> None:
        assert runner.invoke(cli, ["openapi", "--check"]).exit_code == 0
        stale = tmp_path / "openapi.json"
        stale.write_text("{}")
        result = runner.invoke(cli, ["openapi", "--check", "--path", str(stale)])
        assert result.exit_code == 1 and "out of date" in " ".join(result.output.split())  # rich wraps


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestServeEndToEnd:
    """What a newcomer does: migrate, seed, demo users, serve; then log in and list by kecamatan."""

    def test_demo_admin_lists_households_by_kecamatan(self, database_url: str) -> None:
        invoke("migrate")
        invoke("seed", "--demo", "40")
        password = re.search(r"demo-\S+", invoke("users", "demo"))
        assert password
        port = _free_port()
        env = {**os.environ, "SIGAP_DATABASE_URL": database_url, "SIGAP_LOG_JSON": "true"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, "server exited early"
                assert time.monotonic() < deadline, "server did not become ready"
                time.sleep(0.2)
            assert httpx.get(f"{base}/docs").status_code == 200
            token = httpx.post(f"{base}/auth/token", data={
                "username": "admin", "password": password.group(0)}).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            kecamatan = httpx.get(f"{base}/wilayah/kecamatan", headers=headers).json()
            total = 0
            for kec in kecamatan:
                r = httpx.get(f"{base}/households", params={"kecamatan": kec["code"],
                                                            "limit": 500}, headers=headers)
                assert r.status_code == 200
                assert all(h["kecamatan_code"] == kec["code"] for h in r.json()["data"])
                total += r.json()["count"]
            assert total == 40
        finally:
            proc.terminate()
            output, _ = proc.communicate(timeout=10)
        # the access log is JSON and never carries a raw NIK
        assert '"path": "/households"' in output
        assert not re.search(r"(?<!\d)\d{16}(?!\d)", output)
