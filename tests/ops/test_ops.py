"""Probes, request ids, the request body limit, log redaction and NIK-free error bodies."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from app import __version__
from app.audit.models import AuditEntry
from app.config import Settings
from app.migrate import head_revision
from app.ops.logging import RedactingJsonFormatter
from app.registry.models import Household, Member
from tests import factories
from tests.conftest import Account

NIK = "8271071705800001"  # Pulau Hiri, born 17-05-80, male, serial 0001
MASKED = "8271********0001"
REQUEST_ID = re.compile(r"^[a-f][0-9a-f]{15}$")  # a letter first: never mistaken for a NIK


def counts(db: Session) -> tuple[int, int, int]:
    return (db.exec(select(func.count()).select_from(Household)).one(),
            db.exec(select(func.count()).select_from(Member)).one(),
            db.exec(select(func.count()).select_from(AuditEntry)).one())


class TestProbes:
    def test_health(self, client: TestClient) -> None:
        r = client.get("/health")
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "version": __version__}

    def test_ready_on_the_migrated_database(self, client: TestClient) -> None:
        expected = head_revision()
        assert expected, "the migrations must have a head revision"
        r = client.get("/ready")
        assert r.status_code == 200, (
            f"/ready is not ready on the migrated test database: {r.text}. On SQLite the "
            "probe's own connection issues BEGIN IMMEDIATE (app/db.py _on_begin) and waits "
            "for the write lock held by the open test transaction (or any writer)")
        assert r.json() == {"status": "ready", "database": "ok", "migration": expected,
                            "expected_migration": expected}

    def test_probes_need_no_login(self, client: TestClient) -> None:
        assert client.get("/health", headers={"Authorization": "Bearer nonsense"}
                          ).status_code == 200


class TestRequestId:
    def test_every_response_carries_one(self, client: TestClient, admin: Account) -> None:
        responses = [client.get("/health"), client.get("/no-such-path"),
                     client.get("/households"),  # 401
                     client.get("/households", headers=admin.headers)]
        assert [r.status_code for r in responses] == [200, 404, 401, 200]
        ids = [r.headers.get("x-request-id") for r in responses]
        for rid in ids:
            assert rid is not None and REQUEST_ID.match(rid), ids
        assert len(set(ids)) == len(ids), "request ids must be unique per request"

    def test_on_validation_errors(self, client: TestClient, admin: Account) -> None:
        r = client.post("/households", json={"members": []}, headers=admin.headers)
        assert r.status_code == 422
        assert REQUEST_ID.match(r.headers["x-request-id"])


class TestBodySizeLimit:
    @pytest.fixture
    def padded(self, settings: Settings) -> Callable[[int], bytes]:
        """A valid household JSON padded with trailing whitespace to exactly ``size`` bytes.

        JSON allows trailing whitespace, so without the limit the body would be accepted
        and a household written: the 413 tests can therefore fail for real.
        """
        def make(size: int) -> bytes:
            body = json.dumps(factories.household()).encode()
            assert len(body) < size
            return body + b" " * (size - len(body))
        return make

    def test_body_at_the_limit_is_accepted(self, client: TestClient, admin: Account,
                                           db: Session, settings: Settings,
                                           padded: Callable[[int], bytes]) -> None:
        before = counts(db)
        r = client.post("/households", content=padded(settings.max_body_bytes),
                        headers={**admin.headers, "Content-Type": "application/json"})
        assert r.status_code == 201, r.text
        assert counts(db)[0] == before[0] + 1

    def test_content_length_over_the_limit(self, client: TestClient, admin: Account,
                                           db: Session, settings: Settings,
                                           padded: Callable[[int], bytes]) -> None:
        before = counts(db)
        body = padded(settings.max_body_bytes + 1)
        r = client.post("/households", content=body,
                        headers={**admin.headers, "Content-Type": "application/json"})
        assert r.request.headers["content-length"] == str(len(body))
        assert r.status_code == 413, r.text
        assert r.json()["error"] == "payload_too_large"
        assert REQUEST_ID.match(r.headers["x-request-id"])
        assert counts(db) == before, "an oversized request wrote to the database"

    def test_chunked_body_without_content_length(self, client: TestClient, admin: Account,
                                                 db: Session, settings: Settings,
                                                 padded: Callable[[int], bytes]) -> None:
        before = counts(db)
        body = padded(settings.max_body_bytes + 1)

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 64 * 1024):
                yield body[start:start + 64 * 1024]

        r = client.post("/households", content=chunks(),
                        headers={**admin.headers, "Content-Type": "application/json"})
        assert "content-length" not in r.request.headers
        assert r.request.headers.get("transfer-encoding") == "chunked"
        assert counts(db) == before, "an oversized chunked request wrote to the database"
        assert r.status_code == 413, (
            f"chunked oversized body got {r.status_code} {r.text}: BodySizeLimit raises "
            "_TooLarge from receive(), but FastAPI's request-body parsing catches every "
            "Exception and answers 400 'There was an error parsing the body' before the "
            "middleware can send its 413")
        assert r.json()["error"] == "payload_too_large"

    def test_limit_applies_before_authentication(self, client: TestClient, db: Session,
                                                 settings: Settings) -> None:
        before = counts(db)
        r = client.post("/households", content=b"{" + b" " * settings.max_body_bytes + b"}",
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        assert counts(db) == before


@pytest.fixture
def log_capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingJsonFormatter())
    logger = logging.getLogger(f"sigap.test.{secrets.token_hex(4)}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.handlers.clear()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


class TestLogRedaction:
    def test_nik_in_message_and_extra_is_masked(
            self, log_capture: tuple[logging.Logger, io.StringIO]) -> None:
        logger, stream = log_capture
        logger.warning("lookup of NIK %s failed", NIK,
                       extra={"nik": NIK, "query": f"nik={NIK}&x=1",
                              "payload": {"members": [{"nik": NIK}]}})
        out = stream.getvalue()
        assert NIK not in out
        [record] = lines(stream)  # valid JSON, one object per line
        assert record["level"] == "WARNING"
        assert record["msg"] == f"lookup of NIK {MASKED} failed"
        assert record["nik"] == MASKED
        assert record["query"] == f"nik={MASKED}&x=1"
        assert record["payload"] == {"members": [{"nik": MASKED}]}

    def test_exception_text_is_masked(
            self, log_capture: tuple[logging.Logger, io.StringIO]) -> None:
        logger, stream = log_capture
        try:
            raise ValueError(f"duplicate key (nik)=({NIK})")
        except ValueError:
            logger.exception("insert failed")
        assert NIK not in stream.getvalue()
        [record] = lines(stream)
        assert MASKED in record["exc"] and "ValueError" in record["exc"]

    def test_other_numbers_are_left_alone(
            self, log_capture: tuple[logging.Logger, io.StringIO]) -> None:
        logger, stream = log_capture
        logger.info("ids", extra={"short": "827107170580", "long": "82710717058000011"})
        [record] = lines(stream)
        assert record["short"] == "827107170580"
        assert record["long"] == "82710717058000011"

    def test_access_log_of_a_nik_search_has_no_nik(self, client: TestClient,
                                                   admin: Account) -> None:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(RedactingJsonFormatter())
        access = logging.getLogger("sigap.access")
        old_level = access.level
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        try:
            r = client.get("/households/search", params={"nik": NIK}, headers=admin.headers)
        finally:
            access.removeHandler(handler)
            access.setLevel(old_level)
        assert r.status_code == 200, r.text
        [record] = lines(stream)
        assert record["path"] == "/households/search" and record["status"] == 200
        assert record["request_id"] == r.headers["x-request-id"]
        assert NIK not in stream.getvalue()


def _post(client: TestClient, admin: Account, **member_overrides: Any) -> Any:
    head = factories.member("head", **member_overrides)
    return client.post("/households", json=factories.household(members=[head]),
                       headers=admin.headers)


class TestErrorBodiesDoNotEchoNik:
    @pytest.mark.parametrize(("nik", "rule"), [
        ("8271073205800001", "birth_date_digits"),  # day 32
        ("8271071713800001", "birth_date_digits"),  # month 13
        ("8271071705800000", "serial"),
        ("9999071705800001", "region_prefix"),
        ("8271001705800001", "region_prefix"),  # kecamatan 00
    ])
    def test_invalid_nik(self, client: TestClient, admin: Account, db: Session,
                         nik: str, rule: str) -> None:
        before = counts(db)
        r = _post(client, admin, nik=nik)
        assert r.status_code == 422, r.text
        problems = r.json()["detail"]
        assert any(p["field"] == "members[0].nik" and p["rule"] == rule
                   for p in problems), r.text
        assert nik not in r.text, f"error body echoes the submitted NIK: {r.text}"
        assert counts(db) == before

    def test_nik_contradicting_birth_date_and_sex(self, client: TestClient,
                                                  admin: Account) -> None:
        r = _post(client, admin, nik=NIK, birth_date="1981-06-18", sex="female")
        assert r.status_code == 422, r.text
        rules = {p["rule"] for p in r.json()["detail"]}
        assert {"nik_birth_date", "nik_sex"} <= rules
        assert NIK not in r.text

    def test_nik_of_wrong_type(self, client: TestClient, admin: Account) -> None:
        r = _post(client, admin, nik=int(NIK))
        assert r.status_code == 422
        assert NIK not in r.text

    def test_same_nik_twice_in_a_household(self, client: TestClient, admin: Account) -> None:
        birth = date(1980, 5, 17)
        members = [factories.member("head", nik=NIK, birth=birth),
                   factories.member("child", nik=NIK, birth=birth, full_name="Kedua")]
        r = client.post("/households", json=factories.household(members=members),
                        headers=admin.headers)
        assert r.status_code == 422, r.text
        assert NIK not in r.text

    def test_nik_already_registered(self, client: TestClient, admin: Account) -> None:
        nik = factories.nik(date(1975, 1, 2))
        first = _post(client, admin, nik=nik, birth_date="1975-01-02")
        assert first.status_code == 201, first.text
        r = _post(client, admin, nik=nik, birth_date="1975-01-02")
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "duplicate_identity"
        assert nik not in r.text

    def test_invalid_nik_in_search(self, client: TestClient, admin: Account) -> None:
        bad = "8271073205800001"
        r = client.get("/households/search", params={"nik": bad}, headers=admin.headers)
        assert r.status_code == 422, r.text
        assert bad not in r.text


class TestDocsPageWorksOffline:
    def test_docs_page_uses_local_assets(self, client: TestClient) -> None:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "/static/swagger-ui/swagger-ui-bundle.js" in page.text
        assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[0]
        js = client.get("/static/swagger-ui/swagger-ui-bundle.js")
        assert js.status_code == 200 and len(js.content) > 100_000
        assert client.get("/docs/oauth2-redirect").status_code == 200
        assert client.get("/redoc").status_code == 404
