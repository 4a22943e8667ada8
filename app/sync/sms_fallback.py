"""Enumerator SMS fallback, server side (docs/sms-fallback.md).

An SMS starting with ``K2 `` carries one push mutation of one enrolled device, sealed with
that device's key.  ``handle_enumerator_sms`` authenticates it, keeps the parts of a
multi-part mutation until all have arrived, and runs the mutation through the SAME push
pipeline as HTTP (``app.sync.push.push``, with the device's own principal): idempotent by
(device, seq) through the ledger, the same validation, the same conflicts.

Transactions: nothing here commits.  The caller (the SMS gateway handler) commits the
session after this returns and only then sends the reply, so an ``OK`` always means
committed; if the commit fails no reply is sent and the device resends the same SMS, which
is harmless.  Every refusal (unknown device, revoked device, wrong key or tag, truncated or
garbled text) returns before anything is written.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlmodel import Session

from app.audit.service import ActorRef
from app.auth import repository as auth_repository
from app.auth import service as auth_service
from app.auth.permissions import Action
from app.channels.gsm7 import clip
from app.config import Settings
from app.db import utcnow
from app.sync import repository
from app.sync.models import Device, SyncSmsPart
from app.sync.push import PushContext, push
from sync_protocol import smscodec
from sync_protocol.merge import FieldPolicies
from sync_protocol.messages import MutationResult, Outcome
from sync_protocol.smscodec import SmsAuthError, SmsFormatError

log = logging.getLogger(__name__)

# What the enumerator reads (Bahasa Indonesia, GSM-7, one SMS each); kept in one place.
REPLIES = {
    "garbled": "SIGAP GAGAL: SMS rusak atau terpotong, tidak dapat dibaca. Tidak ada data yang"
               " disimpan. Kirim ulang dari aplikasi Sigap.",
    "unknown_device": "SIGAP GAGAL: nomor perangkat tidak dikenal. Daftarkan ulang tablet lewat"
                      " internet (enrol), lalu kirim ulang.",
    "revoked": "SIGAP GAGAL: perangkat ini sudah dicabut aksesnya. Tidak ada data yang disimpan."
               " Hubungi supervisor Anda.",
    "inactive": "SIGAP GAGAL: akun petugas tidak aktif atau tidak berhak mengubah data. Hubungi"
                " supervisor Anda.",
    "bad_tag": "SIGAP GAGAL: kode keamanan SMS tidak cocok (SMS terpotong, diubah, atau bukan dari"
               " perangkat ini). Tidak ada data yang disimpan. Kirim ulang dari aplikasi.",
    "bad_payload": "SIGAP GAGAL: isi SMS seq {seq} tidak dapat dibaca (format). Tidak ada data yang"
                   " disimpan. Kirim lewat internet.",
    "part": "SIGAP TERIMA {seq} bagian {index}/{total}. Menunggu bagian lainnya.",
}
NOTES = {"OK": "Data diterima.", "KONFLIK": "Diterima; ada konflik untuk diperiksa supervisor."}


def is_enumerator_sms(text: str) -> bool:
    """Whether an inbound SMS is an enumerator's mutation (starts with ``K2 ``)."""
    return smscodec.is_enumerator_sms(text)


@lru_cache(maxsize=4)
def _policies(path: Path) -> FieldPolicies:
    return FieldPolicies.from_toml(path.read_text())


def handle_enumerator_sms(session: Session, settings: Settings, sender: str, text: str,
                          received_at: datetime | None = None) -> str:
    """Decode, authenticate and apply one enumerator SMS; returns the reply SMS text.

    The caller commits the session after this returns (see the module docstring).
    """
    try:
        frame = smscodec.parse_frame(text)
    except SmsFormatError as exc:
        log.info("enumerator SMS from ...%s refused: %s", sender[-4:], exc)
        return REPLIES["garbled"]
    device = repository.device_by_sms_number(session, frame.device_number)
    if device is None or device.sms_key is None:
        return REPLIES["unknown_device"]
    if device.revoked_at is not None:
        return REPLIES["revoked"]
    try:
        chunk = smscodec.open_part(frame, device.sms_key)
    except SmsAuthError:
        log.info("enumerator SMS for device %s seq %s: tag does not verify", device.id, frame.seq)
        return REPLIES["bad_tag"]
    ctx = _context(session, settings, device)
    if ctx is None:
        return REPLIES["inactive"]
    if frame.total == 1:
        payload = chunk
    else:
        # parts of one device one at a time: two parts arriving together must not each see
        # only themselves (PostgreSQL row lock; SQLite writers are serial anyway)
        session.refresh(device, with_for_update=True)
        done = repository.ledger_entries(session, device.id, [frame.seq]).get(frame.seq)
        if done is not None and done.outcome != "processing":
            return _reply(device, MutationResult.model_validate(done.result))  # a late resent part
        repository.keep_sms_part(session, SyncSmsPart(
            device_id=device.id, seq=frame.seq, part_index=frame.index, total=frame.total,
            payload=chunk, received_at=received_at or utcnow()))
        parts = repository.sms_parts(session, device.id, frame.seq)
        if len(parts) < frame.total:
            return REPLIES["part"].format(seq=frame.seq, index=frame.index + 1, total=frame.total)
        payload = b"".join(p.payload for p in parts)
    try:
        mutation = smscodec.unpack(payload, device.id, frame.seq)
    except SmsFormatError as exc:
        log.warning("enumerator SMS for device %s seq %s: payload refused: %s", device.id, frame.seq, exc)
        return REPLIES["bad_payload"].format(seq=frame.seq)
    (result,) = push(ctx, [mutation]).results
    repository.drop_sms_parts(session, device.id, frame.seq)
    log.info("enumerator SMS device %s seq %s: %s", device.id, frame.seq, result.outcome.value)
    return _reply(device, result)


def _context(session: Session, settings: Settings, device: Device) -> PushContext | None:
    """The push context of the device's own user, as its device token would give it."""
    user = auth_repository.get_user(session, device.user_id)
    if user is None or not user.is_active:
        return None
    principal = replace(auth_service.principal_for(session=session, user=user, settings=settings),
                        device_id=device.id)
    if not principal.can(Action.household_write):
        return None
    channel = "enumerator" if principal.role.value == "enumerator" else "api"
    actor = ActorRef(user_id=principal.user_id, name=principal.username, channel=channel,
                     request_id="sms", device_id=device.id)
    return PushContext(session=session, principal=principal, actor=actor, device=device,
                       policies=_policies(settings.sync_policy_file))


def _reply(device: Device, result: MutationResult) -> str:
    """``SIGAP <OK|KONFLIK|TOLAK> <seq> <code>`` and a short note; the code proves it is ours."""
    outcome = result.original_outcome if result.outcome is Outcome.duplicate else result.outcome
    word = {Outcome.conflict: "KONFLIK", Outcome.rejected: "TOLAK"}.get(outcome or Outcome.applied, "OK")
    assert device.sms_key is not None and device.sms_number is not None
    code = smscodec.ack_code(device.sms_key, device.sms_number, result.seq, word)
    if word == "TOLAK":
        problem = result.problems[0] if result.problems else None
        note = f"Ditolak: {problem.field} ({problem.rule})" if problem else "Ditolak."
        note += ". Perbaiki di tablet."
    else:
        note = NOTES[word]
    return clip(smscodec.format_ack(word, result.seq, code, note))
