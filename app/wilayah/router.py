from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from app.auth.dependencies import PrincipalDep
from app.db import SessionDep
from app.errors import InvalidData, NotAuthenticated, error_responses
from app.wilayah import repository

router = APIRouter(prefix="/wilayah", tags=["wilayah"])


class KecamatanPublic(BaseModel):
    code: str
    bps_code: str
    name: str


class KelurahanPublic(BaseModel):
    code: str
    kecamatan_code: str
    bps_code: str | None
    name: str


@router.get("/kecamatan", response_model=list[KecamatanPublic],
            responses=error_responses(NotAuthenticated))
def list_kecamatan(session: SessionDep, _p: PrincipalDep) -> list[KecamatanPublic]:
    """The 8 kecamatan of Kota Ternate with Kemendagri and BPS codes."""
    return [KecamatanPublic.model_validate(k, from_attributes=True)
            for k in repository.list_kecamatan(session)]


@router.get("/kelurahan", response_model=list[KelurahanPublic],
            responses=error_responses(NotAuthenticated, InvalidData))
def list_kelurahan(session: SessionDep, _p: PrincipalDep,
                   kecamatan: str | None = None) -> list[KelurahanPublic]:
    """Kelurahan, optionally of one kecamatan (Kemendagri or BPS code)."""
    code = None
    if kecamatan is not None:
        code = repository.resolve_kecamatan_code(session, kecamatan)
        if code is None:
            raise InvalidData.one("kecamatan", "kecamatan_exists",
                                  f"kecamatan {kecamatan!r} does not exist")
    return [KelurahanPublic.model_validate(k, from_attributes=True)
            for k in repository.list_kelurahan(session, code)]
