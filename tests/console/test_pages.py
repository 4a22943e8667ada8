"""The console's login, its protections, the dashboard and the household page (both engines)."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from jose import jwt
from sqlalchemy import Engine, delete, func, select
from sqlmodel import Session, col

from app.auth.models import RevokedToken, Role, User
from app.auth.permissions import Principal
from app.config import Settings
from app.console import data
from app.db import new_session, utcnow
from app.reports import queries
from app.reports.models import KelurahanTarget
from app.reports.snapshots import take_snapshot
from tests import factories as f
from tests.conftest import TEST_SECRET, Account
from tests.console.conftest import FIELD, HIRI, Work, csrf_of, give_desil, household, login, post_form


def _grand_total(page: str) -> int:
    """The families of the matrix's total row."""
    found = re.search(r"<tfoot><tr><th>Jumlah</th>(?:<td>\d+</td>)+<td><b>(\d+)</b></td></tr></tfoot>", page)
    assert found, "the page has no matrix total"
    return int(found.group(1))


def expired_token(account: Account) -> str:
    """A well-signed access token of ``account`` that expired a minute ago."""
    now = int(utcnow().timestamp())
    claims = {"sub": str(account.user.id), "role": account.user.role, "typ": "access",
              "iat": now - 3600, "exp": now - 60, "jti": "expired0000000000"}
    return str(jwt.encode(claims, TEST_SECRET, algorithm="HS256"))


def _stage_value(page: str, stage: str) -> str:
    """The indicator value of a checklist stage."""
    found = re.search(rf"<th>{stage}</th>.*?<td class=\"num\">([^<]*)</td>", page, re.S)
    assert found, f"no stage {stage} in the checklist"
    return found.group(1)


