"""What a resident's SMS or USSD request does: one service behind every gateway adapter.

Adapters turn a gateway's HTTP callback into an ``InboundSms`` or a ``UssdRequest`` and the
answer back into the gateway's format; everything else is here:

- deduplication: a gateway's retry (same provider message id) gets the stored reply, and
  runs nothing twice (the message row is claimed by a unique key before anything runs);
- rate limits per phone number and per NIK: a throttled message is recorded and answered
  with nothing (the adapter still says 2xx, so no paid SMS and no retry storm);
- registrations are leads: the SAME registry service as every other channel writes them,
  with source ``sms``/``ussd`` and status ``self_reported``, and a field-verification task
  for the enumerators of the kelurahan;
- status checks need the registered phone or the PIN; wrong PINs lock checks for a day.

The caller commits.  Nothing is written before the request is known to be acted on.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar
from uuid import UUID

from rapidfuzz import fuzz, process
from sqlalchemy import ColumnElement, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.appeals import repository as appeals_repo
from app.appeals import service as appeals
from app.appeals.rules import About, FiledBy
from app.audit.service import ActorRef
from app.auth.permissions import Principal, Role
from app.channels import outbound, sms_grammar, texts, ussd
from app.channels.models import ChannelMessage, Contact, OutboundSms, UssdSession
from app.config import Settings
from app.db import as_utc, utcnow
from app.eligibility.store import EligibilityDecision
from app.errors import DuplicateIdentity, InvalidData
from app.registry import repository as registry_repo
from app.registry import service as registry
from app.registry import tasks
from app.registry.identifiers import IdentifierInvalid, mask, normalise_phone, parse_nik
from app.registry.models import Household, Member
from app.registry.names import LEAD_NAME
from app.registry.schemas import HouseholdCreate, MemberCreate
from app.sync import sms_fallback
from app.wilayah.models import Kecamatan, Kelurahan

_DECIDED_APPEAL_SHOWN = timedelta(days=30)  # a decided appeal stays in the STATUS reply this long
_SYSTEM = Principal(user_id=0, username="channels", role=Role.admin, kelurahan_scope=None,
                    full_identifiers=True)


@dataclass(frozen=True)
class InboundSms:
    gateway: str
    sender: str                    # as the gateway wrote it; normalised here
    text: str
    provider_id: str | None = None


@dataclass(frozen=True)
class SmsAnswer:
    reply: str | None              # None: send nothing (throttled)
    outcome: str


@dataclass(frozen=True)
class UssdRequest:
    gateway: str
    session_id: str
    phone: str
    text: str


def phone_of(value: str, field: str = "phone") -> str:
    """E.164, or a 422 naming the gateway's field (a sender we cannot answer is the gateway's bug)."""
    try:
        return normalise_phone(value)
    except IdentifierInvalid as exc:
        raise InvalidData.one(field, exc.problem.rule, exc.problem.message) from None


def nik_key(settings: Settings, nik: str) -> str:
    return hmac.new(f"nik:{settings.secret_key}".encode(), nik.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------
# SMS


def handle_sms(session: Session, settings: Settings, msg: InboundSms) -> SmsAnswer:
    phone = phone_of(msg.sender, "from")
    now = utcnow()
    record, seen = _claim(session, msg, phone)
    if seen:
        return SmsAnswer(record.reply, "duplicate")
    if sms_fallback.is_enumerator_sms(msg.text):
        return _enumerator_sms(session, settings, record, msg.text, now)
    if _throttled(session, settings, record, now):
        return _answer(session, record, None, record.outcome)
    parsed = sms_grammar.parse(msg.text)
    if isinstance(parsed, sms_grammar.ParseError):
        record.kind = "garbage" if parsed.rule in ("empty", "unknown_keyword") else "invalid"
        return _answer(session, record, parsed.reply, parsed.rule)
    record.kind = parsed.keyword.value.lower()
    if parsed.nik:
        record.nik_key = nik_key(settings, parsed.nik)
        if _throttled(session, settings, record, now):
            return _answer(session, record, None, record.outcome)
    contact = _contact(session, phone)
    stop = sms_grammar.Keyword.stop
    if contact is not None and contact.opted_out_at is not None and parsed.keyword is not stop:
        contact.opted_out_at = None  # writing again is opting in again
    reply, outcome = _SMS_ACTIONS[parsed.keyword](session, settings, phone, contact, parsed, now)
    return _answer(session, record, reply, outcome)


def _enumerator_sms(session: Session, settings: Settings, record: ChannelMessage, text: str,
                    now: datetime) -> SmsAnswer:
    """A tablet's mutation by SMS (``K2 ...``, docs/sms-fallback.md): the sync push pipeline.

    Authenticated ones are never throttled (a tablet catching up sends many); refused ones
    count against the phone like any message, so garbage cannot buy unlimited replies."""
    record.kind = "enumerator"
    refused = col(ChannelMessage.outcome) == "enumerator_refused"
    if _count(session, (col(ChannelMessage.phone) == record.phone) & refused, now - timedelta(hours=1),
              record.id) >= settings.channel_phone_per_hour:
        return _answer(session, record, None, "throttled")
    reply = sms_fallback.handle_enumerator_sms(session, settings, record.phone, text, received_at=now)
    accepted = reply.startswith(("SIGAP OK", "SIGAP KONFLIK", "SIGAP TOLAK", "SIGAP TERIMA"))
    return _answer(session, record, reply, "enumerator_ok" if accepted else "enumerator_refused")


def _claim(session: Session, msg: InboundSms, phone: str) -> tuple[ChannelMessage, bool]:
    """This message's row, and whether it was seen before.  The row is inserted first: with a
    provider id, a concurrent retry waits on the unique key, then finds our reply."""
    record = ChannelMessage(gateway=msg.gateway, provider_id=msg.provider_id, phone=phone,
                            kind="pending", outcome="pending")
    nested = session.begin_nested()
    try:
        session.add(record)
        session.flush()
    except IntegrityError:
        nested.rollback()
        return session.exec(select(ChannelMessage).where(
            ChannelMessage.gateway == msg.gateway, ChannelMessage.provider_id == msg.provider_id)).one(), True
    nested.commit()
    return record, False


def _throttled(session: Session, settings: Settings, record: ChannelMessage, now: datetime) -> bool:
    """Too many messages from this phone in the last hour, or naming this NIK in the last
    day (from any phone)?  Sets ``record.outcome`` when so."""
    if _count(session, col(ChannelMessage.phone) == record.phone, now - timedelta(hours=1),
              record.id) >= settings.channel_phone_per_hour:
        record.outcome = "throttled"
    elif record.nik_key and _count(session, col(ChannelMessage.nik_key) == record.nik_key,
                                   now - timedelta(days=1), record.id) >= settings.channel_nik_per_day:
        record.outcome = "throttled_nik"
    return record.outcome.startswith("throttled")


def _count(session: Session, where: ColumnElement[bool], since: datetime, exclude: int | None) -> int:
    stmt = select(func.count()).select_from(ChannelMessage).where(
        where, col(ChannelMessage.created_at) >= since, col(ChannelMessage.id) != exclude,
        col(ChannelMessage.outcome).not_in(("duplicate",)))
    return int(session.exec(stmt).one())


def _answer(session: Session, record: ChannelMessage, reply: str | None, outcome: str) -> SmsAnswer:
    record.reply, record.outcome = reply, outcome
    session.add(record)
    return SmsAnswer(reply, outcome)


def _contact(session: Session, phone: str) -> Contact | None:
    return session.exec(select(Contact).where(Contact.phone == phone)).first()


def _contact_for(session: Session, phone: str, channel: str) -> Contact:
    contact = _contact(session, phone)
    if contact is None:
        contact = Contact(phone=phone, channel=channel)
        session.add(contact)
    return contact


Reply = tuple[str, str]  # (reply text, outcome)


def _sms_daftar(session: Session, settings: Settings, phone: str, contact: Contact | None,
                cmd: sms_grammar.Command, now: datetime) -> Reply:
    assert cmd.nik and cmd.kk and cmd.members
    existing = _registered_household(session, contact)
    if existing is not None:
        return _already_registered(session, existing), "already_registered"
    contact = _contact_for(session, phone, "sms")
    contact.pending = {"nik": cmd.nik, "kk": cmd.kk, "members": cmd.members, "at": now.isoformat()}
    contact.updated_at = now
    session.add(contact)
    if cmd.kelurahan is None:
        return texts.ASK_KELURAHAN, "needs_kelurahan"
    return _finish_sms_registration(session, settings, contact, cmd.kelurahan, now)


def _sms_kel(session: Session, settings: Settings, phone: str, contact: Contact | None,
             cmd: sms_grammar.Command, now: datetime) -> Reply:
    if contact is None or not contact.pending:
        return texts.NO_PENDING, "no_pending"
    if datetime.fromisoformat(contact.pending["at"]) < now - timedelta(days=1):
        contact.pending = None
        session.add(contact)
        return texts.PENDING_EXPIRED, "pending_expired"
    assert cmd.kelurahan
    return _finish_sms_registration(session, settings, contact, cmd.kelurahan, now)


def _finish_sms_registration(session: Session, settings: Settings, contact: Contact, typed: str,
                             now: datetime) -> Reply:
    pending = contact.pending or {}
    code, suggestions = match_kelurahan(session, typed, kk=pending["kk"])
    if code is None:
        return texts.unknown_kelurahan(typed, suggestions), "unknown_kelurahan"
    reply, outcome = register_lead(session, settings, contact=contact, channel="sms", nik=pending["nik"],
                                   kk=pending["kk"], kelurahan_code=code, members=pending["members"],
                                   answers={}, now=now)
    if outcome == "registered" or outcome in ("nik_taken", "kk_taken"):
        contact.pending = None
    return reply, outcome


def _sms_status(session: Session, settings: Settings, phone: str, contact: Contact | None,
                cmd: sms_grammar.Command, now: datetime) -> Reply:
    if cmd.nik is None:  # from the registered phone: the phone is the credential
        household = _registered_household(session, contact, include_deleted=True)
        if household is None:
            return texts.NOT_REGISTERED, "not_registered"
        return status_reply(session, household), "status"
    assert cmd.pin
    return check_status_with_pin(session, settings, nik=cmd.nik, pin=cmd.pin, now=now)


def _sms_pin(session: Session, settings: Settings, phone: str, contact: Contact | None,
             cmd: sms_grammar.Command, now: datetime) -> Reply:
    if contact is None or _registered_household(session, contact) is None:
        return texts.PIN_NEEDS_REGISTRATION, "not_registered"
    assert cmd.pin
    set_pin(settings, contact, cmd.pin, now)
    session.add(contact)
    return texts.PIN_SAVED, "pin_set"


def _sms_batal(session: Session, settings: Settings, phone: str, contact: Contact | None,
               cmd: sms_grammar.Command, now: datetime) -> Reply:
    if contact is not None and contact.pending:
        contact.pending = None
        session.add(contact)
        return texts.CANCELLED_PENDING, "cancelled_pending"
    household = _registered_household(session, contact)
    if contact is None or household is None:
        return texts.NOTHING_TO_CANCEL, "nothing_to_cancel"
    if household.verification_status != "self_reported":
        return texts.CANNOT_CANCEL, "cannot_cancel"
    registry.delete_household(session=session, household_id=household.id, version=None,
                              actor=_actor(contact.phone, "sms"), principal=_SYSTEM)  # cancels its tasks
    contact.household_id, contact.declared_members = None, None
    session.add(contact)
    return texts.CANCELLED_LEAD, "cancelled_lead"


def _sms_sanggah(session: Session, settings: Settings, phone: str, contact: Contact | None,
                 cmd: sms_grammar.Command, now: datetime) -> Reply:
    """A sanggah from the registered phone (the phone is the credential), or with NIK and PIN
    from any phone (the same lock as status checks)."""
    assert cmd.reason
    if cmd.nik is None:
        household = _registered_household(session, contact)
        if household is None:
            return texts.APPEAL_NEEDS_REGISTRATION, "not_registered"
    else:
        assert cmd.pin
        found, refused = _household_by_pin(session, settings, nik=cmd.nik, pin=cmd.pin, now=now)
        if found is None:
            assert refused is not None
            return refused
        household = found
    return file_resident_appeal(session, settings, household=household, phone=phone, channel=FiledBy.sms,
                                about=cmd.about, programme=cmd.programme, reason=cmd.reason, now=now)


def _sms_help(session: Session, settings: Settings, phone: str, contact: Contact | None,
              cmd: sms_grammar.Command, now: datetime) -> Reply:
    return texts.HELP_SMS, "help"


def _sms_stop(session: Session, settings: Settings, phone: str, contact: Contact | None,
              cmd: sms_grammar.Command, now: datetime) -> Reply:
    contact = _contact_for(session, phone, "sms")
    contact.opted_out_at = now
    session.add(contact)
    return texts.STOPPED, "opted_out"


_SMS_ACTIONS = {
    sms_grammar.Keyword.daftar: _sms_daftar, sms_grammar.Keyword.kel: _sms_kel,
    sms_grammar.Keyword.status: _sms_status, sms_grammar.Keyword.pin: _sms_pin,
    sms_grammar.Keyword.batal: _sms_batal, sms_grammar.Keyword.bantuan: _sms_help,
    sms_grammar.Keyword.stop: _sms_stop, sms_grammar.Keyword.sanggah: _sms_sanggah,
}


# ---------------------------------------------------------------------------------------
# Registration, status, PIN (shared by SMS and USSD)


def _actor(phone: str, channel: str) -> ActorRef:
    # masked like the phone everywhere else: two differently masked copies would give it away
    return ActorRef(user_id=None, name=f"{channel}:{mask(phone)}", channel=channel)


def register_lead(session: Session, settings: Settings, *, contact: Contact, channel: str, nik: str,
                  kk: str, kelurahan_code: str, members: int, answers: dict[str, str | bool],
                  now: datetime) -> Reply:
    """A self-registration enters the registry as a lead: the registry's own create (same
    validation, audit and change feed), the head only (name asked at the visit), the
    screening answers as household fields, and a verification task for the kelurahan."""
    info = parse_nik(nik)
    data = HouseholdCreate(
        kelurahan_code=kelurahan_code, kk_number=kk, phone=contact.phone,
        members=[MemberCreate(nik=nik, full_name=LEAD_NAME, sex=info.sex, relation="head")],
        **answers)
    try:
        household = registry.create_household(session=session, data=data, principal=_SYSTEM,
                                              actor=_actor(contact.phone, channel))
    except DuplicateIdentity as exc:
        kk_rule = isinstance(exc.detail, list) and any(p.field == "kk_number" for p in exc.detail)
        return (texts.KK_TAKEN, "kk_taken") if kk_rule else (texts.NIK_TAKEN, "nik_taken")
    contact.household_id, contact.declared_members, contact.updated_at = household.id, members, now
    session.add(contact)
    tasks.open_task(session, household, kind=tasks.VERIFY_LEAD,
                    note=f"Daftar lewat {channel.upper()}, {members} orang; nama dan data lain belum diisi")
    kelurahan = session.get(Kelurahan, household.kelurahan_code)
    return texts.registered(mask(nik) or "", kelurahan.name if kelurahan else "", settings.ussd_code,
                            ask_pin=channel == "sms"), "registered"


def _registered_household(session: Session, contact: Contact | None, *,
                          include_deleted: bool = False) -> Household | None:
    if contact is None or contact.household_id is None:
        return None
    household = session.get(Household, contact.household_id)
    if household is None or (household.deleted_at is not None and not include_deleted):
        return None
    return household


def _head_nik(session: Session, household: Household) -> str | None:
    """The current head's NIK; a removed household's last head (its members are all deleted)."""
    return session.exec(select(Member.nik).where(Member.household_id == household.id,
                                                 Member.relation == "head")
                        .order_by(col(Member.deleted_at).is_(None).desc(), col(Member.updated_at).desc())
                        ).first()


def _already_registered(session: Session, household: Household) -> str:
    return texts.ALREADY_REGISTERED.format(nik=mask(_head_nik(session, household)) or "-")


def status_reply(session: Session, household: Household) -> str:
    nik = mask(_head_nik(session, household)) or "-"
    if household.deleted_at is not None:
        return texts.status_removed(nik)
    appeal = appeals_repo.latest_of_household(session, household.id)
    if appeal is not None and appeal.closed_at is not None \
            and utcnow() - (as_utc(appeal.closed_at) or utcnow()) > _DECIDED_APPEAL_SHOWN:
        appeal = None  # long decided: the eligibility line tells the current state
    return texts.status(nik=nik, registered_on=household.created_at.date(), channel=household.source,
                        verification=household.verification_status, appeal=appeal.status if appeal else None,
                        eligibility=_eligibility(session, household.id))


def _eligibility(session: Session, household_id: UUID) -> texts.Eligibility | None:
    """The household's current decisions, or None before its first scoring run."""
    rows = session.exec(select(EligibilityDecision).where(
        EligibilityDecision.household_id == household_id, col(EligibilityDecision.current).is_(True))
        .order_by(col(EligibilityDecision.id))).all()
    if not rows:
        return None
    eligible = tuple(dict.fromkeys(r.programme_id for r in rows if r.outcome == "eligible"))
    family = next((r for r in rows if r.unit == "family"), rows[0])
    return texts.Eligibility(eligible=eligible, needs_data=any(r.outcome == "needs_data" for r in rows),
                             desil=family.desil, desil_source=family.desil_source,
                             desil_period=family.desil_period)


