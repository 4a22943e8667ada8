"""Identity check against Dukcapil (the civil registry): adapter, comparison, registry update.

* :class:`DukcapilAdapter`: where Dukcapil's answer comes from. :class:`ExtractFileAdapter`
  reads an extract file (the way data-sharing agreements deliver it); an online service
  would be another adapter with the same two methods. Tests never call outside services.
* :func:`compare`: one registry member against Dukcapil's record of the NIK, pure, with the
  status and every difference (both values) as reasons.
* :func:`check_households`: the last check of every active member in ``dukcapil_check``;
  a ``field_verified`` household whose head and members with a NIK all agree becomes
  ``dukcapil_matched``, and a matched one that no longer agrees goes back to
  ``field_verified``; both through the registry service (audited, in the change feed).

Status precedence (one status per member; ``details["differences"]`` lists them all):
``no_nik`` > ``nik_unknown`` > ``deceased`` > ``name_differs`` > ``birth_date_differs`` >
``sex_differs`` > ``matched``. A death outranks the identity fields because it is what
decides assistance; among the identity fields the name says most about a wrong NIK.
See docs/dukcapil.md.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from rapidfuzz.fuzz import token_sort_ratio
from sqlalchemy import delete
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import ActorRef
from app.auth.models import Role
from app.auth.permissions import Principal
from app.db import utcnow
from app.reconcile.dukcapil_extract import DukcapilPerson, file_source, read_extract
from app.reconcile.names import COMMON_FOLDED, fold, is_initial, normalise
from app.reconcile.store import DukcapilCheck
from app.registry import service as registry
from app.registry import tasks
from app.registry.codes import LABELS_ID, VerificationStatus
from app.registry.identifiers import mask
from app.registry.models import FieldTask, Household, Member
from app.registry.schemas import HouseholdUpdate

__all__ = ["STATUSES", "CheckResult", "CheckSummary", "DukcapilAdapter", "DukcapilPerson",
           "ExtractFileAdapter", "active_household_ids", "check_households", "compare", "name_agreement"]

MATCHED, NIK_UNKNOWN, NAME_DIFFERS = "matched", "nik_unknown", "name_differs"
BIRTH_DATE_DIFFERS, SEX_DIFFERS, DECEASED, NO_NIK = "birth_date_differs", "sex_differs", "deceased", "no_nik"
STATUSES = (MATCHED, NIK_UNKNOWN, NAME_DIFFERS, BIRTH_DATE_DIFFERS, SEX_DIFFERS, DECEASED, NO_NIK)
# (English, Bahasa Indonesia) for each status: what officials read
STATUS_TEXT: dict[str, tuple[str, str]] = {
    MATCHED: ("matches Dukcapil", "padan dengan Dukcapil"),
    NIK_UNKNOWN: ("NIK not found in Dukcapil", "NIK tidak ditemukan di Dukcapil"),
    NAME_DIFFERS: ("name differs from Dukcapil", "nama berbeda dengan Dukcapil"),
    BIRTH_DATE_DIFFERS: ("birth date differs from Dukcapil", "tanggal lahir berbeda dengan Dukcapil"),
    SEX_DIFFERS: ("sex differs from Dukcapil", "jenis kelamin berbeda dengan Dukcapil"),
    DECEASED: ("deceased according to Dukcapil", "meninggal menurut Dukcapil"),
    NO_NIK: ("no NIK in the registry", "belum ada NIK di data"),
}
_FIELD_STATUS = {"full_name": NAME_DIFFERS, "birth_date": BIRTH_DATE_DIFFERS, "sex": SEX_DIFFERS}
NAME_SIMILAR_MIN = 90.0  # rapidfuzz token_sort_ratio of the folded names: a typing error


class DukcapilAdapter(Protocol):
    """Where Dukcapil's records come from."""

    @property
    def source(self) -> str:
        """Recorded in ``dukcapil_check.source`` (at most 80 characters)."""
        ...

    def lookup(self, nik: str) -> DukcapilPerson | None: ...

    def lookup_many(self, niks: Collection[str]) -> dict[str, DukcapilPerson]:
        """The known NIKs among ``niks``; unknown ones are absent."""
        ...


