"""The device store: seq allocation, crash consistency, local edits and the replica overlay."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync_protocol.messages import Change, MutationResult
from sync_protocol.store import Enrolment, LocalEditError, Store, StoreError
from tests.sync_client.conftest import SCOPE, household, tombstone, upsert

AT = "2026-11-20T09:14:00+09:00"


def enrol(store: Store, **changes: Any) -> None:
    values: dict[str, Any] = {"server_url": "https://sigap.test", "device_id": "tab-hiri-007",
                              "device_token": "t", "username": "enum.hiri", "scope": list(SCOPE),
                              "limits": {"max_batch": 500, "max_page": 500, "max_body_bytes": 2_097_152}}
    store.save_enrolment(Enrolment(**{**values, **changes}))


def ack(store: Store, *results: dict[str, Any]) -> None:
    batch = store.pending(limit=1000)
    store.apply_push_results(batch, [MutationResult.model_validate(r) for r in results])


def result(store: Store, seq: int, outcome: str, **extra: Any) -> dict[str, Any]:
    m = next(p for p in store.pending(limit=1000) if p.seq == seq)
    return {"seq": seq, "entity": m.entity, "id": m.id, "outcome": outcome, **extra}


def pull(store: Store, *changes: dict[str, Any], cursor: str = "c1") -> None:
    store.apply_pull_page([Change.model_validate(c) for c in changes], cursor=cursor, scope=list(SCOPE))


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    with Store(store_path) as s:
        enrol(s)
        yield s


class TestSeqAllocation:
    def test_seqs_continue_after_acknowledgement_and_reopen(self, store_path: Path) -> None:
        with Store(store_path) as store:
            enrol(store)
            hid = store.create_household(household(), recorded_at=AT)
            assert store.update("household", hid, {"address": "Jl. Hiri"}, recorded_at=AT) == 2
            assert store.update("household", hid, {"rt": "003"}, recorded_at=AT) == 3
            ack(store, result(store, 1, "applied", version=1), result(store, 2, "applied", version=2),
                result(store, 3, "applied", version=3))
            assert store.pending_count() == 0
        with Store(store_path) as store:
            assert store.meta().next_seq == 4
            assert store.delete("household", hid, recorded_at=AT) == 4
            assert [m.seq for m in store.pending()] == [4]

    def test_a_rolled_back_edit_consumes_no_seq(self, store: Store) -> None:
        with pytest.raises(LocalEditError, match="di luar wilayah"):
            store.create_household(household(code="82.71.01.1001"), recorded_at=AT)
        assert store.meta().next_seq == 1
        store.create_household(household(), recorded_at=AT)
        assert [m.seq for m in store.pending()] == [1]


class TestCrashConsistency:
    def test_closing_without_commit_leaves_the_previous_state(self, store_path: Path) -> None:
        with Store(store_path) as store:
            enrol(store)
            hid = store.create_household(household(), recorded_at=AT)
        crashed = Store(store_path)
        conn = crashed._conn
        conn.execute("BEGIN IMMEDIATE")
        crashed._enqueue(conn, "household", hid, "update", 1, hid, {"rt": "009"}, AT, [("household", hid)])
        crashed._rebuild(conn, "household", hid)
        assert conn.in_transaction
        crashed.close()  # no COMMIT: like a process that dies here
        with Store(store_path) as store:
            assert store.meta().next_seq == 2
            assert [m.seq for m in store.pending()] == [1]
            record = store.record("household", hid)
            assert record is not None and record.data is not None and "rt" not in record.data

    def test_kill_9_inside_an_edit_transaction(self, store_path: Path) -> None:
        with Store(store_path) as store:
            enrol(store)
            hid = store.create_household(household(), recorded_at=AT)
        script = textwrap.dedent(f"""
            import os, signal
            from sync_protocol.store import Store
            store = Store({str(store_path)!r})
            def die(*args):
                os.kill(os.getpid(), signal.SIGKILL)
            store._rebuild = die   # runs after the outbox insert, before COMMIT
            store.update("household", {hid!r}, {{"rt": "009"}}, recorded_at="{AT}")
        """)
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30,
                              cwd=Path(__file__).parents[2], check=False)
        assert proc.returncode == -9, proc.stderr.decode()
        with Store(store_path) as store:
            assert store.meta().next_seq == 2
            assert [m.seq for m in store.pending()] == [1]
            assert "rt" not in (store.record("household", hid).data or {})  # type: ignore[union-attr]
            assert store.update("household", hid, {"rt": "009"}, recorded_at=AT) == 2

    def test_a_failure_while_acknowledging_keeps_the_whole_batch(self, store: Store,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        hid = store.create_household(household(), recorded_at=AT)
        store.update("household", hid, {"rt": "001"}, recorded_at=AT)
        results = [result(store, 1, "applied", version=1), result(store, 2, "applied", version=2)]

        def boom(*args: object) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(store, "_rebuild", boom)
        with pytest.raises(RuntimeError):
            ack(store, *results)
        monkeypatch.undo()
        assert [m.seq for m in store.pending()] == [1, 2]
        record = store.record("household", hid)
        assert record is not None and record.version == 0 and record.local_only

    def test_wal_journal(self, store: Store) -> None:
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    def test_a_newer_schema_is_refused(self, store_path: Path) -> None:
        Store(store_path).close()
        conn = sqlite3.connect(store_path)
        conn.execute("PRAGMA user_version = 99")
        conn.close()
        with pytest.raises(StoreError, match="schema 99"):
            Store(store_path)


class TestLocalEdits:
    def test_create_household_assigns_ids_and_splits_members(self, store: Store) -> None:
        given = str(uuid.uuid4())
        fields = household()
        fields["members"][1]["id"] = given
        hid = store.create_household(fields, recorded_at=AT)
        [mutation] = store.pending()
        assert (mutation.seq, mutation.entity, mutation.op) == (1, "household", "create")
        assert mutation.base_version is None
        assert mutation.id == hid and "id" not in mutation.fields
        member_ids = [m["id"] for m in mutation.fields["members"]]
        assert member_ids[1] == given and uuid.UUID(member_ids[0])
        record = store.record("household", hid)
        assert record is not None
        assert (record.version, record.local_only, record.kelurahan_code) == (0, True, SCOPE[0])
        assert record.data == {"kelurahan_code": SCOPE[0], "kk_number": "8271011201260001",
                               "survey_date": "2026-11-20"}
        members = store.members(hid)
        assert [m.id for m in members] == member_ids
        assert members[0].data == {"full_name": "Siti Hasan", "sex": "P", "relation": "head"}
        assert store.counts() == {"household": 1, "member": 2}

    def test_base_version_is_the_server_version(self, store: Store) -> None:
        hid, mid = str(uuid.uuid4()), str(uuid.uuid4())
        pull(store, upsert("household", hid, hid, 5, {"kelurahan_code": SCOPE[0], "rt": "001"}),
             upsert("member", mid, hid, 3, {"full_name": "Ani", "sex": "P", "relation": "head"}))
        assert store.update("household", hid, {"rt": "002"}, recorded_at=AT) == 1
        assert store.update("household", hid, {"rt": "003", "address": "Jl. Hiri"}, recorded_at=AT) == 2
        assert store.update("member", mid, {"occupation": "petani"}, recorded_at=AT) == 3
        assert store.delete("member", mid, recorded_at=AT) == 4
        assert [(m.op, m.base_version, m.fields) for m in store.pending()] == [
            ("update", 5, {"rt": "002"}), ("update", 5, {"rt": "003", "address": "Jl. Hiri"}),
            ("update", 3, {"occupation": "petani"}), ("delete", 3, {})]
        assert store.record("household", hid).data == {  # type: ignore[union-attr]
            "kelurahan_code": SCOPE[0], "rt": "003", "address": "Jl. Hiri"}
        assert store.record("member", mid).data is None  # type: ignore[union-attr]
        assert store.members(hid) == []

    def test_unchanged_fields_are_not_sent_and_null_clears(self, store: Store) -> None:
        hid = str(uuid.uuid4())
        data = {"kelurahan_code": SCOPE[0], "rt": "001", "phone": "0812"}
        pull(store, upsert("household", hid, hid, 2, data))
        assert store.update("household", hid, {"rt": "001"}, recorded_at=AT) is None
        assert store.update("household", hid, {"rt": "001", "phone": None}, recorded_at=AT) == 1
        assert store.pending()[0].fields == {"phone": None}
        assert store.record("household", hid).data == {"kelurahan_code": SCOPE[0], "rt": "001"}  # type: ignore[union-attr]

    def test_edits_of_an_unconfirmed_record_name_version_1(self, store: Store) -> None:
        hid = store.create_household(household(), recorded_at=AT)
        mid = store.add_member(hid, {"full_name": "Nur", "sex": "P", "relation": "child"}, recorded_at=AT)
        store.update("member", mid, {"school_participation": "in_school"}, recorded_at=AT)
        pending = store.pending()
        assert [(m.entity, m.op, m.base_version, m.household_id) for m in pending] == [
            ("household", "create", None, hid), ("member", "create", None, hid),
            ("member", "update", 1, hid)]
        assert store.record("member", mid).data == {  # type: ignore[union-attr]
            "full_name": "Nur", "sex": "P", "relation": "child", "school_participation": "in_school"}

    @pytest.mark.parametrize(("entity", "fields", "message"), [
        ("household", {"version": 3}, "tidak boleh diubah"),
        ("household", {"members": []}, "tidak boleh diubah"),
        ("house", {"rt": "001"}, "entity harus"),
        ("household", {"kelurahan_code": "82.71.01.1001"}, "di luar wilayah"),
    ])
    def test_bad_updates_are_refused(self, store: Store, entity: str, fields: dict[str, Any],
                                     message: str) -> None:
        hid = store.create_household(household(), recorded_at=AT)
        with pytest.raises(LocalEditError, match=message):
            store.update(entity, hid, fields, recorded_at=AT)
        assert store.meta().next_seq == 2

    def test_unknown_records_and_bad_creates_are_refused(self, store: Store) -> None:
        with pytest.raises(LocalEditError, match="tidak ada"):
            store.update("member", uuid.uuid4(), {"occupation": "x"}, recorded_at=AT)
        with pytest.raises(LocalEditError, match="tidak ada"):
            store.add_member(uuid.uuid4(), {"full_name": "x"}, recorded_at=AT)
        with pytest.raises(LocalEditError, match="members"):
            store.create_household({"kelurahan_code": SCOPE[0], "members": []}, recorded_at=AT)
        with pytest.raises(LocalEditError, match="UUID"):
            store.delete("household", "not-a-uuid", recorded_at=AT)
        assert store.pending_count() == 0 and store.meta().next_seq == 1


class TestPushResults:
    def test_applied_create_and_update_record_versions(self, store: Store) -> None:
        hid = store.create_household(household(), recorded_at=AT)
        store.update("household", hid, {"rt": "004"}, recorded_at=AT)
        ack(store, result(store, 1, "applied", version=1), result(store, 2, "applied", version=2))
        record = store.record("household", hid)
        assert record is not None
        assert (record.version, record.local_only, record.pending) == (2, False, 0)
        assert record.data is not None and record.data["rt"] == "004"
        assert [(m.version, m.local_only) for m in store.members(hid)] == [(1, False), (1, False)]

    def test_rejected_update_reverts_to_the_server_copy_and_is_logged(self, store: Store) -> None:
        hid, mid = str(uuid.uuid4()), str(uuid.uuid4())
        pull(store, upsert("member", mid, hid, 3, {"full_name": "Ani", "sex": "P", "relation": "head"}))
        store.update("member", mid, {"nik": "8271010101010001"}, recorded_at=AT)
        store.update("member", mid, {"occupation": "nelayan"}, recorded_at=AT)
        problem = {"field": "nik", "rule": "nik_checksum", "message": "NIK tidak sah"}
        store.apply_push_results(store.pending(limit=1), [MutationResult.model_validate(
            result(store, 1, "rejected", status=422, message="nik: invalid", problems=[problem]))])
        record = store.record("member", mid)
        assert record is not None and record.version == 3
        assert record.data == {"full_name": "Ani", "sex": "P", "relation": "head", "occupation": "nelayan"}
        [item] = store.attention()
        assert (item.kind, item.seq, item.status, item.record_id) == ("rejected", 1, 422, mid)
        assert item.details == [problem] and item.fields == {"nik": "8271010101010001"}
        assert store.dismiss([item.id]) == 1 and store.attention() == []

    def test_rejected_create_removes_the_local_records_but_keeps_the_fields(self, store: Store) -> None:
        hid = store.create_household(household(), recorded_at=AT)
        ack(store, result(store, 1, "rejected", status=422,
                          problems=[{"field": "kk_number", "rule": "kk_checksum", "message": "KK salah"}]))
        assert store.record("household", hid) is None and store.counts() == {"household": 0, "member": 0}
        [item] = store.attention()
        assert item.fields["kk_number"] == "8271011201260001" and len(item.fields["members"]) == 2

    def test_conflict_keeps_the_server_value_and_logs_both(self, store: Store) -> None:
        hid = str(uuid.uuid4())
        pull(store, upsert("household", hid, hid, 4, {"kelurahan_code": SCOPE[0], "rt": "001", "rw": "002"}))
        store.update("household", hid, {"rt": "005", "rw": "006"}, recorded_at=AT)
        conflict = {"conflict_id": str(uuid.uuid4()), "field": "rt", "server_value": "007",
                    "device_value": "005", "policy": "review", "resolution": "pending_review"}
        ack(store, result(store, 1, "conflict", version=6, conflicts=[conflict]))
        record = store.record("household", hid)
        assert record is not None and record.version == 4  # the pull brings version 6
        assert record.data == {"kelurahan_code": SCOPE[0], "rt": "001", "rw": "006"}
        [item] = store.attention()
        assert item.kind == "conflict" and item.details[0]["server_value"] == "007"

    def test_duplicate_counts_as_its_original_outcome(self, store: Store) -> None:
        hid = store.create_household(household(), recorded_at=AT)
        applied = store.apply_push_results(store.pending(), [MutationResult.model_validate(
            result(store, 1, "duplicate", original_outcome="applied", version=1))])
        assert applied.outcomes == {"duplicate": 1} and applied.acknowledged == 1
        assert store.record("household", hid).version == 1  # type: ignore[union-attr]

    def test_results_for_unknown_seqs_are_ignored_and_missing_ones_stay(self, store: Store) -> None:
        store.create_household(household(), recorded_at=AT)
        store.create_household(household(kk="8271011201260002"), recorded_at=AT)
        batch = store.pending()
        applied = store.apply_push_results(batch, [MutationResult.model_validate(
            {"seq": 99, "entity": "household", "id": str(uuid.uuid4()), "outcome": "applied"}),
            MutationResult.model_validate(result(store, 2, "applied", version=1))])
        assert applied.acknowledged == 1 and [m.seq for m in store.pending()] == [1]


class TestPull:
    def test_upsert_keeps_unsent_local_edits_on_top(self, store: Store) -> None:
        hid = str(uuid.uuid4())
        pull(store, upsert("household", hid, hid, 1, {"kelurahan_code": SCOPE[0], "rt": "001", "rw": "001"}))
        store.update("household", hid, {"rt": "009"}, recorded_at=AT)
        pull(store, upsert("household", hid, hid, 2, {"kelurahan_code": SCOPE[0], "rt": "001", "rw": "004",
                                                       "members": [{"ignored": True}]}), cursor="c2")
        record = store.record("household", hid)
        assert record is not None and record.version == 2 and record.pending == 1
        assert record.data == {"kelurahan_code": SCOPE[0], "rt": "009", "rw": "004"}
        assert store.pending()[0].base_version == 1  # unchanged
        assert store.meta().cursor == "c2"

    def test_household_tombstone_removes_its_members(self, store: Store) -> None:
        hid, mid = str(uuid.uuid4()), str(uuid.uuid4())
        pull(store, upsert("household", hid, hid, 1, {"kelurahan_code": SCOPE[0]}),
             upsert("member", mid, hid, 1, {"full_name": "Ani", "sex": "P", "relation": "head"}))
        assert store.counts() == {"household": 1, "member": 1}
        pull(store, tombstone("household", hid, hid, 2, "out_of_scope"), cursor="c2")
        assert store.counts() == {"household": 0, "member": 0} and store.record("member", mid) is None

    def test_a_failing_page_changes_nothing(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        calls: list[str] = []
        real = store._rebuild

        def flaky(conn: sqlite3.Connection, entity: str, rid: str) -> None:
            calls.append(rid)
            if rid == second:
                raise RuntimeError("crash mid-page")
            real(conn, entity, rid)

        monkeypatch.setattr(store, "_rebuild", flaky)
        with pytest.raises(RuntimeError):
            pull(store, upsert("household", first, first, 1, {"kelurahan_code": SCOPE[0]}),
                 upsert("household", second, second, 1, {"kelurahan_code": SCOPE[0]}), cursor="c9")
        assert calls == [first, second]
        assert store.meta().cursor is None and store.counts()["household"] == 0


class TestEnrolment:
    def test_reenrolling_the_same_identity_keeps_the_replica(self, store: Store) -> None:
        hid = store.create_household(household(), recorded_at=AT)
        assert store.save_enrolment(Enrolment(
            server_url="https://sigap.test", device_id="tab-hiri-007", device_token="new",
            username="enum.hiri", scope=list(SCOPE), limits={"max_batch": 100})) is False
        meta = store.meta()
        assert meta.enrolment is not None and meta.enrolment.device_token == "new"
        assert store.record("household", hid) is not None and meta.next_seq == 2

    def test_another_identity_is_refused_while_mutations_are_pending(self, store: Store) -> None:
        store.create_household(household(), recorded_at=AT)
        with pytest.raises(StoreError, match="belum terkirim"):
            enrol(store, device_id="tab-hiri-008")
        ack(store, result(store, 1, "applied", version=1))
        pull(store, cursor="c5")
        enrol(store, device_id="tab-hiri-008")
        meta = store.meta()
        assert meta.cursor is None and store.counts()["household"] == 0 and meta.next_seq == 2
