"""The real tus client (tuspy) against a real server (uvicorn on a loopback port)."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session
from tusclient import client as tus_client
from tusclient.exceptions import TusUploadFailed
from tusclient.uploader import Uploader

from app.audit.service import ActorRef
from app.auth import repository as auth_repository
from app.auth import service as auth_service
from app.auth.models import User
from app.auth.security import create_access_token
from app.config import Settings
from app.main import create_app
from app.media import service
from app.media.models import MediaUpload
from tests import factories as f
from tests.conftest import password_hash, reference_database, settings_for
from tests.media.tusutil import TUS, payload, sha

CHUNK = 64 * 1024


class Sha256Uploader(Uploader):
    """tuspy sends sha1 chunk checksums by default; this server speaks sha256."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


@dataclass
class Live:
    base: str
    port: int
    engine: Engine
    settings: Settings
    media_dir: Path
    enumerator: User
    headers: dict[str, str]  # the enumerator's
    admin_headers: dict[str, str]

    def tus(self) -> tus_client.TusClient:
        return tus_client.TusClient(f"{self.base}/sync/v1/media", headers=dict(self.headers))

    def offset(self, url: str) -> int:
        r = httpx.head(url, headers={**self.headers, **TUS})
        assert r.status_code == 200, r.status_code
        return int(r.headers["Upload-Offset"])

    def row(self, url: str) -> MediaUpload:
        with Session(self.engine) as s:
            row = s.get(MediaUpload, uuid.UUID(url.rsplit("/", 1)[1]))
            assert row is not None
            return row


@pytest.fixture
def live(db_kind: str, tmp_path: Path) -> Iterator[Live]:
    with reference_database(db_kind, tmp_path, pool_size=10) as eng:
        settings = settings_for(eng.url.render_as_string(hide_password=False),
                                media_dir=tmp_path / "media")
        with Session(eng) as s:
            admin = auth_repository.add_user(
                s, User(username="root", password_hash=password_hash(), role="admin"), ())
            enumerator = auth_repository.add_user(s, User(
                username="enum.faudu", password_hash=password_hash(), role="enumerator"),
                (f.HIRI_FAUDU,))
            s.commit()
            tokens = [create_access_token(settings=settings, user_id=u.id or 0, role=u.role)[0]
                      for u in (admin, enumerator)]
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=eng), lifespan="off",
                                               ws="none", log_config=None, access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        try:
            yield Live(base=f"http://127.0.0.1:{port}", port=port, engine=eng, settings=settings,
                       media_dir=tmp_path / "media", enumerator=enumerator,
                       headers={"Authorization": f"Bearer {tokens[1]}"},
                       admin_headers={"Authorization": f"Bearer {tokens[0]}"})
        finally:
            server.should_exit = True
            thread.join(15)
            sock.close()


def photo_metadata(data: bytes) -> dict[str, str]:
    return {"sha256": sha(data), "kind": "house_photo", "content_type": "image/jpeg",
            "filename": "rumah.jpg"}


def link_and_fetch(live: Live, data: bytes) -> httpx.Response:
    """Attach the stored file to a Faudu household (as the sync push would), then GET it."""
    r = httpx.post(f"{live.base}/households", json=f.household(), headers=live.admin_headers)
    assert r.status_code == 201, r.text
    with Session(live.engine) as s:
        principal = auth_service.principal_for(session=s, user=live.enumerator,
                                               settings=live.settings)
        service.link_media(session=s, link_id=uuid.uuid4(), household_id=uuid.UUID(r.json()["id"]),
                           sha256=sha(data), kind="house_photo", principal=principal,
                           actor=ActorRef(user_id=principal.user_id, name="enum.faudu",
                                          channel="enumerator"))
        s.commit()
    return httpx.get(f"{live.base}/media/{sha(data)}", headers=live.headers)