class ExtractFileAdapter:
    """Dukcapil's answers from an extract file, read and checked whole when built."""

    def __init__(self, persons: Sequence[DukcapilPerson], *, source: str) -> None:
        self._by_nik = {p.nik: p for p in persons}
        self._source = source[:80]

    @classmethod
    def from_file(cls, path: Path) -> ExtractFileAdapter:
        """Raises ``records.CsvInputError`` naming the row and column of the first problem."""
        return cls(read_extract(path), source=file_source(path))

    @property
    def source(self) -> str:
        return self._source

    def __len__(self) -> int:
        return len(self._by_nik)

    def lookup(self, nik: str) -> DukcapilPerson | None:
        return self._by_nik.get(nik)

    def lookup_many(self, niks: Collection[str]) -> dict[str, DukcapilPerson]:
        return {n: self._by_nik[n] for n in niks if n in self._by_nik}


# --- comparison (pure) ---------------------------------------------------------------------

class RegistryPerson(Protocol):
    """What the comparison reads of a registry member (``Member`` fits)."""

    @property
    def nik(self) -> str | None: ...
    @property
    def full_name(self) -> str: ...
    @property
    def sex(self) -> str: ...
    @property
    def birth_date(self) -> date | None: ...
    @property
    def alive(self) -> bool: ...


@dataclass(frozen=True)
class NameAgreement:
    # exact | spelling | initial | similar | partial | different
    level: str
    score: float  # rapidfuzz token_sort_ratio of the folded names, 0-100

    @property
    def agrees(self) -> bool:
        return self.level != "different"


def _initials_pair(a: list[str], b: list[str]) -> bool:
    """Every token pairs up, equal or as an initial with a word of that letter."""
    left, right = list(a), list(b)
    for t in [x for x in left if not is_initial(x)]:
        if t in right:
            left.remove(t)
            right.remove(t)
    for side, other in ((left, right), (right, left)):
        for t in [x for x in side if is_initial(x)]:
            hit = next((o for o in other if o.startswith(t)), None)
            if hit is None:
                return False
            side.remove(t)
            other.remove(hit)
    return not left and not right


def name_agreement(registry_name: str, dukcapil_name: str) -> NameAgreement:
    """How far a registry name agrees with Dukcapil's: titles, old spellings (Joesoef = Yusuf),
    Moh./Muhammad, word order and initials are forgiven; a typing error is ``similar``; a name
    that leaves out ONE word of the other is ``partial`` if what remains is not a common name."""
    ta, tb = normalise(registry_name), normalise(dukcapil_name)
    fa, fb = [fold(t) for t in ta], [fold(t) for t in tb]
    score = round(token_sort_ratio(" ".join(fa), " ".join(fb)), 1)
    if sorted(ta) == sorted(tb):
        return NameAgreement("exact", score)
    if sorted(fa) == sorted(fb):
        return NameAgreement("spelling", score)
    if any(map(is_initial, fa + fb)) and _initials_pair(fa, fb):
        return NameAgreement("initial", score)
    if score >= NAME_SIMILAR_MIN:
        return NameAgreement("similar", score)
    short, long_ = sorted((fa, fb), key=len)
    if (len(long_) - len(short) == 1 and set(short) <= set(long_)
            and any(t not in COMMON_FOLDED and not is_initial(t) for t in short)):
        return NameAgreement("partial", score)
    return NameAgreement("different", score)


@dataclass(frozen=True)
class CheckResult:
    status: str
    details: dict[str, Any]

    @property
    def agrees(self) -> bool:
        """Counts towards ``dukcapil_matched``: matched, or deceased where the registry already
        records the death and nothing else differs."""
        if self.status == MATCHED:
            return True
        return (self.status == DECEASED and self.details.get("registry_alive") is False
                and not self.details.get("differences"))


