"""The rules of an appeal, as pure functions: its statuses, who moves it where, its window.

Statuses (docs/appeals.md)::

    filed -> visit_scheduled -> re_surveyed -> sent_to_bps -> upheld | rejected
    filed, visit_scheduled -> rejected        (before the visit; a note is required)

Every rejection needs a note: it is the reason the resident is told.  ``upheld`` and
``rejected`` are final.  Enumerators make the visit, so they may move an appeal of their
area to ``visit_scheduled`` and ``re_surveyed``; sending to BPS and deciding belong to
supervisors, Dinas Sosial and admins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from app.auth.models import Role


class AppealStatus(StrEnum):
    filed = "filed"
    visit_scheduled = "visit_scheduled"
    re_surveyed = "re_surveyed"
    sent_to_bps = "sent_to_bps"
    upheld = "upheld"
    rejected = "rejected"


class About(StrEnum):
    decision = "decision"   # an eligibility decision (of one programme, or all)
    desil = "desil"         # the family's desil
    data = "data"           # the registry's data about the family is wrong


class FiledBy(StrEnum):
    sms = "sms"
    ussd = "ussd"
    agent = "agent"             # an enumerator / agen perlinsos, at the resident's request
    enumerator = "enumerator"   # an enumerator on what they saw
    dinsos = "dinsos"           # Dinas Sosial (or an admin)


S = AppealStatus
TRANSITIONS: dict[AppealStatus, frozenset[AppealStatus]] = {
    S.filed: frozenset({S.visit_scheduled, S.rejected}),
    S.visit_scheduled: frozenset({S.re_surveyed, S.rejected}),
    S.re_surveyed: frozenset({S.sent_to_bps}),
    S.sent_to_bps: frozenset({S.upheld, S.rejected}),
    S.upheld: frozenset(),
    S.rejected: frozenset(),
}
FINAL = frozenset({S.upheld, S.rejected})
BEFORE_VISIT = frozenset({S.filed, S.visit_scheduled})
ROLE_TARGETS: dict[Role, frozenset[AppealStatus]] = {
    Role.admin: frozenset(S),
    Role.dinsos: frozenset(S),
    Role.supervisor: frozenset(S),
    Role.enumerator: frozenset({S.visit_scheduled, S.re_surveyed}),
}


@dataclass(frozen=True)
class Refusal:
    """Why a change is refused: the field it is about, the rule, and a sentence."""

    field: str
    rule: str
    message: str


def check_transition(old: AppealStatus, new: AppealStatus, *, note: str | None,
                     role: Role) -> Refusal | None:
    if new not in ROLE_TARGETS[role]:
        return Refusal("status", "role_may_not_set",
                       f"role {role.value} may not set an appeal to {new.value}")
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(sorted(TRANSITIONS[old])) or "none: the appeal is decided"
        return Refusal("status", "transition",
                       f"an appeal that is {old.value} cannot become {new.value} (allowed: {allowed})")
    if new is S.rejected and not (note and note.strip()):
        return Refusal("note", "note_required", "a rejection needs a note: the reason the resident is told")
    return None


def open_key(about: About, programme_id: str | None) -> str:
    """What makes two open appeals of a household the same appeal."""
    return f"{about.value}:{programme_id or '-'}"


@dataclass(frozen=True)
class Window:
    """When appeals may be filed: from ``opens_on`` to ``closes_on`` inclusive (None: no limit)."""

    opens_on: date | None
    closes_on: date | None

    def admits(self, today: date) -> bool:
        return ((self.opens_on is None or today >= self.opens_on)
                and (self.closes_on is None or today <= self.closes_on))


def window(*, opens_on: date | None, days: int) -> Window:
    """``days`` days from ``opens_on`` (the announcement, or the decision's date), the
    opening day being day 1; always open when ``opens_on`` is None."""
    if opens_on is None:
        return Window(None, None)
    return Window(opens_on, opens_on + timedelta(days=days - 1))
