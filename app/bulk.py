"""Many rows in one statement: PostgreSQL ``INSERT .. SELECT FROM unnest(arrays)``.

An ``executemany`` of 2,500 rows costs psycopg a parameter set per row (dumped one by one
in Python, then pipelined); the same rows as one array per column are one statement,
dumped column by column.  On SQLite (and anywhere else) the rows go through the ordinary
``executemany`` INSERT.  Either way the rows are plain dicts with the same keys, values as
the column types want them (the statement bypasses SQLAlchemy's type processing on
PostgreSQL, except for JSON, serialised here as SQLAlchemy would, and sealed columns, sealed
here; blind indexes of sealed columns are added to the rows, see app/pii.py).

String columns travel as ``text[]``: a cast to ``varchar(n)[]`` would silently cut an
over-long value, the INSERT's own assignment raises instead, as an ordinary INSERT does.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from app import pii

_PG = postgresql.dialect()


class JsonText(str):
    """A JSON column's value already serialised as ``json.dumps`` (SQLAlchemy's default)
    would: stored as it is, not serialised again. Rows of one call are alike (all of a
    column's values JsonText or None, or none of them)."""


def _kind(column: Column[Any]) -> Any:
    """The column's type, under its decorator (SQLModel's AutoString is a String)."""
    kind = column.type
    return kind.impl_instance if isinstance(kind, TypeDecorator) else kind


def _array_type(column: Column[Any]) -> str:
    if isinstance(_kind(column), JSON | String):
        return "text[]"  # JSON serialised below, cast to json per element in the SELECT
    return f"{column.type.compile(dialect=_PG)}[]"


def _coerce(column: Column[Any]) -> Callable[[Any], Any] | None:
    """What makes a column's values one Python type: psycopg dumps a list in binary only
    if its elements are all of one type (a float column may hold ints, a UUID column
    strings, a string column str-enums)."""
    if isinstance(column.type, pii.Sealed):
        sealed = column.type
        return lambda v: sealed.process_bind_param(v, _PG)
    if isinstance(column.type, pii.SealedJSON):  # a JSON string, cast to json below
        document = column.type
        return lambda v: None if v is None else json.dumps(document.process_bind_param(v, _PG))
    kind = _kind(column)
    if isinstance(kind, JSON):
        return lambda v: v if v is None or isinstance(v, JsonText) else json.dumps(v)
    if isinstance(kind, String):
        return lambda v: v.value if isinstance(v, Enum) else v
    if isinstance(kind, Uuid):
        return lambda v: uuid.UUID(v) if isinstance(v, str) else v
    if isinstance(kind, Float):
        return lambda v: float(v) if isinstance(v, int) else v
    return None


def _columns(table: Table, row: Mapping[str, Any]) -> list[Column[Any]]:
    columns = [c for c in table.columns if c.name in row]
    if len(columns) != len(row):
        raise ValueError(f"{table.name}: unknown columns {sorted(set(row) - set(table.c.keys()))}")
    for c in table.columns:
        if c.name not in row and c.default is not None:
            # executemany would fill it in from the Python default; the unnest cannot
            raise ValueError(f"{table.name}.{c.name} has a Python default: give it a value")
    return columns


def pg_unnest(table: Table, rows: Sequence[Mapping[str, Any]], suffix: str = ""
              ) -> tuple[str, dict[str, list[Any]]]:
    """The unnest INSERT of these rows (for ``exec_driver_sql``) and its parameters, one
    array per column, sent in binary (``%b``: psycopg dumps a text array in Python, ten
    times slower).  ``suffix``: an ON CONFLICT clause."""
    rows = pii.complete_rows(table, rows)
    columns = _columns(table, rows[0])
    names = ", ".join(f'"{c.name}"' for c in columns)
    arrays = ", ".join(f"CAST(%(p{i})b AS {_array_type(c)})" for i, c in enumerate(columns))
    select = ", ".join(f"t.c{i}::json" if isinstance(_kind(c), JSON) else f"t.c{i}"
                       for i, c in enumerate(columns))
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    # names from the table's metadata, values only as parameters
    sql = (f'INSERT INTO "{table.name}" ({names}) SELECT {select} '  # noqa: S608
           f"FROM unnest({arrays}) AS t({aliases}) {suffix}")
    params: dict[str, list[Any]] = {}
    for i, c in enumerate(columns):
        values = [r[c.name] for r in rows]
        coerce = _coerce(c)
        params[f"p{i}"] = values if coerce is None else [coerce(v) for v in values]
    return sql, params


@functools.cache
def _json_as_text(table: Table) -> Table:
    """``table`` with its JSON columns as plain text, for rows carrying :class:`JsonText`
    (SQLite stores JSON as text: the same bytes as SQLAlchemy's JSON type writes)."""
    columns = [Column(c.name, Text() if isinstance(_kind(c), JSON) else c.type) for c in table.columns]
    return Table(table.name, MetaData(), *columns)


def insert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT the rows (all with the same keys) in one statement on PostgreSQL."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        rows = pii.complete_rows(table, rows)  # (pg_unnest completes its own rows)
        if any(isinstance(v, JsonText) for v in rows[0].values()):
            table = _json_as_text(table)
        session.execute(table.insert(), list(rows))
        return
    execute(session, *pg_unnest(table, rows))


def execute(session: Session, sql: str, params: dict[str, Any]) -> None:
    """A statement with psycopg placeholders, in the session's transaction (errors wrapped
    as SQLAlchemy's, IntegrityError included)."""
    session.connection().exec_driver_sql(sql, params)