def file_resident_appeal(session: Session, settings: Settings, *, household: Household, phone: str,
                         channel: FiledBy, about: str, programme: str | None, reason: str,
                         now: datetime) -> Reply:
    """A resident's sanggah through the appeals service; a retry (or a second sanggah on the
    same subject) gets the open one back, not a new one."""
    try:
        appeal, created = appeals.file_appeal(
            session=session, settings=settings, household=household, about=About(about),
            programme_id=programme, reason=reason, channel=channel, actor=_actor(phone, channel.value),
            phone=phone, existing_ok=True, now=now)
    except appeals.WindowClosed as exc:
        win, today = exc.window, appeals.today_in_ternate(now)
        return texts.appeal_window_closed(win.opens_on, win.closes_on, today), "appeal_window_closed"
    if not created:
        filed_on = appeals.today_in_ternate(appeal.created_at)
        return texts.appeal_exists(filed_on, appeal.status), "appeal_exists"
    return texts.appeal_filed(settings.ussd_code), "appeal_filed"


def _pin_digest(settings: Settings, salt: str, pin: str) -> str:
    # Keyed with the server secret: a PIN has at most a million values, so an unkeyed hash
    # of a leaked table falls in a second.  The lock below stops guessing online.
    return hmac.new(f"pin:{settings.secret_key}".encode(), f"{salt}:{pin}".encode(),
                    hashlib.sha256).hexdigest()


