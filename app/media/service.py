"""Rules of media: who may upload, read and link what.  Database only (files: storage.py).

Like every service, functions here only flush; the request's transaction commits.  Uploads
audit their creation, completion, failure and termination (not every chunk); links audit
as entity ``media``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import ActorRef
from app.auth.models import Role
from app.auth.permissions import Principal
from app.db import utcnow
from app.errors import Conflict, FieldProblem, Forbidden, InvalidData, NotFound, OutOfArea, PayloadTooLarge
from app.media.errors import BadTusRequest, OffsetMismatch, UploadGone
from app.media.models import MediaKind, MediaLink, MediaObject, MediaUpload, UploadStatus
from app.registry.models import Household
from app.registry.service import load_household

CONTENT_TYPES: dict[str, frozenset[str]] = {
    MediaKind.house_photo: frozenset({"image/jpeg", "image/png", "image/webp"}),
    MediaKind.consent_form: frozenset({"application/pdf", "image/jpeg", "image/png"}),
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class UploadState:
    """A plain copy of an upload row, still valid after its transaction ends."""

    id: uuid.UUID
    created_by: int
    length: int
    offset: int
    sha256: str
    status: str
    content_type: str

    @classmethod
    def of(cls, row: MediaUpload) -> UploadState:
        return cls(id=row.id, created_by=row.created_by, length=row.upload_length,
                   offset=row.upload_offset, sha256=row.sha256, status=row.status,
                   content_type=row.content_type)


def _sha256(value: str | None, field: str) -> str:
    sha = (value or "").strip().lower()
    if not _SHA256.match(sha):
        raise InvalidData.one(field, "sha256_hex", "the file's SHA-256 as 64 hexadecimal characters")
    return sha


def _kind(value: str | None, field: str = "kind") -> str:
    if value not in CONTENT_TYPES:
        raise InvalidData.one(field, "media_kind", f"one of {', '.join(sorted(CONTENT_TYPES))}")
    return value


def _creation_metadata(metadata: Mapping[str, str]) -> dict[str, Any]:
    problems: list[FieldProblem] = []

    def check(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except InvalidData as exc:
            problems.extend(exc.problems)
            return None

    sha = check(_sha256, metadata.get("sha256"), "sha256")
    kind = check(_kind, metadata.get("kind"))
    content_type = (metadata.get("content_type") or metadata.get("filetype") or "").strip().lower()
    if kind is not None and content_type not in CONTENT_TYPES[kind]:
        problems.append(FieldProblem(field="content_type", rule="media_content_type", message=(
            f"a {kind} must be one of {', '.join(sorted(CONTENT_TYPES[kind]))}")))
    filename = (metadata.get("filename") or metadata.get("name") or "").strip() or None
    if filename is not None and (len(filename) > 255 or any(c in filename for c in "/\\\x00")):
        problems.append(FieldProblem(field="filename", rule="filename",
                                     message="at most 255 characters, without / or \\"))
    household_id = None
    if metadata.get("household_id"):
        try:
            household_id = uuid.UUID(metadata["household_id"])
        except ValueError:
            problems.append(FieldProblem(field="household_id", rule="uuid", message="a UUID"))
    if problems:
        raise InvalidData(problems)
    return {"sha256": sha, "kind": kind, "content_type": content_type, "filename": filename,
            "household_id": household_id}


def create_upload(*, session: Session, principal: Principal, actor: ActorRef, length: int,
                  metadata: Mapping[str, str], max_bytes: int) -> MediaUpload:
    """A new tus upload (``Upload-Metadata``: sha256, kind, content_type; optional
    filename, household_id)."""
    if length > max_bytes:
        raise PayloadTooLarge(f"Upload-Length {length} exceeds the largest file accepted "
                              f"({max_bytes} bytes, Tus-Max-Size)")
    if length == 0:
        raise BadTusRequest("Upload-Length is 0: empty files are not accepted")
    fields = _creation_metadata(metadata)
    if fields["household_id"] is not None:
        load_household(session=session, household_id=fields["household_id"], principal=principal)
    upload = MediaUpload(created_by=principal.user_id, device_id=principal.device_id,
                         upload_length=length, **fields)
    session.add(upload)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="media_upload",
                 entity_id=str(upload.id), household_id=upload.household_id,
                 changes={"sha256": [None, upload.sha256], "kind": [None, upload.kind],
                          "upload_length": [None, length], "content_type": [None, upload.content_type],
                          "filename": [None, upload.filename]})
    return upload


def get_upload(*, session: Session, upload_id: uuid.UUID, principal: Principal) -> MediaUpload:
    """The caller's own upload (404 if absent, 403 if someone else's)."""
    upload = session.get(MediaUpload, upload_id, populate_existing=True)
    if upload is None:
        raise NotFound(f"upload {upload_id} not found: create a new one (POST /sync/v1/media)")
    if upload.created_by != principal.user_id:
        raise Forbidden("this upload was created by another user: only its creator may use it")
    return upload


def upload_state(*, session: Session, upload_id: uuid.UUID, principal: Principal,
                 writable: bool = False) -> UploadState:
    """``writable``: still receiving bytes (410 if it failed, 409 if already complete)."""
    state = UploadState.of(get_upload(session=session, upload_id=upload_id, principal=principal))
    if state.status == UploadStatus.failed:
        raise UploadGone("this upload failed its SHA-256 check and was discarded: "
                         "start a new upload (POST /sync/v1/media)")
    if writable and state.status == UploadStatus.complete:
        raise OffsetMismatch(state.offset, "this upload is already complete")
    return state


def _compare_and_set(session: Session, state: UploadState, expected: int, **values: Any) -> None:
    """Update the row only if its offset is still ``expected`` (else 409 with the real one)."""
    stmt = (update(MediaUpload)
            .where(col(MediaUpload.id) == state.id, col(MediaUpload.upload_offset) == expected,
                   col(MediaUpload.status) == UploadStatus.uploading.value)
            .values(updated_at=utcnow(), **values))
    result = cast(CursorResult[Any], session.execute(stmt))
    if result.rowcount != 1:
        current = session.get(MediaUpload, state.id, populate_existing=True)
        if current is None:
            raise NotFound(f"upload {state.id} not found: it was terminated")
        raise OffsetMismatch(current.upload_offset)


def set_offset(*, session: Session, state: UploadState, expected: int, offset: int) -> None:
    """Record bytes as received (call only once they are fsynced)."""
    _compare_and_set(session, state, expected, upload_offset=offset)


def complete_upload(*, session: Session, state: UploadState, expected: int, actor: ActorRef
                    ) -> MediaObject:
    """Mark a verified upload complete and register its object (once per SHA-256)."""
    now = utcnow()
    _compare_and_set(session, state, expected, upload_offset=state.length,
                     status=UploadStatus.complete.value, completed_at=now)
    obj = session.get(MediaObject, state.sha256)
    if obj is None:
        obj = MediaObject(sha256=state.sha256, size=state.length, content_type=state.content_type)
        try:
            with session.begin_nested():
                session.add(obj)
        except IntegrityError:  # the same file completed by a concurrent upload
            found = session.get(MediaObject, state.sha256)
            assert found is not None
            obj = found
    audit.record(session, actor=actor, action="update", entity_type="media_upload",
                 entity_id=str(state.id), changes={
                     "status": [UploadStatus.uploading.value, UploadStatus.complete.value],
                     "upload_offset": [expected, state.length]})
    return obj


def fail_upload(*, session: Session, state: UploadState, expected: int, actual_sha256: str,
                actor: ActorRef) -> None:
    """The whole file did not hash to the declared SHA-256: the upload is dead."""
    _compare_and_set(session, state, expected, status=UploadStatus.failed.value)
    audit.record(session, actor=actor, action="update", entity_type="media_upload",
                 entity_id=str(state.id), changes={
                     "status": [UploadStatus.uploading.value, UploadStatus.failed.value],
                     "received_sha256": [None, actual_sha256]})


def terminate_upload(*, session: Session, state: UploadState, actor: ActorRef) -> None:
    """tus termination: the row goes (a stored object stays: it may be linked)."""
    upload = session.get(MediaUpload, state.id)
    if upload is None:
        raise NotFound(f"upload {state.id} not found")
    session.delete(upload)
    session.flush()
    audit.record(session, actor=actor, action="delete", entity_type="media_upload",
                 entity_id=str(state.id), changes={"status": [upload.status, None]})


# --- reading -------------------------------------------------------------------------------


def _linked_kelurahan(session: Session, sha256: str) -> set[str]:
    stmt = (select(Household.kelurahan_code).distinct()
            .join(MediaLink, col(MediaLink.household_id) == Household.id)
            .where(MediaLink.sha256 == sha256, col(MediaLink.deleted_at).is_(None),
                   col(Household.deleted_at).is_(None)))
    return set(session.exec(stmt).all())


def readable_object(*, session: Session, sha256: str, principal: Principal) -> MediaObject:
    """An object the caller may read: admins any; others through an active link to an
    active household in their area (403 if linked only outside it, else 404)."""
    sha = sha256.lower()
    obj = session.get(MediaObject, sha) if _SHA256.match(sha) else None
    if obj is None:
        raise NotFound(f"media {sha256} not found")
    if principal.role is Role.admin:
        return obj
    kelurahan = _linked_kelurahan(session, sha)
    if any(principal.covers(code) for code in kelurahan):
        return obj
    if kelurahan:
        raise OutOfArea("this file belongs only to households outside your assigned area")
    raise NotFound(f"media {sha256} not found")


def household_links(*, session: Session, household_id: uuid.UUID, principal: Principal
                    ) -> Sequence[tuple[MediaLink, MediaObject]]:
    """Active links of one household in the caller's area, oldest first."""
    load_household(session=session, household_id=household_id, principal=principal)
    stmt = (select(MediaLink, MediaObject)
            .join(MediaObject, col(MediaObject.sha256) == MediaLink.sha256)
            .where(MediaLink.household_id == household_id, col(MediaLink.deleted_at).is_(None))
            .order_by(col(MediaLink.created_at), col(MediaLink.id)))
    return [(link, obj) for link, obj in session.exec(stmt).all()]


