"""The SMS path through a REAL Kannel (bearerbox + smsbox + fakesmsc, tests/channels/
kannel_harness.py) to the real app served by uvicorn, on both database engines.

One Kannel and one app per engine for the module (each test uses its own phone numbers):
starting Kannel takes about half a second, but a fresh database per test would double the
time for nothing.  Skipped, visibly, only when the Kannel binaries are absent; with
SIGAP_REQUIRE_KANNEL=1 (CI) their absence fails the run instead.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from typer.testing import CliRunner

from app import pii
from app.auth import repository as auth_repository
from app.auth.models import User
from app.auth.security import hash_password
from app.channels import service
from app.channels.gateways.kannel import decode_text
from app.channels.models import ChannelMessage, OutboundSms
from app.channels.outbound import KannelSender, SendFailed
from app.cli import cli
from app.config import Settings, get_settings
from app.main import create_app
from app.registry.models import Household
from app.sync.sms_fallback import REPLIES
from tests.channels.conftest import SECRETS
from tests.channels.kannel_harness import SHORT_CODE, Kannel, free_port, missing_binaries
from tests.channels.test_journeys import count
from tests.conftest import reference_database, settings_for

REQUIRE = os.environ.get("SIGAP_REQUIRE_KANNEL") == "1"
NIK, KK = "8271071705800001", "8271071203150001"      # see tests/channels/conftest.py


class LoseAnswerOnce:
    """For phones in ``phones``: the app handles the message (and commits), then the answer
    is lost on the way and smsbox sees a 503, as when a proxy or the network fails after the
    commit.  Every get-url call is recorded as (phone, Kannel's message id), and the text the
    app reads from it (decoded as the Kannel adapter decodes it) by phone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.phones: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.texts: dict[str, list[str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/channels/sms/kannel":
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope["query_string"].decode("latin-1"))
        phone = query.get("from", [""])[0]
        self.calls.append((phone, query.get("id", [""])[0]))
        raw = parse_qs(scope["query_string"].decode("latin-1"), encoding="latin-1")  # values as bytes
        coding = raw.get("coding", [""])[0]
        self.texts.setdefault(phone, []).append(decode_text(
            raw.get("text", [""])[0].encode("latin-1"), coding=int(coding) if coding.lstrip("-").isdigit()
            else None, charset=raw.get("charset", [None])[0]))
        if phone not in self.phones:
            await self.app(scope, receive, send)
            return
        self.phones.discard(phone)

        async def swallow(message: Message) -> None:
            pass

        await self.app(scope, receive, swallow)
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@dataclass
class Live:
    kannel: Kannel
    engine: Engine
    settings: Settings
    base: str
    front: LoseAnswerOnce
    phones: Iterator[str] = field(default_factory=lambda: (f"62812000{n:05d}" for n in range(1, 10_000)))

    def phone(self) -> str:
        """A phone number no other test uses (as an Indonesian SMSC writes it: 62..., no +)."""
        return next(self.phones)

    def session(self) -> Session:
        return Session(self.engine)


def _serve(app: ASGIApp, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return server, thread


@pytest.fixture(scope="module")
def live(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    absent = missing_binaries()
    if absent:
        msg = f"Kannel not installed ({', '.join(absent)}; apt-get install kannel kannel-extras)"
        if REQUIRE:
            pytest.fail(msg + " and SIGAP_REQUIRE_KANNEL=1", pytrace=False)
        pytest.skip(msg + ": live Kannel tests SKIPPED")
    tmp = tmp_path_factory.mktemp(f"kannel-{db_kind}")
    app_port = free_port()
    base = f"http://127.0.0.1:{app_port}"
    kannel = Kannel(tmp, app_url=base, secret=SECRETS["kannel"])
    with reference_database(db_kind, tmp, pool_size=10) as eng:
        settings = settings_for(
            eng.url.render_as_string(hide_password=False), gateway_secrets=SECRETS, sms_sender="kannel",
            kannel_sendsms_url=kannel.sendsms_url, kannel_username=kannel.sendsms_user,
            kannel_password=kannel.sendsms_password, public_base_url=base)
        front = LoseAnswerOnce(create_app(settings, engine=eng))
        server, thread = _serve(front, app_port)
        try:
            kannel.start()
            yield Live(kannel=kannel, engine=eng, settings=settings, base=base, front=front)
        finally:
            kannel.stop()
            server.should_exit = True
            thread.join(10)


def _until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_register_by_sms_then_ask_the_status_through_kannel(live: Live) -> None:
    phone, k = live.phone(), live.kannel
    k.send(phone, f"DAFTAR#{NIK}#{KK}#4#Tafraka")
    [reply] = k.wait_for(phone)
    assert (reply.sender, reply.to) == (SHORT_CODE, phone)
    assert reply.text.startswith("Terima kasih") and "8271********0001" in reply.text, reply
    assert "Tafraka" in reply.text and NIK not in reply.text and KK not in reply.text
    with live.session() as s:
        household = s.exec(select(Household).where(pii.lookup(Household.kk_bidx, "kk", KK))).one()
        assert (household.source, household.phone) == ("sms", f"+{phone}")
        row = s.exec(select(ChannelMessage).where(ChannelMessage.phone == f"+{phone}")).one()
        assert row.gateway == "kannel" and len(row.provider_id or "") == 36  # Kannel's own id (%I)

    k.send(phone, "STATUS")
    replies = k.wait_for(phone, count=2)
    assert replies[1].text.startswith("SIGAP: Keluarga NIK 8271********0001"), replies[1]
    assert "menunggu verifikasi" in replies[1].text


def test_a_message_kannel_retries_registers_once_and_is_answered_once(live: Live) -> None:
    phone, k = live.phone(), live.kannel
    live.front.phones.add(phone)  # the first answer is lost: smsbox retries (http-request-retry)
    k.send(phone, "DAFTAR#8271075203900002#8271071203150002#2#Tafraka")
    [reply] = k.wait_for(phone)
    assert reply.text.startswith("Terima kasih"), reply
    calls = [c for c in live.front.calls if c[0] == phone]
    assert len(calls) == 2 and calls[0] == calls[1], calls  # the same Kannel message id twice
    with live.session() as s:
        assert count(s, Household, pii.lookup(Household.kk_bidx, "kk", "8271071203150002")) == 1
        row = s.exec(select(ChannelMessage).where(ChannelMessage.provider_id == calls[0][1])).one()
        assert row.outcome == "registered"
    k.send(phone, "BANTUAN")  # anything after it still gets its reply, and no second one came
    assert [m.text[:13] for m in k.wait_for(phone, count=2)] == ["Terima kasih.", "SIGAP Ternate"]


def test_a_forged_callback_is_refused_and_changes_nothing(live: Live) -> None:
    phone = live.phone()
    forged = live.kannel.get_url().replace(SECRETS["kannel"], "guessed")
    url = (forged.replace("%p", phone).replace("%P", SHORT_CODE).replace("%I", "forged-1")
           .replace("%b", f"DAFTAR%23{NIK}%23{KK}%234%23Tafraka").replace("%c", "0").replace("%C", "UTF-8"))
    for target in (url, url.replace("key=guessed&", "")):
        r = httpx.get(target)
        assert r.status_code == 403 and r.json()["error"] == "gateway_forbidden"
    with live.session() as s:
        assert count(s, ChannelMessage, ChannelMessage.phone == f"+{phone}") == 0
        assert count(s, Household, Household.phone == f"+{phone}") == 0


def test_throttled_messages_get_no_sms_at_all(live: Live) -> None:
    phone, other, k = live.phone(), live.phone(), live.kannel
    live.settings.channel_phone_per_hour = 1
    try:
        k.send(phone, "BANTUAN")
        k.wait_for(phone)
        k.send(phone, "BANTUAN")  # over the limit: the app answers 200 with an empty body
        _until(lambda: len(k.requests_from(phone)) == 2, "smsbox never asked about the 2nd message")
    finally:
        live.settings.channel_phone_per_hour = 12
    k.send(other, "BANTUAN")  # after smsbox handled the empty answer, another phone's SMS ...
    k.wait_for(other)
    assert len(k.wait_for(phone)) == 1  # ... arrives, and still only one for the throttled phone
    with live.session() as s:
        outcomes = s.exec(select(ChannelMessage.outcome).where(ChannelMessage.phone == f"+{phone}")).all()
        assert sorted(outcomes) == ["help", "throttled"]


def test_a_ucs2_message_is_read_correctly(live: Live) -> None:
    # the phone switched to UCS-2 for the curly apostrophe; smsbox's mo-recode hands it over as UTF-8
    phone = live.phone()
    live.kannel.send_ucs2(phone, "Bantuan ’")
    [reply] = live.kannel.wait_for(phone)
    assert reply.text.startswith("SIGAP Ternate"), reply


def _dial(live: Live, phone: str, text: str) -> str:
    r = httpx.post(f"{live.base}/channels/ussd/africastalking", params={"key": SECRETS["africastalking"]},
                   data={"sessionId": f"live-{phone}", "serviceCode": "*123#", "phoneNumber": phone,
                         "text": text})
    assert r.status_code == 200, r.text
    return r.text


def _ussd_register(live: Live, phone: str, nik: str, kk: str) -> None:
    """Through the Africa's Talking adapter: Pulau Hiri, Tafraka, the answers, PIN 2580."""
    path = ["1", nik, "1", kk]
    for name in ("Pulau Hiri", "Tafraka"):
        for _ in range(10):  # pages of the menu ("98 Berikutnya") until the name shows
            screen = _dial(live, phone, "*".join(path))
            choice = [m.group(1) for m in re.finditer(r"^(\d+) (.+)$", screen, re.M) if m.group(2) == name]
            path.append(choice[0] if choice else "98")
            if choice:
                break
    final = _dial(live, phone, "*".join([*path, "4", "1", "4", "1", "2580", "2580", "1"]))
    assert final.startswith("END Terima kasih"), final


def test_ussd_registration_confirmation_goes_out_through_kannel_and_is_reported_delivered(
        live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    phone, k = live.phone(), live.kannel
    _ussd_register(live, phone, "8271074408850003", "8271071203150003")
    # the request queued the confirmation; its flush (KannelSender) handed it to sendsms ...
    [sms] = k.wait_for(f"+{phone}")
    assert sms.sender == "SIGAP" and sms.text.startswith("Terima kasih") and "8271********0003" in sms.text
    assert "8271074408850003" not in sms.text

    def status(purpose: str) -> str | None:
        with live.session() as s:
            row = s.exec(select(OutboundSms).where(OutboundSms.phone == f"+{phone}",
                                                   OutboundSms.purpose == purpose)).first()
            return row.status if row else None

    # ... and the fake SMSC's delivery report came back through smsbox to the DLR URL
    _until(lambda: status("registered") == "delivered", f"no DLR: {status('registered')}\n{k.logs()}")

    # `sigap sms flush`, as cron runs it, sends what is left queued through the same Kannel
    with live.session() as s:
        service.queue_sms(s, f"+{phone}", "SIGAP: tes pengiriman ulang", purpose="cli_test")
        s.commit()
    env = {"DATABASE_URL": live.settings.database_url, "SMS_SENDER": "kannel",
           "KANNEL_SENDSMS_URL": k.sendsms_url, "KANNEL_PASSWORD": k.sendsms_password,
           "GATEWAY_SECRETS": json.dumps(SECRETS), "PUBLIC_BASE_URL": live.base, "LOG_JSON": "false"}
    for name, value in env.items():
        monkeypatch.setenv(f"SIGAP_{name}", value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["sms", "flush"], catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0 and "sent 1, refused 0, still queued 0" in result.output, result.output
    assert k.wait_for(f"+{phone}", count=2)[1].text == "SIGAP: tes pengiriman ulang"
    _until(lambda: status("cli_test") == "delivered", f"no DLR for the flushed SMS\n{k.logs()}")

    # STATUS by SMS from the phone that registered by USSD
    k.send(phone, "CEK")
    [answer] = k.wait_for(phone)
    assert answer.text.startswith("SIGAP: Keluarga NIK 8271********0003"), answer


def test_the_kannel_sender_reports_a_refusal(live: Live) -> None:
    sender = live.settings.model_copy(update={"kannel_password": "wrong"})
    with live.session() as s:
        sms = OutboundSms(phone="+6281200099999", text="x", purpose="test")
        s.add(sms)
        s.commit()
        with pytest.raises(SendFailed, match="403"):
            KannelSender(sender).send(sms)


def test_an_enumerators_household_by_sms_through_kannel(live: Live, tmp_path: Path) -> None:
    """The fallback end to end: a tablet records a family offline, encodes it as SMS, the SMS
    app sends them through the operator (here fakesmsc and real Kannel), the server applies
    them through the push pipeline, and the tablet checks the acknowledgement it gets back."""
    from datetime import date

    from sync_protocol.client import DeviceClient, RetryPolicy
    from tests import factories as f
    from tests.sync.test_sms_fallback import family

    phone, k = live.phone(), live.kannel
    with live.session() as s:
        auth_repository.add_user(s, User(username=f"enum-{phone}", password_hash=hash_password("rahasia-123"),
                                         role="enumerator"), (f.HIRI_FAUDU,))
        s.commit()
    tablet = DeviceClient(tmp_path / "tablet.db", retry=RetryPolicy(max_attempts=2))
    try:
        tablet.enrol(live.base, f"enum-{phone}", "rahasia-123", f"tab-{phone}")
        data = family(size=4, seed=7)  # identifiers no other test in this module uses
        data["kk_number"] = f.kk(serial=9001)
        for i, m in enumerate(data["members"]):
            m["nik"] = f.nik(date.fromisoformat(m["birth_date"]), m["sex"], serial=9001 + i)
        household_id = tablet.create_household(data)
        (message,) = tablet.sms_encode()
        assert message.error is None and 1 <= len(message.texts) <= 2
        for text in message.texts:
            k.send(phone, text)
        replies = k.wait_for(phone, count=len(message.texts))
        ack = replies[-1].text
        assert ack.startswith(f"SIGAP OK {message.seq} "), replies
        assert tablet.sms_ack(ack).status == "acknowledged"
        assert tablet.sms_ack(ack.replace(ack.split()[3], "AAAAAAAA")).status in ("bad_code", "already")
    finally:
        tablet.close()
    with live.session() as s:
        stored = s.get(Household, household_id)
        assert stored is not None and stored.source == "enumerator"
        row = s.exec(select(ChannelMessage).where(ChannelMessage.phone == f"+{phone}")
                     .order_by(ChannelMessage.id.desc())).first()  # type: ignore[union-attr]
        assert row is not None and (row.kind, row.outcome) == ("enumerator", "enumerator_ok")


def test_every_character_of_the_sms_alphabet_arrives_through_kannel(live: Live, tmp_path: Path) -> None:
    """The enumerator SMS alphabet (sync_protocol/smsbits.py, ALPHABET) end to end: one SMS
    whose text holds all 75 characters, sealed with the tablet's real key, goes phone ->
    fakesmsc -> bearerbox -> smsbox -> get-url -> the app.  The app reads exactly the text
    sent, and its reply says the payload is not a mutation: a reply only given after the
    8-byte tag verified over every byte, so not one byte changed on the way."""
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    from sync_protocol import smscodec
    from sync_protocol.client import DeviceClient, RetryPolicy
    from sync_protocol.smsbits import ALPHABET, from_text, to_text
    from tests import factories as f

    phone, k = live.phone(), live.kannel
    with live.session() as s:
        auth_repository.add_user(s, User(username=f"enum-{phone}", password_hash=hash_password("rahasia-123"),
                                         role="enumerator"), (f.HIRI_FAUDU,))
        s.commit()
    tablet = DeviceClient(tmp_path / "tablet.db", retry=RetryPolicy(max_attempts=2))
    try:
        tablet.enrol(live.base, f"enum-{phone}", "rahasia-123", f"tab-{phone}")
        enrolment = tablet.store.meta().enrolment
    finally:
        tablet.close()
    assert enrolment is not None and enrolment.sms_number is not None and enrolment.sms_key is not None
    number, key, seq = enrolment.sms_number, smscodec.key_from_text(enrolment.sms_key), 4242
    header = smscodec.header_text(number, seq, None)
    # the text we want, every character in it; its bytes less the tag as the ciphertext ...
    room = 157 - len(header)
    wanted = ("0" + ALPHABET + ALPHABET[::-1])[:room].ljust(room, "0")
    while True:
        try:
            ciphertext = from_text(wanted)[:-smscodec.TAG_BYTES]
            break
        except smscodec.SmsFormatError:  # not a whole number of bytes: one character less
            wanted = wanted[:-1]
    # ... so the plaintext is the ciphertext XOR the CCM key stream, and sealing it gives that
    # ciphertext back with a real tag (only the last ~11 characters differ from ``wanted``)
    aead = AESCCM(smscodec._subkey(key, b"enc")[:16], tag_length=smscodec.TAG_BYTES)
    nonce, aad = smscodec._nonce(number, seq, 0), smscodec._AAD + header.encode()
    stream = aead.encrypt(nonce, bytes(len(ciphertext)), aad)[:len(ciphertext)]
    plaintext = bytes(a ^ b for a, b in zip(ciphertext, stream, strict=True))
    text = smscodec.PREFIX + header + to_text(aead.encrypt(nonce, plaintext, aad))
    assert set(ALPHABET) <= set(text[len(smscodec.PREFIX):]) and len(text) <= 160
    assert smscodec.open_part(smscodec.parse_frame(text), key) == plaintext

    k.send(phone, text)
    [reply] = k.wait_for(phone)
    assert live.front.texts[phone] == [text]  # what the app read is what the phone sent
    assert reply.text == REPLIES["bad_payload"].format(seq=seq), reply  # the tag verified
    with live.session() as s:
        row = s.exec(select(ChannelMessage).where(ChannelMessage.phone == f"+{phone}")).one()
        assert (row.kind, row.outcome) == ("enumerator", "enumerator_refused")