def _difference(name: str, registry_value: Any, dukcapil_value: Any) -> dict[str, Any]:
    english, indonesian = STATUS_TEXT[_FIELD_STATUS[name]]
    return {"field": name, "registry": registry_value, "dukcapil": dukcapil_value,
            "reason": english, "reason_id": indonesian}


def compare(member: RegistryPerson, record: DukcapilPerson | None) -> CheckResult:
    """The status of one member against Dukcapil's record of its NIK (None: unknown), with
    details: NIK masked, every difference with both values, the reason in both languages."""
    details: dict[str, Any] = {"nik": mask(member.nik)}

    def result(status: str) -> CheckResult:
        details["reason"], details["reason_id"] = STATUS_TEXT[status]
        return CheckResult(status, details)

    if not member.nik:
        return result(NO_NIK)
    if record is None:
        return result(NIK_UNKNOWN)
    differences = []
    name = name_agreement(member.full_name, record.full_name)
    details["name"] = {"level": name.level, "score": name.score}
    if not name.agrees:
        differences.append(_difference("full_name", member.full_name, record.full_name))
    if member.birth_date is None:
        details["notes"] = ["birth date empty in the registry; Dukcapil has one"]
    elif member.birth_date != record.birth_date:
        differences.append(_difference("birth_date", member.birth_date.isoformat(),
                                       record.birth_date.isoformat()))
    if member.sex != record.sex:
        differences.append(_difference("sex", member.sex, record.sex))
    details["differences"] = differences
    details["registry_alive"] = member.alive
    if record.kk_number:
        details["dukcapil_kk"] = mask(record.kk_number)
    if record.deceased:
        details["dukcapil_death_date"] = record.death_date.isoformat() if record.death_date else None
        return result(DECEASED)
    if not member.alive:
        details.setdefault("notes", []).append("the registry records a death Dukcapil does not")
    return result(_FIELD_STATUS[differences[0]["field"]] if differences else MATCHED)


# --- the registry side ---------------------------------------------------------------------

SYSTEM_PRINCIPAL = Principal(user_id=0, username="dukcapil", role=Role.admin, kelurahan_scope=None,
                             full_identifiers=True)
BATCH = 500


@dataclass
class CheckSummary:
    households: int = 0
    members: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    written: int = 0       # check rows new or changed
    unchanged: int = 0     # check rows already saying the same
    promoted: list[uuid.UUID] = field(default_factory=list)   # -> dukcapil_matched
    demoted: list[uuid.UUID] = field(default_factory=list)    # dukcapil_matched -> field_verified
    # every member agrees, but the household is not field_verified (a visit comes first)
    agree_unverified: int = 0
    skipped: int = 0       # ids given that are not active households
    death_visits: int = 0  # field tasks opened: Dukcapil records a death the registry does not

    def add(self, other: CheckSummary) -> None:
        self.households += other.households
        self.members += other.members
        self.statuses.update(other.statuses)
        self.written += other.written
        self.unchanged += other.unchanged
        self.promoted += other.promoted
        self.demoted += other.demoted
        self.agree_unverified += other.agree_unverified
        self.skipped += other.skipped
        self.death_visits += other.death_visits


def active_household_ids(session: Session, *, kecamatan_code: str | None = None) -> list[uuid.UUID]:
    """Active households (of one kecamatan, Kemendagri code ``82.71.CC``) in id order."""
    stmt = select(Household.id).where(col(Household.deleted_at).is_(None)).order_by(col(Household.id))
    if kecamatan_code is not None:
        stmt = stmt.where(col(Household.kelurahan_code).startswith(kecamatan_code + "."))
    return list(session.exec(stmt))


def _lock_households(session: Session, ids: Sequence[uuid.UUID]) -> list[Household]:
    """Active households, row-locked in id order (the registry's lock order), fresh from the row."""
    stmt = (select(Household).where(col(Household.id).in_(sorted(set(ids))),
                                    col(Household.deleted_at).is_(None))
            .order_by(col(Household.id)).with_for_update())
    return list(session.exec(stmt.execution_options(populate_existing=True)))


