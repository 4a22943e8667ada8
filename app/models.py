"""Imports every table model so that SQLModel.metadata is complete (Alembic, tests)."""

from app.audit.models import AuditEntry
from app.auth.models import EnumeratorAssignment, User
from app.registry.models import Household, KkHistory, Member
from app.wilayah.models import Kecamatan, Kelurahan

__all__ = ["AuditEntry", "EnumeratorAssignment", "Household", "Kecamatan", "Kelurahan",
           "KkHistory", "Member", "User"]
