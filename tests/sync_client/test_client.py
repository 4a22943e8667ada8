"""DeviceClient over httpx.MockTransport: enrolment, push, pull, retries and errors."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from sync_protocol.client import (
    AuthenticationFailed,
    DeviceClient,
    DeviceRevoked,
    NotEnrolled,
    ProtocolViolation,
    RetriesExhausted,
    RetryNotice,
    RetryPolicy,
    ServerError,
    SyncEvent,
    UpgradeRequired,
)
from sync_protocol.store import StoreError
from tests.sync_client.conftest import BASE, SCOPE, FakeServer, FakeTime, household, tombstone, upsert

MakeClient = Callable[..., DeviceClient]


class TestBackoff:
    def test_ceilings_double_up_to_the_cap(self) -> None:
        policy = RetryPolicy()
        assert [policy.ceiling(n) for n in range(11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
        assert policy.ceiling(5000) == 300

    def test_full_jitter_scales_the_ceiling(self) -> None:
        policy = RetryPolicy(base=1, factor=2, cap=300)
        assert policy.delay(3, 0.25) == 2.0
        assert policy.delay(0, 0.0) == 0.0
        assert policy.delay(12, 0.5) == 150.0

    def test_schedule_with_injected_random_and_sleep(self, make_client: MakeClient, server: FakeServer,
                                                     fake_time: FakeTime) -> None:
        units = iter([0.5, 0.25, 1.0, 0.1])
        client = make_client(rand=lambda: next(units), retry=RetryPolicy(max_attempts=10, deadline=None))
        server.fail("/sync/v1/pull", 503, "connect", 504, 429)
        client.sync()
        assert fake_time.sleeps == [0.5, 0.5, 4.0, 0.8]
        assert server.pull_cursors == [None]

    def test_retry_after_is_a_floor(self, make_client: MakeClient, server: FakeServer,
                                    fake_time: FakeTime) -> None:
        client = make_client()
        server.fail("/sync/v1/pull", httpx.Response(429, headers={"Retry-After": "30"}, json={}))
        client.sync()
        assert fake_time.sleeps == [30.0]

    def test_gives_up_after_max_attempts(self, make_client: MakeClient, server: FakeServer,
                                         fake_time: FakeTime) -> None:
        client = make_client(retry=RetryPolicy(max_attempts=3, deadline=None))
        client.create_household(household())
        server.fail("/sync/v1/push", "connect", "connect", "connect")
        with pytest.raises(RetriesExhausted, match="3 percobaan") as info:
            client.sync()
        assert info.value.attempts == 3 and "ConnectError" in info.value.last_error
        assert fake_time.sleeps == [0.5, 1.0]
        assert client.status().pending == 1 and server.pushes == []

    def test_gives_up_before_passing_the_deadline(self, make_client: MakeClient, server: FakeServer,
                                                  fake_time: FakeTime) -> None:
        client = make_client(retry=RetryPolicy(max_attempts=100, deadline=10), rand=lambda: 1.0)
        server.fail("/sync/v1/pull", *[503] * 10)
        with pytest.raises(RetriesExhausted, match="batas waktu"):
            client.sync()
        assert fake_time.sleeps == [1.0, 2.0, 4.0]  # the next wait (8 s) would end at 15 s
        assert len(server.requests) == 4


class TestEnrol:
    def test_enrol_stores_token_scope_and_limits(self, make_client: MakeClient, server: FakeServer) -> None:
        client = make_client(enrolled=False)
        enrolment = client.enrol(BASE + "/", "enum.hiri", "rahasia-panjang", "tab-hiri-007", "Tablet 7")
        token_request, device_request = server.requests
        assert token_request.url == BASE + "/auth/token"
        assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert b"username=enum.hiri" in token_request.content
        assert device_request.headers["Authorization"] == "Bearer user-token"
        assert device_request.headers["Sigap-Sync-Version"] == "1"
        assert json.loads(device_request.content) == {"device_id": "tab-hiri-007", "label": "Tablet 7"}
        assert enrolment.device_token == "dev-token-tab-hiri-007" and enrolment.server_url == BASE
        status = client.status()
        assert (status.enrolled, status.device_id, status.scope) == (True, "tab-hiri-007", SCOPE)
        assert client.store.meta().enrolment.limits["max_batch"] == 500  # type: ignore[union-attr]

    def test_wrong_password(self, make_client: MakeClient, server: FakeServer) -> None:
        client = make_client(enrolled=False)
        with pytest.raises(AuthenticationFailed):
            client.enrol(BASE, "enum.hiri", "salah", "tab-hiri-007")
        assert server.paths() == ["/auth/token"] and not client.status().enrolled

    def test_bad_device_id_is_refused_locally(self, make_client: MakeClient, server: FakeServer) -> None:
        with pytest.raises(ValueError, match="device id"):
            make_client(enrolled=False).enrol(BASE, "enum.hiri", "rahasia-panjang", "short")
        assert server.requests == []

    def test_sync_needs_enrolment(self, make_client: MakeClient) -> None:
        with pytest.raises(NotEnrolled):
            make_client(enrolled=False).sync()


class TestPush:
    def test_push_is_gzipped_batched_and_acknowledged(self, make_client: MakeClient,
                                                      server: FakeServer) -> None:
        client = make_client(batch_size=2)
        hids = [client.create_household(household(kk=f"827101120126000{i}")) for i in range(3)]
        client.update("household", hids[0], {"rt": "001"})
        mid = client.add_member(hids[1], {"full_name": "Nur", "sex": "P", "relation": "child"})
        events: list[SyncEvent] = []
        report = client.sync(progress=events.append)
        assert server.push_seqs() == [[1, 2], [3, 4], [5]]
        first = server.requests[0]
        assert first.headers["Content-Encoding"] == "gzip"
        assert first.headers["Authorization"] == "Bearer dev-token"
        create, _ = server.pushes[0]
        assert create["op"] == "create" and "base_version" not in create and "household_id" not in create
        assert len(create["fields"]["members"]) == 2 and create["recorded_at"]
        update = server.pushes[1][1]
        assert (update["op"], update["base_version"], update["fields"]) == ("update", 1, {"rt": "001"})
        assert server.pushes[2][0]["household_id"] == str(hids[1]) and server.pushes[2][0]["id"] == str(mid)
        assert (report.pushed, report.batches, report.outcomes) == (5, 3, {"applied": 5})
        assert [e.done for e in events if e.phase == "push"] == [2, 4, 5]
        status = client.status()
        assert (status.pending, status.local_only, status.records) == (0, 0, {"household": 3, "member": 7})
        assert client.record("household", hids[0]).version == 2  # type: ignore[union-attr]

    def test_server_max_batch_limits_the_batch(self, make_client: MakeClient, server: FakeServer) -> None:
        server.limits["max_batch"] = 1
        client = make_client(batch_size=200)
        client.create_household(household())
        client.create_household(household(kk="8271011201260002"))
        client.sync()
        assert server.push_seqs() == [[1], [2]]

    def test_body_limit_splits_a_batch(self, make_client: MakeClient, server: FakeServer) -> None:
        client = make_client()
        for i in range(4):
            client.create_household(household(kk=f"827101120126000{i}", address="x" * 300))
        enrolment = client.store.meta().enrolment
        assert enrolment is not None
        client.store.save_enrolment(replace(enrolment, limits={"max_batch": 500, "max_page": 500,
                                                               "max_body_bytes": 2000}))
        client.sync()
        assert server.push_seqs() == [[1, 2], [3, 4]]
        for request in server.requests[:2]:
            assert len(gzip.decompress(request.content)) <= 2000

    def test_dropped_response_resends_the_same_batch(self, make_client: MakeClient, server: FakeServer,
                                                     fake_time: FakeTime) -> None:
        client = make_client()
        hid = client.create_household(household())
        client.update("household", hid, {"rt": "002"})
        server.fail("/sync/v1/push", "read")  # processed and committed, response lost
        report = client.sync()
        assert server.push_seqs() == [[1, 2], [1, 2]]
        assert server.pushes[0] == server.pushes[1]
        assert report.outcomes == {"duplicate": 2} and report.retries == 1 and fake_time.sleeps == [0.5]
        record = client.record("household", hid)
        assert record is not None and (record.version, record.local_only, record.pending) == (2, False, 0)
        assert record.data is not None and record.data["rt"] == "002"

    def test_connection_refused_then_success(self, make_client: MakeClient, server: FakeServer) -> None:
        client = make_client()
        client.create_household(household())
        server.fail("/sync/v1/push", "connect")
        report = client.sync()
        assert server.push_seqs() == [[1]] and server.paths()[:2] == ["/sync/v1/push"] * 2
        assert report.outcomes == {"applied": 1}

    def test_503_then_success(self, make_client: MakeClient, server: FakeServer, fake_time: FakeTime) -> None:
        notices: list[RetryNotice] = []
        client = make_client(on_retry=notices.append)
        client.create_household(household())
        server.fail("/sync/v1/push", 503)
        report = client.sync()
        assert fake_time.sleeps == [0.5] and report.retries == 1
        assert notices == [RetryNotice("POST /sync/v1/push", "HTTP 503", 1, 5, 0.5)]
        assert report.outcomes == {"applied": 1} and client.status().pending == 0

    def test_failed_sync_resumes_with_the_same_seqs(self, make_client: MakeClient,
                                                    server: FakeServer) -> None:
        client = make_client(retry=RetryPolicy(max_attempts=2, deadline=None), batch_size=1)
        client.create_household(household())
        client.create_household(household(kk="8271011201260002"))
        server.fail("/sync/v1/push", "read", "read")  # seq 1 committed, both responses lost
        with pytest.raises(RetriesExhausted):
            client.sync()
        assert client.status().pending == 2
        client.close()
        client = make_client(batch_size=1)  # e.g. the app restarted
        report = client.sync()
        assert server.push_seqs() == [[1], [1], [1], [2]]
        assert report.outcomes == {"duplicate": 1, "applied": 1} and client.status().pending == 0

    def test_rejections_and_conflicts_are_kept_for_the_enumerator(self, make_client: MakeClient,
                                                                   server: FakeServer) -> None:
        client = make_client()
        client.create_household(household())
        client.create_household(household(kk="8271011201260002"))
        server.overrides[2] = {"outcome": "rejected", "status": 403, "message": "di luar wilayah"}
        report = client.sync()
        assert report.outcomes == {"applied": 1, "rejected": 1} and report.attention == 1
        [item] = client.status().attention
        assert (item.kind, item.seq, item.status, item.message) == ("rejected", 2, 403, "di luar wilayah")
        assert client.status().records["household"] == 1


class TestPull:
    def test_pages_until_has_more_is_false(self, make_client: MakeClient, server: FakeServer) -> None:
        hid = str(uuid.uuid4())
        members = [str(uuid.uuid4()) for _ in range(3)]
        server.changes = [upsert("household", hid, hid, 1, {"kelurahan_code": SCOPE[0], "kk_number": "1"})]
        server.changes += [upsert("member", m, hid, 1, {"full_name": f"M{i}", "sex": "L",
                                                         "relation": "child"})
                           for i, m in enumerate(members)]
        server.changes.append(tombstone("member", members[0], hid, 2))
        client = make_client(page_size=2)
        report = client.sync()
        assert server.pull_cursors == [None, "c2", "c4"]
        assert (report.pages, report.upserts, report.tombstones) == (3, 4, 1)
        assert [m.id for m in client.members(hid)] == members[1:]
        assert client.store.meta().cursor == "c5"
        assert [r.url.params["limit"] for r in server.requests] == ["2", "2", "2"]
        assert all(r.headers["Sigap-Sync-Version"] == "1" for r in server.requests)
        report = client.sync()
        assert server.pull_cursors[-1] == "c5" and report.upserts == 0

    def test_dropped_page_is_requested_again_with_the_same_cursor(self, make_client: MakeClient,
                                                                   server: FakeServer) -> None:
        ids = [str(uuid.uuid4()) for _ in range(4)]
        server.changes = [upsert("household", h, h, 1, {"kelurahan_code": SCOPE[0]}) for h in ids]
        client = make_client(page_size=2, retry=RetryPolicy(max_attempts=1, deadline=None))
        server.fail("/sync/v1/pull", None, "read")
        with pytest.raises(RetriesExhausted):
            client.sync()
        assert client.store.meta().cursor == "c2"  # page 2 was lost: its cursor is not stored
        assert [h.id for h in client.households()] == sorted(ids[:2])
        client.sync()
        assert server.pull_cursors == [None, "c2", "c2"]
        assert client.store.meta().cursor == "c4" and len(client.households()) == 4

    def test_dropped_page_is_retried_within_one_sync(self, make_client: MakeClient,
                                                     server: FakeServer) -> None:
        hid = str(uuid.uuid4())
        server.changes = [upsert("household", hid, hid, 3, {"kelurahan_code": SCOPE[0]})]
        client = make_client()
        server.fail("/sync/v1/pull", "read")
        report = client.sync()
        assert server.pull_cursors == [None, None] and report.retries == 1
        assert client.record("household", hid).version == 3  # type: ignore[union-attr]

    def test_stuck_has_more_is_a_protocol_violation(self, make_client: MakeClient,
                                                    server: FakeServer) -> None:
        client = make_client()
        stuck = {"changes": [], "cursor": "c0", "has_more": True, "scope": SCOPE}
        server.fail("/sync/v1/pull", httpx.Response(200, json=stuck))
        client.store.apply_pull_page([], cursor="c0", scope=SCOPE)
        with pytest.raises(ProtocolViolation):
            client.sync()

    def test_not_json_is_a_protocol_violation(self, make_client: MakeClient, server: FakeServer) -> None:
        server.fail("/sync/v1/pull", httpx.Response(200, text="<html>portal wifi</html>"))
        with pytest.raises(ProtocolViolation, match="/sync/v1/pull"):
            make_client().sync()


class TestErrors:
    def test_device_revoked_carries_the_message(self, make_client: MakeClient, server: FakeServer) -> None:
        client = make_client()
        client.create_household(household())
        detail = "Perangkat ini dicabut oleh supervisor: tablet hilang"
        server.fail("/sync/v1/push", httpx.Response(401, json={"error": "device_revoked", "detail": detail}))
        with pytest.raises(DeviceRevoked) as info:
            client.sync()
        assert info.value.detail == detail and info.value.status == 401
        assert len(server.requests) == 1 and client.status().pending == 1

    def test_426_names_the_supported_versions(self, make_client: MakeClient, server: FakeServer) -> None:
        server.fail("/sync/v1/pull", httpx.Response(426, json={
            "error": "unsupported_protocol_version", "detail": "perbarui aplikasi", "supported": [2, 3]}))
        with pytest.raises(UpgradeRequired) as info:
            make_client().sync()
        assert info.value.supported == [2, 3] and len(server.requests) == 1

    def test_426_versions_from_the_header(self, make_client: MakeClient, server: FakeServer) -> None:
        server.fail("/sync/v1/pull", httpx.Response(426, headers={"Sigap-Sync-Supported": "1,2"}, json={
            "error": "unsupported_protocol_version", "detail": "update the Sigap app"}))
        with pytest.raises(UpgradeRequired) as info:
            make_client().sync()
        assert info.value.supported == [1, 2] and info.value.detail == "update the Sigap app"

    @pytest.mark.parametrize("status", [400, 403, 413, 500])
    def test_other_errors_are_not_retried(self, make_client: MakeClient, server: FakeServer,
                                          status: int) -> None:
        client = make_client()
        client.create_household(household())
        server.fail("/sync/v1/push", httpx.Response(status, json={"error": "nope", "detail": "no"}))
        with pytest.raises(ServerError) as info:
            client.sync()
        assert (info.value.status, info.value.error) == (status, "nope")
        assert len(server.requests) == 1 and client.status().pending == 1

    def test_expired_token(self, make_client: MakeClient, server: FakeServer) -> None:
        server.fail("/sync/v1/pull", httpx.Response(401, json={"error": "not_authenticated", "detail": "x"}))
        with pytest.raises(AuthenticationFailed) as info:
            make_client().sync()
        assert not isinstance(info.value, DeviceRevoked)

    def test_switching_device_with_pending_mutations_is_refused_offline(self, make_client: MakeClient,
                                                                         server: FakeServer) -> None:
        client = make_client()
        client.create_household(household())
        with pytest.raises(StoreError, match="belum terkirim"):
            client.enrol(BASE, "enum.hiri", "rahasia-panjang", "tab-hiri-999")
        assert server.requests == [] and client.status().device_id == "tab-hiri-007"