def set_pin(settings: Settings, contact: Contact, pin: str, now: datetime) -> None:
    salt = secrets.token_hex(8)
    contact.pin_hash = f"{salt}${_pin_digest(settings, salt, pin)}"
    contact.pin_failures, contact.locked_until, contact.updated_at = 0, None, now


def pin_matches(settings: Settings, contact: Contact, pin: str) -> bool:
    if not contact.pin_hash:
        return False
    salt, _, digest = contact.pin_hash.partition("$")
    return hmac.compare_digest(digest, _pin_digest(settings, salt, pin))


def _attempt(session: Session, settings: Settings, contact: Contact, pin: str, now: datetime) -> str | None:
    """None when the PIN is right; else the reply (and a failure counted, the lock set)."""
    if contact.locked_until is not None and _aware(contact.locked_until) > now:
        return texts.locked(settings.channel_pin_attempts, settings.channel_pin_lock_hours)
    if pin_matches(settings, contact, pin):
        contact.pin_failures, contact.locked_until = 0, None
        session.add(contact)
        return None
    contact.pin_failures += 1
    left = settings.channel_pin_attempts - contact.pin_failures
    if left <= 0:
        contact.locked_until = now + timedelta(hours=settings.channel_pin_lock_hours)
        contact.pin_failures = 0
    session.add(contact)
    if left <= 0:
        return texts.locked(settings.channel_pin_attempts, settings.channel_pin_lock_hours)
    return texts.pin_wrong(left, settings.channel_pin_lock_hours)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


