"""One error hierarchy and one renderer: every error body is ``{"error", "detail"}``.

``detail`` is a human sentence or, for validation errors, a list of
``{"field", "rule", "message"}`` so a client can show which field broke which rule.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError as DBAPIDataError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("sigap.errors")


class FieldProblem(BaseModel):
    field: str
    rule: str
    message: str


class ErrorBody(BaseModel):
    error: str
    # a sentence; the broken rules of a validation error; or, for some errors, an object
    # with the sentence under "message" and the facts a client acts on (e.g. the run id)
    detail: str | list[FieldProblem] | dict[str, Any]


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, detail: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        # a structured detail carries the message too: the client always gets the sentence
        if isinstance(detail, dict) and "message" not in detail:
            detail = {"message": message, **detail}
        self.detail = detail if detail is not None else message
        self.headers = headers


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"

    def __init__(self, message: str = "Missing or invalid credentials", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class DeviceRevoked(NotAuthenticated):
    code = "device_revoked"


class TooManyLogins(AppError):
    """Refused logins reached the limit for this username or client (app/auth/throttle.py)."""

    status_code = 429
    code = "login_locked"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        self.minutes = max(1, -(-retry_after // 60))  # rounded up: never "0 menit"
        super().__init__(
            f"Terlalu banyak percobaan masuk yang gagal; coba lagi dalam {self.minutes} menit / "
            f"too many refused logins: try again in {self.minutes} minute(s)",
            detail={"retry_after_seconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class OutOfArea(Forbidden):
    code = "out_of_area"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class VersionMismatch(Conflict):
    code = "version_mismatch"


class DuplicateIdentity(Conflict):
    code = "duplicate_identity"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class InvalidData(AppError):
    """Business-rule validation failure with field-level problems (422)."""

    status_code = 422
    code = "validation_error"

    def __init__(self, problems: list[FieldProblem]) -> None:
        summary = "; ".join(f"{p.field}: {p.message}" for p in problems)
        super().__init__(summary, detail=problems)
        self.problems = problems

    @classmethod
    def one(cls, field: str, rule: str, message: str) -> InvalidData:
        return cls([FieldProblem(field=field, rule=rule, message=message)])


class BadCursor(AppError):
    status_code = 400
    code = "invalid_cursor"


_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


def is_transient(exc: OperationalError) -> bool:
    """A deadlock or serialization failure (PostgreSQL) or a lock timeout (SQLite): the
    transaction was rolled back whole, and the same request will succeed when sent again."""
    if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


# admin shutdown (restart, pg_terminate_backend), crash shutdown, cannot connect now
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def is_unavailable(exc: OperationalError) -> bool:
    """The database connection was lost or could not be made (PostgreSQL restarting, a dropped
    connection): the pool replaces it (pool_pre_ping) and a later request succeeds."""
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None)
    if state in _UNAVAILABLE_SQLSTATES or (state or "").startswith("08"):
        return True
    # psycopg reports a refused or broken connection without an SQLSTATE
    return state is None and type(exc.orig).__module__.startswith("psycopg")


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entry for a route's documented errors."""
    out: dict[int | str, dict[str, Any]] = {}
    for err in errors:
        entry = out.setdefault(err.status_code, {"model": ErrorBody, "description": ""})
        entry["description"] = ", ".join(filter(None, [entry["description"], err.code]))
    return out


def _render(status: int, code: str, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    if isinstance(detail, list):
        detail = [p.model_dump() if isinstance(p, BaseModel) else p for p in detail]
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _loc_to_field(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def validation_problems(exc: RequestValidationError) -> list[FieldProblem]:
    problems = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        # drop the function-after/tagged-union noise pydantic adds to locations
        loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
        # one naming for every error: "members[0].nik", "limit" (not "body.members[0].nik")
        if len(loc) > 1 and loc[0] in _LOCATIONS:
            loc = loc[1:]
        msg = str(err.get("msg", "invalid value"))
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        if err.get("type") == "json_invalid":
            position = loc[1] if len(loc) > 1 else "?"
            loc, msg = ("body",), f"malformed JSON near character {position}"
        problems.append(FieldProblem(field=_loc_to_field(loc) or "body",
                                     rule=str(err.get("type", "invalid")), message=msg))
    return problems


HTTP_CODES = {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return _render(exc.status_code, exc.code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _render(422, "validation_error", validation_problems(exc))

    @app.exception_handler(DBAPIDataError)
    async def _unstorable(_request: Request, exc: DBAPIDataError) -> JSONResponse:
        # Safety net: input validation should have caught this; say so in the log.
        log.warning("database refused a value: %s", type(exc.orig).__name__)
        return _render(422, "validation_error", [FieldProblem(
            field="body", rule="storable",
            message="a value cannot be stored (too long or invalid characters)")])

    @app.exception_handler(OperationalError)
    async def _busy(_request: Request, exc: OperationalError) -> JSONResponse:
        if is_unavailable(exc):
            # a lost connection: the transaction was rolled back, unless the COMMIT itself was
            # cut off, whose outcome the server cannot know (sync pushes replay by mutation id)
            log.warning("database unavailable: %s", type(exc.orig).__name__)
            return _render(503, "database_unavailable", "the database connection was lost for a moment; "
                           "this request may not have been saved: send it again", {"Retry-After": "2"})
        if not is_transient(exc):
            raise exc
        # nothing was committed: the whole request can simply be sent again (pushes are idempotent)
        log.warning("transient database conflict: %s", type(exc.orig).__name__)
        return _render(503, "busy", "the database was busy with a conflicting change; nothing was"
                                    " saved: send the same request again", {"Retry-After": "1"})

    @app.exception_handler(PoolTimeout)
    async def _pool(_request: Request, exc: PoolTimeout) -> JSONResponse:
        # every connection was busy for db_pool_timeout seconds: nothing ran, so the same
        # request can be sent again (gateways and tablets retry on 503 with Retry-After)
        log.warning("no database connection free: %s", exc)
        return _render(503, "busy", "the server is busy; nothing was saved: send the same request again",
                       {"Retry-After": "2"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return _render(exc.status_code, code, exc.detail, getattr(exc, "headers", None))
