"""All queries of the auth domain."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from app.auth.models import EnumeratorAssignment, User
from app.wilayah.models import Kelurahan


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def list_users(session: Session) -> Sequence[User]:
    return session.exec(select(User).order_by(col(User.id))).all()


def assigned_kelurahan(session: Session, user_id: int) -> list[str]:
    stmt = select(EnumeratorAssignment.kelurahan_code).where(
        EnumeratorAssignment.user_id == user_id).order_by(col(EnumeratorAssignment.kelurahan_code))
    return list(session.exec(stmt).all())


def kelurahan_of_kecamatan(session: Session, kecamatan_code: str) -> list[str]:
    stmt = select(Kelurahan.code).where(Kelurahan.kecamatan_code == kecamatan_code)
    return list(session.exec(stmt).all())


def add_user(session: Session, user: User, kelurahan_codes: Sequence[str]) -> User:
    session.add(user)
    session.flush()
    assert user.id is not None
    for code in kelurahan_codes:
        session.add(EnumeratorAssignment(user_id=user.id, kelurahan_code=code))
    session.flush()
    return user
