"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import __version__
from app.migrate import current_revision, head_revision

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    status: str
    version: str


class Readiness(BaseModel):
    status: str
    database: str
    migration: str | None
    expected_migration: str | None


@router.get("/health", response_model=Health)
async def health() -> Health:
    """The process is up (no dependencies checked).  On the event loop, not the thread pool,
    so a liveness probe still answers while every request thread waits on the database."""
    return Health(status="ok", version=__version__)


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
def ready(request: Request) -> JSONResponse:
    """Database reachable and migrated to the head revision; 503 otherwise."""
    # a read-only connection: on SQLite it must not queue behind a long write for the lock
    engine = request.app.state.engine.execution_options(sigap_read_only=True)
    expected = head_revision()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = current_revision(engine)
        database = "ok"
    except SQLAlchemyError as exc:
        current, database = None, f"unreachable: {type(exc).__name__}"
    ok = database == "ok" and current == expected
    body = Readiness(status="ready" if ok else "not_ready", database=database,
                     migration=current, expected_migration=expected)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
