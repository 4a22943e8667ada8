"""The Kannel adapter without Kannel: the sms-service callback (parameters, charsets, the
secret, retries, throttling), delivery reports, and the sendsms sender against a mock
transport.  The same paths through a real bearerbox/smsbox are in test_kannel_live.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, quote_from_bytes, urlencode, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from app import pii
from app.channels import outbound, texts
from app.channels.gateways.kannel import decode_text
from app.channels.models import ChannelMessage, OutboundSms
from app.channels.outbound import KannelSender, SendFailed
from app.cli import cli
from app.config import Settings, get_settings
from app.registry.models import Household
from tests.channels.conftest import KK, NIK, PHONE, SECRETS
from tests.channels.test_journeys import count
from tests.conftest import reference_database

KEY = SECRETS["kannel"]
URL = "/channels/sms/kannel"
Get = Callable[..., httpx.Response]


@pytest.fixture
def sms_in(client: TestClient) -> Get:
    """One sms-service get-url call as smsbox makes it (``%b`` percent-encodes the bytes)."""

    def get(text: str | bytes, *, sender: str = "6281234567890", msg_id: str | None = "k-1",
            key: str | None = KEY, **extra: str) -> httpx.Response:
        raw = text.encode() if isinstance(text, str) else text
        params = {"from": sender, **({"key": key} if key is not None else {}),
                  **({"id": msg_id} if msg_id is not None else {}),
                  "coding": "0", "charset": "UTF-8", **extra}
        query = urlencode(params)
        quoted = quote_from_bytes(raw, safe="")
        return client.get(f"{URL}?{query}&text={quoted}")

    return get


class TestDecodeText:
    def test_gsm7_messages_arrive_as_utf8(self) -> None:
        assert decode_text("Tafraka é €".encode(), coding=0, charset="UTF-8") == "Tafraka é €"

    def test_ucs2_is_utf16be(self) -> None:
        raw = "Cek ✓".encode("utf-16-be")
        assert decode_text(raw, coding=2, charset="UTF-16BE") == "Cek ✓"
        assert decode_text(raw, coding=2, charset=None) == "Cek ✓"  # only %c given

    def test_mo_recode_makes_ucs2_utf8(self) -> None:
        assert decode_text("Cek ✓".encode(), coding=0, charset="UTF-8") == "Cek ✓"

    def test_a_named_charset_is_used(self) -> None:
        assert decode_text("Ternate é".encode("iso-8859-1"), coding=0, charset='"ISO-8859-1"') == "Ternate é"

    def test_bytes_that_are_not_what_the_charset_says_fall_back(self) -> None:
        assert decode_text(b"caf\xe9", coding=0, charset="UTF-8") == "café"   # Windows-1252
        assert decode_text(b"caf\xe9", coding=1, charset="8-BIT") == "café"
        assert decode_text(b"ok", coding=None, charset="no-such-charset") == "ok"

    def test_nul_never_reaches_the_service(self) -> None:
        assert decode_text(b"\x00B\x00A", coding=2, charset="UTF-16BE") == "BA"
        assert decode_text(b"A\x00B", coding=1, charset="8-BIT") == "AB"


class TestInbound:
    def test_registration_in_one_sms_is_answered_in_plain_text(self, sms_in: Get, db: Session) -> None:
        r = sms_in(f"DAFTAR#{NIK}#{KK}#4#Tafraka")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        assert r.text.startswith("Terima kasih") and "8271********0001" in r.text
        assert NIK not in r.text and KK not in r.text
        household = db.exec(select(Household).where(pii.lookup(Household.kk_bidx, "kk", KK))).one()
        assert (household.source, household.phone) == ("sms", PHONE)
        row = db.exec(select(ChannelMessage).where(ChannelMessage.provider_id == "k-1")).one()
        assert (row.gateway, row.outcome, row.phone) == ("kannel", "registered", PHONE)

    def test_words_joined_by_plus_as_percent_a_sends_them(self, sms_in: Get, client: TestClient) -> None:
        assert sms_in(f"DAFTAR#{NIK}#{KK}#4", msg_id="a1").text == texts.ASK_KELURAHAN
        r = client.get(f"{URL}?key={KEY}&from=081234567890&id=a2&text=kel+tafraka")
        assert r.text.startswith("Terima kasih"), r.text

    def test_text_in_a_charset_other_than_utf8(self, sms_in: Get) -> None:
        r = sms_in("BANTUAN é".encode("iso-8859-1"), charset="ISO-8859-1")
        assert r.status_code == 200 and r.text.startswith("SIGAP Ternate")

    def test_a_retry_with_the_same_id_is_answered_from_the_record(self, sms_in: Get, db: Session) -> None:
        first = sms_in(f"DAFTAR#{NIK}#{KK}#4#Tafraka", msg_id="retry-1")
        again = sms_in(f"DAFTAR#{NIK}#{KK}#4#Tafraka", msg_id="retry-1")
        assert again.status_code == 200 and again.text == first.text
        assert count(db, Household, pii.lookup(Household.kk_bidx, "kk", KK)) == 1
        assert count(db, ChannelMessage, ChannelMessage.provider_id == "retry-1") == 1

    def test_forged_and_unsigned_callbacks_are_refused_and_change_nothing(self, sms_in: Get,
                                                                          db: Session) -> None:
        for key in ("wrong", "", None):
            r = sms_in(f"DAFTAR#{NIK}#{KK}#4#Tafraka", key=key, msg_id=f"forged-{key}")
            assert r.status_code == 403 and r.json()["error"] == "gateway_forbidden"
            assert NIK not in r.text
        assert count(db, Household) == 0 and count(db, ChannelMessage) == 0

    def test_throttled_gets_an_empty_200_so_smsbox_sends_nothing(self, sms_in: Get, client: TestClient,
                                                                 db: Session) -> None:
        client.app.state.settings.channel_phone_per_hour = 1  # type: ignore[attr-defined]
        assert sms_in("BANTUAN", msg_id="t1").text.startswith("SIGAP Ternate")
        r = sms_in("BANTUAN", msg_id="t2")
        assert (r.status_code, r.text) == (200, "")
        assert sms_in("BANTUAN", msg_id="t2").text == ""  # its retry: still nothing
        row = db.exec(select(ChannelMessage).where(ChannelMessage.provider_id == "t2")).one()
        assert (row.outcome, row.reply) == ("throttled", None)

    def test_gateway_mistakes_get_a_422_naming_the_field(self, sms_in: Get, client: TestClient,
                                                         db: Session) -> None:
        r = sms_in("BANTUAN", sender="12")
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "from"
        r = client.get(URL, params={"key": KEY, "text": "BANTUAN"})
        assert r.status_code == 422 and "from" in r.text
        r = sms_in("x" * 1601)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "text"
        assert count(db, ChannelMessage) == 0

    def test_post_url_with_the_text_as_body(self, client: TestClient) -> None:
        r = client.post(URL, params={"key": KEY, "id": "p1"}, content="STATUS".encode("utf-16-be"),
                        headers={"Content-Type": 'text/plain; charset="UTF-16BE"',
                                 "X-Kannel-From": "+6281234567890", "X-Kannel-Coding": "2"})
        assert (r.status_code, r.text) == (200, texts.NOT_REGISTERED)
        r = client.post(URL, params={"key": KEY, "from": "081234567890"}, content="BANTUAN",
                        headers={"Content-Type": "text/plain"})
        assert r.text.startswith("SIGAP Ternate")
        r = client.post(URL, params={"key": KEY}, content="BANTUAN", headers={"Content-Type": "text/plain"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "from"
        r = client.post(URL, params={"key": "wrong", "from": "081234567890"}, content="BANTUAN")
        assert r.status_code == 403


def _queued(db: Session, text: str = "Terima kasih") -> OutboundSms:
    sms = OutboundSms(phone=PHONE, text=text, purpose="registered")
    db.add(sms)
    db.commit()
    assert sms.id is not None
    return sms


class TestDeliveryReports:
    def dlr(self, client: TestClient, sms_id: int, report: int, key: str = KEY) -> httpx.Response:
        return client.get(f"{URL}/dlr", params={"key": key, "id": sms_id, "type": report})

    def test_delivered_is_final(self, client: TestClient, db: Session) -> None:
        sms = _queued(db)
        assert self.dlr(client, sms.id or 0, 8).text == "queued"     # accepted by the SMSC: no change
        assert self.dlr(client, sms.id or 0, 1).text == "delivered"
        assert self.dlr(client, sms.id or 0, 2).text == "delivered"  # a late failure changes nothing
        db.refresh(sms)
        assert sms.status == "delivered"

    def test_undelivered_and_rejected_are_failures_with_the_reason(self, client: TestClient,
                                                                   db: Session) -> None:
        a, b = _queued(db), _queued(db)
        assert self.dlr(client, a.id or 0, 2).text == "failed"
        assert self.dlr(client, b.id or 0, 16).text == "failed"
        db.refresh(b)
        assert b.last_error == "rejected by the SMSC (report 16)"

    def test_forged_reports_and_unknown_messages(self, client: TestClient, db: Session) -> None:
        sms = _queued(db)
        for key in ("wrong", ""):
            assert self.dlr(client, sms.id or 0, 1, key=key).status_code == 403
        assert client.get(f"{URL}/dlr", params={"id": sms.id, "type": 1}).status_code == 403
        db.refresh(sms)
        assert sms.status == "queued"
        r = self.dlr(client, 999_999, 1)
        assert r.status_code == 404 and r.json()["error"] == "not_found"


class TestKannelSender:
    def sender(self, settings: Settings, handler: Callable[[httpx.Request], httpx.Response]) -> KannelSender:
        cfg = settings.model_copy(update={"kannel_sendsms_url": "http://kannel.test:13013/cgi-bin/sendsms",
                                          "kannel_password": "pw", "public_base_url": "https://sigap.test/"})
        return KannelSender(cfg, client=httpx.Client(transport=httpx.MockTransport(handler)))

    def test_sendsms_asks_for_a_report_to_our_dlr_url(self, settings: Settings, db: Session,
                                                      client: TestClient) -> None:
        seen: list[httpx.Request] = []
        sms = _queued(db, "Terima kasih, NIK 8271********0001 terdaftar")

        def kannel(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(202, text="0: Accepted for delivery")

        settings.gateway_secrets = {"kannel": "se/cr%et"}
        assert self.sender(settings, kannel).send(sms) is None
        q = {k: v[0] for k, v in parse_qs(urlsplit(str(seen[0].url)).query).items()}
        assert (q["username"], q["password"], q["from"], q["to"]) == ("sigap", "pw", "SIGAP", PHONE)
        assert (q["text"], q["charset"], q["coding"], q["dlr-mask"]) == (sms.text, "UTF-8", "0", "19")
        # Kannel fills %d and turns %% into %: what comes back is our id and the secret, URL-encoded
        dlr = q["dlr-url"].replace("%d", "1").replace("%%", "%")
        assert dlr == f"https://sigap.test/channels/sms/kannel/dlr?key=se%2Fcr%25et&id={sms.id}&type=1"

    def test_the_dlr_url_works_against_the_app(self, settings: Settings, db: Session,
                                               client: TestClient) -> None:
        sms = _queued(db)
        settings.public_base_url = "https://sigap.test"
        url = KannelSender(settings).dlr_url(sms).replace("%d", "1").replace("%%", "%")
        r = client.get(url.removeprefix(settings.public_base_url))
        assert (r.status_code, r.text) == (200, "delivered")

    def test_non_gsm7_text_goes_as_ucs2(self, settings: Settings, db: Session) -> None:
        seen: list[httpx.Request] = []
        sms = _queued(db, "Cek ✓")
        self.sender(settings, lambda r: seen.append(r) or httpx.Response(202)).send(sms)  # type: ignore[func-returns-value]
        assert seen[0].url.params["coding"] == "2"

    def test_refusals_and_unreachable_gateways_raise_send_failed(self, settings: Settings,
                                                                 db: Session) -> None:
        sms = _queued(db)
        refusing = self.sender(settings, lambda r: httpx.Response(403, text="Authorization failed"))
        with pytest.raises(SendFailed, match="403: Authorization failed"):
            refusing.send(sms)

        def down(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        with pytest.raises(SendFailed, match="unreachable: ConnectError"):
            self.sender(settings, down).send(sms)
        settings.gateway_secrets = {}
        with pytest.raises(SendFailed, match="SIGAP_GATEWAY_SECRETS"):
            self.sender(settings, lambda r: httpx.Response(202)).send(sms)

    def test_flush_keeps_a_refused_message_queued_with_the_reason(self, settings: Settings, db: Session,
                                                                  app: object) -> None:
        sms = _queued(db)
        factory = app.state.session_factory  # type: ignore[attr-defined]
        refused = self.sender(settings, lambda r: httpx.Response(503, text="busy"))
        assert outbound.flush(factory, settings, sender=refused) == (0, 1)
        db.refresh(sms)
        assert (sms.status, sms.attempts) == ("queued", 1)
        assert sms.last_error == "kannel sendsms answered 503: busy"
        accepted = self.sender(settings, lambda r: httpx.Response(202, text="0: Accepted for delivery"))
        assert outbound.flush(factory, settings, sender=accepted) == (1, 0)
        db.refresh(sms)
        assert (sms.status, sms.gateway, sms.last_error) == ("sent", "kannel", None)


def test_sigap_sms_flush_sends_what_is_queued(db_kind: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with reference_database(db_kind, tmp_path) as eng:
        with Session(eng) as s:
            s.add_all([OutboundSms(phone=PHONE, text=f"pesan {i}", purpose="test") for i in range(3)])
            s.commit()
        monkeypatch.setenv("SIGAP_DATABASE_URL", eng.url.render_as_string(hide_password=False))
        monkeypatch.setenv("SIGAP_SMS_SENDER", "log")
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli, ["sms", "flush", "--limit", "2"], catch_exceptions=False)
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert "sent 2, refused 0, still queued 1" in result.output
        with Session(eng) as s:
            assert sorted(m.status for m in s.exec(select(OutboundSms))) == ["queued", "sent", "sent"]


def test_production_refuses_the_kannel_sender_without_its_password_or_public_url() -> None:
    from tests.test_config import KEYS

    with pytest.raises(ValueError, match="SIGAP_KANNEL_PASSWORD"):
        Settings(environment="production", secret_key="s" * 32, database_url="postgresql://x/y", **KEYS,
                 sms_sender="kannel", public_base_url="https://sigap.test")
    with pytest.raises(ValueError, match="SIGAP_PUBLIC_BASE_URL"):
        Settings(environment="production", secret_key="s" * 32, database_url="postgresql://x/y", **KEYS,
                 sms_sender="kannel", kannel_password="pw")
    assert Settings(environment="production", secret_key="s" * 32, database_url="postgresql://x/y", **KEYS,
                    sms_sender="kannel", kannel_password="pw",
                    public_base_url="https://sigap.test").sms_sender == "kannel"
