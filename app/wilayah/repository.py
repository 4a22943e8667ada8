"""All queries of the wilayah domain."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlmodel import Session, col, select

from app.wilayah.models import Kecamatan, Kelurahan

_DIGITS = re.compile(r"\D")


def get_kecamatan(session: Session, code: str) -> Kecamatan | None:
    return session.exec(select(Kecamatan).where(
        (Kecamatan.code == code) | (Kecamatan.bps_code == code))).first()


def list_kecamatan(session: Session) -> Sequence[Kecamatan]:
    return session.exec(select(Kecamatan).order_by(col(Kecamatan.code))).all()


def list_kelurahan(session: Session, kecamatan_code: str | None = None) -> Sequence[Kelurahan]:
    stmt = select(Kelurahan).order_by(col(Kelurahan.code))
    if kecamatan_code is not None:
        stmt = stmt.where(Kelurahan.kecamatan_code == kecamatan_code)
    return session.exec(stmt).all()


def resolve_kelurahan_code(session: Session, code: str) -> str | None:
    """Canonical Kemendagri code for a kelurahan code written in either system.

    The two systems are told apart by their written form, as DOMAIN.md defines them:
    Kemendagri is dotted (``82.71.01.1003``), BPS is ten plain digits (``8271011003``).
    The form matters: 16 of Ternate's plain Kemendagri codes are also someone else's BPS
    code (8271011003 is Kastela by Kemendagri but Tafaga by BPS).
    """
    kemendagri, bps = _kelurahan_lookup(session)
    code = code.strip()
    return bps.get(code) if code.isdigit() else kemendagri.get(code)


def _kelurahan_lookup(session: Session) -> tuple[dict[str, str], dict[str, str]]:
    """Both code maps, read once per session (78 rows of reference data; a bulk import
    resolves a code per record)."""
    cached = session.info.get("kelurahan_lookup")
    if cached is None:
        rows = session.exec(select(Kelurahan.code, Kelurahan.bps_code)).all()
        cached = ({c: c for c, _ in rows}, {b: c for c, b in rows if b})
        session.info["kelurahan_lookup"] = cached
    return cached


def resolve_kecamatan_code(session: Session, code: str) -> str | None:
    """Kemendagri (``82.71.01`` or ``827101``) or BPS (``8271010``); the lengths differ."""
    digits = _DIGITS.sub("", code)
    if len(digits) == 6:
        code = f"{digits[:2]}.{digits[2:4]}.{digits[4:]}"
    found = get_kecamatan(session, code if len(digits) == 6 else digits)
    return found.code if found else None
