"""``sigap-device`` commands, offline and against the fake server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from sync_protocol import cli
from sync_protocol.client import DeviceClient, RetryPolicy
from tests.sync_client.conftest import BASE, FakeServer, FakeTime, household

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables wide enough that ids and numbers are not wrapped."""
    monkeypatch.setattr(cli, "out", Console(width=200))
    monkeypatch.setattr(cli, "err", Console(stderr=True, width=200))


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, server: FakeServer, fake_time: FakeTime) -> FakeServer:
    """The CLI's clients talk to the fake server."""
    def make(path: Path, **kwargs: Any) -> DeviceClient:
        assert kwargs["retry"] == RetryPolicy(max_attempts=3, deadline=1800.0)
        return DeviceClient(path, transport=httpx.MockTransport(server.handler), sleep=fake_time.sleep,
                            rand=lambda: 0.5, clock=fake_time.clock, **kwargs)

    monkeypatch.setattr(cli, "DeviceClient", make)
    return server


def run(store: Path, *args: str, code: int = 0, **kwargs: Any) -> Result:
    result = runner.invoke(cli.app, ["--store", str(store), "--max-attempts", "3", *args], **kwargs)
    assert result.exit_code == code, result.output
    return result


def write(tmp_path: Path, name: str, value: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def enrol(store: Path) -> Result:
    return run(store, "enrol", "--server", BASE, "--username", "enum.hiri", "--device-id", "tab-hiri-007",
               env={"SIGAP_DEVICE_PASSWORD": "rahasia-panjang"})


class TestOffline:
    def test_create_edit_show_list_delete(self, store_path: Path, tmp_path: Path) -> None:
        out = run(store_path, "create", write(tmp_path, "hh.json", household())).output
        hid = out.split("Keluarga dicatat: ")[1].split()[0]
        assert "(2 anggota)" in out
        shown = json.loads(run(store_path, "show", "household", hid).output)
        assert shown["local_only"] is True and shown["data"]["kk_number"] == "8271011201260001"
        assert [m["data"]["full_name"] for m in shown["members"]] == ["Siti Hasan", "Rudi"]
        mid = shown["members"][1]["id"]
        change = write(tmp_path, "e.json", {"occupation": "nelayan"})
        assert "seq 2" in run(store_path, "edit", "member", mid, change).output
        assert "Tidak ada perubahan" in run(store_path, "edit", "member", mid, change).output
        added = run(store_path, "add-member", hid, write(tmp_path, "m.json", {
            "full_name": "Nur", "sex": "P", "relation": "child"})).output
        assert "Anggota dicatat" in added
        listing = run(store_path, "list").output
        assert re.search(rf"{hid}\s+82.71.07.1001\s+8271011201260001\s+Siti Hasan\s+3\s+baru", listing)
        with pytest.MonkeyPatch.context() as mp:  # a phone-sized terminal
            mp.setattr(cli, "out", Console(width=60))
            narrow = run(store_path, "list").output
        assert hid in narrow, narrow  # ids are never cut: enumerators copy them into commands
        assert "seq 4" in run(store_path, "delete", "household", hid).output
        assert "Keluarga di perangkat (0)" in run(store_path, "list").output
        status = run(store_path, "status").output
        assert re.search(r"Belum terkirim\s*│ 4 ", status)

    def test_bad_input_exits_1(self, store_path: Path, tmp_path: Path) -> None:
        bad = tmp_path / "bad.json"
        bad.write_text("{not json", encoding="utf-8")
        assert "JSON tidak sah" in run(store_path, "create", str(bad), code=1).output
        assert "tidak ada" in run(store_path, "show", "member", "8c1f5b1e-0000-4000-8000-000000000000",
                                  code=1).output
        no_members = write(tmp_path, "x.json", {"kelurahan_code": "82.71.07.1001", "members": []})
        assert "members" in run(store_path, "create", no_members, code=1).output
        assert "belum terdaftar" in run(store_path, "sync", code=1).output


class TestOnline:
    def test_enrol_and_sync(self, online: FakeServer, store_path: Path, tmp_path: Path) -> None:
        assert "tab-hiri-007" in enrol(store_path).output
        run(store_path, "create", write(tmp_path, "hh.json", household()))
        run(store_path, "create", write(tmp_path, "hh2.json", household(kk="8271011201260002")))
        online.overrides[2] = {"outcome": "rejected", "status": 422, "problems": [
            {"field": "kk_number", "rule": "kk_checksum", "message": "No. KK tidak sah"}]}
        online.fail("/sync/v1/push", 503)
        out = run(store_path, "sync").output
        assert "Terkirim: 2 perubahan (diterapkan 1, ditolak 1)" in out
        assert "Percobaan ulang: 1" in out and "1 hal perlu diperiksa" in out
        assert "HTTP 503: coba lagi dalam 0 dtk (percobaan 2/3)" in out
        status = run(store_path, "status").output
        assert "ditolak" in status and "No. KK tidak sah" in status
        assert "1 catatan dihapus" in run(store_path, "status", "--dismiss", "1").output
        assert "ditolak" not in run(store_path, "status").output

    def test_revoked_device_exits_2_with_the_servers_message(self, online: FakeServer,
                                                             store_path: Path) -> None:
        enrol(store_path)
        online.fail("/sync/v1/pull", httpx.Response(401, json={
            "error": "device_revoked", "detail": "Tablet dicabut: hubungi supervisor"}))
        out = run(store_path, "sync", code=2).output
        assert "Perangkat dicabut" in out and "Tablet dicabut: hubungi supervisor" in out

    def test_upgrade_required_exits_2(self, online: FakeServer, store_path: Path) -> None:
        enrol(store_path)
        online.fail("/sync/v1/pull", httpx.Response(426, json={
            "error": "unsupported_protocol_version", "detail": "x", "supported": [2]}))
        assert "Aplikasi harus diperbarui" in run(store_path, "sync", code=2).output

    def test_network_failure_exits_1_and_keeps_the_outbox(self, online: FakeServer, store_path: Path,
                                                          tmp_path: Path) -> None:
        enrol(store_path)
        run(store_path, "create", write(tmp_path, "hh.json", household()))
        online.fail("/sync/v1/push", "connect", "connect", "connect")
        assert "Jaringan gagal" in run(store_path, "sync", code=1).output
        assert re.search(r"Belum terkirim\s*│ 1 ", run(store_path, "status").output)

    def test_wrong_password_exits_1(self, online: FakeServer, store_path: Path) -> None:
        out = run(store_path, "enrol", "--server", BASE, "--username", "u", "--device-id", "tab-hiri-007",
                  "--password", "salah", code=1).output
        assert "Gagal masuk" in out
