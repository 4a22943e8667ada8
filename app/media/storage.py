"""Files on disk: ``uploads/<id>.part`` while receiving, ``objects/<aa>/<sha256>`` once verified.

A part file is written only by the holder of its ``flock`` (one writer per upload across
workers of one host; ``media_dir`` must not be split between replicas).  Data is fsynced
before the database records the new offset, so the recorded offset never runs ahead of
the disk; bytes past it (a crash between write and commit) are cut off on the next PATCH.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.media.errors import UploadLocked

_BLOCK = 1024 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PartFile:
    """An open, exclusively locked part file."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def truncate(self, size: int) -> None:
        os.ftruncate(self.fd, size)

    def write_at(self, data: bytes, position: int) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, position)
            view, position = view[written:], position + written

    def sync(self) -> None:
        os.fsync(self.fd)

    def sha256(self) -> str:
        digest, position = hashlib.sha256(), 0
        while block := os.pread(self.fd, _BLOCK, position):
            digest.update(block)
            position += len(block)
        return digest.hexdigest()


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.uploads = root / "uploads"
        self.objects = root / "objects"

    def part_path(self, upload_id: uuid.UUID) -> Path:
        return self.uploads / f"{upload_id}.part"

    def object_path(self, sha256: str) -> Path:
        return self.objects / sha256[:2] / sha256

    @contextmanager
    def open_part(self, upload_id: uuid.UUID) -> Iterator[PartFile]:
        """The part file (created empty if missing), locked for this request only."""
        self.uploads.mkdir(parents=True, exist_ok=True)
        path = self.part_path(upload_id)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UploadLocked("another request is still writing this upload (perhaps one the "
                                   "network dropped): retry in a few seconds") from None
            if os.fstat(fd).st_size == 0:
                _fsync_dir(self.uploads)  # the new file's name is durable before any offset is
            yield PartFile(fd, path)
        finally:
            os.close(fd)  # releases the lock

    def promote(self, part: PartFile, sha256: str) -> bool:
        """Move a verified part to its content address; False if the object was there already."""
        target = self.object_path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            self.discard(part)
            return False
        os.replace(part.path, target)
        _fsync_dir(target.parent)
        _fsync_dir(self.uploads)
        return True

    def discard(self, part: PartFile) -> None:
        part.path.unlink(missing_ok=True)

    def discard_path(self, upload_id: uuid.UUID) -> None:
        self.part_path(upload_id).unlink(missing_ok=True)
