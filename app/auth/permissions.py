"""Who may do what, and over which area.

Route permissions are an explicit role -> action table; area scoping is a set of
kelurahan codes applied inside every repository query (``None`` = city-wide).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.auth.models import Role


class Action(StrEnum):
    household_read = "household:read"
    household_write = "household:write"
    household_export = "household:export"
    user_admin = "user:admin"
    device_admin = "device:admin"          # list and revoke enrolled tablets
    conflict_resolve = "conflict:resolve"  # the sync review queue
    dedup_review = "dedup:review"          # the duplicate review queue: merge, distinct, unmerge
    appeal_read = "appeal:read"
    appeal_file = "appeal:file"            # file a sanggah for a family of the area
    appeal_status = "appeal:status"        # move an appeal on (which statuses: app/appeals/rules.py)
    eligibility_read = "eligibility:read"  # decisions, desil, rule sets (area-scoped below the city)
    score_run = "score:run"                # start a city-wide scoring run
    report_read = "report:read"            # aggregates, trends, checklist (area-scoped below the city)
    milestone_record = "milestone:record"  # record a pilot stage that is a meeting or a decision
    report_export = "report:export"        # CSV/XLSX files of the reports, published or internal


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.admin: frozenset(Action),
    Role.dinsos: frozenset({Action.household_read, Action.household_export, Action.appeal_read,
                            Action.appeal_file, Action.appeal_status, Action.eligibility_read,
                            Action.score_run, Action.report_read, Action.milestone_record,
                            Action.report_export}),
    Role.supervisor: frozenset({Action.household_read, Action.device_admin,
                                Action.conflict_resolve, Action.dedup_review, Action.appeal_read,
                                Action.appeal_status, Action.eligibility_read, Action.report_read,
                                Action.report_export}),
    Role.enumerator: frozenset({Action.household_read, Action.household_write, Action.appeal_read,
                                Action.appeal_file, Action.appeal_status, Action.eligibility_read}),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller with the area they may see."""

    user_id: int
    username: str
    role: Role
    kelurahan_scope: frozenset[str] | None  # None means the whole city
    full_identifiers: bool
    device_id: str | None = None  # set when the caller authenticated with a device token

    def can(self, action: Action) -> bool:
        return action in ROLE_ACTIONS[self.role]

    def covers(self, kelurahan_code: str) -> bool:
        return self.kelurahan_scope is None or kelurahan_code in self.kelurahan_scope
