"""The console in a real browser: headless Chromium (Debian's package) driven by Playwright
against the app served by uvicorn on a real port, on both engines.

Dinas Sosial logs in and reads the kecamatan x desil matrix; a supervisor of Pulau Hiri merges a
duplicate pair, undoes it, marks it not a duplicate, and resolves a sync conflict. Screenshots are
saved under $SIGAP_ARTEFACTS (else the test's tmp dir) and their paths printed.

No Chromium (or no Playwright): skipped with the reason, unless SIGAP_REQUIRE_BROWSER=1 (CI),
which fails instead. Playwright never downloads a browser here: it launches /usr/bin/chromium.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlmodel import Session

from app.auth import repository as auth_repository
from app.auth.models import User
from app.reconcile.store import MatchCandidate
from app.registry.models import Household
from app.reports.snapshots import take_snapshot
from app.sync.models import SyncConflict
from tests import factories as f
from tests.conftest import LiveApp, password_hash
from tests.console.conftest import FIELD, HIRI, PASSWORD, give_desil, household, make_work

CHROMIUM = os.environ.get("SIGAP_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("SIGAP_REQUIRE_BROWSER") == "1"


def _browser_or_skip() -> Any:
    reason = None
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright  # here: a missing package skips, not errors
        except ImportError:
            reason = "playwright is not installed (pip install -e '.[dev]')"
    if reason:
        if REQUIRE_BROWSER:
            pytest.fail(f"browser test cannot run: {reason}, and SIGAP_REQUIRE_BROWSER=1", pytrace=False)
        pytest.skip(f"browser test SKIPPED: {reason}")
    return sync_playwright


@pytest.fixture
def server(live_server: str) -> str:
    return live_server


@pytest.fixture
def artefacts(db_kind: str, tmp_path: Path) -> Path:
    root = os.environ.get("SIGAP_ARTEFACTS")
    out = (Path(root) if root else tmp_path) / "console-browser" / db_kind
    out.mkdir(parents=True, exist_ok=True)
    return out


def _log_in(page: Any, server: str, username: str) -> None:
    page.goto(f"{server}/console")
    assert "/console/login" in page.url  # not logged in: the login form
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/console")


def test_dinsos_reads_the_matrix_and_a_supervisor_clears_the_queues(
    live_app: LiveApp, server: str, artefacts: Path
) -> None:
    sync_playwright = _browser_or_skip()
    with Session(live_app.engine) as session:
        for name, role, kec in (("dinsos.kota", "dinsos", None), ("spv.hiri", "supervisor", HIRI)):
            auth_repository.add_user(
                session, User(username=name, password_hash=password_hash(), role=role, kecamatan_code=kec), []
            )
        work = make_work(session)
        give_desil(session, work.a, official=2)
        give_desil(session, household(session, f.MOTI_KELURAHAN), estimate=5)
        session.commit()
        take_snapshot(session=session, period="2026-10", actor=FIELD)  # the trend's first point
        session.commit()
        candidate_id, conflict_id = work.candidate.id, work.conflict.id
    shots: list[Path] = []

    def shot(page: Any, name: str) -> None:
        path = artefacts / f"{len(shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="id-ID").new_page()
            _log_in(page, server, "dinsos.kota")
            matrix = page.locator("#matrix")
            assert matrix.is_visible()
            hiri = matrix.locator("tr", has_text="Pulau Hiri")
            assert hiri.locator("td").nth(1).inner_text() == "1"  # desil 2
            assert page.locator("svg.chart").count() == 3  # matrix, trend, coverage
            assert page.get_by_role("heading", name="Tren").is_visible()
            trend = page.locator("#trend")
            assert trend.is_visible() and "2026-10" in trend.inner_text()
            assert page.locator("#checklist").is_visible()
            assert "Pendaftaran keluarga" in page.locator("#checklist").inner_text()
            link = page.locator('a[href="/reports/desil-matrix?format=xlsx"]')
            assert link.is_visible()
            with page.expect_download() as download:
                link.click()
            saved = artefacts / "matriks-desil.xlsx"
            download.value.save_as(saved)
            sheet = openpyxl.load_workbook(saved).active
            assert sheet is not None
            rows = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
            hiri_row = next(r for r in rows if "Pulau Hiri" in r)
            assert 1 in hiri_row, hiri_row  # the family of desil 2, in the file as on the page
            shot(page, "dasbor-dinsos")
            page.click("form.who button")
            page.wait_for_url("**/console/login?ok=logout")

            _log_in(page, server, "spv.hiri")
            reconciliation = page.locator("#checklist tr", has_text="Pembersihan data ganda")
            assert reconciliation.locator("td.num").first.inner_text() == "1"  # the pending pair
            page.click("nav >> text=Duplikat")
            page.click(f'a[href="/console/review/duplicates/{candidate_id}"]')
            assert page.get_by_text("nama mirip (gelar H. diabaikan)").is_visible()
            shot(page, "kandidat-duplikat")
            page.click("button[value=merge]")
            assert "Kedua keluarga digabung" in page.locator("p.ok").inner_text()
            shot(page, "digabung")
            page.click("text=Batalkan penggabungan")
            assert "Penggabungan dibatalkan" in page.locator("p.ok").inner_text()
            page.goto(f"{server}/console")  # the decision cleared the dashboard's kept figures
            assert reconciliation.locator("td.num").first.inner_text() == "0"

            page.click("nav >> text=Konflik sinkronisasi")
            page.click(f'a[href="/console/review/conflicts/{conflict_id}"]')
            assert page.get_by_text("Jl. Faudu No. 5").is_visible()
            page.check("input[name=choice][value=device]")
            page.click("text=Simpan keputusan")
            assert "Konflik diselesaikan" in page.locator("p.ok").inner_text()
            shot(page, "konflik-selesai")
            page.click("text=Buka halaman keluarga")
            assert page.get_by_text("Jl. Faudu No. 5").first.is_visible()  # the resolved value
            assert page.get_by_role("heading", name="Riwayat perubahan").is_visible()
            shot(page, "keluarga")
        finally:
            browser.close()

    with Session(live_app.engine) as session:
        candidate = session.get(MatchCandidate, candidate_id)
        conflict = session.get(SyncConflict, conflict_id)
        assert candidate is not None and candidate.status == "distinct"  # an undone merge stays apart
        assert conflict is not None and conflict.status == "resolved" and conflict.resolution == "device"
        visited = session.get(Household, conflict.household_id)
        assert visited is not None and visited.address == "Jl. Faudu No. 5"
    print("\nscreenshots:\n" + "\n".join(f"  {p} ({p.stat().st_size} bytes)" for p in shots))
    assert all(p.stat().st_size > 1000 for p in shots)


class TestSkipOrFail:
    def test_without_chromium_it_skips_with_the_reason(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", "/nonexistent/chromium")
        monkeypatch.setattr(sys.modules[__name__], "REQUIRE_BROWSER", False)
        with pytest.raises(pytest.skip.Exception, match="/nonexistent/chromium is missing"):
            _browser_or_skip()

    def test_with_sigap_require_browser_it_fails_instead(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", "/nonexistent/chromium")
        monkeypatch.setattr(sys.modules[__name__], "REQUIRE_BROWSER", True)
        with pytest.raises(pytest.fail.Exception, match="SIGAP_REQUIRE_BROWSER=1"):
            _browser_or_skip()
