"""HTTP layer of media: tus 1.0 uploads under ``/sync/v1/media`` and files read back.

tus: core + ``creation`` + ``checksum`` (sha256) + ``termination``.  Every tus response
carries ``Tus-Resumable: 1.0.0``; a request without it (OPTIONS aside) gets 412.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from sqlmodel import Session
from starlette.requests import ClientDisconnect

from app.auth.dependencies import SettingsDep, actor_from, require
from app.auth.permissions import Action, Principal
from app.db import SessionDep, as_utc
from app.errors import (
    AppError,
    Forbidden,
    InvalidData,
    NotAuthenticated,
    NotFound,
    OutOfArea,
    PayloadTooLarge,
    error_responses,
)
from app.media import service, tus
from app.media.errors import (
    TUS_VERSION,
    BadTusRequest,
    ChecksumMismatch,
    InsufficientStorage,
    OffsetMismatch,
    PreconditionFailed,
    UnsupportedMediaType,
    UploadGone,
    UploadLocked,
)
from app.media.models import MediaLink, MediaObject
from app.media.schemas import MediaLinkList, MediaLinkPublic
from app.media.storage import MediaStore, PartFile

log = logging.getLogger("sigap.media")
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
Uploader = Annotated[Principal, Depends(require(Action.household_write))]
Reader = Annotated[Principal, Depends(require(Action.household_read))]
_AUTH = (NotAuthenticated, Forbidden)
_TUS_HEADERS = {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}


class TusRoute(APIRoute):
    """Checks ``Tus-Resumable`` (not on OPTIONS) and adds it to every response, errors too."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def tus_handler(request: Request) -> Response:
            try:
                if request.method != "OPTIONS":
                    tus.check_version(request.headers.get("tus-resumable"))
                response = await handler(request)
            except AppError as exc:
                exc.headers = {**(exc.headers or {}), **_TUS_HEADERS}
                raise
            response.headers.update(_TUS_HEADERS)
            return response

        return tus_handler


uploads = APIRouter(prefix="/sync/v1/media", tags=["media"], route_class=TusRoute)
files = APIRouter(tags=["media"])


def error_response(exc: AppError) -> JSONResponse:
    """An error as a response, for failures whose database changes must still commit."""
    return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status_code,
                        headers=exc.headers)


def _offset_response(offset: int) -> Response:
    return Response(status_code=204, headers={"Upload-Offset": str(offset)})


@uploads.options("", status_code=204, response_class=Response, responses=error_responses(*_AUTH))
def discover(settings: SettingsDep, _principal: Uploader) -> Response:
    """tus discovery: version, extensions, largest file and largest PATCH body."""
    return Response(status_code=204, headers={
        "Tus-Version": TUS_VERSION, "Tus-Extension": tus.EXTENSIONS,
        "Tus-Max-Size": str(settings.media_max_bytes),
        "Tus-Checksum-Algorithm": tus.CHECKSUM_ALGORITHMS,
        "Sigap-Max-Chunk-Size": str(settings.max_body_bytes)})


@uploads.post("", status_code=201, response_class=Response,
              responses=error_responses(*_AUTH, OutOfArea, NotFound, BadTusRequest, PreconditionFailed,
                                        PayloadTooLarge, InvalidData))
def create_upload(
    request: Request, session: SessionDep, settings: SettingsDep, principal: Uploader,
    upload_length: Annotated[str | None, Header(description="file size in bytes")] = None,
    upload_metadata: Annotated[str | None, Header(description=(
        "comma-separated `key base64(value)`: sha256 (hex, required), kind (house_photo | "
        "consent_form), content_type (or filetype), filename, household_id"))] = None,
    upload_defer_length: Annotated[str | None, Header(description="not supported")] = None,
) -> Response:
    """tus creation: a new upload; its URL comes back in Location."""
    if upload_defer_length is not None:
        raise BadTusRequest("Upload-Defer-Length is not supported: send Upload-Length")
    upload = service.create_upload(
        session=session, principal=principal, actor=actor_from(principal, request),
        length=tus.parse_length(upload_length), metadata=tus.parse_metadata(upload_metadata),
        max_bytes=settings.media_max_bytes)
    return Response(status_code=201, headers={"Location": f"/sync/v1/media/{upload.id}",
                                              "Upload-Offset": "0"})


@uploads.head("/{upload_id}", responses=error_responses(*_AUTH, NotFound, UploadGone,
                                                        PreconditionFailed))
