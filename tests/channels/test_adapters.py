"""The Hubtel-style USSD, Twilio-style SMS and signed JSON webhook adapters, through the real
app on both engines: a whole journey through each, retries answered once, every forged or
stale callback refused with nothing written, bad bodies named by field, throttling silent."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from app import pii
from app.channels import gsm7, texts
from app.channels.gateways.base import signature, with_and_without_port
from app.channels.gateways.twilio import signed_text
from app.channels.models import ChannelMessage, Contact, OutboundSms, UssdSession
from app.config import Settings
from app.registry.models import FieldTask, Household
from tests.channels.conftest import KK, NIK, PHONE, SECRETS
from tests.channels.test_journeys import count

TWILIO_URL = "http://testserver/channels/sms/twilio"


def counts(db: Session) -> tuple[int, int, int, int]:
    return (count(db, ChannelMessage), count(db, Household), count(db, UssdSession), count(db, Contact))


@pytest.fixture
def cfg(client: TestClient) -> Settings:
    return client.app.state.settings  # type: ignore[attr-defined,no-any-return]


# -- Hubtel-style USSD ---------------------------------------------------------------------------


class HubtelPhone:
    """A resident on a Hubtel session: each step sends only its input, with the ClientState
    of the previous reply echoed back, as Hubtel does."""

    def __init__(self, client: TestClient, session_id: str = "h1", mobile: str = "6281234567890",
                 key: str | None = SECRETS["hubtel"]) -> None:
        self.client, self.session_id, self.mobile, self.key = client, session_id, mobile, key
        self.state = ""
        self.sequence = 0
        self.last: dict[str, Any] = {}

    def post(self, body: dict[str, Any], key: str | None = None) -> Any:
        key = key if key is not None else self.key
        return self.client.post("/channels/ussd/hubtel", json=body,
                                headers={"X-Gateway-Key": key} if key is not None else {})

    def request(self, kind: str, message: str) -> dict[str, Any]:
        self.sequence += 1
        return {"Type": kind, "Mobile": self.mobile, "SessionId": self.session_id, "ServiceCode": "*123#",
                "Message": message, "Sequence": self.sequence, "ClientState": self.state,
                "Operator": "telkomsel"}

    def send(self, kind: str, message: str) -> dict[str, Any]:
        r = self.post(self.request(kind, message))
        assert r.status_code == 200, r.text
        self.last = r.json()
        self.state = self.last.get("ClientState", "")
        return self.last

    def dial(self) -> dict[str, Any]:
        return self.send("Initiation", "*123#")

    def enter(self, message: str) -> dict[str, Any]:
        return self.send("Response", message)

    def pick(self, name: str) -> dict[str, Any]:
        for _ in range(20):
            for line in self.last["Message"].splitlines():
                m = re.match(r"^(\d+) (.+)$", line)
                if m and m.group(2) == name[:22]:
                    return self.enter(m.group(1))
            assert "98 Berikutnya" in self.last["Message"], self.last
            self.enter("98")
        raise AssertionError("menu never ends")

    def to_confirmation(self, *, nik: str = NIK, kk: str = KK) -> dict[str, Any]:
        self.dial()
        for value in ("1", nik, "1", kk):
            self.enter(value)
        self.pick("Pulau Hiri")
        self.pick("Tafraka")
        for value in ("4", "1", "4", "1", "2580", "2580"):
            self.enter(value)
        return self.last


def test_hubtel_registration_journey_keeps_the_path_in_client_state(client: TestClient, db: Session) -> None:
    phone = HubtelPhone(client)
    first = phone.dial()
    assert first["Type"] == "Response" and first["ClientState"] == "v1:" and "1 " in first["Message"]
    confirm = phone.to_confirmation()
    assert confirm["Type"] == "Response" and confirm["Message"].startswith("Kirim pendaftaran?")
    assert "8271********0001" in confirm["Message"]
    assert confirm["ClientState"].startswith(f"v1:1*{NIK}*1*{KK}*")
    done = phone.enter("1")
    assert done["Type"] == "Release" and done["Message"].startswith("Terima kasih"), done
    assert done["ClientState"] == ""
    household = db.exec(select(Household).where(pii.lookup(Household.kk_bidx, "kk", KK))).one()
    assert (household.source, household.phone, household.kelurahan_code) == ("ussd", PHONE, "82.71.07.1006")
    assert count(db, FieldTask, FieldTask.household_id == household.id) == 1
    assert count(db, OutboundSms, OutboundSms.phone == PHONE) == 1
    row = db.get(UssdSession, ("hubtel", "h1"))
    assert row is not None and row.finished and row.text == confirm["ClientState"][3:] + "*1"
    # status in a new Hubtel session, with the PIN
    status = HubtelPhone(client, session_id="h2")
    status.dial()
    status.enter("2")
    answer = status.enter("2580")
    assert answer["Type"] == "Release" and "menunggu verifikasi" in answer["Message"]


def test_hubtel_retried_step_gets_the_same_reply_and_registers_once(client: TestClient, db: Session) -> None:
    phone = HubtelPhone(client)
    phone.to_confirmation()
    final = phone.request("Response", "1")
    first = phone.post(final)
    again = phone.post(final)  # Hubtel timed out waiting and sent the same step again
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and first.json()["Type"] == "Release"
    assert count(db, Household, pii.lookup(Household.kk_bidx, "kk", KK)) == 1
    assert count(db, OutboundSms, OutboundSms.phone == PHONE) == 1
    # a retried middle step too: the same ClientState and Message are the same path
    other = HubtelPhone(client, session_id="h3", mobile="6281298765432")
    other.dial()
    step = other.request("Response", "1")
    assert other.post(step).json() == other.post(step).json()


def test_hubtel_release_and_timeout_end_quietly_and_a_new_session_resumes(client: TestClient,
                                                                           db: Session) -> None:
    phone = HubtelPhone(client, session_id="old")
    phone.dial()
    for value in ("1", NIK, "1", KK):
        phone.enter(value)
    before = counts(db)
    for kind in ("Release", "Timeout", "release"):
        assert phone.send(kind, "") == {"Type": "Release", "Message": "", "ClientState": ""}
    assert counts(db) == before and count(db, Household) == 0
    fresh = HubtelPhone(client, session_id="new")
    assert "5 Lanjutkan pendaftaran" in fresh.dial()["Message"]
    assert fresh.enter("5")["Message"].startswith("Kecamatan")


@pytest.mark.parametrize("key", [None, "", "wrong", SECRETS["africastalking"], SECRETS["twilio"]])
def test_hubtel_refuses_a_wrong_or_missing_key_and_writes_nothing(client: TestClient, db: Session,
                                                                  key: str | None) -> None:
    phone = HubtelPhone(client, session_id="forged")
    before = counts(db)
    body = phone.request("Response", "1")
    body["ClientState"] = f"v1:1*{NIK}*1*{KK}*1*6*4*1*4*1*2580*2580"
    r = phone.post(body, key=key) if key is not None else client.post("/channels/ussd/hubtel", json=body)
    assert r.status_code == 403 and r.json()["error"] == "gateway_forbidden"
    r = client.post("/channels/ussd/hubtel", params={"key": key or "x"}, json=phone.request("Initiation", ""))
    assert r.status_code == 403
    assert counts(db) == before == (0, 0, 0, 0)


@pytest.mark.parametrize(("change", "field"), [
    ({"SessionId": None}, "SessionId"), ({"Mobile": None}, "Mobile"), ({"Mobile": "12"}, "Mobile"),
    ({"Mobile": "233200585542"}, "Mobile"), ({"Type": "Ping"}, "Type"), ({"Sequence": "x"}, "Sequence"),
    ({"ClientState": ""}, "ClientState"), ({"ClientState": "1*2"}, "ClientState"),
    ({"Message": "1" * 183}, "Message"), ({"ClientState": "v1:" + "1*" * 199 + "1"}, "Message"),
])
def test_hubtel_bad_bodies_get_a_422_naming_the_field(client: TestClient, db: Session,
                                                      change: dict[str, Any], field: str) -> None:
    phone = HubtelPhone(client)
    body = {**phone.request("Response", "1"), "ClientState": "v1:"}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    before = counts(db)
    r = phone.post(body)
    assert r.status_code == 422, r.text
    assert field in [p["field"] for p in r.json()["detail"]], r.json()
    assert counts(db) == before


def test_hubtel_session_of_another_phone_is_refused(client: TestClient, db: Session) -> None:
    HubtelPhone(client, session_id="s").dial()
    r = HubtelPhone(client, session_id="s", mobile="6281298765432").post(
        HubtelPhone(client, session_id="s", mobile="6281298765432").request("Initiation", ""))
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "SessionId"


# -- Twilio-style SMS ----------------------------------------------------------------------------

_sid = itertools.count(1)


def twilio(client: TestClient, body: str, *, sender: str = "+6281234567890", sid: str | None = None,
           token: str = SECRETS["twilio"], url: str = TWILIO_URL, sign: bool = True,
           tamper: dict[str, str] | None = None, extra: dict[str, str] | None = None) -> Any:
    params = {"From": sender, "To": "+6281100001111", "Body": body, "AccountSid": "AC123",
              "MessageSid": sid or f"SM{next(_sid):032d}", **(extra or {})}
    headers = {}
    if sign:
        headers["X-Twilio-Signature"] = signature(token, signed_text(url, params.items()),
                                                  algorithm="sha1", encoding="base64")
    return client.post("/channels/sms/twilio", data={**params, **(tamper or {})}, headers=headers)


def message_of(twiml: str) -> str | None:
    m = re.fullmatch(r'<\?xml version="1.0" encoding="UTF-8"\?><Response><Message>(.*)</Message></Response>',
                     twiml, re.S)
    if m is None:
        assert twiml.endswith("<Response/>"), twiml
        return None
    return m.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_twilio_signature_is_twilios_own() -> None:
    """The vectors of Twilio's validator (auth token 12345)."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
              "To": "+18005551212", "Caller": "+14158675309"}
    assert signature("12345", signed_text(url, params.items()), algorithm="sha1",
                     encoding="base64") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert signature("12345", signed_text(url, repeated), algorithm="sha1",
                     encoding="base64") == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    with_port = with_and_without_port(url)[1]
    assert with_port == "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert signature("12345", signed_text(with_port, params.items()), algorithm="sha1",
                     encoding="base64") == "kvajT1Ptam85bY51eRf/AJRuM3w="
    assert with_and_without_port("http://h.example:8080/p") == ["http://h.example/p", "http://h.example:8080/p"]


