"""Field tasks on the tablet: a family that registers by SMS shows up as a visit to make on
the tablets of its kelurahan, and leaves the list when the resident cancels."""

from __future__ import annotations

import uuid

import pytest
from rich.console import Console
from sqlmodel import Session, select
from typer.testing import CliRunner

from app.audit.service import ActorRef
from app.auth.models import Role
from app.auth.permissions import Principal
from app.channels.service import InboundSms, handle_sms
from app.config import Settings
from app.registry import service as registry
from app.registry.models import FieldTask, Household
from app.registry.schemas import HouseholdUpdate
from app.wilayah.models import Kelurahan
from sync_protocol import cli as device_module
from sync_protocol.cli import app as device_cli
from tests import factories as f
from tests.sync.test_sms_fallback import Tablets, tablets  # noqa: F401 (the fixture)

PHONE = "081234567890"


def register_in_faudu_by_sms(db: Session, settings: Settings) -> None:
    """A family of Faudu (Pulau Hiri) registers by SMS, committed: a lead and its task."""
    faudu = db.get(Kelurahan, f.HIRI_FAUDU)
    assert faudu is not None
    sms = InboundSms("test", PHONE, f"DAFTAR#8271071705800001#8271071203150001#4#{faudu.name}")
    assert handle_sms(db, settings, sms).outcome == "registered"
    db.commit()


def test_the_tablet_lists_the_visits_self_registrations_ask_for(
        tablets: Tablets, db: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    tablet = tablets.new()
    elsewhere = tablets.new(tablets.make_account("enumerator", kelurahan=(f.MOTI_KELURAHAN,)))
    tablet.sync()
    assert tablet.tasks() == []
    register_in_faudu_by_sms(db, settings)

    tablet.sync()
    (task,) = tablet.tasks()
    assert (task.kind, task.status, task.kelurahan_code) == ("verify_lead", "open", f.HIRI_FAUDU)
    assert "4 orang" in task.note
    household = tablet.record("household", task.household_id)
    assert household is not None and (household.data or {})["source"] == "sms"
    elsewhere.sync()
    assert elsewhere.tasks() == []  # Moti's tablet is not asked to visit Hiri

    monkeypatch.setattr(device_module, "out", Console(width=200))
    listed = CliRunner().invoke(device_cli, ["--store", str(tablet.store.path), "tasks"])
    assert listed.exit_code == 0 and task.household_id in listed.output and "Verifikasi" in listed.output

    assert handle_sms(db, settings, InboundSms("test", PHONE, "BATAL")).outcome == "cancelled_lead"
    db.commit()
    tablet.sync()
    assert tablet.tasks() == [] and tablet.record("household", task.household_id) is None


def test_verifying_the_household_on_the_tablet_closes_its_task(tablets: Tablets,  # noqa: F811
                                                              db: Session, settings: Settings) -> None:
    tablet = tablets.new()
    register_in_faudu_by_sms(db, settings)
    tablet.sync()
    (task,) = tablet.tasks()
    tablet.update("household", task.household_id, {"verification_status": "field_verified"})
    report = tablet.sync()
    assert report.outcomes == {"applied": 1}, report
    assert tablet.tasks() == []
    stored = db.exec(select(FieldTask).where(FieldTask.id == uuid.UUID(task.id))).one()
    db.refresh(stored)
    assert (stored.status, stored.version) == ("done", 2) and stored.closed_at is not None
    # the resident now reads the real state
    reply = handle_sms(db, settings, InboundSms("test", PHONE, "STATUS")).reply
    assert reply is not None and "sudah diverifikasi petugas" in reply


def test_a_moved_household_takes_its_open_task_to_the_new_kelurahan(tablets: Tablets,  # noqa: F811
                                                                    db: Session, settings: Settings) -> None:
    hiri = tablets.new()
    moti = tablets.new(tablets.make_account("enumerator", kelurahan=(f.MOTI_KELURAHAN,)))
    register_in_faudu_by_sms(db, settings)
    hiri.sync()
    moti.sync()
    (task,) = hiri.tasks()
    household = db.get(Household, uuid.UUID(task.household_id))
    assert household is not None
    admin = Principal(user_id=0, username="admin", role=Role.admin, kelurahan_scope=None,
                      full_identifiers=True)
    move = HouseholdUpdate(version=household.version, kelurahan_code=f.MOTI_KELURAHAN)
    registry.update_household(session=db, household_id=household.id, principal=admin, data=move,
                              actor=ActorRef(user_id=None, name="dinsos", channel="api"))
    db.commit()
    hiri.sync()
    moti.sync()
    assert hiri.tasks() == []
    (moved,) = moti.tasks()
    assert (moved.id, moved.kelurahan_code) == (task.id, f.MOTI_KELURAHAN)
