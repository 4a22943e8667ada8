"""Engine construction and the per-request session (one transaction per request).

The session dependency is declared with ``scope="function"`` so that its exit code,
which COMMITS, runs before FastAPI sends the response: a 2xx therefore always means
the transaction is durable.  Services only ``flush()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi import Path as PathParam
from sqlalchemy import Engine, MetaData, event
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, create_engine

from app.config import Settings

# Constraint names are deterministic so that Alembic migrations can drop and alter them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


_READ_ONLY = "sigap_read_only"
_WRITER = "sigap_sqlite_writer"


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, and explicit BEGIN.

    pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; we take control
    (the SQLAlchemy-documented recipe).  Writing transactions use BEGIN IMMEDIATE: the write
    lock is taken at the start, so two concurrent writers queue on ``busy_timeout`` instead
    of failing with SQLITE_BUSY when a read lock cannot be upgraded.  Read-only sessions
    (``read_only=True`` below: GET requests, exports) use a deferred BEGIN and, under WAL,
    never block or wait for writers.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.close()

    # Writers of this process queue on a lock of their own before BEGIN IMMEDIATE: SQLite's
    # busy handler polls with growing sleeps, and forty threads polling for one lock hand it
    # over slowly (measured: 50 concurrent USSD/SMS writers fell to a few requests/s and
    # timed out).  The lock hands over at once; SQLite's own lock still guards against other
    # processes.  Released on commit/rollback and, as a safety net, when the pool resets the
    # connection; a writer that cannot get it in time goes on without it.  A plain Lock, not
    # an RLock: FastAPI may run a request's session dependency, which commits, on another
    # thread than the one that began the transaction, and only a Lock can be released there.
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(_READ_ONLY)
        info = conn.connection.info
        if not read_only and not info.get(_WRITER) and writer.acquire(timeout=busy_timeout_ms / 1000):
            info[_WRITER] = True
        try:
            conn.exec_driver_sql(f"BEGIN {'DEFERRED' if read_only else 'IMMEDIATE'}")
        except BaseException:
            _release(conn.connection.info)
            raise

    def _release(info: dict[str, Any]) -> None:
        if info.pop(_WRITER, False):
            writer.release()

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(conn: Any) -> None:
        _release(conn.connection.info)

    @event.listens_for(engine.pool, "reset")
    def _on_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
        _release(connection_record.info)


class _UtcDateTime(SQLITE_DATETIME):
    """SQLite keeps no time zone: a ``DateTime(timezone=True)`` column comes back naive. Sigap
    stores UTC only, so such values are handed back as aware UTC, the same as PostgreSQL's
    ``timestamptz``: one behaviour for both engines, and no naive time reaches an API
    response."""

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        base = super().result_processor(dialect, coltype)
        if not self.timezone:
            return base

        def process(value: Any) -> Any:
            value = base(value) if base is not None else value
            return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

        return process


def build_engine(database_url: str, *, busy_timeout_ms: int = 10_000, **kwargs: Any) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        else:  # one connection per thread (SingletonThreadPool): no pool to size
            for key in ("pool_size", "max_overflow", "pool_timeout"):
                kwargs.pop(key, None)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            **kwargs,
        )
        _configure_sqlite(engine, busy_timeout_ms)
        engine.dialect.colspecs = {**engine.dialect.colspecs, sqltypes.DateTime: _UtcDateTime}
        return engine
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def engine_from_settings(settings: Settings) -> Engine:
    return build_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                        pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
                        pool_timeout=settings.db_pool_timeout)


def new_session(engine: Engine, *, read_only: bool = False) -> Session:
    bind = engine.execution_options(**{_READ_ONLY: True}) if read_only else engine
    return Session(bind, expire_on_commit=False)


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _transaction(request: Request, *, read_only: bool) -> Iterator[Session]:
    with request.app.state.session_factory(read_only=read_only) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request; committed before the response leaves."""
    yield from _transaction(request, read_only=request.method in _READ_METHODS)


def get_write_session(request: Request) -> Iterator[Session]:
    """``get_session`` that always writes, whatever the method: a gateway's GET callback
    (Kannel's get-url) records a message (SQLite: ``BEGIN IMMEDIATE``, so a concurrent writer
    queues instead of failing when a read lock cannot be upgraded)."""
    yield from _transaction(request, read_only=False)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]

# Row ids and versions are PostgreSQL ``integer`` columns: none is larger. An id from a URL is
# bounded by it, so a huge one is a 422 naming the parameter rather than a driver overflow
# (SQLite's refuses integers beyond 64 bits with an OverflowError, a 500).
ID_MAX = 2_147_483_647
RowId = Annotated[int, PathParam(ge=1, le=ID_MAX)]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC.  Naive values are UTC already (SQLite hands them back naive); aware ones,
    e.g. a client's ``+09:00`` (Ternate, WIT), are converted so SQLite compares like with like."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