def test_twilio_registration_then_status(client: TestClient, db: Session) -> None:
    r = twilio(client, f"DAFTAR#{NIK}#{KK}#4#Tafraka")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    reply = message_of(r.text)
    assert reply is not None and reply.startswith("Terima kasih") and "8271********0001" in reply
    assert NIK not in r.text
    household = db.exec(select(Household).where(pii.lookup(Household.kk_bidx, "kk", KK))).one()
    assert (household.source, household.phone) == ("sms", PHONE)
    status = message_of(twilio(client, "STATUS").text)
    assert status is not None and "menunggu verifikasi" in status
    assert db.exec(select(ChannelMessage.gateway).distinct()).all() == ["twilio"]


def test_twilio_reply_is_xml_escaped(client: TestClient) -> None:
    # the unknown-kelurahan reply echoes what the resident typed: it must not break the TwiML
    r = twilio(client, f"DAFTAR#{NIK}#{KK}#4#<b>&amp")
    assert r.status_code == 200 and "<b>" not in r.text
    reply = message_of(r.text)
    assert reply is not None and gsm7.fits_one_sms(reply)


def test_twilio_retry_by_message_sid_is_answered_once(client: TestClient, db: Session) -> None:
    first = twilio(client, f"DAFTAR#{NIK}#{KK}#4#Tafraka", sid="SMretry")
    again = twilio(client, f"DAFTAR#{NIK}#{KK}#4#Tafraka", sid="SMretry")
    assert first.status_code == again.status_code == 200 and again.text == first.text
    assert "Terima kasih" in first.text
    assert count(db, Household) == 1
    assert count(db, ChannelMessage, ChannelMessage.provider_id == "SMretry") == 1


