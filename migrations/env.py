"""Alembic environment: the URL comes from the caller's config or from SIGAP_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

import app.models  # noqa: F401  (registers every table on the metadata)
from app.config import get_settings
from app.db import build_engine, metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # several replicas starting at once: one migrates, the others wait, then no-op
            connection.execute(text("SELECT pg_advisory_xact_lock(827100)"))
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(url=get_settings().database_url, target_metadata=metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