def _household_by_pin(session: Session, settings: Settings, *, nik: str, pin: str,
                      now: datetime) -> tuple[Household | None, Reply | None]:
    """The household whose member holds ``nik``, when ``pin`` is its PIN; else the refusal.
    An unknown NIK and a wrong PIN read the same, so the reply never tells whether a NIK is
    registered; wrong PINs count towards the lock."""
    holder = registry_repo.active_member_holding_nik(session, nik)
    contact = None
    if holder is not None:
        contact = session.exec(select(Contact).where(Contact.household_id == holder.household_id,
                                                     col(Contact.pin_hash).is_not(None))
                               .order_by(col(Contact.id))).first()
    if holder is None or contact is None:
        return None, (texts.NIK_OR_PIN_WRONG, "nik_or_pin_wrong")
    refused = _attempt(session, settings, contact, pin, now)
    if refused is not None:
        return None, (refused, "pin_locked" if contact.locked_until else "nik_or_pin_wrong")
    household = session.get(Household, holder.household_id)
    assert household is not None
    return household, None


def check_status_with_pin(session: Session, settings: Settings, *, nik: str, pin: str,
                          now: datetime) -> Reply:
    """Status by NIK and PIN from any phone."""
    household, refused = _household_by_pin(session, settings, nik=nik, pin=pin, now=now)
    if household is None:
        assert refused is not None
        return refused
    return status_reply(session, household), "status"