def test_twilio_behind_a_proxy_checks_the_public_url(client: TestClient, cfg: Settings, db: Session) -> None:
    cfg.public_base_url = "https://sigap.ternatekota.go.id/api/"
    public = "https://sigap.ternatekota.go.id/api/channels/sms/twilio"
    assert twilio(client, "BANTUAN", url=public).status_code == 200
    assert twilio(client, "BANTUAN", url=public.replace(".go.id/", ".go.id:443/")).status_code == 200
    assert twilio(client, "BANTUAN", url=TWILIO_URL).status_code == 403  # the address the app sees
    assert count(db, ChannelMessage) == 2


@pytest.mark.parametrize("forgery", ["unsigned", "wrong_token", "other_gateway_key", "tampered_body",
                                     "added_param", "other_url", "not_configured"])
def test_twilio_forged_requests_are_refused_and_write_nothing(client: TestClient, db: Session, cfg: Settings,
                                                              forgery: str) -> None:
    text = f"DAFTAR#{NIK}#{KK}#4#Tafraka"
    kwargs: dict[str, Any] = {
        "unsigned": {"sign": False}, "wrong_token": {"token": "guess"},
        "other_gateway_key": {"token": SECRETS["webhook"]},
        "tampered_body": {"tamper": {"Body": f"DAFTAR#{NIK}#{KK}#9#Tafraka"}},
        "added_param": {"tamper": {"NumMedia": "0"}},
        "other_url": {"url": "http://testserver/channels/sms/webhook"}, "not_configured": {},
    }[forgery]
    if forgery == "not_configured":
        cfg.gateway_secrets = {k: v for k, v in SECRETS.items() if k != "twilio"}
    r = twilio(client, text, **kwargs)
    assert r.status_code == 403 and r.json()["error"] == "gateway_forbidden", r.text
    assert counts(db) == (0, 0, 0, 0)


