"""The pilot's progress checklist: each stage's indicator, target and status, as pure functions.

The counts come from the database (``progress_repository.kelurahan_counts``: one grouped query
per source, per kelurahan, summed here to any area); the rules that turn counts into a
status live here, with all the wording in both languages, and are tested without a database.
docs/progress.md states every rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from app.appeals.rules import Window


class StageStatus(StrEnum):
    not_started = "not_started"
    in_progress = "in_progress"
    done = "done"
    no_target = "no_target"  # registration: the kelurahan has no target to compare with
    stale = "stale"  # scoring: every family scored, but the registry changed since the run


STATUS_LABELS: dict[StageStatus, tuple[str, str]] = {
    StageStatus.not_started: ("belum mulai", "not started"),
    StageStatus.in_progress: ("berjalan", "in progress"),
    StageStatus.done: ("selesai", "done"),
    StageStatus.no_target: ("belum ada target", "no target"),
    StageStatus.stale: ("perlu dihitung ulang", "needs re-scoring"),
}


@dataclass(frozen=True)
class StageInfo:
    code: str
    label_id: str
    label_en: str
    indicator_id: str
    indicator_en: str
    manual: bool = False  # a meeting or a decision, recorded as a milestone


STAGES: tuple[StageInfo, ...] = (
    StageInfo(
        "registration",
        "Pendaftaran keluarga",
        "Family registration",
        "keluarga terdaftar (rekaman kanonik) dibanding target kelurahan",
        "registered families (canonical records) against the kelurahan target",
    ),
    StageInfo(
        "field_verification",
        "Verifikasi lapangan",
        "Field verification",
        "keluarga terverifikasi lapangan atau padan Dukcapil",
        "families field-verified or matched with Dukcapil",
    ),
    StageInfo(
        "dukcapil_matching",
        "Pemadanan Dukcapil",
        "Dukcapil matching",
        "jiwa yang sudah dicek ke data Dukcapil",
        "persons checked against Dukcapil data",
    ),
    StageInfo(
        "reconciliation",
        "Pembersihan data ganda",
        "Duplicate reconciliation",
        "pasangan calon duplikat menunggu tinjauan",
        "duplicate candidates pending review",
    ),
    StageInfo(
        "scoring",
        "Penetapan kelayakan",
        "Eligibility scoring",
        "keluarga dengan keputusan dari aturan yang aktif",
        "families with decisions from the active rule set",
    ),
    StageInfo(
        "announcement",
        "Pengumuman hasil",
        "Announcement of results",
        "rapat/keputusan pengumuman dicatat (tanggal dan catatan)",
        "announcement meeting or decision recorded (date and note)",
        manual=True,
    ),
    StageInfo(
        "appeal_window",
        "Masa sanggah",
        "Appeal window",
        "sanggahan yang belum selesai",
        "appeals not yet decided",
    ),
)
STAGE_CODES = tuple(s.code for s in STAGES)
MANUAL_STAGES = tuple(s.code for s in STAGES if s.manual)


@dataclass(frozen=True)
class Counts:
    """What the database says about an area; additive over kelurahan (``+``)."""

    kelurahan: int = 0
    families: int = 0
    target_families: int | None = None  # sum of the targets there are; None: none at all
    targets_missing: int = 0  # kelurahan without a target
    verified: int = 0  # field_verified or dukcapil_matched
    rejected: int = 0
    persons: int = 0
    dukcapil_checked: int = 0
    dukcapil_matched: int = 0
    scored: int = 0  # canonical families with a current decision of the active rule set
    appeals_pending: int = 0
    last_change: datetime | None = None  # latest registry or desil change (deleted records too)

    def __add__(self, other: Counts) -> Counts:
        target = (
            None
            if self.target_families is None and other.target_families is None
            else (self.target_families or 0) + (other.target_families or 0)
        )
        changes = [c for c in (self.last_change, other.last_change) if c is not None]
        return Counts(
            kelurahan=self.kelurahan + other.kelurahan,
            families=self.families + other.families,
            target_families=target,
            targets_missing=self.targets_missing + other.targets_missing,
            verified=self.verified + other.verified,
            rejected=self.rejected + other.rejected,
            persons=self.persons + other.persons,
            dukcapil_checked=self.dukcapil_checked + other.dukcapil_checked,
            dukcapil_matched=self.dukcapil_matched + other.dukcapil_matched,
            scored=self.scored + other.scored,
            appeals_pending=self.appeals_pending + other.appeals_pending,
            last_change=max(changes) if changes else None,
        )


@dataclass(frozen=True)
class Milestone:
    stage: str
    kecamatan_code: str | None
    decided_on: date
    note: str
    id: int = 0
    recorded_by: str = ""
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class Context:
    """What is the same for every area: the rule set, the last run, the window, milestones."""

    today: date
    active_rule_set: str | None
    last_run_started: datetime | None  # the last finished run of the active rule set
    window: Window
    milestones: tuple[Milestone, ...] = ()


@dataclass(frozen=True)
class Stage:
    info: StageInfo
    status: StageStatus
    value: int | None
    target: int | None
    note_id: str = ""
    note_en: str = ""
    details: dict[str, int | str | None] = field(default_factory=dict)
    milestone: Milestone | None = None

    @property
    def share(self) -> float | None:
        if self.value is None or not self.target:
            return None
        return round(self.value / self.target, 4)


def _info(code: str) -> StageInfo:
    return next(s for s in STAGES if s.code == code)


def _progress(done: int, total: int) -> StageStatus:
    if total == 0 or done == 0:
        return StageStatus.not_started
    return StageStatus.done if done >= total else StageStatus.in_progress


def registration(c: Counts) -> Stage:
    info = _info("registration")
    details: dict[str, int | str | None] = {"kelurahan_without_target": c.targets_missing}
    if c.target_families is None:
        return Stage(
            info,
            StageStatus.no_target,
            c.families,
            None,
            "kelurahan belum punya target jumlah keluarga",
            "no family target has been set for the kelurahan",
            details,
        )
    if c.families == 0:
        return Stage(info, StageStatus.not_started, 0, c.target_families, details=details)
    if c.targets_missing:
        return Stage(
            info,
            StageStatus.in_progress,
            c.families,
            c.target_families,
            f"{c.targets_missing} kelurahan belum punya target",
            f"{c.targets_missing} kelurahan without a target",
            details,
        )
    status = StageStatus.done if c.families >= c.target_families else StageStatus.in_progress
    return Stage(info, status, c.families, c.target_families, details=details)


def field_verification(c: Counts) -> Stage:
    total = c.families - c.rejected
    note = (
        ("", "")
        if not c.rejected
        else (
            f"{c.rejected} keluarga ditolak (tidak dihitung)",
            f"{c.rejected} families rejected (not counted)",
        )
    )
    return Stage(
        _info("field_verification"),
        _progress(c.verified, total),
        c.verified,
        total,
        *note,
        details={"rejected": c.rejected},
    )


def dukcapil_matching(c: Counts) -> Stage:
    mismatched = c.dukcapil_checked - c.dukcapil_matched
    note = (
        ("", "")
        if not mismatched
        else (f"{mismatched} jiwa tidak padan", f"{mismatched} persons not matched")
    )
    return Stage(
        _info("dukcapil_matching"),
        _progress(c.dukcapil_checked, c.persons),
        c.dukcapil_checked,
        c.persons,
        *note,
        details={"matched": c.dukcapil_matched, "not_matched": mismatched},
    )


def reconciliation(c: Counts, pending: int, merged: int) -> Stage:
    info = _info("reconciliation")
    details: dict[str, int | str | None] = {"merged": merged}
    if c.families == 0:
        return Stage(info, StageStatus.not_started, pending, 0, details=details)
    status = StageStatus.in_progress if pending else StageStatus.done
    return Stage(info, status, pending, 0, details=details)


def scoring(c: Counts, ctx: Context) -> Stage:
    info = _info("scoring")
    details: dict[str, int | str | None] = {"rule_set": ctx.active_rule_set}
    if ctx.active_rule_set is None:
        return Stage(
            info,
            StageStatus.not_started,
            0,
            c.families,
            "belum ada aturan yang aktif",
            "no active rule set",
            details,
        )
    status = _progress(c.scored, c.families)
    stale = (
        ctx.last_run_started is not None
        and c.last_change is not None
        and c.last_change > ctx.last_run_started
    )
    if stale and status is not StageStatus.not_started:
        note = ("data berubah sejak penghitungan terakhir", "the registry changed since the last run")
        status = StageStatus.stale if status is StageStatus.done else status
        return Stage(info, status, c.scored, c.families, *note, details=details)
    return Stage(info, status, c.scored, c.families, details=details)


def announcement(kecamatan: frozenset[str], ctx: Context) -> Stage:
    """Done when a city-wide announcement, or one for every kecamatan of the area, is recorded."""
    info = _info("announcement")
    mine = [m for m in ctx.milestones if m.stage == info.code]
    city = [m for m in mine if m.kecamatan_code is None]
    covered = {m.kecamatan_code for m in mine if m.kecamatan_code in kecamatan}
    candidates = city or [m for m in mine if m.kecamatan_code in kecamatan]
    latest = max(candidates, key=lambda m: m.decided_on) if candidates else None
    if city or (kecamatan and covered >= kecamatan):
        status = StageStatus.done
    else:
        status = StageStatus.in_progress if covered else StageStatus.not_started
    value, target = (1, 1) if city else (len(covered), len(kecamatan))
    return Stage(
        info,
        status,
        value,
        target,
        milestone=latest,
        details={"decided_on": latest.decided_on.isoformat() if latest else None},
    )


def appeal_window(c: Counts, ctx: Context) -> Stage:
    info = _info("appeal_window")
    win, today, pending = ctx.window, ctx.today, c.appeals_pending
    details: dict[str, int | str | None] = {
        "opens_on": win.opens_on.isoformat() if win.opens_on else None,
        "closes_on": win.closes_on.isoformat() if win.closes_on else None,
        "open": "yes" if win.admits(today) else "no",
    }
    if win.opens_on is None:
        return Stage(
            info,
            StageStatus.not_started,
            pending,
            0,
            "tanggal pengumuman belum ditetapkan: sanggah diterima kapan saja",
            "no announcement date set: appeals are accepted at any time",
            details,
        )
    if today < win.opens_on:
        return Stage(
            info,
            StageStatus.not_started,
            pending,
            0,
            f"dibuka {win.opens_on.isoformat()}",
            f"opens on {win.opens_on.isoformat()}",
            details,
        )
    closes = win.closes_on.isoformat() if win.closes_on else "-"
    if win.admits(today):
        return Stage(
            info,
            StageStatus.in_progress,
            pending,
            0,
            f"dibuka sampai {closes}",
            f"open until {closes}",
            details,
        )
    if pending:
        return Stage(
            info,
            StageStatus.in_progress,
            pending,
            0,
            f"ditutup {closes}; {pending} sanggahan belum selesai",
            f"closed on {closes}; {pending} appeals pending",
            details,
        )
    return Stage(info, StageStatus.done, 0, 0, f"ditutup {closes}", f"closed on {closes}", details)


def checklist(
    c: Counts, ctx: Context, *, kecamatan: frozenset[str], pending: int, merged: int
) -> list[Stage]:
    """Every stage of the area whose counts are ``c`` (``kecamatan``: the kecamatan it spans)."""
    stages = [
        registration(c),
        field_verification(c),
        dukcapil_matching(c),
        reconciliation(c, pending, merged),
        scoring(c, ctx),
        announcement(kecamatan, ctx),
        appeal_window(c, ctx),
    ]
    # a computed stage may carry a recorded milestone as information; it never sets the status
    latest = {
        m.stage: m
        for m in sorted(ctx.milestones, key=lambda m: m.decided_on)
        if m.kecamatan_code is None or m.kecamatan_code in kecamatan
    }
    return [
        s if s.info.manual or s.info.code not in latest else replace(s, milestone=latest[s.info.code])
        for s in stages
    ]