# ---------------------------------------------------------------------------------------
# Places


def match_kelurahan(session: Session, typed: str, *, kk: str | None = None) -> tuple[str | None, list[str]]:
    """A kelurahan name as a resident types it -> its code, or None with the closest names.

    Within the kecamatan of the KK number when it is one of Ternate's (the KK is issued where
    the family lives), else the whole city.  Accepted when the best match is clear: a score of
    85+ (rapidfuzz WRatio, case and spacing ignored) and 8 points above the next name.
    """
    rows = session.exec(select(Kelurahan.code, Kelurahan.name, Kelurahan.kecamatan_code)).all()
    if kk:
        area = f"{kk[:2]}.{kk[2:4]}.{kk[4:6]}"
        inside = [r for r in rows if r[2] == area]
        rows = inside or rows
    names = {code: name for code, name, _ in rows}
    query = " ".join(typed.lower().replace("kelurahan", " ").replace("kel.", " ").split())
    found = process.extract(query, {c: n.lower() for c, n in names.items()}, scorer=fuzz.WRatio, limit=3)
    if not found:
        return None, []
    best = found[0]
    runner_up = found[1][1] if len(found) > 1 else 0.0
    if best[1] >= 85 and best[1] - runner_up >= 8:
        return str(best[2]), []
    return None, [names[str(f[2])] for f in found if f[1] >= 60]


