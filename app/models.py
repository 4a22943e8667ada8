"""Imports every table model so that SQLModel.metadata is complete (Alembic, tests)."""

from app.audit.models import AuditEntry
from app.auth.models import EnumeratorAssignment, User
from app.media.models import MediaLink, MediaObject, MediaUpload
from app.registry.models import Household, KkHistory, Member
from app.sync.models import Device, SyncChange, SyncConflict, SyncCounter, SyncMutation, SyncSmsPart
from app.wilayah.models import Kecamatan, Kelurahan

__all__ = ["AuditEntry", "Device", "EnumeratorAssignment", "Household", "Kecamatan", "Kelurahan",
           "KkHistory", "MediaLink", "MediaObject", "MediaUpload", "Member", "SyncChange",
           "SyncConflict", "SyncCounter", "SyncMutation", "SyncSmsPart", "User"]
