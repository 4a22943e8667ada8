"""Rule sets in the database: load (validated or refused), activate, list, dry run.

A ``rule_set`` row is only ever written from a file that :func:`parse_ruleset` accepted, so
an invalid set can never be activated; the stored text is re-parsed (and its digest checked)
whenever the set is used.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, col

from app.audit import service as audit
from app.audit.service import ActorRef
from app.db import utcnow
from app.eligibility import repository as repo
from app.eligibility.compare import ABSENT
from app.eligibility.decide import evaluate
from app.eligibility.facts import NO_DESIL
from app.eligibility.loader import DEFAULT_RULES, parse_ruleset
from app.eligibility.rules import RuleSet
from app.eligibility.store import FAMILY_SUBJECT, RuleSetRecord
from app.errors import Conflict, NotFound


def compiled(record: RuleSetRecord) -> RuleSet:
    """The stored set as a :class:`RuleSet` (it validated when stored; the digest must agree)."""
    ruleset = parse_ruleset(record.source_text, source=record.source_name)
    if ruleset.digest != record.digest:
        raise Conflict(f"rule set {record.label}: stored text does not match its digest")
    return ruleset


def load_rules(
    *, session: Session, text: str, source_name: str, actor: ActorRef
) -> tuple[RuleSetRecord, bool]:
    """Store a validated rule file as a draft; (record, created). ``RuleSetInvalid`` (line and
    reason) when the file does not validate; Conflict when its label is taken by other text."""
    ruleset = parse_ruleset(text, source=source_name)
    existing = repo.rule_set_by_label(session, ruleset.label)
    if existing is not None:
        if existing.digest == ruleset.digest:
            return existing, False
        raise Conflict(
            f"rule set {ruleset.label} is already stored with different content; bump the version in the file"
        )
    record = RuleSetRecord(
        label=ruleset.label,
        ruleset_id=ruleset.id,
        version=ruleset.version,
        digest=ruleset.digest,
        source_name=source_name[:200],
        source_text=text,
        created_by=actor.name[:80],
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="rules.load",
        entity_type="rule_set",
        entity_id=str(record.id),
        changes={"label": [None, record.label], "digest": [None, record.digest]},
    )
    return record, True


def activate(*, session: Session, label: str, actor: ActorRef) -> RuleSetRecord:
    """Make ``label`` the active set; the one active before is retired. Flushes."""
    record = repo.rule_set_by_label(session, label, for_update=True)
    if record is None:
        raise NotFound(f"no rule set {label!r}; load it first (sigap rules load FILE)")
    compiled(record)  # still valid and intact
    if record.status == "active":
        return record
    now = utcnow()
    before = repo.active_rule_set(session)
    if before is not None:  # retire first: the partial unique index allows one active row
        session.execute(
            update(RuleSetRecord)
            .where(col(RuleSetRecord.id) == before.id)
            .values(status="retired", retired_at=now)
        )
        session.flush()
    record.status, record.activated_by, record.activated_at, record.retired_at = (
        "active",
        actor.name[:80],
        now,
        None,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="rules.activate",
        entity_type="rule_set",
        entity_id=str(record.id),
        changes={"status": [None, "active"], "replaces": [None, before.label if before else None]},
    )
    return record


def ensure_active(*, session: Session, actor: ActorRef, path: Path = DEFAULT_RULES) -> RuleSetRecord | None:
    """On first use (no rule set stored at all) load the shipped rules and activate them;
    otherwise the active set (None if an operator retired them all)."""
    active = repo.active_rule_set(session)
    if active is not None or repo.count_rule_sets(session):
        return active
    record, _ = load_rules(
        session=session, text=path.read_text(encoding="utf-8"), source_name=path.name, actor=actor
    )
    return activate(session=session, label=record.label, actor=actor)


@dataclass
class DryRun:
    """Transitions between the current decisions and the candidate rules' ones."""

    candidate: str
    reference_date: date
    families: int = 0
    # (programme, kecamatan, desil label, before, after) -> [families, subjects]
    rows: dict[tuple[str, str, str, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    changing: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # programme -> families

    def changes(self) -> list[tuple[tuple[str, str, str, str, str], list[int]]]:
        return sorted((k, v) for k, v in self.rows.items() if k[3] != k[4])


def dry_run(
    *,
    session: Session,
    ruleset: RuleSet,
    reference_date: date,
    batch_size: int = 500,
    checkpoint: Callable[[int], None] | None = None,
) -> DryRun:
    """Evaluate every canonical family with ``ruleset`` and compare with the current decisions.
    Reads only; writes nothing."""
    result = DryRun(candidate=ruleset.label, reference_date=reference_date)
    kecamatan = repo.kecamatan_of_kelurahan(session)
    after = None
    while True:
        ids = repo.household_ids_page(session, after=after, size=batch_size)
        if not ids:
            break
        after = ids[-1]
        desils = repo.latest_desil(session, ids)
        old: dict[str, dict[tuple[str, str, str], str]] = defaultdict(dict)
        for h, p, s, o in repo.current_outcomes(session, ids):
            old[str(h)][(str(h), p, s)] = o
        for facts, kel in repo.family_facts(session, ids):
            hid = facts.key
            info = desils.get(uuid.UUID(hid), NO_DESIL)
            group_kec = " ".join(kecamatan.get(kel, (kel, ""))).strip()
            label = info.label("id")
            new = {
                (hid, d.programme_id, d.member_key or FAMILY_SUBJECT): d.outcome
                for d in evaluate(ruleset, facts, info, reference_date)
            }
            mine = old.get(hid, {})
            seen: dict[tuple[str, str, str, str, str], bool] = {}
            changed: set[str] = set()
            for key in mine.keys() | new.keys():
                before, after_o = mine.get(key, ABSENT), new.get(key, ABSENT)
                row = (key[1], group_kec, label, before, after_o)
                result.rows[row][1] += 1
                if row not in seen:
                    seen[row] = True
                    result.rows[row][0] += 1
                if before != after_o:
                    changed.add(key[1])
            for programme in changed:
                result.changing[programme] += 1
            result.families += 1
        if checkpoint is not None:
            checkpoint(result.families)
    return result