def upload_offset(upload_id: str, session: SessionDep, principal: Uploader) -> Response:
    """How many bytes the server has: resume from Upload-Offset."""
    state = service.upload_state(session=session, upload_id=tus.parse_upload_id(upload_id),
                                 principal=principal)
    return Response(status_code=200, headers={"Upload-Offset": str(state.offset),
                                              "Upload-Length": str(state.length)})


def _state_then_commit(session: Session, upload_id: uuid.UUID, principal: Principal
                       ) -> service.UploadState:
    """The upload's state, then end the transaction: no connection (nor SQLite's write
    lock) is held while a slow link streams the body."""
    state = service.upload_state(session=session, upload_id=upload_id, principal=principal,
                                 writable=True)
    session.commit()
    return state


def _then_commit(session: Session, fn: Callable[..., Any], **kw: Any) -> Any:
    """PATCH commits itself while it still holds the part file's lock (the next writer
    must see this offset), so a 2xx still means committed."""
    result = fn(session=session, **kw)
    session.commit()
    return result


async def _receive(request: Request, part: PartFile, *, start: int, limit: int,
                   checksum: bytes | None) -> int:
    """Write the body at ``start``; the end position.  A dropped connection keeps what
    arrived, unless a chunk checksum was sent (it cannot be verified then)."""
    position = start
    digest = hashlib.sha256() if checksum is not None else None
    try:
        async for data in request.stream():
            if not data:
                continue
            if position + len(data) > limit:
                part.truncate(start)
                raise PayloadTooLarge(f"the body goes past Upload-Length ({limit} bytes)",
                                      headers={"Upload-Offset": str(start)})
            await run_in_threadpool(part.write_at, data, position)
            position += len(data)
            if digest is not None:
                digest.update(data)
    except ClientDisconnect:
        if digest is not None:
            part.truncate(start)
            return start
        log.info("upload interrupted", extra={"received": position - start})
    if digest is not None and digest.digest() != checksum:
        part.truncate(start)
        raise ChecksumMismatch(
            "this chunk's SHA-256 does not match Upload-Checksum (corrupted on the way?): it was "
            f"discarded; send it again from offset {start}", headers={"Upload-Offset": str(start)})
    return position


@uploads.patch("/{upload_id}", status_code=204, response_class=Response, responses=error_responses(
    *_AUTH, NotFound, UploadGone, BadTusRequest, OffsetMismatch, PreconditionFailed, PayloadTooLarge,
    UnsupportedMediaType, UploadLocked, ChecksumMismatch, InsufficientStorage))
async def append_chunk(
    upload_id: str, request: Request, session: SessionDep, settings: SettingsDep, principal: Uploader,
    content_type: Annotated[str | None, Header(description=tus.OFFSET_STREAM)] = None,
    upload_offset: Annotated[str | None, Header(description="the offset these bytes start at")] = None,
    upload_checksum: Annotated[str | None, Header(description="optional: `sha256 <base64>`")] = None,
    content_length: Annotated[str | None, Header()] = None,
) -> Response:
    """Append bytes at Upload-Offset (at most Sigap-Max-Chunk-Size per request).  The last
    chunk triggers the SHA-256 check of the whole file: 460 if it differs from the declared one."""
    uid = tus.parse_upload_id(upload_id)
    tus.require_offset_stream(content_type)
    offset = tus.parse_offset(upload_offset)
    checksum = tus.parse_checksum(upload_checksum)
    chunk_length = tus.parse_content_length(content_length)
    actor = actor_from(principal, request)
    await run_in_threadpool(_state_then_commit, session, uid, principal)  # who may, before any file
    store = MediaStore(settings.media_dir)
    with store.open_part(uid) as part:
        try:  # again under the lock: the previous writer has committed by now
            state = await run_in_threadpool(_state_then_commit, session, uid, principal)
        except AppError:
            if part.size() == 0:  # the part file this request just created for nothing
                store.discard(part)
            raise
        if state.offset != offset:
            raise OffsetMismatch(state.offset)
        if chunk_length is not None and offset + chunk_length > state.length:
            raise PayloadTooLarge(f"this chunk would end at byte {offset + chunk_length}, past "
                                  f"Upload-Length {state.length}", headers={"Upload-Offset": str(offset)})
        size = part.size()
        if size < state.offset:
            log.error("part file shorter than its recorded offset",
                      extra={"upload_id": str(uid), "size": size, "offset": state.offset})
            await run_in_threadpool(_then_commit, session, service.set_offset, state=state,
                                    expected=state.offset, offset=size)
            return error_response(OffsetMismatch(size, (
                f"the server lost the bytes after offset {size}: send them again from {size}")))
        if size > state.offset:
            part.truncate(state.offset)  # written, but never acknowledged (crash before commit)
        try:
            end = await _receive(request, part, start=offset, limit=state.length, checksum=checksum)
            if end == offset:
                return _offset_response(offset)
            await run_in_threadpool(part.sync)
        except OSError as exc:
            if exc.errno not in _DISK_FULL:
                raise
            part.truncate(offset)  # frees what this request wrote; nothing of it was acknowledged
            log.error("media storage full", extra={"upload_id": str(uid), "offset": offset})
            raise InsufficientStorage(offset) from None
        if end < state.length:
            await run_in_threadpool(_then_commit, session, service.set_offset, state=state,
                                    expected=offset, offset=end)
            return _offset_response(end)
        actual = await run_in_threadpool(part.sha256)
        if actual != state.sha256:
            await run_in_threadpool(_then_commit, session, service.fail_upload, state=state,
                                    expected=offset, actual_sha256=actual, actor=actor)
            store.discard(part)
            return error_response(ChecksumMismatch(
                f"the file received has SHA-256 {actual}, not the {state.sha256} declared at "
                "creation: nothing was stored; check the file on the device and start a new upload"))
        await run_in_threadpool(store.promote, part, actual)
        await run_in_threadpool(_then_commit, session, service.complete_upload, state=state,
                                expected=offset, actor=actor)
        return _offset_response(end)


