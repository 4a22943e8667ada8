"""tus 1.0 endpoints through the app (TestClient): creation, offsets, checksums, ownership."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.auth.security import create_device_token
from app.config import Settings
from app.media.models import MediaObject, MediaUpload
from app.sync.models import Device
from tests import factories as f
from tests.conftest import Account
from tests.media.tusutil import TUS, create, head, metadata, patch, payload, sha, upload


def upload_row(db: Session, url: str) -> MediaUpload:
    row = db.get(MediaUpload, uuid.UUID(url.rsplit("/", 1)[1]), populate_existing=True)
    assert row is not None
    return row


def part_file(media_dir: Path, url: str) -> Path:
    return media_dir / "uploads" / f"{url.rsplit('/', 1)[1]}.part"


def object_files(media_dir: Path) -> list[Path]:
    return sorted(p for p in (media_dir / "objects").rglob("*") if p.is_file())


def objects_in_db(db: Session) -> int:
    return int(db.exec(select(func.count()).select_from(MediaObject)).one())


class TestDiscoveryAndVersion:
    def test_options_advertises_protocol_and_limits(self, client: TestClient, enumerator: Account,
                                                     settings: Settings) -> None:
        r = client.options("/sync/v1/media", headers=enumerator.headers)
        assert r.status_code == 204, r.text
        assert r.headers["Tus-Resumable"] == "1.0.0"
        assert r.headers["Tus-Version"] == "1.0.0"
        assert r.headers["Tus-Extension"] == "creation,checksum,termination"
        assert r.headers["Tus-Max-Size"] == str(1024 * 1024)
        assert r.headers["Tus-Checksum-Algorithm"] == "sha256"
        assert r.headers["Sigap-Max-Chunk-Size"] == str(settings.max_body_bytes) == "2097152"

    def test_missing_tus_resumable_is_412(self, client: TestClient, enumerator: Account,
                                          db: Session) -> None:
        data = payload(100)
        r = client.post("/sync/v1/media", headers={
            **enumerator.headers, "Upload-Length": "100",
            "Upload-Metadata": metadata(sha256=sha(data), kind="house_photo",
                                        content_type="image/jpeg")})
        assert r.status_code == 412, r.text
        assert r.json()["error"] == "precondition_failed"
        assert "Tus-Resumable: 1.0.0" in r.json()["detail"]
        assert r.headers["Tus-Version"] == "1.0.0" and r.headers["Tus-Resumable"] == "1.0.0"
        assert db.exec(select(func.count()).select_from(MediaUpload)).one() == 0

    def test_other_version_is_412_on_patch(self, client: TestClient, enumerator: Account) -> None:
        url = create(client, enumerator.headers, payload(10)).headers["Location"]
        r = client.patch(url, content=b"x", headers={
            **enumerator.headers, "Tus-Resumable": "0.2.2", "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream"})
        assert r.status_code == 412 and "'Tus-Resumable: 0.2.2'" in r.json()["detail"]

    def test_errors_carry_tus_resumable(self, client: TestClient) -> None:
        r = client.head(f"/sync/v1/media/{uuid.uuid4()}", headers=TUS)
        assert r.status_code == 401
        assert r.headers["Tus-Resumable"] == "1.0.0" and r.headers["Cache-Control"] == "no-store"

    def test_roles_without_household_write_cannot_upload(
            self, client: TestClient, make_account: Callable[..., Account]) -> None:
        supervisor = make_account(Role.supervisor, kecamatan="82.71.07")
        r = create(client, supervisor.headers, payload(10), expect=403)
        assert r.json()["error"] == "forbidden"


class TestCreation:
    def test_creates_upload_row_and_audits(self, client: TestClient, enumerator: Account,
                                           db: Session, household_id: uuid.UUID) -> None:
        data = payload(1000)
        r = create(client, enumerator.headers, data, filename="rumah.jpg",
                   household_id=str(household_id), kind="consent_form", content_type="application/pdf")
        url = r.headers["Location"]
        assert url.startswith("/sync/v1/media/") and r.headers["Tus-Resumable"] == "1.0.0"
        row = upload_row(db, url)
        assert (row.upload_length, row.upload_offset, row.status) == (1000, 0, "uploading")
        assert (row.sha256, row.kind, row.content_type) == (sha(data), "consent_form", "application/pdf")
        assert (row.filename, row.household_id, row.created_by) == (
            "rumah.jpg", household_id, enumerator.user.id)
        audit = db.exec(select(AuditEntry).where(AuditEntry.entity_id == str(row.id))).one()
        assert (audit.entity_type, audit.action) == ("media_upload", "create")
        assert audit.changes["sha256"] == [None, sha(data)]

    def test_device_token_records_the_device(self, client: TestClient, enumerator: Account,
                                             db: Session, settings: Settings) -> None:
        db.add(Device(id="tab-hiri-007", user_id=enumerator.user.id or 0, label="Tablet Hiri 7"))
        db.commit()
        token, _ = create_device_token(settings=settings, user_id=enumerator.user.id or 0,
                                       role="enumerator", device_id="tab-hiri-007")
        r = create(client, {"Authorization": f"Bearer {token}"}, payload(10))
        assert upload_row(db, r.headers["Location"]).device_id == "tab-hiri-007"

    def test_filetype_is_accepted_for_content_type_and_hash_is_lowercased(
            self, client: TestClient, enumerator: Account, db: Session) -> None:
        data = payload(10)
        r = client.post("/sync/v1/media", headers={
            **enumerator.headers, **TUS, "Upload-Length": "10",
            "Upload-Metadata": metadata(sha256=sha(data).upper(), kind="house_photo",
                                        filetype="image/png")})
        assert r.status_code == 201, r.text
        row = upload_row(db, r.headers["Location"])
        assert (row.sha256, row.content_type) == (sha(data), "image/png")

    def test_over_size_length_is_413(self, client: TestClient, enumerator: Account) -> None:
        r = client.post("/sync/v1/media", headers={
            **enumerator.headers, **TUS, "Upload-Length": str(1024 * 1024 + 1),
            "Upload-Metadata": metadata(sha256="a" * 64, kind="house_photo", content_type="image/jpeg")})
        assert r.status_code == 413, r.text
        assert r.json()["error"] == "payload_too_large" and "1048576" in r.json()["detail"]

    def test_exactly_the_limit_is_accepted(self, client: TestClient, enumerator: Account) -> None:
        r = client.post("/sync/v1/media", headers={
            **enumerator.headers, **TUS, "Upload-Length": str(1024 * 1024),
            "Upload-Metadata": metadata(sha256="a" * 64, kind="house_photo", content_type="image/jpeg")})
        assert r.status_code == 201, r.text

    def test_missing_length_and_deferred_length_are_400(self, client: TestClient,
                                                        enumerator: Account) -> None:
        meta = metadata(sha256="a" * 64, kind="house_photo", content_type="image/jpeg")
        r = client.post("/sync/v1/media", headers={**enumerator.headers, **TUS, "Upload-Metadata": meta})
        assert r.status_code == 400 and "Upload-Length header is required" in r.json()["detail"]
        r = client.post("/sync/v1/media", headers={**enumerator.headers, **TUS, "Upload-Metadata": meta,
                                                   "Upload-Defer-Length": "1"})
        assert r.status_code == 400 and "Upload-Defer-Length" in r.json()["detail"]

    def test_metadata_problems_name_each_field(self, client: TestClient, enumerator: Account,
                                               db: Session) -> None:
        r = client.post("/sync/v1/media", headers={
            **enumerator.headers, **TUS, "Upload-Length": "10",
            "Upload-Metadata": metadata(kind="house_photo", content_type="application/pdf",
                                        household_id="nope")})
        assert r.status_code == 422, r.text
        assert [(p["field"], p["rule"]) for p in r.json()["detail"]] == [
            ("sha256", "sha256_hex"), ("content_type", "media_content_type"), ("household_id", "uuid")]
        assert db.exec(select(func.count()).select_from(MediaUpload)).one() == 0

    def test_malformed_metadata_is_400(self, client: TestClient, enumerator: Account) -> None:
        r = client.post("/sync/v1/media", headers={
            **enumerator.headers, **TUS, "Upload-Length": "10", "Upload-Metadata": "kind a b c"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_tus_request"

    def test_household_outside_the_area_is_403(self, client: TestClient, db: Session,
                                                make_account: Callable[..., Account],
                                                household_id: uuid.UUID) -> None:
        moti = make_account(Role.enumerator, kelurahan=(f.MOTI_KELURAHAN,))
        r = create(client, moti.headers, payload(10), household_id=str(household_id), expect=403)
        assert r.json()["error"] == "out_of_area"
        assert db.exec(select(func.count()).select_from(MediaUpload)).one() == 0

    def test_unknown_household_is_404(self, client: TestClient, enumerator: Account) -> None:
        r = create(client, enumerator.headers, payload(10), household_id=str(uuid.uuid4()), expect=404)
        assert r.json()["error"] == "not_found"


class TestOffsets:
    def test_head_reports_offset_and_length_uncached(self, client: TestClient,
                                                      enumerator: Account) -> None:
        data = payload(1000)
        url = create(client, enumerator.headers, data).headers["Location"]
        assert patch(client, enumerator.headers, url, 0, data[:300]).status_code == 204
        r = head(client, enumerator.headers, url)
        assert r.status_code == 200
        assert (r.headers["Upload-Offset"], r.headers["Upload-Length"]) == ("300", "1000")
        assert r.headers["Cache-Control"] == "no-store" and r.headers["Tus-Resumable"] == "1.0.0"

    def test_wrong_offset_is_409_with_the_right_one(self, client: TestClient, enumerator: Account,
                                                    media_dir: Path, db: Session) -> None:
        data = payload(1000)
        url = create(client, enumerator.headers, data).headers["Location"]
        assert patch(client, enumerator.headers, url, 0, data[:400]).status_code == 204
        r = patch(client, enumerator.headers, url, 100, data[100:500])
        assert r.status_code == 409, r.text
        assert r.headers["Upload-Offset"] == "400"
        assert r.json()["error"] == "offset_mismatch"
        assert r.json()["detail"]["upload_offset"] == 400
        assert upload_row(db, url).upload_offset == 400
        assert part_file(media_dir, url).read_bytes() == data[:400]

    def test_wrong_content_type_is_415(self, client: TestClient, enumerator: Account) -> None:
        url = create(client, enumerator.headers, payload(10)).headers["Location"]
        r = client.patch(url, content=b"x", headers={
            **enumerator.headers, **TUS, "Upload-Offset": "0", "Content-Type": "image/jpeg"})
        assert r.status_code == 415 and "application/offset+octet-stream" in r.json()["detail"]

    def test_chunk_past_upload_length_is_413_and_stores_nothing(
            self, client: TestClient, enumerator: Account, db: Session) -> None:
        data = payload(100)
        url = create(client, enumerator.headers, data).headers["Location"]
        r = patch(client, enumerator.headers, url, 0, data + b"extra")
        assert r.status_code == 413, r.text
        assert upload_row(db, url).upload_offset == 0

    def test_unknown_upload_is_404(self, client: TestClient, enumerator: Account) -> None:
        assert head(client, enumerator.headers, f"/sync/v1/media/{uuid.uuid4()}").status_code == 404
        assert head(client, enumerator.headers, "/sync/v1/media/not-a-uuid").status_code == 404

    def test_crash_after_write_before_commit_is_cut_off(
            self, client: TestClient, enumerator: Account, media_dir: Path, db: Session) -> None:
        """Bytes on disk past the recorded offset were never acknowledged: dropped on resume."""
        data = payload(3000)
        url = create(client, enumerator.headers, data).headers["Location"]
        assert patch(client, enumerator.headers, url, 0, data[:1000]).status_code == 204
        with part_file(media_dir, url).open("ab") as part:
            part.write(b"\xff" * 5000)  # written, then the process died before the commit
        assert head(client, enumerator.headers, url).headers["Upload-Offset"] == "1000"
        r = patch(client, enumerator.headers, url, 1000, data[1000:2000])
        assert r.status_code == 204 and r.headers["Upload-Offset"] == "2000"
        assert part_file(media_dir, url).read_bytes() == data[:2000]
        assert patch(client, enumerator.headers, url, 2000, data[2000:]).status_code == 204
        assert upload_row(db, url).status == "complete"
        assert (media_dir / "objects" / sha(data)[:2] / sha(data)).read_bytes() == data

    def test_part_shorter_than_offset_rewinds(self, client: TestClient, enumerator: Account,
                                              media_dir: Path, db: Session) -> None:
        data = payload(2000)
        url = create(client, enumerator.headers, data).headers["Location"]
        assert patch(client, enumerator.headers, url, 0, data[:1500]).status_code == 204
        os.truncate(part_file(media_dir, url), 600)  # the disk lost acknowledged bytes
        r = patch(client, enumerator.headers, url, 1500, data[1500:])
        assert r.status_code == 409 and r.headers["Upload-Offset"] == "600"
        assert upload_row(db, url).upload_offset == 600
        assert patch(client, enumerator.headers, url, 600, data[600:]).status_code == 204
        assert upload_row(db, url).status == "complete"

    def test_busy_upload_is_423(self, client: TestClient, enumerator: Account,
                                media_dir: Path, db: Session) -> None:
        data = payload(100)
        url = create(client, enumerator.headers, data).headers["Location"]
        assert patch(client, enumerator.headers, url, 0, data[:10]).status_code == 204
        fd = os.open(part_file(media_dir, url), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # another request is writing
            r = patch(client, enumerator.headers, url, 10, data[10:])
            assert r.status_code == 423 and r.json()["error"] == "upload_locked"
        finally:
            os.close(fd)
        assert upload_row(db, url).upload_offset == 10
        assert patch(client, enumerator.headers, url, 10, data[10:]).status_code == 204


def chunk_checksum(chunk: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(chunk).digest()).decode()


class TestChecksums:
    def test_chunk_checksum_accepted(self, client: TestClient, enumerator: Account) -> None:
        data = payload(500)
        url = create(client, enumerator.headers, data).headers["Location"]
        r = patch(client, enumerator.headers, url, 0, data[:200], **{
            "Upload-Checksum": chunk_checksum(data[:200])})
        assert r.status_code == 204 and r.headers["Upload-Offset"] == "200"

    def test_chunk_checksum_mismatch_is_460_and_offset_unchanged(
            self, client: TestClient, enumerator: Account, media_dir: Path, db: Session) -> None:
        data = payload(500)
        url = create(client, enumerator.headers, data).headers["Location"]
        assert patch(client, enumerator.headers, url, 0, data[:100]).status_code == 204
        corrupted = data[100:300][:-1] + b"\x00"
        r = patch(client, enumerator.headers, url, 100, corrupted,
                  **{"Upload-Checksum": chunk_checksum(data[100:300])})
        assert r.status_code == 460, r.text
        assert r.json()["error"] == "checksum_mismatch" and "from offset 100" in r.json()["detail"]
        assert r.headers["Upload-Offset"] == "100" and r.headers["Tus-Resumable"] == "1.0.0"
        assert head(client, enumerator.headers, url).headers["Upload-Offset"] == "100"
        assert upload_row(db, url).upload_offset == 100
        assert part_file(media_dir, url).read_bytes() == data[:100]

    def test_unsupported_checksum_algorithm_is_400(self, client: TestClient,
                                                   enumerator: Account) -> None:
        url = create(client, enumerator.headers, payload(10)).headers["Location"]
        r = patch(client, enumerator.headers, url, 0, b"x", **{"Upload-Checksum": "sha1 AAAA"})
        assert r.status_code == 400 and "'sha1' is not supported" in r.json()["detail"]

    def test_wrong_declared_sha256_is_460_and_nothing_is_stored(
            self, client: TestClient, enumerator: Account, media_dir: Path, db: Session) -> None:
        data = payload(5000)
        url = create(client, enumerator.headers, data, sha256=sha(b"something else")).headers["Location"]
        assert patch(client, enumerator.headers, url, 0, data[:4000]).status_code == 204
        r = patch(client, enumerator.headers, url, 4000, data[4000:])
        assert r.status_code == 460, r.text
        assert r.json()["error"] == "checksum_mismatch" and sha(data) in r.json()["detail"]
        assert r.headers["Tus-Resumable"] == "1.0.0"
        row = upload_row(db, url)
        assert row.status == "failed" and row.completed_at is None
        assert not part_file(media_dir, url).exists()
        assert object_files(media_dir) == [] and objects_in_db(db) == 0
        audit = db.exec(select(AuditEntry).where(AuditEntry.entity_id == str(row.id),
                                                 AuditEntry.action == "update")).one()
        assert audit.changes["status"] == ["uploading", "failed"]
        again = head(client, enumerator.headers, url)
        assert again.status_code == 410
        assert patch(client, enumerator.headers, url, 4000, data[4000:]).status_code == 410


class TestCompletion:
    def test_multi_chunk_upload_is_stored_under_its_hash(
            self, client: TestClient, enumerator: Account, media_dir: Path, db: Session) -> None:
        data = payload(200_000)
        url = upload(client, enumerator.headers, data, chunk=64 * 1024)
        row = upload_row(db, url)
        assert (row.status, row.upload_offset) == ("complete", 200_000)
        assert row.completed_at is not None
        assert object_files(media_dir) == [media_dir / "objects" / sha(data)[:2] / sha(data)]
        assert object_files(media_dir)[0].read_bytes() == data
        assert not part_file(media_dir, url).exists()
        obj = db.get(MediaObject, sha(data))
        assert obj is not None and (obj.size, obj.content_type) == (200_000, "image/jpeg")
        r = head(client, enumerator.headers, url)
        assert (r.status_code, r.headers["Upload-Offset"]) == (200, "200000")
        again = patch(client, enumerator.headers, url, 200_000, b"")
        assert again.status_code == 409 and again.headers["Upload-Offset"] == "200000"

    def test_same_file_twice_is_stored_once(self, client: TestClient, enumerator: Account,
                                            admin: Account, media_dir: Path, db: Session) -> None:
        data = payload(3000)
        first = upload(client, enumerator.headers, data)
        second = upload(client, admin.headers, data, kind="consent_form", content_type="image/png")
        assert upload_row(db, first).status == upload_row(db, second).status == "complete"
        assert len(object_files(media_dir)) == 1 and objects_in_db(db) == 1
        assert not part_file(media_dir, second).exists()
        obj = db.get(MediaObject, sha(data))
        assert obj is not None and obj.content_type == "image/jpeg"  # the first upload's


class TestOwnershipAndTermination:
    def test_another_user_cannot_touch_an_upload(self, client: TestClient, enumerator: Account,
                                                 make_account: Callable[..., Account],
                                                 media_dir: Path, db: Session) -> None:
        other = make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))
        data = payload(100)
        url = create(client, enumerator.headers, data).headers["Location"]
        assert patch(client, enumerator.headers, url, 0, data[:50]).status_code == 204
        r = patch(client, other.headers, url, 50, data[50:])
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        assert head(client, other.headers, url).status_code == 403
        assert client.delete(url, headers={**other.headers, **TUS}).status_code == 403
        assert upload_row(db, url).upload_offset == 50
        assert part_file(media_dir, url).read_bytes() == data[:50]

    def test_delete_terminates(self, client: TestClient, enumerator: Account, media_dir: Path,
                               db: Session) -> None:
        data = payload(100)
        url = create(client, enumerator.headers, data).headers["Location"]
        assert patch(client, enumerator.headers, url, 0, data[:50]).status_code == 204
        r = client.delete(url, headers={**enumerator.headers, **TUS})
        assert r.status_code == 204 and r.headers["Tus-Resumable"] == "1.0.0"
        assert not part_file(media_dir, url).exists()
        upload_id = url.rsplit("/", 1)[1]
        assert db.get(MediaUpload, uuid.UUID(upload_id), populate_existing=True) is None
        assert head(client, enumerator.headers, url).status_code == 404
        audit = db.exec(select(AuditEntry).where(AuditEntry.entity_id == upload_id,
                                                 AuditEntry.action == "delete")).one()
        assert audit.entity_type == "media_upload"

    def test_delete_of_a_complete_upload_keeps_the_object(
            self, client: TestClient, enumerator: Account, media_dir: Path, db: Session) -> None:
        data = payload(100)
        url = upload(client, enumerator.headers, data)
        assert client.delete(url, headers={**enumerator.headers, **TUS}).status_code == 204
        assert object_files(media_dir)[0].read_bytes() == data and objects_in_db(db) == 1
