"""Device enrolment and revocation."""

from __future__ import annotations

from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.audit.service import ActorRef, record
from app.auth import repository as auth_repository
from app.auth.models import User
from app.auth.permissions import Principal
from app.auth.security import create_device_token
from app.config import Settings
from app.db import utcnow
from app.errors import Conflict, DeviceRevoked, NotFound, OutOfArea
from app.sync.models import Device
from sync_protocol.smscodec import new_key


def enrol(*, session: Session, principal: Principal, settings: Settings, device_id: str, label: str,
          actor: ActorRef) -> tuple[Device, str, int]:
    """Bind a device id to the caller and issue its token (again, if it was enrolled before)."""
    device = session.get(Device, device_id, with_for_update=True)
    if device is not None and device.user_id != principal.user_id:
        raise Conflict("this device id is enrolled by another user: ask a supervisor to revoke it"
                       " or choose another device id")
    if device is not None and device.revoked_at is not None:
        raise DeviceRevoked("Perangkat ini sudah dicabut aksesnya dan tidak dapat didaftarkan lagi."
                            " Hubungi supervisor Anda.")
    if device is None:
        device = Device(id=device_id, user_id=principal.user_id, label=label)
        action = "create"
    else:
        device.label = label or device.label
        action = "update"
    session.add(device)
    session.flush()
    if device.sms_number is None:
        _give_sms_identity(session, device)
    record(session, actor=actor, action=action, entity_type="device", entity_id=device_id,
           changes={"user_id": [None, principal.user_id], "label": [None, device.label]})
    token, expires_in = create_device_token(settings=settings, user_id=principal.user_id,
                                            role=principal.role.value, device_id=device_id)
    return device, token, expires_in


def _give_sms_identity(session: Session, device: Device) -> None:
    """The next free short SMS number and a new key (docs/sms-fallback.md).  The number is
    unique by constraint; two enrolments racing for it: the loser takes the next one.

    On PostgreSQL the number is taken under a transaction-scoped advisory lock: without it, a
    dozen tablets enrolling at once all read the same committed maximum, each loser waits for
    the winner's commit and retries, and after five rounds the rest got 409 (bench_load).
    SQLite's writers are already one at a time."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('sigap.sync_device.sms_number'))"))
    for _ in range(5):
        nested = session.begin_nested()
        number = (session.execute(select(func.max(col(Device.sms_number)))).scalar() or 0) + 1
        device.sms_number, device.sms_key = number, new_key()
        session.add(device)
        try:
            session.flush()
        except IntegrityError:
            nested.rollback()
            session.refresh(device)
            continue
        nested.commit()
        return
    raise Conflict("could not allocate an SMS number for this device: enrol again")


def _owner_in_area(session: Session, user: User, principal: Principal) -> bool:
    if principal.kelurahan_scope is None:
        return True
    assert user.id is not None
    assigned = set(auth_repository.assigned_kelurahan(session, user.id))
    return bool(assigned) and assigned <= principal.kelurahan_scope


def list_devices(*, session: Session, principal: Principal) -> list[tuple[Device, User]]:
    rows = session.exec(select(Device, User).join(User, col(Device.user_id) == User.id)
                        .order_by(col(Device.enrolled_at), col(Device.id))).all()
    return [(d, u) for d, u in rows if _owner_in_area(session, u, principal)]


def revoke(*, session: Session, principal: Principal, device_id: str, reason: str,
           actor: ActorRef) -> tuple[Device, User]:
    device = session.get(Device, device_id, with_for_update=True)
    if device is None:
        raise NotFound(f"device {device_id} not found")
    user = session.get(User, device.user_id)
    assert user is not None
    if not _owner_in_area(session, user, principal):
        raise OutOfArea("this device belongs to an enumerator outside your area")
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        device.revoked_by = principal.user_id
        device.revoke_reason = reason
        session.add(device)
        session.flush()
        record(session, actor=actor, action="update", entity_type="device", entity_id=device_id,
               changes={"revoked_at": [None, device.revoked_at.isoformat()], "reason": [None, reason]})
    return device, user
