"""A decision as a scoring run stores it: its content fingerprint and its row, made fast.

The fingerprint is the sha256 of :meth:`Decision.as_dict` WITHOUT the reference date, as
canonical JSON (:func:`content_fingerprint`, the definition). A city-wide run fingerprints
~500,000 decisions, and most of what they say repeats: the same reasons, desil, rule set
and missing inputs across families, and one input list shared by every member of a family
for a person-level programme. :class:`DecisionEncoder` serialises each repeated part once
and assembles the canonical JSON from the parts. A JSON object with sorted keys is its
sorted members joined, so the bytes are exactly those of ``json.dumps`` on the whole (the
tests compare the two on every decision), and fingerprints stored by earlier runs still
match.

The JSON columns of a written row (``reasons``, ``missing``, ``inputs``) are serialised the
way SQLAlchemy serialises them (``json.dumps`` with its defaults), once per distinct value,
and handed to :func:`app.bulk.insert` as :class:`app.bulk.JsonText`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date, datetime
from typing import Any

from app.bulk import JsonText
from app.eligibility.decide import Decision
from app.eligibility.facts import DesilInfo
from app.eligibility.store import FAMILY_SUBJECT


def _iso(value: Any) -> str:
    """A date input as :meth:`Decision.as_dict` writes it (the encoders call this for what
    JSON has no type for, so an input tuple is encoded as a plain dict, in C)."""
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# the canonical JSON of a fingerprint
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_iso)
# what SQLAlchemy (and app.bulk) store in a JSON column: json.dumps with its defaults
_COLUMN = json.JSONEncoder(default=_iso)
CACHE_LIMIT = 20_000  # distinct values kept per cache before it is emptied (memory bound)


def content_fingerprint(decision: Decision) -> str:
    """The definition: sha256 of the decision's canonical JSON, the reference date left out."""
    data = decision.as_dict()
    del data["reference_date"]
    raw = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class _Cache(dict[Any, Any]):
    """A dict emptied when it reaches ``limit`` entries (values are cheap to recompute)."""

    def __init__(self, limit: int = CACHE_LIMIT) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: Any, value: Any) -> Any:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


class DecisionEncoder:
    """Fingerprints and rows of the decisions of one run. Call :meth:`next_family` before
    each family's decisions (the input lists are cached per family)."""

    def __init__(self, *, rule_set_id: int, run_id: int) -> None:
        self.rule_set_id, self.run_id = rule_set_id, run_id
        self._desil = _Cache()
        self._reasons = _Cache()
        self._missing = _Cache()
        self._strings = _Cache()
        self._column_reasons = _Cache()
        self._column_missing = _Cache()
        # by identity: evaluate() hands every member of a person-level programme the same
        # tuple, and a value key would take 1 and True (equal in Python) for one another;
        # each entry holds its tuple, so an id is not reused while the family is encoded
        self._inputs: dict[int, tuple[Any, str, dict[str, Any]]] = {}
        self._column_inputs: dict[int, tuple[Any, JsonText]] = {}

    def next_family(self) -> None:
        self._inputs.clear()
        self._column_inputs.clear()

    def _str(self, s: str) -> str:
        found = self._strings.get(s)
        return found if found is not None else self._strings.put(s, _CANONICAL.encode(s))

    def _inputs_of(self, inputs: tuple[tuple[str, Any], ...]) -> tuple[Any, str, dict[str, Any]]:
        found = self._inputs.get(id(inputs))
        if found is None:
            data = dict(inputs)
            found = self._inputs[id(inputs)] = (inputs, _CANONICAL.encode(data), data)
        return found

    def fingerprint(self, d: Decision) -> str:
        """Equal to :func:`content_fingerprint` (d)."""
        desil = self._desil.get(d.desil)
        if desil is None:
            desil = self._desil.put(d.desil, _CANONICAL.encode(d.desil.as_dict()))
        reasons = self._reasons.get(d.reasons)
        if reasons is None:
            reasons = self._reasons.put(d.reasons, _CANONICAL.encode([r.as_dict() for r in d.reasons]))
        missing = self._missing.get(d.missing)
        if missing is None:
            missing = self._missing.put(d.missing, _CANONICAL.encode(list(d.missing)))
        member = "null" if d.member_key is None else _CANONICAL.encode(d.member_key)
        # the members of the canonical object, in sorted key order
        raw = "".join(
            (
                '{"desil":',
                desil,
                ',"family_key":',
                _CANONICAL.encode(d.family_key),
                ',"inputs":',
                self._inputs_of(d.inputs)[1],
                ',"member_key":',
                member,
                ',"missing":',
                missing,
                ',"outcome":',
                self._str(d.outcome),
                ',"programme_id":',
                self._str(d.programme_id),
                ',"reasons":',
                reasons,
                ',"ruleset":',
                self._str(d.ruleset),
                ',"ruleset_digest":',
                self._str(d.ruleset_digest),
                ',"unit":',
                self._str(d.unit),
                "}",
            )
        )
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def row(
        self, d: Decision, *, household_id: uuid.UUID, member_id: uuid.UUID | None, fp: str, now: datetime
    ) -> dict[str, Any]:
        """The ``eligibility_decision`` row of a decision to write (current)."""
        reasons = self._column_reasons.get(d.reasons)
        if reasons is None:
            reasons = self._column_reasons.put(
                d.reasons, JsonText(_COLUMN.encode([r.as_dict() for r in d.reasons]))
            )
        missing = self._column_missing.get(d.missing)
        if missing is None:
            missing = self._column_missing.put(d.missing, JsonText(_COLUMN.encode(list(d.missing))))
        found = self._column_inputs.get(id(d.inputs))
        if found is None:
            text = JsonText(_COLUMN.encode(self._inputs_of(d.inputs)[2]))
            found = self._column_inputs[id(d.inputs)] = (d.inputs, text)
        inputs = found[1]
        info: DesilInfo = d.desil
        return {
            "household_id": household_id,
            "member_id": member_id,
            "subject": d.member_key or FAMILY_SUBJECT,
            "programme_id": d.programme_id,
            "unit": d.unit,
            "outcome": d.outcome,
            "reasons": reasons,
            "missing": missing,
            "inputs": inputs,
            "desil": info.desil,
            "desil_source": info.source,
            "desil_period": info.period,
            "desil_model": info.model_version,
            "rule_set_id": self.rule_set_id,
            "ruleset_label": d.ruleset,
            "ruleset_digest": d.ruleset_digest,
            "reference_date": d.reference_date,
            "fingerprint": fp,
            "run_id": self.run_id,
            "decided_at": now,
            "current": True,
            "superseded_at": None,
            "superseded_by_run": None,
        }
