"""Recipient lists (who actually receives each programme) and the errors they reveal.

Import: the file is read by :mod:`recipient_file`, its rows matched by :mod:`keyed_match`
(the desil import's machinery), all or nothing per file unless ``accept_valid``. A programme
id not in the active rule set is refused. Recipients are added per (programme, period): a
second file (another tranche, another bank) adds its rows; a row already listed is counted
unchanged; the same file again is "already imported". Insertion is idempotent by the unique
constraint (``ON CONFLICT DO NOTHING``), not by the check before it.

Errors: :mod:`recipient_repository` computes them in SQL; this module adds the reasons' text.
Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.audit import service as audit
from app.audit.service import ActorRef
from app.eligibility import keyed_match
from app.eligibility import recipient_repository as rrepo
from app.eligibility import repository as repo
from app.eligibility.keyed_file import KeyedFile
from app.eligibility.keyed_match import ImportResult
from app.eligibility.recipient_repository import ErrorKind, ErrorRow
from app.eligibility.rules_service import compiled
from app.eligibility.store import FAMILY_SUBJECT, ProgrammeRecipient, RecipientImport
from app.errors import InvalidData

_RECIPIENT = ProgrammeRecipient.__table__  # type: ignore[attr-defined]
NO_DECISION = (
    "belum ada keputusan untuk penerima ini (di luar sasaran program atau belum dinilai)",
    "no decision for this recipient (outside the programme's target group, or not scored yet)",
)


class UnknownProgramme(InvalidData):
    """A programme id that the active rule set does not define (422)."""


def programme_unit(*, session: Session, programme_id: str) -> str:
    """``family`` or ``person``: the unit of ``programme_id`` in the ACTIVE rule set;
    UnknownProgramme when there is no active set or it has no such programme."""
    record = repo.active_rule_set(session)
    if record is None:
        raise UnknownProgramme.one(
            "programme",
            "active_rule_set",
            "no active rule set: load and activate one (sigap rules) first / belum ada aturan aktif",
        )
    ruleset = compiled(record)
    known = sorted(p.id for p in ruleset.programmes)
    if programme_id not in known:
        raise UnknownProgramme.one(
            "programme",
            "known_programme",
            f"programme {programme_id!r} is not in the active rule set {record.label} "
            f"(known: {', '.join(known)}) / program {programme_id!r} tidak ada di aturan aktif",
        )
    return str(ruleset.programme(programme_id).unit)


@dataclass(kw_only=True)
class RecipientImportResult(ImportResult):
    programme_id: str
    unit: str


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_RECIPIENT).on_conflict_do_nothing(
        index_elements=["programme_id", "period", "household_id", "subject"]
    )
    session.execute(stmt, rows)


def _import_id(record: RecipientImport | None) -> int | None:
    return record.id if record is not None else None


def import_recipients(
    *,
    session: Session,
    data: KeyedFile,
    programme_id: str,
    actor: ActorRef,
    accept_valid: bool = False,
) -> RecipientImportResult:
    """Store the matched rows of a checked recipient file for ``programme_id`` and the file's
    period; flushes. Nothing is stored when the programme is unknown (UnknownProgramme), the
    file has row problems (unless ``accept_valid``) or it was already imported."""
    unit = programme_unit(session=session, programme_id=programme_id)
    result = RecipientImportResult(status="refused", programme_id=programme_id, unit=unit)
    matched = keyed_match.match_file(
        session,
        data,
        result,
        accept_valid=accept_valid,
        earlier_import=lambda: _import_id(rrepo.find_import(session, data.sha256, programme_id, data.period)),
        unit="person" if unit == "person" else "family",
    )
    if matched is None:
        return result
    record = RecipientImport(
        programme_id=programme_id,
        period=data.period,
        file_name=data.name[:200],
        sha256=data.sha256,
        imported_by=actor.name[:80],
        accept_valid=accept_valid,
        **result.record_counts(data),
    )
    session.add(record)
    session.flush()
    listed = rrepo.listed_subjects(
        session, programme_id, data.period, sorted({m.household_id for m in matched if m.household_id})
    )
    new_rows = []
    for m in matched:
        assert m.household_id is not None
        subject = str(m.member_id) if m.member_id else FAMILY_SUBJECT
        if (m.household_id, subject) in listed:
            result.unchanged += 1
            continue
        new_rows.append(
            {
                "programme_id": programme_id,
                "period": data.period,
                "household_id": m.household_id,
                "member_id": m.member_id,
                "subject": subject,
                "import_id": record.id,
                "row_number": m.row.row,
                "created_at": record.imported_at,
            }
        )
    _insert_ignoring_duplicates(session, new_rows)
    record.written, record.unchanged = len(new_rows), result.unchanged
    audit.write(
        session,
        [
            audit.entry(
                actor=actor,
                action="recipient.import",
                entity_type="recipient_import",
                entity_id=str(record.id),
                changes={
                    "file": [None, record.file_name],
                    "sha256": [None, record.sha256],
                    "programme": [None, programme_id],
                    "period": [None, record.period],
                    "matched": [None, record.matched],
                    "written": [None, record.written],
                },
            )
        ],
    )
    session.flush()
    result.status, result.import_id = "imported", record.id
    result.matched, result.written = len(matched), record.written
    return result


# ---------------------------------------------------------------- errors


def reason_texts(row: ErrorRow) -> tuple[str, str]:
    """The decision's reasons joined (Bahasa Indonesia, English); for a recipient without a
    current decision, why there is none."""
    if row.outcome is None:
        return NO_DECISION
    return (
        "; ".join(str(r.get("text_id", "")) for r in row.reasons),
        "; ".join(str(r.get("text_en", "")) for r in row.reasons),
    )


@dataclass
class AreaCount:
    kecamatan_code: str
    kecamatan_name: str
    exclusion: int = 0
    inclusion: int = 0
    kelurahan: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # code -> name, excl, incl


def error_summary(
    *,
    session: Session,
    programme_id: str,
    period: str,
    kecamatan: str | None = None,
    kelurahan: str | None = None,
    scope: frozenset[str] | None = None,
    kinds: tuple[ErrorKind, ...] = ("exclusion", "inclusion"),
) -> list[AreaCount]:
    """Errors counted per kecamatan (and kelurahan), kecamatan by code."""
    out: dict[str, AreaCount] = {}
    for kind in kinds:
        for kec, kec_name, kel, kel_name, n in rrepo.error_counts(
            session,
            kind=kind,
            programme_id=programme_id,
            period=period,
            kecamatan=kecamatan,
            kelurahan=kelurahan,
            scope=scope,
        ):
            area = out.setdefault(kec, AreaCount(kec, kec_name))
            _, excl, incl = area.kelurahan.get(kel, (kel_name, 0, 0))
            if kind == "exclusion":
                area.exclusion += n
                area.kelurahan[kel] = (kel_name, excl + n, incl)
            else:
                area.inclusion += n
                area.kelurahan[kel] = (kel_name, excl, incl + n)
    return [out[k] for k in sorted(out)]


def list_errors(
    *,
    session: Session,
    kind: ErrorKind,
    programme_id: str,
    period: str,
    kecamatan: str | None = None,
    kelurahan: str | None = None,
    scope: frozenset[str] | None = None,
    after: int | None = None,
    size: int | None = None,
) -> list[ErrorRow]:
    """Errors of one kind (``size`` + 1 rows when paged, to tell whether there are more)."""
    return rrepo.errors_page(
        session,
        kind=kind,
        programme_id=programme_id,
        period=period,
        kecamatan=kecamatan,
        kelurahan=kelurahan,
        scope=scope,
        after=after,
        size=size,
    )