@pytest.mark.parametrize(("data", "field"), [
    ({"MessageSid": "SM1", "Body": "x"}, "From"), ({"From": "+6281234567890", "Body": "x"}, "MessageSid"),
    ({"From": "12", "MessageSid": "SM1", "Body": "x"}, "From"),
    ({"From": "+6281234567890", "MessageSid": "SM1", "Body": "x" * 1601}, "Body"),
])
def test_twilio_bad_bodies_get_a_422_naming_the_field(client: TestClient, db: Session,
                                                      data: dict[str, str], field: str) -> None:
    sig = signature(SECRETS["twilio"], signed_text(TWILIO_URL, data.items()), algorithm="sha1",
                    encoding="base64")
    r = client.post("/channels/sms/twilio", data=data, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 422 and field in [p["field"] for p in r.json()["detail"]], r.text
    assert counts(db) == (0, 0, 0, 0)


def test_twilio_throttled_gets_an_empty_response(client: TestClient, db: Session, cfg: Settings) -> None:
    cfg.channel_phone_per_hour = 2
    assert message_of(twilio(client, "BANTUAN").text) == texts.HELP_SMS
    assert message_of(twilio(client, "BANTUAN").text) == texts.HELP_SMS
    r = twilio(client, "BANTUAN")
    assert r.status_code == 200 and r.text.endswith("<Response/>") and message_of(r.text) is None
    assert count(db, ChannelMessage, ChannelMessage.outcome == "throttled") == 1


# -- generic signed JSON webhook -----------------------------------------------------------------

_mid = itertools.count(1)


def webhook(client: TestClient, text: str | None = None, *, sender: Any = "081234567890",
            body: dict[str, Any] | None = None, raw: bytes | None = None, key: str = SECRETS["webhook"],
            ts: int | None = None, sign: bool = True, tamper: bytes | None = None,
            scheme: str = "sha256=", msg_id: str | None = None) -> Any:
    if raw is None:
        body = body if body is not None else {"id": msg_id or f"m{next(_mid)}", "from": sender,
                                              "to": "1234", "text": text,
                                              "received_at": "2026-11-28T10:00:00+09:00"}
        raw = json.dumps(body).encode()
    stamp = str(int(time.time()) if ts is None else ts)
    headers = {"Content-Type": "application/json"}
    if sign:
        digest = hmac.new(key.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        headers |= {"X-Sigap-Timestamp": stamp, "X-Sigap-Signature": scheme + digest}
    return client.post("/channels/sms/webhook", content=tamper if tamper is not None else raw,
                       headers=headers)


def test_webhook_registration_in_two_messages_then_status(client: TestClient, db: Session) -> None:
    r = webhook(client, f"DAFTAR#{NIK}#{KK}#4")
    assert r.status_code == 200 and r.json() == {"reply": texts.ASK_KELURAHAN}
    r = webhook(client, "KEL Tafraka")
    assert r.json()["reply"].startswith("Terima kasih") and "Tafraka" in r.json()["reply"]
    assert webhook(client, "PIN#2580").json() == {"reply": texts.PIN_SAVED}
    status = webhook(client, f"STATUS#{NIK}#2580", sender="081298765432").json()["reply"]
    assert "menunggu verifikasi" in status
    household = db.exec(select(Household).where(pii.lookup(Household.kk_bidx, "kk", KK))).one()
    assert (household.source, household.phone) == ("sms", PHONE)


def test_webhook_retry_by_id_is_answered_once(client: TestClient, db: Session) -> None:
    first = webhook(client, f"DAFTAR#{NIK}#{KK}#4#Tafraka", msg_id="gw-1")
    again = webhook(client, f"DAFTAR#{NIK}#{KK}#4#Tafraka", msg_id="gw-1")
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert first.json()["reply"].startswith("Terima kasih")
    assert count(db, Household) == 1 and count(db, ChannelMessage, ChannelMessage.provider_id == "gw-1") == 1


@pytest.mark.parametrize("forgery", ["unsigned", "no_timestamp", "wrong_key", "other_gateway_key",
                                     "tampered_body", "stale", "future", "no_scheme", "other_timestamp",
                                     "not_configured", "unsigned_garbage"])
def test_webhook_forged_unsigned_or_stale_is_refused_and_writes_nothing(
        client: TestClient, db: Session, cfg: Settings, forgery: str) -> None:
    text = f"DAFTAR#{NIK}#{KK}#4#Tafraka"
    genuine = json.dumps({"id": "f1", "from": "081234567890", "text": text}).encode()
    now = int(time.time())
    if forgery == "not_configured":
        cfg.gateway_secrets = {k: v for k, v in SECRETS.items() if k != "webhook"}
    if forgery == "other_timestamp":  # a genuine signature, replayed with a fresh timestamp
        digest = hmac.new(SECRETS["webhook"].encode(), f"{now - 900}.".encode() + genuine,
                          hashlib.sha256).hexdigest()
        r = client.post("/channels/sms/webhook", content=genuine, headers={
            "X-Sigap-Timestamp": str(now), "X-Sigap-Signature": f"sha256={digest}"})
    elif forgery == "no_timestamp":
        digest = hmac.new(SECRETS["webhook"].encode(), genuine, hashlib.sha256).hexdigest()
        r = client.post("/channels/sms/webhook", content=genuine,
                        headers={"X-Sigap-Signature": f"sha256={digest}"})
    else:
        kwargs: dict[str, Any] = {
            "unsigned": {"sign": False}, "wrong_key": {"key": "guess"},
            "other_gateway_key": {"key": SECRETS["twilio"]},
            "tampered_body": {"tamper": genuine.replace(b"#4#", b"#9#")},
            "stale": {"ts": now - 360}, "future": {"ts": now + 360}, "no_scheme": {"scheme": ""},
            "not_configured": {}, "unsigned_garbage": {"sign": False, "raw": b"{not json"},
        }[forgery]
        kwargs.setdefault("raw", genuine)
        r = webhook(client, **kwargs)
    assert r.status_code == 403 and r.json()["error"] == "gateway_forbidden", r.text
    assert counts(db) == (0, 0, 0, 0)


def test_webhook_accepts_a_timestamp_within_the_window(client: TestClient) -> None:
    assert webhook(client, "BANTUAN", ts=int(time.time()) - 250).json() == {"reply": texts.HELP_SMS}


@pytest.mark.parametrize(("raw", "field"), [
    (b"{not json", "body"), (b"[]", "body"), (b'{"from": "081234567890", "text": "x"}', "id"),
    (b'{"id": "a", "text": "x"}', "from"), (b'{"id": "a", "from": "081234567890"}', "text"),
    (b'{"id": "a", "from": "081234567890", "text": 5}', "text"),
    (b'{"id": 7, "from": "081234567890", "text": "x"}', "id"),
    (b'{"id": "a", "from": 6281234567890, "text": "x"}', "from"),
    (b'{"id": "a", "from": "081234567890", "text": "x", "received_at": "kemarin"}', "received_at"),
    (b'{"id": "a", "from": "12", "text": "x"}', "from"),
])
def test_webhook_bad_bodies_get_a_422_naming_the_field(client: TestClient, db: Session,
                                                       raw: bytes, field: str) -> None:
    r = webhook(client, raw=raw)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"
    assert field in [p["field"] for p in r.json()["detail"]], r.text
    assert counts(db) == (0, 0, 0, 0)


def test_webhook_throttled_gets_a_null_reply(client: TestClient, db: Session, cfg: Settings) -> None:
    cfg.channel_phone_per_hour = 1
    assert webhook(client, "BANTUAN").json() == {"reply": texts.HELP_SMS}
    r = webhook(client, "BANTUAN")
    assert r.status_code == 200 and r.json() == {"reply": None}
    assert count(db, ChannelMessage, ChannelMessage.outcome == "throttled") == 1


_phones = itertools.count(1)
_keywords = st.sampled_from(["", "DAFTAR#", f"DAFTAR#{NIK}#", f"DAFTAR#{NIK}#{KK}#", "STATUS#", "CEK ",
                             f"STATUS#{NIK}#", "PIN#", "KEL ", "BATAL", "STOP", "?"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.builds(lambda k, t: k + t, _keywords, st.text(max_size=200)),
       same_phone=st.booleans())
def test_webhook_answers_anything_with_one_sms_or_nothing(client: TestClient, text: str,
                                                         same_phone: bool) -> None:
    sender = "081234567890" if same_phone else f"08123{next(_phones):07d}"  # one phone reaches its limit
    r = webhook(client, text, sender=sender)
    assert r.status_code == 200, r.text
    reply = r.json()["reply"]
    assert reply is None or (isinstance(reply, str) and gsm7.fits_one_sms(reply)), reply