class SessionPlaces:
    """``ussd.Places`` from the wilayah tables: reference data, read once per process and
    re-read every ``TTL`` seconds (every USSD step replays the menus, so reading 86 rows per
    request cost a third of a step)."""

    TTL = 300.0
    _cache: ClassVar[dict[str, tuple[float, SessionPlaces]]] = {}

    def __init__(self, kec: list[tuple[str, str]], kel: dict[str, list[tuple[str, str]]]) -> None:
        self._kec, self._kel = kec, kel

    @classmethod
    def of(cls, session: Session) -> SessionPlaces:
        key = str(session.get_bind().engine.url)
        cached = cls._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < cls.TTL:
            return cached[1]
        kec = list(session.exec(select(Kecamatan.code, Kecamatan.name).order_by(col(Kecamatan.code))))
        kel: dict[str, list[tuple[str, str]]] = {}
        rows = select(Kelurahan.code, Kelurahan.name, Kelurahan.kecamatan_code).order_by(col(Kelurahan.code))
        for code, name, kec_code in session.exec(rows):
            kel.setdefault(kec_code, []).append((code, name))
        places = cls(kec, kel)
        cls._cache[key] = (time.monotonic(), places)
        return places

    def kecamatan(self) -> Sequence[tuple[str, str]]:
        return self._kec

    def kelurahan(self, kecamatan_code: str) -> Sequence[tuple[str, str]]:
        return self._kel.get(kecamatan_code, [])


