"""Listing with filters and cursors, search, CSV export, and commit-before-response."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import Session, func, select

from app.auth.models import Role
from app.db import build_engine
from app.pagination import encode_cursor
from app.registry.models import Household
from tests import factories as f
from tests.conftest import Account, LiveApp


def create(client: TestClient, account: Account, payload: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/households", json=payload, headers=account.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
def five(client: TestClient, admin: Account) -> list[dict[str, Any]]:
    return [create(client, admin, f.household(kelurahan=k)) for k in (
        f.HIRI_FAUDU, f.HIRI_FAUDU, f.HIRI_TOMAJIKO, f.MOTI_KELURAHAN, f.SELATAN_KELURAHAN)]


class TestListing:
    def test_cursor_walks_every_household_once(self, client: TestClient, admin: Account,
                                               five: list[dict[str, Any]]) -> None:
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 2}
        pages = 0
        while True:
            r = client.get("/households", params=params, headers=admin.headers)
            assert r.status_code == 200
            body = r.json()
            assert body["count"] == len(body["data"]) <= 2
            seen += [h["id"] for h in body["data"]]
            pages += 1
            if not body["next_cursor"]:
                break
            params["cursor"] = body["next_cursor"]
        assert len(seen) == len(set(seen))
        assert {h["id"] for h in five} <= set(seen)
        assert pages >= 3

    def test_page_size_is_capped(self, client: TestClient, admin: Account,
                                 settings: Any, five: list[dict[str, Any]]) -> None:
        r = client.get("/households", params={"limit": 10_000}, headers=admin.headers)
        assert r.status_code == 200 and r.json()["count"] <= settings.page_size_max

    @pytest.mark.parametrize(("params", "expected"), [
        ({"kecamatan": "82.71.07"}, {0, 1, 2}),
        ({"kecamatan": "8271013"}, {0, 1, 2}),  # BPS code of Pulau Hiri
        ({"kelurahan": f.HIRI_TOMAJIKO}, {2}),
        ({"kecamatan": "82.71.04"}, {3}),
    ])
    def test_filters_by_area(self, client: TestClient, admin: Account, five: list[dict[str, Any]],
                             params: dict[str, str], expected: set[int]) -> None:
        r = client.get("/households", params={**params, "limit": 500}, headers=admin.headers)
        ids = {h["id"] for h in r.json()["data"]}
        mine = {h["id"] for h in five}
        assert ids & mine == {five[i]["id"] for i in expected}

    def test_filters_by_status_source_nik_kk_and_time(
            self, client: TestClient, admin: Account, five: list[dict[str, Any]]) -> None:
        target = five[1]
        client.patch(f"/households/{target['id']}", json={
            "version": 1, "verification_status": "field_verified"}, headers=admin.headers)
        get = lambda **p: {h["id"] for h in client.get(  # noqa: E731
            "/households", params={**p, "limit": 500}, headers=admin.headers).json()["data"]}
        assert target["id"] in get(verification_status="field_verified")
        assert target["id"] not in get(verification_status="self_reported")
        assert {h["id"] for h in five} <= get(source="api")
        assert get(member_nik=target["members"][2]["nik"]) == {target["id"]}
        assert get(kk_number=target["kk_number"]) == {target["id"]}
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        assert get(updated_since=future) == set()

    @pytest.mark.parametrize(("params", "field", "rule"), [
        ({"kelurahan": "82.71.09.1001"}, "kelurahan", "kelurahan_exists"),
        ({"kecamatan": "99.99.99"}, "kecamatan", "kecamatan_exists"),
        ({"member_nik": "12345"}, "member_nik", "length_16"),
        ({"verification_status": "approved"}, "verification_status", "enum"),
        ({"updated_since": "yesterday"}, "updated_since", "datetime_from_date_parsing"),
        ({"limit": 0}, "limit", "greater_than_equal"),
    ])
    def test_bad_filters_name_the_parameter(self, client: TestClient, admin: Account,
                                            params: dict[str, Any], field: str, rule: str) -> None:
        r = client.get("/households", params=params, headers=admin.headers)
        assert r.status_code == 422
        assert (r.json()["detail"][0]["field"], r.json()["detail"][0]["rule"]) == (field, rule)

    @pytest.mark.parametrize("mangle", [
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),  # signature changed
        lambda c: "eyJrIjoiaG91c2Vob2xkcyIsInAiOlsiMjAwMC0wMS0wMSIsIngiXX0." + c.split(".")[1],
        lambda c: "not-a-cursor",
        lambda c: c.replace(".", ""),
    ])
    def test_tampered_cursor_is_400(self, client: TestClient, admin: Account,
                                    five: list[dict[str, Any]], mangle: Callable[[str], str]) -> None:
        first = client.get("/households", params={"limit": 1}, headers=admin.headers).json()
        r = client.get("/households", params={"limit": 1, "cursor": mangle(first["next_cursor"])},
                       headers=admin.headers)
        assert r.status_code == 400 and r.json()["error"] == "invalid_cursor"

    def test_cursor_of_another_list_is_refused(self, client: TestClient, admin: Account,
                                               settings: Any) -> None:
        forged = encode_cursor(["2026-01-01T00:00:00+00:00", "x"], key=settings.cursor_key,
                               kind="users")
        r = client.get("/households", params={"cursor": forged}, headers=admin.headers)
        assert r.status_code == 400 and "different list" in r.json()["detail"]


class TestSearch:
    def test_exact_nik(self, client: TestClient, admin: Account,
                       five: list[dict[str, Any]]) -> None:
        nik = five[3]["members"][1]["nik"]
        r = client.get("/households/search", params={"nik": nik}, headers=admin.headers).json()
        assert [(h["household"]["id"], h["matched_on"]) for h in r["data"]] == [
            (five[3]["id"], "nik")]

    def test_fuzzy_name_finds_spelling_variants_and_titles(
            self, client: TestClient, admin: Account) -> None:
        head = f.member(full_name="Hj. Nurhayati Tomagola", sex="female",
                        birth=date(1970, 3, 3))
        target = create(client, admin, f.household(members=[
            {**head, "relation": "head"}]))
        for query in ("nurhayati tomagola", "Nurhayaty Tomagola", "tomagola nurhayati"):
            r = client.get("/households/search", params={"name": query},
                           headers=admin.headers).json()
            assert r["data"], query
            assert r["data"][0]["household"]["id"] == target["id"], query
            assert r["data"][0]["matched_name"] == "Hj. Nurhayati Tomagola"
            assert 75 <= r["data"][0]["score"] <= 100

    def test_name_search_is_scoped(self, client: TestClient, admin: Account,
                                   make_account: Callable[..., Account]) -> None:
        create(client, admin, f.household(kelurahan=f.MOTI_KELURAHAN, members=[
            f.member(full_name="Jafar Marsaoly")]))
        enum = make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))
        r = client.get("/households/search", params={"name": "Jafar Marsaoly"},
                       headers=enum.headers).json()
        assert r["data"] == []

    @pytest.mark.parametrize("params", [{}, {"nik": "8271070508900001", "name": "ali"},
                                        {"kk": "1"}, {"name": "a"}])
    def test_bad_queries(self, client: TestClient, admin: Account, params: dict[str, str]) -> None:
        assert client.get("/households/search", params=params,
                          headers=admin.headers).status_code == 422


class TestExport:
    def test_csv_streams_filtered_rows_with_masking(
            self, client: TestClient, admin: Account, five: list[dict[str, Any]],
            make_account: Callable[..., Account]) -> None:
        dinsos = make_account(Role.dinsos)
        r = client.get("/households/export.csv", params={"kecamatan": "82.71.07"},
                       headers=dinsos.headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
        by_id = {row["id"]: row for row in rows}
        assert {h["id"] for h in five[:3]} <= set(by_id)
        assert five[3]["id"] not in by_id
        row = by_id[five[0]["id"]]
        assert row["member_count"] == "3" and row["head_name"] == "Abdul Hamid"
        assert row["head_nik"].count("*") == 8 and five[0]["kk_number"] not in r.text

    def test_export_needs_the_export_permission(
            self, client: TestClient, make_account: Callable[..., Account]) -> None:
        enum = make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))
        assert client.get("/households/export.csv", headers=enum.headers).status_code == 403


class TestAcknowledgedMeansCommitted:
    """Without the test transaction: the real session dependency against its own database."""

    def test_a_201_is_durable(self, live_app: LiveApp) -> None:
        headers, fresh_engine = live_app.headers, live_app.engine
        with TestClient(live_app.app) as client:
            r = client.post("/households", json=f.household(), headers=headers)
            assert r.status_code == 201, r.text
            hid = r.json()["id"]
        other = build_engine(fresh_engine.url.render_as_string(hide_password=False))
        with Session(other) as s:
            assert s.exec(select(func.count()).select_from(Household)).one() == 1
            assert str(s.exec(select(Household.id)).one()) == hid
        other.dispose()

    def test_a_failing_commit_never_answers_2xx(self, live_app: LiveApp) -> None:
        headers, fresh_engine, app = live_app.headers, live_app.engine, live_app.app

        def refuse(_session: Session) -> None:
            raise RuntimeError("disk full")

        event.listen(Session, "before_commit", refuse)
        try:
            with TestClient(app, raise_server_exceptions=False) as client:
                r = client.post("/households", json=f.household(), headers=headers)
        finally:
            event.remove(Session, "before_commit", refuse)
        assert r.status_code == 500
        with Session(fresh_engine) as s:
            assert s.exec(select(func.count()).select_from(Household)).one() == 0
