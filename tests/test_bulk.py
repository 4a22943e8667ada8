"""app.bulk: many rows in one statement, on both engines, as an ordinary INSERT would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from app import bulk
from app.audit.models import AuditEntry
from app.registry.codes import Sex

_AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]


def _entry(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "occurred_at": datetime.now(UTC), "actor_id": None, "actor_name": "bulk test",
        "channel": "api", "action": "create", "entity_type": "member",
        "entity_id": str(uuid.uuid4()), "household_id": None, "changes": {"sex": [None, "male"]},
        "request_id": None, "entity_version": 1, "device_id": None}
    row.update(over)
    return row


def test_rows_are_stored_as_given(db: Session) -> None:
    household = uuid.uuid4()
    rows = [_entry(household_id=household, changes={"n": [None, i], "when": [None, "2026-01-02"]})
            for i in range(3)]
    rows.append(_entry(household_id=household, actor_name=Sex.female))  # a str enum
    bulk.insert(db, _AUDIT, rows)
    stored = db.execute(select(_AUDIT.c.entity_id, _AUDIT.c.household_id, _AUDIT.c.changes,
                               _AUDIT.c.actor_name)
                        .where(_AUDIT.c.household_id == household)).all()
    by_id = {r.entity_id: r for r in stored}
    assert len(by_id) == 4
    for row in rows:
        got = by_id[str(row["entity_id"])]
        assert got.changes == row["changes"] and got.household_id == household
    assert by_id[str(rows[3]["entity_id"])].actor_name == "female"


def test_an_over_long_value_is_refused_not_cut(db: Session) -> None:
    """The arrays travel as text[]: a varchar(64) column still refuses 65 characters (a cast
    to varchar(64)[] would cut it silently).  SQLite does not check lengths."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce varchar lengths")
    with pytest.raises(DBAPIError), db.begin_nested():
        bulk.insert(db, _AUDIT, [_entry(), _entry(entity_id="x" * 65)])


def test_a_column_with_a_python_default_must_be_given(db: Session) -> None:
    row = _entry()
    del row["occurred_at"]
    if db.get_bind().dialect.name == "postgresql":
        with pytest.raises(ValueError, match="occurred_at"):
            bulk.insert(db, _AUDIT, [row])
    else:  # the executemany fills it in
        bulk.insert(db, _AUDIT, [row])