@uploads.delete("/{upload_id}", status_code=204, response_class=Response,
                responses=error_responses(*_AUTH, NotFound, PreconditionFailed, UploadLocked))
def terminate_upload(upload_id: str, request: Request, session: SessionDep, settings: SettingsDep,
                     principal: Uploader) -> Response:
    """tus termination: drop the upload and its bytes (a completed file stays stored)."""
    uid = tus.parse_upload_id(upload_id)
    upload = service.get_upload(session=session, upload_id=uid, principal=principal)
    state = service.UploadState.of(upload)
    actor = actor_from(principal, request)
    if state.status != "uploading":
        service.terminate_upload(session=session, state=state, actor=actor)
        return Response(status_code=204)
    store = MediaStore(settings.media_dir)
    with store.open_part(uid) as part:
        _then_commit(session, service.terminate_upload, state=state, actor=actor)
        store.discard(part)
    return Response(status_code=204)


# --- reading files back --------------------------------------------------------------------


def _public(link: MediaLink, obj: MediaObject) -> MediaLinkPublic:
    return MediaLinkPublic(id=link.id, household_id=link.household_id, sha256=link.sha256,
                           kind=link.kind, content_type=obj.content_type, size=obj.size,
                           created_at=as_utc(link.created_at), url=f"/media/{link.sha256}")


@files.get("/media", response_model=MediaLinkList,
           responses=error_responses(*_AUTH, OutOfArea, NotFound))
def list_media(session: SessionDep, principal: Reader,
               household_id: Annotated[uuid.UUID, Query(description="the household")]) -> MediaLinkList:
    """Files attached to a household in your area, oldest first."""
    rows = service.household_links(session=session, household_id=household_id, principal=principal)
    data = [_public(link, obj) for link, obj in rows]
    return MediaLinkList(data=data, count=len(data))


_FILE_TYPES = sorted({t for types in service.CONTENT_TYPES.values() for t in types})


@files.get("/media/{sha256}", response_class=FileResponse, responses={
    200: {"description": "the file", "content": {t: {} for t in _FILE_TYPES}},
    304: {"description": "not modified (If-None-Match)"},
    **error_responses(*_AUTH, OutOfArea, NotFound)})
def get_media(sha256: str, request: Request, session: SessionDep, settings: SettingsDep,
              principal: Reader) -> Response:
    """Download a file by its SHA-256 (admins: any; others: linked to a household in their area)."""
    obj = service.readable_object(session=session, sha256=sha256, principal=principal)
    etag = f'"{obj.sha256}"'
    headers = {"ETag": etag, "Cache-Control": "private", "X-Content-Type-Options": "nosniff"}
    sent = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in sent or f"W/{etag}" in sent or "*" in sent:
        return Response(status_code=304, headers=headers)
    path = MediaStore(settings.media_dir).object_path(obj.sha256)
    if not path.is_file():
        log.error("stored media file is missing", extra={"sha256": obj.sha256})
        raise NotFound(f"the file {obj.sha256} is missing from storage: upload it again")
    return FileResponse(path, media_type=obj.content_type, headers=headers)


router = APIRouter()
router.include_router(uploads)
router.include_router(files)
