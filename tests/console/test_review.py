"""A supervisor clears the review queues through the console's forms (both engines)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.console.queues import typed_value
from app.reconcile.store import MatchCandidate
from app.registry.models import Household
from app.sync.models import SyncConflict
from tests.conftest import Account
from tests.console.conftest import HIRI, Work, csrf_of, login, post_form


def _supervisor(client: TestClient, make_account: Callable[..., Account]) -> Account:
    spv = make_account(Role.supervisor, kecamatan=HIRI)
    login(client, spv)
    return spv


class TestDuplicates:
    def test_the_queue_lists_the_pair_with_its_reasons(
        self, client: TestClient, make_account: Callable[..., Account], work: Work
    ) -> None:
        _supervisor(client, make_account)
        listed = client.get("/console/review/duplicates")
        assert listed.status_code == 200
        assert f'href="/console/review/duplicates/{work.candidate.id}"' in listed.text
        assert "kepala keluarga cocok" in listed.text
        page = client.get(f"/console/review/duplicates/{work.candidate.id}")
        assert "H. Muhammad Yusuf" in page.text and "Muhammad Yusuf" in page.text
        assert "nama mirip (gelar H. diabaikan)" in page.text  # a per-feature reason, in Indonesian
        assert 'class="diff"' in page.text  # the differing address is highlighted
        assert "Gabungkan" in page.text and "Bukan duplikat" in page.text

    def test_merge_then_undo(
        self, client: TestClient, make_account: Callable[..., Account], work: Work, db: Session
    ) -> None:
        _supervisor(client, make_account)
        url = f"/console/review/duplicates/{work.candidate.id}"
        r = post_form(
            client,
            url,
            f"{url}/decision",
            {"decision": "merge", "survivor_id": "", "note": "dicek di lapangan"},
        )
        assert r.status_code == 303 and r.headers["location"] == f"{url}?ok=merge"
        page = client.get(r.headers["location"])
        assert "Kedua keluarga digabung" in page.text and "Batalkan penggabungan" in page.text
        candidate = db.get(MatchCandidate, work.candidate.id)
        assert candidate is not None
        db.refresh(candidate)
        assert candidate.status == "merged" and candidate.merge_id is not None
        assert db.exec(select(AuditEntry).where(AuditEntry.channel == "console")).first() is not None
        # a second decision on the same pair is refused with a sentence, and changes nothing
        r = client.post(
            f"{url}/decision",
            follow_redirects=False,
            data={"decision": "distinct", "csrf": csrf_of(client.get(url).text)},
        )
        assert r.status_code == 409 and "sudah diputuskan" in r.text

        r = post_form(client, url, f"/console/review/merges/{candidate.merge_id}/undo", {"note": "salah"})
        assert r.status_code == 303 and r.headers["location"] == f"{url}?ok=undo"
        assert "Penggabungan dibatalkan" in client.get(r.headers["location"]).text
        for h in (work.a, work.b):
            row = db.get(Household, h.id)
            assert row is not None
            db.refresh(row)
            assert row.deleted_at is None

    def test_not_a_duplicate(
        self, client: TestClient, make_account: Callable[..., Account], work: Work, db: Session
    ) -> None:
        _supervisor(client, make_account)
        url = f"/console/review/duplicates/{work.candidate.id}"
        r = post_form(client, url, f"{url}/decision", {"decision": "distinct", "note": "kakak beradik"})
        assert r.status_code == 303
        assert "bukan duplikat" in client.get(r.headers["location"]).text
        assert "Tidak ada kandidat" in client.get("/console/review/duplicates").text
        candidate = db.get(MatchCandidate, work.candidate.id)
        assert candidate is not None
        db.refresh(candidate)
        assert candidate.status == "distinct" and candidate.note == "kakak beradik"


class TestConflicts:
    def test_take_the_tablet_value(
        self, client: TestClient, make_account: Callable[..., Account], work: Work, db: Session
    ) -> None:
        _supervisor(client, make_account)
        listed = client.get("/console/review/conflicts")
        assert "Jl. Faudu No. 5" in listed.text and "Jl. Faudu No. 3" in listed.text
        url = f"/console/review/conflicts/{work.conflict.id}"
        r = post_form(client, url, f"{url}/resolve", {"choice": "device", "note": "dicek"})
        assert r.status_code == 303
        assert "Konflik diselesaikan" in client.get(r.headers["location"]).text
        row = db.get(Household, work.conflict.household_id)
        assert row is not None
        db.refresh(row)
        assert row.address == "Jl. Faudu No. 5"

    def test_enter_a_value_and_a_refusal_in_indonesian(
        self, client: TestClient, make_account: Callable[..., Account], work: Work, db: Session
    ) -> None:
        _supervisor(client, make_account)
        url = f"/console/review/conflicts/{work.conflict.id}"
        r = post_form(client, url, f"{url}/resolve", {"choice": "value", "value": "  "})
        assert r.status_code == 422 and "wajib diisi" in r.text
        r = post_form(client, url, f"{url}/resolve", {"choice": "value", "value": "Jl. Faudu No. 4"})
        assert r.status_code == 303
        conflict = db.get(SyncConflict, work.conflict.id)
        assert conflict is not None
        db.refresh(conflict)
        assert (conflict.status, conflict.resolution, conflict.resolved_value) == (
            "resolved",
            "value",
            "Jl. Faudu No. 4",
        )
        again = post_form(client, url, f"{url}/resolve", {"choice": "server"})
        assert again.status_code == 409 and "sudah diselesaikan" in again.text
        assert "Diselesaikan dengan nilai yang diisi" in client.get(url).text


class TestEnteredValues:
    def test_an_entered_value_takes_the_type_of_the_values_in_conflict(self) -> None:
        assert typed_value("1300", (900, 450)) == 1300
        assert typed_value("2,5", (1.5, None)) == 2.5
        assert typed_value("ya", (True, False)) is True and typed_value("tidak", (None, True)) is False
        assert typed_value("007", ("001", "002")) == "007"  # a code stays text
        assert typed_value("  Jl. Baru ", ("a", None)) == "Jl. Baru"
        assert typed_value("banyak", (3, 4)) == "banyak"  # the registry refuses it, naming the field
        assert typed_value("   ", ("a", "b")) is None

    def test_a_form_posted_after_logging_out_is_refused_and_changes_nothing(
        self, client: TestClient, make_account: Callable[..., Account], work: Work, db: Session
    ) -> None:
        _supervisor(client, make_account)
        url = f"/console/review/conflicts/{work.conflict.id}"
        token = csrf_of(client.get(url).text)
        client.cookies.delete("sigap_session")  # logged out (or the session cookie expired)
        r = client.post(f"{url}/resolve", data={"choice": "device", "csrf": token}, follow_redirects=False)
        assert r.status_code == 403 and "Muat ulang halaman" in r.text
        assert client.get(url, follow_redirects=False).status_code == 303  # reloading: the login page
        conflict = db.get(SyncConflict, work.conflict.id)
        assert conflict is not None
        db.refresh(conflict)
        assert conflict.status == "open"
