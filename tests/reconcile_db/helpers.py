"""Shared by the reconciliation database tests: generated families loaded into the registry."""

from __future__ import annotations

from sqlmodel import Session

from app.reconcile import synthetic_registry
from app.registry.synthetic import load_kelurahan_codes

_CODES: list[str] = []


def kelurahan_codes() -> list[str]:
    if not _CODES:
        _CODES.extend(load_kelurahan_codes())
    return _CODES


def load_generated(session: Session, households: int, *, seed: int = 11, dup_rate: float = 0.1
                   ) -> synthetic_registry.Loaded:
    fams = synthetic_registry.families(households, seed=seed, kelurahan_codes=kelurahan_codes(),
                                       dup_rate=dup_rate)
    loaded = synthetic_registry.load(session, fams)
    session.flush()
    return loaded
