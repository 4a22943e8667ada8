"""Drill 6: the media disk fills up during a tus upload.

SIGAP_MEDIA_DIR is a 1 MiB tmpfs mounted for the test (as root; otherwise the part file's
write is made to raise ENOSPC past the same budget, and the figure says "simulated"). A
1.5 MiB photo is sent in 128 KiB chunks: the chunk that does not fit gets 507 in the error
format with the last acknowledged Upload-Offset; HEAD agrees; the bytes acknowledged before
are intact on disk; no finished object exists. Once space is back (the tmpfs grown to 8 MiB)
the upload resumes from that offset and completes; the stored object is the whole file."""

from __future__ import annotations

import errno
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.auth.models import Role
from app.config import Settings
from app.media import storage
from tests import factories as f
from tests.conftest import Account, settings_for
from tests.faults.helpers import figure
from tests.media.tusutil import create, head, patch, payload, sha

CHUNK = 128 * 1024
SIZE = 1536 * 1024
BUDGET = 1024 * 1024


class Disk:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.real = False
        self.budget: int | None = None  # simulated: bytes the "disk" still takes


def _mount(args: list[str]) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    d = Disk(tmp_path / "media")
    d.path.mkdir()
    if os.geteuid() == 0 and _mount(["-t", "tmpfs", "-o", f"size={BUDGET // 1024}k", "tmpfs", str(d.path)]):
        d.real = True
        try:
            yield d
        finally:
            subprocess.run(["umount", "-l", str(d.path)], check=False)
        return
    d.budget = BUDGET
    original = storage.PartFile.write_at

    def write_at(self: storage.PartFile, data: bytes, position: int) -> None:
        grow = max(0, position + len(data) - self.size())
        if d.budget is not None and grow > d.budget:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(self, data, position)
        if d.budget is not None:
            d.budget -= grow

    monkeypatch.setattr(storage.PartFile, "write_at", write_at)
    yield d


def grow(d: Disk) -> None:
    if d.real:
        assert _mount(["-o", "remount,size=8m", str(d.path)])
    else:
        d.budget = None


@pytest.fixture
def settings(engine: Engine, disk: Disk) -> Settings:
    return settings_for(engine.url.render_as_string(hide_password=False), media_dir=disk.path,
                        media_max_bytes=4 * 1024 * 1024)


@pytest.fixture
def enumerator(make_account: Callable[..., Account]) -> Account:
    return make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))


def test_disk_full_during_upload(client: TestClient, enumerator: Account, disk: Disk, db_kind: str) -> None:
    started = time.monotonic()
    data = payload(SIZE, seed=7)
    headers = enumerator.headers
    url = str(create(client, headers, data).headers["Location"])
    acked, refused = 0, None
    for start in range(0, SIZE, CHUNK):
        r = patch(client, headers, url, start, data[start:start + CHUNK])
        if r.status_code != 204:
            refused = r
            break
        acked = int(r.headers["Upload-Offset"])
    assert refused is not None, "the disk never filled"
    assert refused.status_code == 507, refused.text
    body = refused.json()
    assert set(body) == {"error", "detail"} and body["error"] == "insufficient_storage"
    assert int(refused.headers["Upload-Offset"]) == acked and refused.headers.get("Retry-After")
    assert 0 < acked < SIZE
    assert int(head(client, headers, url).headers["Upload-Offset"]) == acked
    upload_id = uuid.UUID(url.rstrip("/").rsplit("/", 1)[-1])
    part = disk.path / "uploads" / f"{upload_id}.part"
    assert part.read_bytes()[:acked] == data[:acked], "acknowledged bytes damaged on disk"
    objects = disk.path / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*")), "a finished object"

    again = patch(client, headers, url, acked, data[acked:acked + CHUNK])  # still full: same answer
    assert again.status_code == 507 and int(again.headers["Upload-Offset"]) == acked

    grow(disk)
    offset = int(head(client, headers, url).headers["Upload-Offset"])
    assert offset == acked
    resumed = 0
    while offset < SIZE:
        r = patch(client, headers, url, offset, data[offset:offset + CHUNK])
        assert r.status_code == 204, r.text
        offset = int(r.headers["Upload-Offset"])
        resumed += 1
    stored = disk.path / "objects" / sha(data)[:2] / sha(data)
    assert stored.read_bytes() == data
    got = client.get(f"/media/{sha(data)}", headers=headers)
    assert got.status_code in (200, 403, 404)  # not linked yet: reading is the links' business
    figure("6 disk full during upload", db_kind,
           filesystem="tmpfs 1 MiB, grown to 8 MiB" if disk.real else "simulated ENOSPC (not root)",
           acknowledged_bytes_checked=acked, refused="507", resumed_chunks=resumed,
           corrupt_objects=0, lost=0, seconds=f"{time.monotonic() - started:.1f}")