class TestLogin:
    def test_a_page_without_a_session_redirects_to_the_login_form(self, client: TestClient) -> None:
        r = client.get("/console/review/duplicates?offset=0", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/console/login?next=%2Fconsole%2Freview%2Fduplicates%3Foffset%3D0"
        page = client.get(r.headers["location"])
        assert page.status_code == 200 and "Masuk ke Sigap" in page.text
        assert 'value="/console/review/duplicates?offset=0"' in page.text

    def test_login_sets_a_strict_httponly_cookie_and_logout_clears_it(
        self, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        dinsos = make_account(Role.dinsos)
        r = login(client, dinsos)
        assert r.status_code == 303 and r.headers["location"] == "/console"
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("sigap_session="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain http here; https sets it
        home = client.get("/console")
        assert home.status_code == 200 and dinsos.user.username in home.text
        assert "Dinas Sosial" in home.text
        r = client.post("/console/logout", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
        assert r.status_code == 303
        assert client.get("/console", follow_redirects=False).status_code == 303

    def test_logout_ends_the_token_so_a_copied_cookie_opens_nothing(
        self, client: TestClient, make_account: Callable[..., Account], db: Session
    ) -> None:
        dinsos = make_account(Role.dinsos)
        login(client, dinsos)
        copied = client.cookies.get("sigap_session")
        assert copied
        home = client.get("/console").text
        client.post("/console/logout", data={"csrf": csrf_of(home)}, follow_redirects=False)
        client.cookies.set("sigap_session", copied)  # someone kept a copy
        assert client.get("/console", follow_redirects=False).status_code == 303  # the login form
        client.cookies.clear()
        r = client.get("/auth/me", headers={"Authorization": f"Bearer {copied}"})
        assert r.status_code == 401 and r.json()["detail"] == "Logged out: log in again"
        # only that token: the same user's other tokens (another browser, a script) still work
        assert client.get("/auth/me", headers=dinsos.headers).status_code == 200
        assert db.scalar(select(func.count()).select_from(RevokedToken)) == 1

    def test_logout_with_an_expired_or_foreign_cookie_still_logs_out(
        self, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        for stale in ("not.a.token", expired_token(make_account(Role.dinsos))):
            client.cookies.clear()
            client.cookies.set("sigap_session", stale)
            form = client.get("/console/login").text  # the token the page gives this cookie
            r = client.post("/console/logout", data={"csrf": csrf_of(form)}, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/console/login?ok=logout"
            assert 'sigap_session=""' in r.headers["set-cookie"]  # cleared all the same

    def test_over_https_the_cookies_are_secure(
        self, app: object, make_account: Callable[..., Account]
    ) -> None:
        dinsos = make_account(Role.dinsos)
        with TestClient(app, base_url="https://testserver") as https:  # type: ignore[arg-type]
            r = login(https, dinsos)
            assert r.status_code == 303
            cookies = r.headers.get_list("set-cookie")
            assert all("Secure" in c for c in cookies) and any(
                c.startswith("sigap_session=") for c in cookies
            )

    def test_a_wrong_password_is_refused_in_indonesian(
        self, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        dinsos = make_account(Role.dinsos)
        r = login(client, dinsos, password="wrong password!")
        assert r.status_code == 401 and "kata sandi salah" in r.text
        assert "sigap_session" not in client.cookies

    def test_login_goes_back_to_the_page_asked_for_and_never_off_site(
        self, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        spv = make_account(Role.supervisor, kecamatan=HIRI)
        page = client.get("/console/login")
        for target, expected in (
            ("/console/review/conflicts", "/console/review/conflicts"),
            ("//evil.example/console", "/console"),
            ("https://evil.example", "/console"),
        ):
            r = client.post(
                "/console/login",
                follow_redirects=False,
                data={
                    "username": spv.user.username,
                    "password": "correct horse battery",
                    "csrf": csrf_of(page.text),
                    "next": target,
                },
            )
            assert r.headers["location"] == expected
            client.cookies.delete("sigap_session")

    def test_the_api_accepts_the_cookie_for_reads_only(
        self, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        enumerator = make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))
        login(client, enumerator)
        assert client.get("/auth/me").json()["username"] == enumerator.user.username
        # a write through the API needs the bearer token: a cookie alone could be a forged request
        r = client.post("/households", json=f.household())
        assert r.status_code == 401
        assert client.post("/households", json=f.household(), headers=enumerator.headers).status_code == 201


class TestCsrf:
    def test_a_login_post_without_the_token_is_refused(
        self, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        dinsos = make_account(Role.dinsos)
        client.get("/console/login")
        r = client.post(
            "/console/login",
            data={"username": dinsos.user.username, "password": "correct horse battery"},
            follow_redirects=False,
        )
        assert r.status_code == 403 and "kedaluwarsa" in r.text
        assert "sigap_session" not in client.cookies

    def test_a_token_of_another_session_is_refused(
        self, client: TestClient, make_account: Callable[..., Account], work: Work
    ) -> None:
        spv = make_account(Role.supervisor, kecamatan=HIRI)
        token_before_login = csrf_of(client.get("/console/login").text)
        login(client, spv)
        url = f"/console/review/duplicates/{work.candidate.id}/decision"
        for token in ("", token_before_login, "0" * 128, "not hex"):
            r = client.post(url, data={"decision": "distinct", "csrf": token}, follow_redirects=False)
            assert r.status_code == 403, token
        page = client.get(f"/console/review/duplicates/{work.candidate.id}")
        assert "menunggu keputusan" in page.text  # still pending

    def test_every_page_masks_the_token_afresh_and_each_is_accepted(
        self, client: TestClient, make_account: Callable[..., Account], work: Work
    ) -> None:
        login(client, make_account(Role.supervisor, kecamatan=HIRI))
        url = f"/console/review/duplicates/{work.candidate.id}"
        first, second = (csrf_of(client.get(url).text) for _ in range(2))
        assert first != second  # no repeated secret in compressed pages (BREACH)
        r = client.post(
            f"{url}/decision", data={"decision": "distinct", "csrf": first}, follow_redirects=False
        )
        assert r.status_code == 303

    def test_pages_forbid_scripts_and_framing(self, client: TestClient) -> None:
        r = client.get("/console/login")
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"
        assert "<script" not in r.text


class TestRolesAndAreas:
    def test_an_enumerator_and_dinsos_cannot_open_the_review_queues(
        self, client: TestClient, make_account: Callable[..., Account], work: Work
    ) -> None:
        for account in (make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,)), make_account(Role.dinsos)):
            login(client, account)
            for url in (
                "/console/review/duplicates",
                f"/console/review/duplicates/{work.candidate.id}",
                "/console/review/conflicts",
                f"/console/review/conflicts/{work.conflict.id}",
            ):
                r = client.get(url)
                assert r.status_code == 403 and "tidak berwenang" in r.text, url
            assert "Duplikat" not in client.get("/console").text  # not offered in the menu

    def test_a_supervisor_sees_only_their_kecamatan(
        self, client: TestClient, make_account: Callable[..., Account], work: Work, db: Session
    ) -> None:
        moti = household(db, f.MOTI_KELURAHAN)
        db.commit()
        other = make_account(Role.supervisor, kecamatan="82.71.04")  # Pulau Moti
        login(client, other)
        assert "Tidak ada kandidat" in client.get("/console/review/duplicates").text
        assert "Tidak ada konflik" in client.get("/console/review/conflicts").text
        r = client.get(f"/console/review/duplicates/{work.candidate.id}")
        assert r.status_code == 403 and "di luar wilayah kerja Anda" in r.text
        assert client.get(f"/console/review/conflicts/{work.conflict.id}").status_code == 403
        assert client.get(f"/console/households/{work.a.id}").status_code in (403, 404)
        assert client.get(f"/console/households/{moti.id}").status_code == 200
        home = client.get("/console").text
        assert ">Moti<" in home and "Hiri" not in home


class TestDashboard:
    def test_the_matrix_counts_families_by_the_desil_in_use(self, db: Session) -> None:
        rows = [
            household(db, f.HIRI_FAUDU),
            household(db, f.HIRI_TOMAJIKO),
            household(db, f.HIRI_FAUDU),
            household(db, f.MOTI_KELURAHAN),
        ]
        give_desil(db, rows[0], official=2, estimate=7)  # official wins
        give_desil(db, rows[1], estimate=2)
        give_desil(db, rows[3], official=9)
        city = Principal(
            user_id=1, username="d", role=Role.dinsos, kelurahan_scope=None, full_identifiers=False
        )
        matrix = {r.kecamatan_code: r for r in data.dashboard_matrix(db, city)}
        hiri, moti = matrix["82.71.07"], matrix["82.71.04"]
        assert (hiri.counts["2"], hiri.counts["none"], hiri.total, hiri.estimated) == (2, 1, 3, 1)
        assert (moti.counts["9"], moti.total, moti.estimated) == (1, 1, 0)
        assert sum(r.total for r in matrix.values()) == 4 and len(matrix) >= 7  # every kecamatan listed
        scoped = Principal(
            user_id=2,
            username="s",
            role=Role.supervisor,
            kelurahan_scope=frozenset({f.MOTI_KELURAHAN}),
            full_identifiers=False,
        )
        assert [(r.kecamatan_code, r.total) for r in data.dashboard_matrix(db, scoped)] == [("82.71.04", 1)]
        coverage = {
            r.kecamatan_code: r for r in data.dashboard_coverage(db, city, data.dashboard_matrix(db, city))
        }
        assert coverage["82.71.07"].registered == 3 and coverage["82.71.07"].target is None

    def test_coverage_is_the_report_apis_coverage_summed_per_kecamatan(self, db: Session) -> None:
        for kelurahan in (f.HIRI_FAUDU, f.HIRI_FAUDU, f.HIRI_TOMAJIKO, f.MOTI_KELURAHAN):
            household(db, kelurahan)
        household(db, f.HIRI_TOMAJIKO).deleted_at = utcnow()  # merged away: not counted
        db.add(KelurahanTarget(kelurahan_code=f.HIRI_FAUDU, families=40, source="Dukcapil", updated_by="t"))
        db.add(KelurahanTarget(kelurahan_code=f.HIRI_TOMAJIKO, families=2, source="Dukcapil", updated_by="t"))
        db.flush()
        for scope in (None, frozenset({f.MOTI_KELURAHAN, f.HIRI_TOMAJIKO})):
            reader = Principal(
                user_id=1, username="d", role=Role.dinsos, kelurahan_scope=scope, full_identifiers=False
            )
            shown = data.dashboard_coverage(db, reader, data.dashboard_matrix(db, reader))
            families: dict[str, int] = {}
            targets: dict[str, int] = {}
            for row in queries.coverage(db, scope=scope)[0]:
                families[row.kecamatan_code] = families.get(row.kecamatan_code, 0) + row.families
                if row.target_families is not None:
                    targets[row.kecamatan_code] = targets.get(row.kecamatan_code, 0) + row.target_families
            assert {r.kecamatan_code: (r.registered, r.target) for r in shown} == {
                code: (n, targets.get(code)) for code, n in families.items()
            }
            hiri = next(r for r in shown if r.kecamatan_code == HIRI)
            assert (hiri.registered, hiri.target) == ((3, 42) if scope is None else (1, 2))

    def test_a_count_sees_a_decision_committed_after_the_request_began(
        self, engine: Engine, settings: Settings
    ) -> None:
        """The request reads (its user) before the count; a decision commits and clears the
        cache in between. The count must see it (SQLite keeps a read transaction's snapshot)."""
        cache = data.DashboardCache(60)
        city = Principal(1, "d", Role.dinsos, kelurahan_scope=None, full_identifiers=False)
        target = KelurahanTarget(kelurahan_code=f.HIRI_FAUDU, families=40, source="Dukcapil", updated_by="t")
        request = new_session(engine, read_only=True)
        try:
            request.execute(select(User).limit(1)).all()  # console_principal's lookup
            with new_session(engine) as decision:
                decision.add(target)
                decision.commit()
            cache.clear()  # the decision's after_commit
            counted = cache.get(data.cache_key(city), lambda: data.compute(request, settings, city))
            assert next(r for r in counted.coverage if r.kecamatan_code == HIRI).target == 40
        finally:
            request.close()
            with new_session(engine) as cleanup:
                gone = delete(KelurahanTarget).where(col(KelurahanTarget.kelurahan_code) == f.HIRI_FAUDU)
                cleanup.execute(gone)
                cleanup.commit()

    def test_figures_are_kept_until_a_recount_or_a_review_decision(
        self, client: TestClient, make_account: Callable[..., Account], work: Work, db: Session
    ) -> None:
        dinsos = make_account(Role.dinsos)
        login(client, dinsos)
        first = client.get("/console").text
        before = _grand_total(first)
        assert _stage_value(first, "Pembersihan data ganda") == "1"  # the pending candidate
        assert "Angka dihitung" in first and "paling lama tiap 60 detik" in first
        household(db)
        db.commit()
        assert _grand_total(client.get("/console").text) == before  # the kept figures
        assert _grand_total(client.get("/console?refresh=1").text) == before + 1  # a recount
        household(db)
        db.commit()
        login(client, make_account(Role.supervisor, kecamatan=HIRI))
        page = f"/console/review/duplicates/{work.candidate.id}"
        done = post_form(client, page, f"{page}/decision", {"decision": "distinct"})
        assert done.status_code == 303
        login(client, dinsos)
        after = client.get("/console").text  # the decision cleared every area's figures
        assert _grand_total(after) == before + 2
        assert _stage_value(after, "Pembersihan data ganda") == "0"

    def test_dinsos_sees_the_matrix_table_chart_and_xlsx_link(
        self, client: TestClient, make_account: Callable[..., Account], db: Session
    ) -> None:
        give_desil(db, household(db), official=3)
        db.commit()
        login(client, make_account(Role.dinsos))
        page = client.get("/console")
        assert page.status_code == 200
        assert 'id="matrix"' in page.text and "<svg" in page.text and ">Pulau Hiri<" in page.text
        assert "Pulau Hiri, Desil 3: 1 keluarga" in page.text  # the chart's tooltip
        assert 'href="/reports/desil-matrix?format=xlsx"' in page.text
        assert "Belum ada snapshot" in page.text
        assert 'id="checklist"' in page.text and "Pendaftaran keluarga" in page.text

    def test_trends_come_from_snapshots_and_an_enumerator_sees_neither(
        self, client: TestClient, make_account: Callable[..., Account], db: Session
    ) -> None:

        household(db)
        take_snapshot(session=db, period="2026-09", actor=FIELD)
        household(db)
        household(db, f.MOTI_KELURAHAN)
        take_snapshot(session=db, period="2026-10", actor=FIELD)
        household(db)  # after the last snapshot: not in the trend
        db.commit()
        login(client, make_account(Role.dinsos))
        page = client.get("/console").text
        trend = page[page.index('id="trend"') : page.index("</table>", page.index('id="trend"'))]
        assert "<th>2026-09</th><th>2026-10</th>" in trend
        hiri = trend[trend.index(">Pulau Hiri<") :]
        assert hiri.startswith(">Pulau Hiri</th><td>1</td><td>2</td>")
        assert "Pulau Hiri 2026-10: 2 keluarga" in page  # the chart's tooltip
        login(client, make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,)))
        page = client.get("/console").text
        assert 'id="trend"' not in page and 'id="checklist"' not in page
        # the aggregates are reports: an enumerator reads none, here as in the API
        assert 'id="matrix"' not in page and "Unduh XLSX" not in page and "Cari keluarga" in page


class TestHousehold:
    def test_search_finds_families_of_the_area_only(
        self, client: TestClient, make_account: Callable[..., Account], db: Session
    ) -> None:
        row = household(db, members=[f.member(full_name="Rahmat Sangaji")])
        db.commit()
        login(client, make_account(Role.supervisor, kecamatan=HIRI))
        page = client.get("/console/households", params={"q": "rahmat sangaji"})
        assert page.status_code == 200 and f'href="/console/households/{row.id}"' in page.text
        assert "Rahmat Sangaji" in client.get(f"/console/households/{row.id}").text
        bad = client.get("/console/households", params={"q": "12345", "by": "nik"})
        assert bad.status_code == 422 and "Isian tidak valid" in bad.text
        login(client, make_account(Role.supervisor, kecamatan="82.71.04"))
        page = client.get("/console/households", params={"q": "rahmat sangaji"})
        assert "Tidak ditemukan" in page.text

    def test_members_history_desil_and_masked_identifiers(
        self, client: TestClient, make_account: Callable[..., Account], db: Session
    ) -> None:
        row = household(db)
        give_desil(db, row, estimate=4)
        db.commit()
        login(client, make_account(Role.supervisor, kecamatan=HIRI))
        page = client.get(f"/console/households/{row.id}")
        assert page.status_code == 200
        text = page.text
        assert "Abdul Hamid" in text and "Nur Hamid" in text
        assert "PERKIRAAN" in text and "pmt-test.1" in text
        assert row.kk_number not in text and "********" in text  # supervisors see NIK/KK masked
        assert "Riwayat perubahan" in text and "enumerator" in text
        login(client, make_account(Role.admin))
        assert row.kk_number in client.get(f"/console/households/{row.id}").text
