"""tus-specific errors, in the project's ``{"error", "detail"}`` shape."""

from __future__ import annotations

from typing import Any

from app.errors import AppError, Conflict

TUS_VERSION = "1.0.0"


class BadTusRequest(AppError):
    status_code = 400
    code = "invalid_tus_request"


class UploadGone(AppError):
    status_code = 410
    code = "upload_gone"


class PreconditionFailed(AppError):
    """412: the client speaks another tus version (or forgot ``Tus-Resumable``)."""

    status_code = 412
    code = "precondition_failed"

    def __init__(self, message: str, **kw: Any) -> None:
        kw.setdefault("headers", {"Tus-Version": TUS_VERSION})
        super().__init__(message, **kw)


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class UploadLocked(AppError):
    """423: another request is writing this upload right now."""

    status_code = 423
    code = "upload_locked"


class InsufficientStorage(AppError):
    """507: the media disk is full (or over quota): this request's bytes were dropped, the
    upload stays at its last acknowledged offset (``Upload-Offset``); retry later."""

    status_code = 507
    code = "insufficient_storage"

    def __init__(self, offset: int) -> None:
        message = (f"the server's media storage is full: this chunk was not stored; the upload is "
                   f"still at offset {offset}, send the bytes from {offset} again later")
        super().__init__(message, detail={"message": message, "upload_offset": offset},
                         headers={"Upload-Offset": str(offset), "Retry-After": "60"})


class ChecksumMismatch(AppError):
    """460 (tus checksum extension): the bytes received do not hash to what was declared."""

    status_code = 460
    code = "checksum_mismatch"


class OffsetMismatch(Conflict):
    """409 carrying the server's offset (header and detail): resume from there."""

    code = "offset_mismatch"

    def __init__(self, current: int, message: str | None = None) -> None:
        message = message or (f"this upload is at offset {current}: send the bytes from {current} "
                              "(a HEAD request returns the same offset)")
        super().__init__(message, detail={"message": message, "upload_offset": current},
                         headers={"Upload-Offset": str(current)})
        self.current = current