# ---------------------------------------------------------------------------------------
# USSD


def handle_ussd(session: Session, settings: Settings, req: UssdRequest) -> ussd.Screen:
    """The screen for one USSD step; the action at a confirmation is carried out once (a
    gateway's retry of the final step finds the session finished and gets the same screen)."""
    phone = phone_of(req.phone, "phoneNumber")
    now = utcnow()
    row = session.get(UssdSession, (req.gateway, req.session_id))
    if row is None:
        row = UssdSession(gateway=req.gateway, session_id=req.session_id, phone=phone,
                          resume=_unfinished_path(session, phone, now, settings))
        session.add(row)
    elif row.phone != phone:
        raise InvalidData.one("sessionId", "session_phone", "this session belongs to another phone number")
    if row.text == req.text and row.screen is not None:  # the gateway retried: same screen, no rerun
        return ussd.Screen(row.screen, end=row.finished)
    screen, action = ussd.respond(req.text, SessionPlaces.of(session), resume=row.resume)
    if action is not None:
        screen = _act(session, settings, phone, req, action, screen, now)
    row.path, row.text, row.screen = _effective_path(req.text, row.resume), req.text, screen.text
    row.finished, row.updated_at = screen.end, now
    session.add(row)
    return screen


def _act(session: Session, settings: Settings, phone: str, req: UssdRequest, action: ussd.Action,
         screen: ussd.Screen, now: datetime) -> ussd.Screen:
    """Carry out a confirmed action, recorded in the message log and limited like an SMS."""
    record = ChannelMessage(gateway=req.gateway, phone=phone, kind=f"ussd_{type(action).__name__.lower()}",
                            outcome="pending")
    if isinstance(action, ussd.Register):
        record.nik_key = nik_key(settings, action.nik)
    session.add(record)
    session.flush()
    if _throttled(session, settings, record, now):
        screen = ussd.Screen(texts.USSD_BUSY, end=True)
    else:
        screen, record.outcome = _carry_out(session, settings, phone, action, screen, now)
        _finish_progress(session, phone, req)
    record.reply = screen.text
    session.add(record)
    return screen


