from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.wilayah import repository
from app.wilayah.models import Kecamatan, Kelurahan
from tests.conftest import Account


class TestReferenceData:
    def test_all_of_ternate_is_loaded(self, db: Session) -> None:
        assert len(db.exec(select(Kecamatan)).all()) == 8
        assert len(db.exec(select(Kelurahan)).all()) == 78

    def test_tongole_has_no_bps_code(self, db: Session) -> None:
        tongole = db.get(Kelurahan, "82.71.06.1016")
        assert tongole is not None and tongole.name == "Tongole" and tongole.bps_code is None

    def test_every_kelurahan_code_starts_with_its_kecamatan(self, db: Session) -> None:
        for kel in db.exec(select(Kelurahan)).all():
            assert kel.code.startswith(kel.kecamatan_code + ".")

    def test_resolves_both_code_systems(self, db: Session) -> None:
        assert repository.resolve_kelurahan_code(db, "82.71.07.1001") == "82.71.07.1001"
        assert repository.resolve_kelurahan_code(db, "8271013005") == "82.71.07.1001"  # BPS
        assert repository.resolve_kelurahan_code(db, "9999999999") is None
        assert repository.resolve_kelurahan_code(db, "82.71.07.9999") is None

    def test_plain_digits_are_bps_even_where_they_spell_a_kemendagri_code(
            self, db: Session) -> None:
        # 8271011003: Kastela by Kemendagri (82.71.01.1003), Tafaga by BPS
        assert repository.resolve_kelurahan_code(db, "8271011003") == "82.71.04.1004"
        assert repository.resolve_kelurahan_code(db, "82.71.01.1003") == "82.71.01.1003"
        assert repository.resolve_kecamatan_code(db, "8271013") == "82.71.07"  # BPS
        assert repository.resolve_kecamatan_code(db, "827107") == "82.71.07"


class TestWilayahApi:
    def test_lists_kecamatan_and_kelurahan(self, client: TestClient, admin: Account) -> None:
        kec = client.get("/wilayah/kecamatan", headers=admin.headers).json()
        assert [k["name"] for k in kec][6] == "Pulau Hiri"
        kel = client.get("/wilayah/kelurahan", params={"kecamatan": "8271013"},
                         headers=admin.headers).json()
        assert {k["name"] for k in kel} >= {"Faudu", "Tomajiko"}
        assert all(k["kecamatan_code"] == "82.71.07" for k in kel)

    def test_unknown_kecamatan_names_the_parameter(self, client: TestClient, admin: Account) -> None:
        r = client.get("/wilayah/kelurahan", params={"kecamatan": "1234567"}, headers=admin.headers)
        assert r.status_code == 422
        assert r.json()["detail"][0] == {"field": "kecamatan", "rule": "kecamatan_exists",
                                          "message": "kecamatan '1234567' does not exist"}

    def test_needs_login(self, client: TestClient) -> None:
        assert client.get("/wilayah/kecamatan").status_code == 401