# --- links (called by the sync push handler) -----------------------------------------------


def _same_link(link: MediaLink, household_id: uuid.UUID, sha256: str, kind: str) -> bool:
    return (link.household_id, link.sha256, link.kind) == (household_id, sha256, kind)


def link_media(*, session: Session, link_id: uuid.UUID, household_id: uuid.UUID, sha256: str,
               kind: str, actor: ActorRef, principal: Principal) -> MediaLink:
    """Attach an uploaded file to a household.  Idempotent per ``link_id``: the same link
    again returns the existing row; other content under that id is a 409."""
    household = load_household(session=session, household_id=household_id, principal=principal)
    sha = _sha256(sha256, "sha256")
    kind = _kind(kind)
    existing = session.get(MediaLink, link_id)
    if existing is None:
        if session.get(MediaObject, sha) is None:
            raise InvalidData.one("sha256", "media_uploaded", (
                f"no completed upload has SHA-256 {sha}: finish uploading the file "
                "(/sync/v1/media) before linking it"))
        link = MediaLink(id=link_id, household_id=household.id, sha256=sha, kind=kind,
                         created_by=actor.user_id)
        try:
            with session.begin_nested():
                session.add(link)
        except IntegrityError:  # a concurrent request created the same link id
            existing = session.get(MediaLink, link_id, populate_existing=True)
            if existing is None:
                raise
        else:
            audit.record(session, actor=actor, action="create", entity_type="media",
                         entity_id=str(link.id), household_id=household.id,
                         changes={"sha256": [None, sha], "kind": [None, kind],
                                  "household_id": [None, str(household.id)]})
            return link
    if existing.deleted_at is None and _same_link(existing, household.id, sha, kind):
        return existing
    state = "was deleted" if existing.deleted_at is not None else "has different content"
    raise Conflict(f"media link {link_id} already exists and {state}: use a new link id")


def unlink_media(*, session: Session, link_id: uuid.UUID, actor: ActorRef,
                 principal: Principal) -> None:
    """Soft-delete a link (again: no-op).  The object stays: other links may use it."""
    link = session.exec(select(MediaLink).where(MediaLink.id == link_id).with_for_update()).first()
    if link is None:
        raise NotFound(f"media link {link_id} not found")
    load_household(session=session, household_id=link.household_id, principal=principal)
    if link.deleted_at is not None:
        return
    link.deleted_at = utcnow()
    session.add(link)
    session.flush()
    audit.record(session, actor=actor, action="delete", entity_type="media", entity_id=str(link.id),
                 household_id=link.household_id,
                 changes={"deleted_at": [None, link.deleted_at.isoformat()]})