def _effective_path(text: str, resume: str | None) -> str:
    parts = text.split("*") if text.strip() else []
    if resume and parts[:1] == [ussd.RESUME]:
        return "*".join([resume, *parts[1:]]) if len(parts) > 1 else resume
    return text


def _unfinished_path(session: Session, phone: str, now: datetime, settings: Settings) -> str | None:
    since = now - timedelta(hours=settings.ussd_resume_hours)
    latest = session.exec(select(UssdSession).where(
        UssdSession.phone == phone, col(UssdSession.updated_at) >= since)
        .order_by(col(UssdSession.updated_at).desc())).first()
    if latest is None or latest.finished or not ussd.unfinished_registration(latest.path):
        return None
    return latest.path


def _finish_progress(session: Session, phone: str, req: UssdRequest) -> None:
    """A completed action ends every unfinished session of the phone (nothing left to resume)."""
    for other in session.exec(select(UssdSession).where(UssdSession.phone == phone,
                                                        UssdSession.finished == False)).all():  # noqa: E712
        if (other.gateway, other.session_id) != (req.gateway, req.session_id):
            other.finished = True
            session.add(other)


def _carry_out(session: Session, settings: Settings, phone: str, action: ussd.Action, screen: ussd.Screen,
               now: datetime) -> tuple[ussd.Screen, str]:
    contact = _contact(session, phone)
    if isinstance(action, ussd.Register):
        existing = _registered_household(session, contact)
        if existing is not None:
            return ussd.Screen(_already_registered(session, existing), end=True), "already_registered"
        contact = _contact_for(session, phone, "ussd")
        reply, outcome = register_lead(session, settings, contact=contact, channel="ussd", nik=action.nik,
                                       kk=action.kk, kelurahan_code=action.kelurahan_code,
                                       members=action.members, answers=action.answers, now=now)
        if outcome != "registered":
            return ussd.Screen(reply, end=True), outcome
        set_pin(settings, contact, action.pin, now)
        queue_sms(session, phone, reply, purpose="registered")
        return screen, outcome
    appealing = isinstance(action, ussd.FileAppeal)
    household = _registered_household(session, contact, include_deleted=not appealing)
    if contact is None or household is None:
        text = texts.USSD_APPEAL_NOT_REGISTERED if appealing else texts.USSD_NOT_REGISTERED
        return ussd.Screen(text, end=True), "not_registered"
    pin = action.old_pin if isinstance(action, ussd.ChangePin) else action.pin
    refused = _attempt(session, settings, contact, pin, now)
    if refused is not None:
        return ussd.Screen(refused, end=True), "pin_locked" if contact.locked_until else "pin_wrong"
    if isinstance(action, ussd.CheckStatus):
        return ussd.Screen(status_reply(session, household), end=True), "status"
    if isinstance(action, ussd.FileAppeal):
        reply, outcome = file_resident_appeal(session, settings, household=household, phone=phone,
                                              channel=FiledBy.ussd, about=action.about,
                                              programme=action.programme, reason=action.reason, now=now)
        return ussd.Screen(reply, end=True), outcome
    set_pin(settings, contact, action.new_pin, now)
    session.add(contact)
    return ussd.Screen(texts.USSD_PIN_CHANGED, end=True), "pin_set"


# ---------------------------------------------------------------------------------------
# Outbound


def queue_sms(session: Session, phone: str, text: str, *, purpose: str) -> OutboundSms | None:
    """Queue an SMS in the caller's transaction (sent after commit by the configured sender);
    nothing is queued for a phone that sent STOP."""
    contact = _contact(session, phone)
    if contact is not None and contact.opted_out_at is not None:
        return None
    sms = OutboundSms(phone=phone, text=text, purpose=purpose)
    session.add(sms)
    session.info[outbound.QUEUED] = True
    return sms