class TestTuspy:
    def test_multi_chunk_upload_resumed_by_a_new_uploader(self, live: Live) -> None:
        data = payload(300 * 1024, seed=3)
        first = Sha256Uploader(file_stream=io.BytesIO(data), client=live.tus(), chunk_size=CHUNK,
                               metadata=photo_metadata(data), upload_checksum=True)
        first.upload(stop_at=2 * CHUNK)  # two chunks, then the tablet loses its signal
        assert first.url is not None and first.url.startswith(f"{live.base}/sync/v1/media/")
        assert first.offset == 2 * CHUNK == live.offset(first.url)
        part = live.media_dir / "uploads" / f"{first.url.rsplit('/', 1)[1]}.part"
        assert part.read_bytes() == data[:2 * CHUNK]

        # the app restarts: a new uploader knows only the URL and asks the server (HEAD)
        resumed = Sha256Uploader(file_stream=io.BytesIO(data), url=first.url, client=live.tus(),
                                 chunk_size=CHUNK, upload_checksum=True)
        assert resumed.offset == 2 * CHUNK
        resumed.upload()
        assert resumed.offset == len(data)

        row = live.row(first.url)
        assert (row.status, row.upload_offset, row.sha256) == ("complete", len(data), sha(data))
        stored = live.media_dir / "objects" / sha(data)[:2] / sha(data)
        assert stored.read_bytes() == data and not part.exists()

        r = link_and_fetch(live, data)
        assert r.status_code == 200, r.text
        assert r.content == data
        assert r.headers["etag"] == f'"{sha(data)}"' and r.headers["content-type"] == "image/jpeg"

    def test_wrong_declared_hash_fails_with_460(self, live: Live) -> None:
        data = payload(100 * 1024, seed=4)
        uploader = live.tus().uploader(file_stream=io.BytesIO(data), chunk_size=CHUNK,
                                       metadata={**photo_metadata(data), "sha256": sha(b"other")})
        with pytest.raises(TusUploadFailed) as err:
            uploader.upload()
        assert err.value.status_code == 460
        assert b"checksum_mismatch" in (err.value.response_content or b"")
        assert live.row(str(uploader.url)).status == "failed"
        assert not (live.media_dir / "objects").exists()

    def test_sha1_chunk_checksums_are_refused_clearly(self, live: Live) -> None:
        data = payload(1000, seed=5)
        uploader = live.tus().uploader(file_stream=io.BytesIO(data), metadata=photo_metadata(data),
                                       upload_checksum=True)  # tuspy's default: sha1
        with pytest.raises(TusUploadFailed) as err:
            uploader.upload()
        assert err.value.status_code == 400
        assert b"'sha1' is not supported" in (err.value.response_content or b"")


class TestDroppedConnection:
    def test_bytes_before_a_drop_are_kept_and_the_rest_resumes(self, live: Live) -> None:
        data = payload(200 * 1024, seed=6)
        uploader = Sha256Uploader(file_stream=io.BytesIO(data), client=live.tus(), chunk_size=CHUNK,
                                  metadata=photo_metadata(data))
        uploader.upload(stop_at=CHUNK)
        url = str(uploader.url)
        sent = 40_000
        with socket.create_connection(("127.0.0.1", live.port)) as conn:
            path = url.removeprefix(live.base)
            conn.sendall((
                f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\n"
                f"Authorization: {live.headers['Authorization']}\r\nTus-Resumable: 1.0.0\r\n"
                f"Upload-Offset: {CHUNK}\r\nContent-Type: application/offset+octet-stream\r\n"
                f"Content-Length: {CHUNK}\r\n\r\n").encode() + data[CHUNK:CHUNK + sent])
            time.sleep(0.5)  # the server has read what was sent; then the link dies
        deadline = time.monotonic() + 10
        while live.offset(url) == CHUNK and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.offset(url) == CHUNK + sent

        resumed = Sha256Uploader(file_stream=io.BytesIO(data), url=url, client=live.tus(),
                                 chunk_size=CHUNK, upload_checksum=True)
        assert resumed.offset == CHUNK + sent
        resumed.upload()
        assert live.row(url).status == "complete"
        r = link_and_fetch(live, data)
        assert r.status_code == 200 and r.content == data