@dataclass(frozen=True, slots=True)
class MemberRow:
    """The columns of an active member the check reads (not the ORM object: a city-wide run
    loads every member, and the full rows were half its time)."""

    id: uuid.UUID
    household_id: uuid.UUID
    relation: str
    nik: str | None
    full_name: str
    sex: str
    birth_date: date | None
    alive: bool


_MEMBER_COLUMNS = [col(getattr(Member, f.name)) for f in dataclasses.fields(MemberRow)]


def _members(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[MemberRow]]:
    out: dict[uuid.UUID, list[MemberRow]] = {i: [] for i in ids}
    stmt = (sa_select(*_MEMBER_COLUMNS)
            .where(col(Member.household_id).in_(ids), col(Member.deleted_at).is_(None))
            .order_by(col(Member.household_id), col(Member.created_at), col(Member.id)))
    for row in session.execute(stmt):
        out[row.household_id].append(MemberRow(*row))
    return out


_CHECK_TABLE = DukcapilCheck.__table__  # type: ignore[attr-defined]
_Stored = tuple[uuid.UUID, str, dict[str, Any], str]  # household_id, status, details, source


def _existing(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, _Stored]:
    c = _CHECK_TABLE.c
    stmt = sa_select(c.member_id, c.household_id, c.status, c.details, c.source).where(
        c.household_id.in_(ids))
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in session.execute(stmt)}


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    """INSERT .. ON CONFLICT (member_id) DO UPDATE: never check-then-insert."""
    if not rows:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(_CHECK_TABLE)
    stmt = stmt.on_conflict_do_update(
        index_elements=["member_id"],
        set_={c: stmt.excluded[c] for c in ("household_id", "status", "details", "source", "checked_at")})
    session.execute(stmt, rows)


def _household_agrees(members: list[MemberRow], results: dict[uuid.UUID, CheckResult]) -> bool:
    head = next((m for m in members if m.relation == "head"), None)
    if head is None or not head.nik or not results[head.id].agrees:
        return False
    return all(results[m.id].agrees for m in members if m.nik)


def _reason(members: list[MemberRow], results: dict[uuid.UUID, CheckResult], agrees: bool) -> str:
    """Why the status moved, in Bahasa Indonesia, without identifiers (the history shows it)."""
    if agrees:
        with_nik = sum(1 for m in members if m.nik)
        return f"Padan Dukcapil: kepala keluarga dan {with_nik - 1} anggota lain ber-NIK cocok"
    failing = [f"{LABELS_ID.get(m.relation, m.relation).lower()} ({str(m.id)[:8]}): "
               f"{STATUS_TEXT[results[m.id].status][1]}"
               for m in members if (m.nik or m.relation == "head") and not results[m.id].agrees]
    return "Tidak lagi padan Dukcapil: " + "; ".join(failing)


def _set_status(session: Session, household: Household, new: VerificationStatus, reason: str,
                members: list[MemberRow], results: dict[uuid.UUID, CheckResult], actor: ActorRef) -> None:
    old = household.verification_status
    registry.update_household(session=session, household_id=household.id,
                              data=HouseholdUpdate(version=household.version, verification_status=new),
                              actor=actor, principal=SYSTEM_PRINCIPAL)
    # the why, beside the field diff update_household wrote (an entity of its own, so the
    # sync's per-field history of the household does not see a field "reason")
    audit.record(session, actor=actor, action="dukcapil_check", entity_type="dukcapil_check",
                 entity_id=str(household.id), household_id=household.id, version=household.version,
                 changes={"verification_status": [old, new.value], "reason": [None, reason],
                          "members": [None, {str(m.id): results[m.id].status for m in members}]})


