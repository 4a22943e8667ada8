"""NIK and KK numbers at rest (app/pii.py): sealed in every table, found by blind index,
keys rotated online, and the migration that seals a registry already holding them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

import app.models  # noqa: F401
from app import migrate, pii
from app.audit.service import SYSTEM
from app.auth.models import Role
from app.auth.permissions import Principal
from app.channels.models import Contact
from app.cli import cli
from app.config import Settings
from app.db import build_engine, metadata, new_session, utcnow
from app.errors import DuplicateIdentity
from app.ops import keys
from app.registry import repository
from app.registry import service as registry
from app.registry.models import Household, KkHistory, Member
from app.registry.schemas import HouseholdCreate
from app.sync.models import SyncConflict
from tests import factories as f
from tests.channels.conftest import KK as USSD_KK
from tests.channels.conftest import NIK as USSD_NIK
from tests.channels.conftest import dial, settings  # noqa: F401 (fixtures: gateways configured)
from tests.channels.test_journeys import register_path
from tests.conftest import IDENTIFIER_IN_CLEAR, Account, new_database
from tests.reconcile_db.test_merge import family  # noqa: F401 (the fixture)
from tests.sync.conftest import Tablet, enrol  # noqa: F401 (the fixture)

K1 = pii.parse_keys(pii.new_key("k1"), "test")
K2 = pii.parse_keys(pii.new_key("k2"), "test")
J1 = pii.parse_keys(pii.new_key("j1"), "test")
J2 = pii.parse_keys(pii.new_key("j2"), "test")


class TestKeyring:
    ring = pii.Keyring(K1, J1)

    def test_a_sealed_value_opens_only_in_its_own_kind_of_column(self) -> None:
        token = self.ring.seal("8271074505800001", "nik")
        assert token.startswith("k1:") and "8271074505800001" not in token
        assert len(token) <= pii.SEALED_LENGTH
        assert self.ring.open(token, "nik") == "8271074505800001"
        assert self.ring.seal("8271074505800001", "nik") != token  # a fresh nonce each time
        with pytest.raises(pii.SealError, match="does not open"):
            self.ring.open(token, "kk")

    def test_an_altered_value_or_an_unknown_key_is_refused_by_name(self) -> None:
        token = self.ring.seal("8271074505800001", "nik")
        altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        with pytest.raises(pii.SealError, match="altered"):
            self.ring.open(altered, "nik")
        with pytest.raises(pii.SealError, match="key 'k1', which SIGAP_PII_KEYS does not hold"):
            pii.Keyring(K2, J1).open(token, "nik")

    def test_blind_indexes_are_keyed_and_per_domain(self) -> None:
        nik = "8271074505800001"
        assert self.ring.blind("nik", nik) == self.ring.blind("nik", nik)
        assert self.ring.blind("nik", nik) != self.ring.blind("kk", nik)
        assert self.ring.blind("nik", nik) != pii.Keyring(K1, J2).blind("nik", nik)
        assert len(self.ring.blind("nik", nik)) <= pii.INDEX_LENGTH
        both = pii.Keyring(K1, {**J2, **J1}).blinds("nik", nik)
        assert both == [pii.Keyring(K1, J2).blind("nik", nik), self.ring.blind("nik", nik)]

    @pytest.mark.parametrize(("text", "rule"), [
        ("k1", "each key is 'id:base64url'"),
        ("k 1:AAAA", "each key is 'id:base64url'"),
        ("k1:AAAA", "must be 32 bytes"),
        ("k1:%%%", "not valid base64url"),
        (f"{pii.new_key('k1')},{pii.new_key('k1')}", "appears twice"),
    ])
    def test_bad_key_settings_are_refused_naming_the_setting(self, text: str, rule: str) -> None:
        with pytest.raises(pii.KeySettingError, match=rule) as caught:
            pii.parse_keys(text, "SIGAP_PII_KEYS")
        assert "SIGAP_PII_KEYS" in str(caught.value)
        with pytest.raises(ValueError, match="SIGAP_PII_INDEX_KEYS"):
            Settings(pii_index_keys=text)

    def test_a_value_that_is_not_sealed_is_refused_without_being_echoed(self) -> None:
        with pytest.raises(pii.SealError) as caught:
            self.ring.open("8271074505800001", "nik")
        assert "8271" not in str(caught.value) and "not sealed" in str(caught.value)
        with pytest.raises(pii.KeySettingError, match="1-7 letters"):
            pii.new_key("k2345678")  # its blind index would not fit match_key.key

    def test_production_refuses_to_start_without_its_own_keys(self) -> None:
        base = {"environment": "production", "secret_key": "s" * 32,
                "database_url": "postgresql+psycopg://u@h/db"}
        with pytest.raises(ValueError, match="SIGAP_PII_KEYS and SIGAP_PII_INDEX_KEYS must be set"):
            Settings(**base)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="must be set") as caught:  # "," parses to no key at all
            Settings(**base, pii_keys=",", pii_index_keys=" ")  # type: ignore[arg-type]
        secret = pii.new_key("k1")
        with pytest.raises(ValueError) as caught:
            Settings(**base, pii_keys=secret[:-3], pii_index_keys=secret)  # type: ignore[arg-type]
        assert secret[3:20] not in str(caught.value)  # the refused value is not shown
        Settings(**base, pii_keys=pii.new_key("k1"), pii_index_keys=pii.new_key("i1"))  # type: ignore[arg-type]

    def test_a_sealed_column_cannot_be_compared_in_sql(self) -> None:
        with pytest.raises(TypeError, match=r"member\.nik is sealed: compare its blind index"):
            select(Member).where(Member.nik == "8271074505800001")
        with pytest.raises(TypeError, match="sealed"):
            select(Household).where(Household.kk_number.in_(["1"]))  # type: ignore[union-attr]
        select(Member).where(Member.nik.is_(None), Member.nik != None)  # type: ignore[union-attr]  # noqa: E711


def _raw_texts(session: Session) -> Iterator[tuple[str, str]]:
    """(table.column, stored value as text) of every non-null value of every table, read
    without the column types (what a dump or a stolen disk would show)."""
    for table in metadata.sorted_tables:
        names = [c.name for c in table.columns]
        raw = sa.table(table.name, *(sa.column(n) for n in names))
        for row in session.execute(sa.select(raw)):
            for name, value in zip(names, row, strict=True):
                if value is None:
                    continue
                if isinstance(value, bytes | memoryview):
                    text = bytes(value).decode("latin-1")
                elif isinstance(value, dict | list):
                    text = json.dumps(value)
                else:
                    text = str(value)
                yield f"{table.name}.{name}", text


def test_no_table_holds_a_nik_or_kk_in_clear(
        client: TestClient, db: Session, admin: Account, family: dict[str, Any],  # noqa: F811
        dial: Callable[..., tuple[str, int]], enrol: Callable[..., Tablet]) -> None:  # noqa: F811
    # a registration over the API, a corrected NIK, a merge, a conflict, an SMS registration
    # waiting for its kelurahan, a USSD registration, two tablets editing the same NIK:
    # every path that stores identifiers
    path = register_path(dial)
    body, status = dial("*".join([*path, "1"]))
    assert status == 200 and body.startswith("END"), body
    a, b = enrol(), enrol()
    hid = uuid.uuid4()
    fields = f.household()
    for m in fields["members"]:
        m["id"] = str(uuid.uuid4())
    (r,) = a.push(a.mutation("household", "create", hid, fields))
    assert r["outcome"] == "applied", r
    head, birth = fields["members"][0]["id"], date.fromisoformat(fields["members"][0]["birth_date"])
    nik_a, nik_b = f.nik(birth), f.nik(birth)
    (r,) = a.push(a.mutation("member", "update", head, {"nik": nik_a}, base_version=1))
    assert r["outcome"] == "applied", r
    (r,) = b.push(b.mutation("member", "update", head, {"nik": nik_b}, base_version=1))
    assert r["conflicts"] and {r["conflicts"][0]["server_value"], r["conflicts"][0]["device_value"]} == {
        nik_a, nik_b}, r

    created = client.post("/households", headers=admin.headers, json=f.household())
    assert created.status_code == 201, created.text
    body = created.json()
    member_id = body["members"][1]["id"]
    corrected = f.nik(date(1984, 2, 3), "female")
    r = client.patch(f"/members/{member_id}", headers=admin.headers, json={"nik": corrected, "version": 1})
    assert r.status_code == 200, r.text
    r = client.post(f"/reconcile/candidates/{family['candidate'].id}/decision", headers=admin.headers,
                    json={"decision": "merge"})
    assert r.status_code == 200, r.text
    db.add(SyncConflict(entity="member", entity_id=uuid.UUID(member_id), household_id=uuid.UUID(body["id"]),
                        kelurahan_code=f.HIRI_FAUDU, field="nik", policy="review", server_version=2,
                        server_value=corrected, device_value=f.nik(date(1984, 2, 3), "female"),
                        device_id="tab-1", mutation_seq=1, status="open"))
    pending_kk = f.kk()
    db.add(Contact(phone="+6281200000001", channel="sms",
                   pending={"nik": f.nik(date(1990, 1, 1)), "kk": pending_kk, "members": 3}))
    db.flush()

    identifiers = {n for n in db.scalars(select(Member.nik)) if n}
    identifiers |= {k for k in db.scalars(select(Household.kk_number)) if k}
    identifiers |= set(db.scalars(select(KkHistory.kk_number)))
    identifiers |= {corrected, pending_kk, family["typo"], USSD_NIK, USSD_KK, nik_a, nik_b}
    assert len(identifiers) >= 12
    leaks = [(where, n) for where, text in _raw_texts(db) for n in identifiers if n in text]
    assert leaks == [], f"identifiers in clear: {[(w, n[:4] + '…') for w, n in leaks]}"
    # the pattern the log watch uses recognises every one of them
    assert all(IDENTIFIER_IN_CLEAR.fullmatch(n) for n in identifiers)

    # and they are still found, exactly, by NIK and by KK (current or former)
    found = client.get("/households/search", headers=admin.headers, params={"nik": corrected}).json()
    assert [h["household"]["id"] for h in found["data"]] == [body["id"]]
    found = client.get("/households/search", headers=admin.headers, params={"kk": body["kk_number"]}).json()
    assert [h["household"]["id"] for h in found["data"]] == [body["id"]]
    # the merged-in NIK is the survivor's now
    survivor = family["visited"].id
    holder = repository.active_member_holding_nik(db, family["typo"])
    assert holder is not None and holder.household_id == survivor
    # a second family cannot take a NIK that is in use (the unique index is on the blind index)
    taken = f.member("head", "female", date(1984, 2, 3), nik=corrected)
    again = client.post("/households", headers=admin.headers, json=f.household(members=[taken]))
    assert again.status_code == 409, again.text
    assert again.json()["detail"][0]["rule"] == "nik_one_active_household"
    same_kk = client.post("/households", headers=admin.headers, json=f.household(kk_number=body["kk_number"]))
    assert same_kk.status_code == 409 and same_kk.json()["detail"][0]["rule"] == "kk_one_active_household"
    # a cleared document is SQL NULL, not a sealed JSON null
    contact = db.scalars(select(Contact)).first()
    assert contact is not None
    contact.pending = None
    db.add(contact)
    db.flush()
    raw = db.execute(sa.text("SELECT pending FROM channel_contact WHERE id = :i"), {"i": contact.id})
    assert raw.scalar_one() is None


@pytest.fixture
def committed_url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    url, drop = new_database(db_kind, tmp_path)
    yield url
    drop()


def _wilayah(engine: sa.Engine) -> None:
    from app.seeding import load_wilayah
    from tests.conftest import WILAYAH_CSV

    with Session(engine) as s:
        load_wilayah(s, WILAYAH_CSV)
        s.commit()


def _register(engine: sa.Engine, count: int) -> list[tuple[str, str]]:
    """``count`` families with a head each; returns (NIK, KK) of each head."""
    out = []
    with Session(engine) as s:
        for _ in range(count):
            nik, kk = f.nik(date(1970, 3, 4)), f.kk()
            h = Household(kk_number=kk, kelurahan_code=f.HIRI_FAUDU, source="api",
                          verification_status="self_reported")
            s.add(h)
            s.flush()
            s.add(Member(household_id=h.id, nik=nik, full_name="Abdul Hamid", sex="male", relation="head"))
            s.add(KkHistory(household_id=h.id, kk_number=f.kk(), reason="pindah"))
            out.append((nik, kk))
        s.commit()
    return out


def test_keys_rotate_online_and_the_old_key_can_then_go(committed_url: str, db_kind: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    migrate.upgrade(committed_url)
    engine = build_engine(committed_url)
    try:
        _wilayah(engine)
        with pii.using(pii.Keyring(K1, J1)):
            families = _register(engine, 5)
            with new_session(engine) as s:
                keys.rebuild_match_keys(s)
                s.commit()
        # the new keys first, the old ones still there: everything reads and is found
        with pii.using(pii.Keyring({**K2, **K1}, {**J2, **J1})):
            with new_session(engine) as s:
                assert keys.status(s).pending(pii.keyring()) == 5 * 3 + 5 * 3
                nik, kk = families[0]
                assert repository.active_member_holding_nik(s, nik) is not None
                assert [h.kk_number for h in repository.households_by_kk(s, kk, None)] == [kk]
                # a NIK taken under the old index key is refused although the new key's unique
                # index does not see it (the service looks it up under both keys)
                principal = Principal(user_id=0, username="t", role=Role.admin, kelurahan_scope=None,
                                      full_identifiers=True)
                data = HouseholdCreate.model_validate(f.household(
                    members=[{"full_name": "Abdul Hamid", "sex": "male", "relation": "head",
                              "birth_date": "1970-03-04", "nik": families[1][0]}]))
                with pytest.raises(DuplicateIdentity):
                    registry.create_household(session=s, data=data, actor=SYSTEM, principal=principal)
                s.rollback()
            ticks: list[tuple[str, int, int]] = []
            report = keys.rotate(engine, batch=2, progress=lambda *a: ticks.append(a))
            assert report.rewritten == {"household": 5, "member": 5, "kk_history": 5, "merge_record": 0,
                                        "sync_conflict": 0, "channel_contact": 0, "ussd_session": 0,
                                        "sync_mutation": 0}
            assert report.remaining == 0
            assert report.match_keys is not None and report.match_keys > 0
            assert ("member", 5, 5) in ticks
            again = keys.rotate(engine)
            assert again.total == 0 and again.match_keys is None  # a rerun changes nothing
        # the old keys removed: still read and found
        with pii.using(pii.Keyring(K2, J2)), new_session(engine) as s:
            status = keys.status(s)
            assert status.pending(pii.keyring()) == 0
            assert set(status.sealed["member.nik"]) == {"k2"}
            assert set(status.indexes["member.nik_bidx"]) == {"j2"}
            for nik, _kk in families:
                assert repository.active_member_holding_nik(s, nik) is not None
        # ... and the old key alone opens nothing any more
        with pii.using(pii.Keyring(K1, J1)), new_session(engine) as s, pytest.raises(pii.SealError):
            s.scalars(select(Member.nik)).all()
    finally:
        engine.dispose()


def test_the_keys_commands(committed_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.config import get_settings

    migrate.upgrade(committed_url)
    engine = build_engine(committed_url)
    old_seal, old_index = pii.new_key("k1"), pii.new_key("i1")
    try:
        _wilayah(engine)
        with pii.using(pii.keyring_for(Settings(pii_keys=old_seal, pii_index_keys=old_index))):
            _register(engine, 2)
    finally:
        engine.dispose()
    runner = CliRunner()
    line = runner.invoke(cli, ["keys", "new", "k2"])
    assert line.exit_code == 0 and line.stdout.startswith("k2:")
    assert runner.invoke(cli, ["keys", "new", "k:2"]).exit_code == 2
    monkeypatch.setenv("SIGAP_DATABASE_URL", committed_url)
    monkeypatch.setenv("SIGAP_PII_KEYS", f"{line.stdout.strip()},{old_seal}")
    monkeypatch.setenv("SIGAP_PII_INDEX_KEYS", old_index)
    get_settings.cache_clear()
    try:
        with pii.using(pii.keyring_for(get_settings())):
            before = runner.invoke(cli, ["keys", "status"])
            assert before.exit_code == 1, before.output
            assert "not yet rotated: 6" in before.output  # 2 families: KK, NIK, former KK
            rotated = runner.invoke(cli, ["keys", "rotate"])
            assert rotated.exit_code == 0, rotated.output
            assert "member: 2 baris ditulis ulang / rows rewritten" in rotated.output
            assert runner.invoke(cli, ["keys", "status"]).exit_code == 0
    finally:
        get_settings.cache_clear()


def test_the_migration_seals_a_registry_that_held_them_in_clear(committed_url: str, db_kind: str) -> None:
    migrate.upgrade(committed_url, "7e1a2b3c4d5f")
    engine = build_engine(committed_url)
    nik, kk, old_kk = "8271074505800001", "8271071203150001", "8271071203150002"
    hid, mid = uuid.uuid4(), uuid.uuid4()
    now = utcnow()
    try:
        _wilayah(engine)
        def uid(u: uuid.UUID) -> Any:  # as each engine stores a UUID
            return u if db_kind == "postgresql" else u.hex

        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO household (id, kk_number, kelurahan_code, address, source, verification_status,"
                " version, created_at, updated_at) VALUES (:id, :kk, :kel, '', 'api', 'self_reported', 1,"
                " :t, :t)"), {"id": uid(hid), "kk": kk, "kel": f.HIRI_FAUDU, "t": now})
            conn.execute(sa.text(
                "INSERT INTO member (id, household_id, nik, full_name, sex, relation, alive, version,"
                " created_at, updated_at) VALUES (:id, :h, :nik, 'Abdul', 'male', 'head', true, 1, :t, :t)"),
                {"id": uid(mid), "h": uid(hid), "nik": nik, "t": now})
            conn.execute(sa.text(
                "INSERT INTO kk_history (household_id, kk_number, valid_from) VALUES (:h, :kk, :t)"),
                {"h": uid(hid), "kk": old_kk, "t": now})
            conn.execute(sa.text(
                "INSERT INTO channel_contact (phone, channel, pin_failures, pending, created_at,"
                " updated_at) VALUES ('+6281200000009', 'sms', 0, :p, :t, :t)"),
                {"p": json.dumps({"nik": nik, "kk": kk}), "t": now})
        migrate.upgrade(committed_url)
        with Session(engine) as s:
            leaks = [(w, t) for w, t in _raw_texts(s) for n in (nik, kk, old_kk) if n in t]
            assert leaks == []
            assert s.scalars(select(Member.nik)).all() == [nik]
            assert repository.active_member_holding_nik(s, nik) is not None
            assert [h.id for h in repository.households_by_kk(s, old_kk, None)] == [hid]
            assert s.scalars(select(Contact.pending)).all() == [{"nik": nik, "kk": kk}]
        migrate.downgrade(committed_url, "7e1a2b3c4d5f")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT nik FROM member")).scalars().all() == [nik]
            assert conn.execute(sa.text("SELECT kk_number FROM kk_history")).scalars().all() == [old_kk]
            pending = conn.execute(sa.text("SELECT pending FROM channel_contact")).scalar_one()
            assert (json.loads(pending) if isinstance(pending, str) else pending) == {"nik": nik, "kk": kk}
    finally:
        engine.dispose()


def test_the_suites_leak_watch_sees_a_nik_in_a_log_record_and_an_error_body() -> None:
    """The watch in tests/conftest.py can fail the session: fed a NIK, it records it (and the
    entries made here are removed again, so this test does not fail the run)."""
    import logging

    from tests import conftest

    before = len(conftest._leaks)
    try:
        logging.getLogger("sigap.test").warning("kept %s", "8271074505800001")
        logging.getLogger("sigap.test").info("request", extra={"request_id": "a271074505800001"})
        assert len(conftest._leaks) == before + 1 and "8271********0001" in conftest._leaks[-1]
        conftest._leak("409 body of POST /households", '{"detail": "NIK 8271074505800001"}')
        assert len(conftest._leaks) == before + 2
    finally:
        del conftest._leaks[before:]
