"""Imports every table model so that SQLModel.metadata is complete (Alembic, tests)."""

from app.appeals.models import Appeal, AppealEvent
from app.audit.models import AuditChain, AuditEntry
from app.auth.models import EnumeratorAssignment, User
from app.channels.models import ChannelMessage, Contact, OutboundSms, UssdSession
from app.eligibility.store import (
    DesilEstimate,
    DesilImport,
    EligibilityDecision,
    FamilyDesil,
    RuleSetRecord,
    ScoreRun,
)
from app.media.models import MediaLink, MediaObject, MediaUpload
from app.reconcile.store import DukcapilCheck, MatchCandidate, MatchKey, MergeRecord, ReconcileState
from app.registry.models import FieldTask, Household, KkHistory, Member
from app.reports.models import KelurahanTarget
from app.reports.progress_models import (
    PilotMilestone,
    ReportSnapshot,
    ReportSnapshotDesil,
    ReportSnapshotProgramme,
)
from app.sync.models import Device, SyncChange, SyncConflict, SyncCounter, SyncMutation, SyncSmsPart
from app.wilayah.models import Kecamatan, Kelurahan

__all__ = [
    "Appeal",
    "AppealEvent",
    "AuditChain",
    "AuditEntry",
    "ChannelMessage",
    "Contact",
    "DesilEstimate",
    "DesilImport",
    "Device",
    "DukcapilCheck",
    "EligibilityDecision",
    "EnumeratorAssignment",
    "FamilyDesil",
    "FieldTask",
    "Household",
    "Kecamatan",
    "Kelurahan",
    "KelurahanTarget",
    "KkHistory",
    "MatchCandidate",
    "MatchKey",
    "MediaLink",
    "MediaObject",
    "MediaUpload",
    "Member",
    "MergeRecord",
    "OutboundSms",
    "PilotMilestone",
    "ReconcileState",
    "ReportSnapshot",
    "ReportSnapshotDesil",
    "ReportSnapshotProgramme",
    "RuleSetRecord",
    "ScoreRun",
    "SyncChange",
    "SyncConflict",
    "SyncCounter",
    "SyncMutation",
    "SyncSmsPart",
    "User",
    "UssdSession",
]