def _check_batch(session: Session, adapter: DukcapilAdapter, ids: Sequence[uuid.UUID],
                 actor: ActorRef) -> CheckSummary:
    summary = CheckSummary()
    households = _lock_households(session, ids)
    summary.skipped = len(set(ids)) - len(households)
    live = [h.id for h in households]
    members = _members(session, live)
    existing = _existing(session, live)
    found = adapter.lookup_many({m.nik for ms in members.values() for m in ms if m.nik})
    now = utcnow()
    rows, results = [], {}
    for m in (m for ms in members.values() for m in ms):
        result = results[m.id] = compare(m, found.get(m.nik) if m.nik else None)
        summary.statuses[result.status] += 1
        if existing.get(m.id) == (m.household_id, result.status, result.details, adapter.source):
            summary.unchanged += 1
            continue
        rows.append({"member_id": m.id, "household_id": m.household_id, "status": result.status,
                     "details": result.details, "source": adapter.source, "checked_at": now})
    _upsert(session, rows)
    summary.written = len(rows)
    summary.death_visits += _ask_for_death_visits(session, households, members, rows)
    _close_death_visits(session, households, members, results)
    summary.members = len(results)
    gone = [mid for mid in existing if mid not in results]  # members deleted since the last check
    if gone:
        session.execute(delete(_CHECK_TABLE).where(_CHECK_TABLE.c.member_id.in_(gone)))
    for household in households:
        summary.households += 1
        ms = members[household.id]
        agrees = _household_agrees(ms, results)
        status = household.verification_status
        if agrees and status == VerificationStatus.field_verified:
            _set_status(session, household, VerificationStatus.dukcapil_matched,
                        _reason(ms, results, True), ms, results, actor)
            summary.promoted.append(household.id)
        elif not agrees and status == VerificationStatus.dukcapil_matched:
            _set_status(session, household, VerificationStatus.field_verified,
                        _reason(ms, results, False), ms, results, actor)
            summary.demoted.append(household.id)
        elif agrees and status != VerificationStatus.dukcapil_matched:
            summary.agree_unverified += 1
    session.flush()
    return summary


def _ask_for_death_visits(session: Session, households: Sequence[Household],
                          members: dict[uuid.UUID, list[MemberRow]], rows: list[dict[str, Any]]) -> int:
    """A death Dukcapil records and the registry does not is not applied here (the extract is
    matched on the NIK alone: a mistyped NIK would "kill" a living resident); it becomes a
    visit for the kelurahan's enumerator, who records it through the registry. Only for a
    check row that is new or changed, so a rerun opens nothing."""
    newly_dead = {r["member_id"] for r in rows if r["status"] == DECEASED}
    opened = 0
    for household in households:
        dead = [m for m in members[household.id] if m.id in newly_dead and m.alive]
        if not dead:
            continue
        who = ", ".join(LABELS_ID.get(m.relation, m.relation) for m in dead)
        tasks.open_task(session, household, kind=tasks.VERIFY_DEATH,
                        note=f"Dukcapil mencatat meninggal: {who}. Pastikan dan perbarui data.")
        opened += 1
    return opened


def _close_death_visits(session: Session, households: Sequence[Household],
                        members: dict[uuid.UUID, list[MemberRow]],
                        results: dict[uuid.UUID, CheckResult]) -> None:
    """A death visit is done once the registry records every death Dukcapil does."""
    open_for = set(session.exec(select(FieldTask.household_id).where(
        col(FieldTask.household_id).in_([h.id for h in households]),
        FieldTask.kind == tasks.VERIFY_DEATH, FieldTask.status == "open")).all())
    for household_id in open_for:
        if not any(results[m.id].status == DECEASED and m.alive for m in members[household_id]):
            tasks.close_tasks(session, household_id, "done", kind=tasks.VERIFY_DEATH)


def check_households(session: Session, adapter: DukcapilAdapter, household_ids: Sequence[uuid.UUID] | None,
                     actor: ActorRef, progress: Callable[[int, int], None] | None = None) -> CheckSummary:
    """Check every active member of these households (None: all active ones); flushes, never
    commits. Running it again with the same answers writes nothing (no audit, no version)."""
    ids = list(household_ids) if household_ids is not None else active_household_ids(session)
    summary = CheckSummary()
    for start in range(0, len(ids), BATCH):
        summary.add(_check_batch(session, adapter, ids[start:start + BATCH], actor))
        if progress is not None:
            progress(min(start + BATCH, len(ids)), len(ids))
    return summary
