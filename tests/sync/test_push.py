"""Push: outcomes, idempotency, per-mutation rejection, dependencies, limits."""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections.abc import Callable
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from app.audit.models import AuditEntry
from app.registry.models import Household, Member
from tests import factories as f
from tests.conftest import LiveApp
from tests.sync.conftest import V1, Tablet


def _count(db: Session, model: type) -> int:
    return int(db.execute(select(func.count()).select_from(model)).scalar_one())


def test_create_then_update_reports_applied_with_versions(enrol: Callable[..., Tablet], db: Session) -> None:
    t = enrol()
    hid = uuid.uuid4()
    created, updated = t.push(
        t.mutation("household", "create", hid, f.household()),
        t.mutation("household", "update", hid, {"power_va": 1300}, base_version=1),
    )
    assert (created["outcome"], created["version"], created["status"]) == ("applied", 1, 201)
    assert (updated["outcome"], updated["version"]) == ("applied", 2)
    assert db.get(Household, hid).power_va == 1300  # type: ignore[union-attr]
    entry = db.execute(
        select(AuditEntry).where(AuditEntry.entity_id == str(hid), AuditEntry.action == "update")
    ).scalar_one()
    assert (entry.device_id, entry.entity_version, entry.channel) == (t.device_id, 2, "enumerator")


def test_replaying_a_batch_changes_nothing_and_replays_results(
    enrol: Callable[..., Tablet], db: Session
) -> None:
    t = enrol()
    hid = uuid.uuid4()
    batch = [
        t.mutation("household", "create", hid, f.household()),
        t.mutation("household", "update", hid, {"asset_tv": True}, base_version=1),
    ]
    first = t.push(*batch)
    households, members, audit = _count(db, Household), _count(db, Member), _count(db, AuditEntry)
    again = t.push(*batch)
    assert [r["outcome"] for r in again] == ["duplicate", "duplicate"]
    assert [r["original_outcome"] for r in again] == ["applied", "applied"]
    assert [r["version"] for r in again] == [r["version"] for r in first]
    assert (_count(db, Household), _count(db, Member), _count(db, AuditEntry)) == (households, members, audit)


def test_a_reused_seq_with_other_content_is_rejected(enrol: Callable[..., Tablet], db: Session) -> None:
    t = enrol()
    hid = uuid.uuid4()
    m = t.mutation("household", "create", hid, f.household())
    t.push(m)
    forged = {**m, "fields": {**m["fields"], "address": "Jl. Lain"}}
    (result,) = t.push(forged)
    assert (result["outcome"], result["status"]) == ("rejected", 409)
    assert result["problems"][0]["field"] == "seq" and result["problems"][0]["rule"] == "seq_reused"
    assert db.get(Household, hid).address == "Jl. Kie Raha No. 7"  # type: ignore[union-attr]


def test_an_invalid_nik_rejects_that_mutation_only(enrol: Callable[..., Tablet], db: Session) -> None:
    t = enrol()
    bad, good = uuid.uuid4(), uuid.uuid4()
    bad_fields = f.household(members=[f.member("head", nik="8271071705800000")])
    bad_fields["members"][0]["nik"] = "8271079905800001"  # day 99: not a date
    results = t.push(
        t.mutation("household", "create", bad, bad_fields),
        t.mutation("household", "create", good, f.household()),
    )
    assert [r["outcome"] for r in results] == ["rejected", "applied"]
    problem = results[0]["problems"][0]
    assert problem["field"] == "fields.members[0].nik" and results[0]["status"] == 422
    assert db.get(Household, bad) is None and db.get(Household, good) is not None


def test_a_member_of_a_rejected_household_is_rejected_saying_so(enrol: Callable[..., Tablet]) -> None:
    t = enrol()
    hid = uuid.uuid4()
    head_without_name = f.household()
    head_without_name["members"][0]["full_name"] = ""
    results = t.push(
        t.mutation("household", "create", hid, head_without_name),
        t.mutation(
            "member",
            "create",
            uuid.uuid4(),
            f.member("child", "male", date(2018, 1, 2)),
            household_id=str(hid),
        ),
    )
    assert [r["outcome"] for r in results] == ["rejected", "rejected"]
    assert results[1]["problems"][0]["rule"] == "depends_on_rejected"
    assert f"seq {results[0]['seq']}" in results[1]["problems"][0]["message"]
    # and in a LATER batch too (the ledger remembers the rejected create)
    (later,) = t.push(
        t.mutation(
            "member",
            "create",
            uuid.uuid4(),
            f.member("child", "female", date(2019, 3, 4)),
            household_id=str(hid),
        )
    )
    assert later["problems"][0]["rule"] == "depends_on_rejected"


def test_bad_mutations_are_rejected_naming_field_and_rule(enrol: Callable[..., Tablet]) -> None:
    t = enrol()
    hid = uuid.uuid4()
    t.push(t.mutation("household", "create", hid, f.household()))
    cases = [
        (
            t.mutation("household", "update", hid, {"no_such_field": 1}, base_version=1),
            "fields.no_such_field",
            "extra_forbidden",
        ),
        (
            t.mutation("household", "update", hid, {"power_va": "besar"}, base_version=1),
            "fields.power_va",
            "int_type",
        ),
        (
            t.mutation("household", "update", hid, {"asset_tv": True}, base_version=9),
            "base_version",
            "base_version_future",
        ),
        (t.mutation("household", "update", hid, {"asset_tv": True}), "base_version", "required"),
        (
            t.mutation("household", "update", uuid.uuid4(), {"asset_tv": True}, base_version=1),
            "id",
            "not_found",
        ),
    ]
    results = t.push(*[c[0] for c in cases])
    for (_, field, rule), result in zip(cases, results, strict=True):
        assert result["outcome"] == "rejected", result
        assert (result["problems"][0]["field"], result["problems"][0]["rule"]) == (field, rule), result


def test_a_household_outside_the_area_is_403_for_that_mutation(
    enrol: Callable[..., Tablet], client: TestClient, admin: object
) -> None:
    other = enrol(kelurahan=(f.MOTI_KELURAHAN,))
    hid = uuid.uuid4()
    other.push(other.mutation("household", "create", hid, f.household(kelurahan=f.MOTI_KELURAHAN)))
    t = enrol()
    inside = uuid.uuid4()
    results = t.push(
        t.mutation("household", "update", hid, {"asset_tv": True}, base_version=1),
        t.mutation("household", "create", uuid.uuid4(), f.household(kelurahan=f.MOTI_KELURAHAN)),
        t.mutation("household", "create", inside, f.household()),
    )
    assert [(r["outcome"], r["status"]) for r in results] == [
        ("rejected", 403),
        ("rejected", 403),
        ("applied", 201),
    ]


def test_malformed_and_oversized_batches_are_refused_whole(
    enrol: Callable[..., Tablet], client: TestClient, db: Session
) -> None:
    t = enrol()
    r = client.post(
        "/sync/v1/push", content=b'{"mutations": [', headers={**t.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body"
    r = client.post(
        "/sync/v1/push",
        json={"mutations": [{"seq": 1, "entity": "rumah", "op": "create", "id": str(uuid.uuid4())}]},
        headers=t.headers,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "mutations[0].entity"
    before = _count(db, Household)
    too_many = [t.mutation("household", "create", uuid.uuid4(), f.household()) for _ in range(501)]
    r = client.post("/sync/v1/push", json={"mutations": too_many}, headers=t.headers)
    assert r.status_code == 413 and "500" in r.json()["detail"]
    assert _count(db, Household) == before


def test_gzip_request_and_response_bodies(enrol: Callable[..., Tablet], client: TestClient) -> None:
    t = enrol()
    batch = {"mutations": [t.mutation("household", "create", uuid.uuid4(), f.household()) for _ in range(5)]}
    raw = json.dumps(batch).encode()
    r = client.post(
        "/sync/v1/push",
        content=gzip.compress(raw),
        headers={
            **t.headers,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Accept-Encoding": "gzip",
        },
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-encoding"] == "gzip"
    assert [x["outcome"] for x in r.json()["results"]] == ["applied"] * 5
    r = client.post(
        "/sync/v1/push",
        content=b"not gzip at all",
        headers={**t.headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 400 and "gzip" in r.json()["detail"]
    bomb = gzip.compress(b" " * (3 * 1024 * 1024))  # 3 MiB of spaces: ~3 KiB compressed
    r = client.post(
        "/sync/v1/push",
        content=bomb,
        headers={**t.headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 413 and "gunzipped" in r.json()["detail"]


def test_protocol_version_is_required(enrol: Callable[..., Tablet], client: TestClient) -> None:
    t = enrol()
    headers = {"Authorization": f"Bearer {t.token}"}
    for sent in (None, "2", "abc"):
        h = headers if sent is None else {**headers, "Sigap-Sync-Version": sent}
        r = client.get("/sync/v1/pull", headers=h)
        assert r.status_code == 426, r.text
        assert r.json()["error"] == "unsupported_protocol_version"
        assert r.headers["Sigap-Sync-Supported"] == "1"
    assert client.get("/sync/v1/pull", headers={**headers, **V1}).headers["Sigap-Sync-Version"] == "1"


def test_user_tokens_cannot_push(enrol: Callable[..., Tablet], client: TestClient) -> None:
    t = enrol()
    r = client.post(
        "/sync/v1/push",
        json={"mutations": [t.mutation("household", "create", uuid.uuid4(), f.household())]},
        headers={**V1, **t.account.headers},
    )
    assert r.status_code == 401 and "device token" in r.json()["detail"]


def test_delete_and_repeated_delete(enrol: Callable[..., Tablet], db: Session) -> None:
    t = enrol()
    hid = uuid.uuid4()
    t.push(t.mutation("household", "create", hid, f.household()))
    first, second = t.push(
        t.mutation("household", "delete", hid, base_version=1),
        t.mutation("household", "delete", hid, base_version=1),
    )
    assert (first["outcome"], second["outcome"], second["message"]) == (
        "applied",
        "applied",
        "already deleted",
    )
    assert db.get(Household, hid).deleted_at is not None  # type: ignore[union-attr]


def test_two_retries_racing_apply_once(live_app: LiveApp) -> None:
    """The same batch sent twice at once (a retry racing the original): one create, one
    replay, whichever wins.  The ledger's primary key decides, not a prior SELECT."""
    with TestClient(live_app.app) as client:
        r = client.post(
            "/sync/v1/devices", json={"device_id": "race-tablet"}, headers={**V1, **live_app.headers}
        )
        headers = {**V1, "Authorization": f"Bearer {r.json()['device_token']}"}
        hid = str(uuid.uuid4())
        batch = {
            "mutations": [
                {"seq": 1, "entity": "household", "op": "create", "id": hid, "fields": f.household()}
            ]
        }
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def send() -> None:
            with TestClient(live_app.app) as c:
                barrier.wait()
                resp = c.post("/sync/v1/push", json=batch, headers=headers)
                assert resp.status_code == 200, resp.text
                outcomes.append(resp.json()["results"][0]["outcome"])

        threads = [threading.Thread(target=send) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert sorted(outcomes) == ["applied", "duplicate"]
    with Session(live_app.engine) as s:
        assert (
            s.execute(
                select(func.count()).select_from(Household).where(Household.id == uuid.UUID(hid))
            ).scalar_one()
            == 1
        )


def test_a_nik_taken_twice_in_one_batch_rejects_only_the_second(
    enrol: Callable[..., Tablet], db: Session
) -> None:
    """The batch is written with one statement per table; when the database refuses it, the
    registrations are redone one by one so the refusal names its mutation and field."""
    t = enrol()
    twin = f.member("head")
    first, second, third = (
        f.household(members=[dict(twin)]),
        f.household(members=[dict(twin)]),
        f.household(),
    )
    ids = [uuid.uuid4() for _ in range(3)]
    results = t.push(
        *(
            t.mutation("household", "create", i, fields)
            for i, fields in zip(ids, (first, second, third), strict=True)
        )
    )
    assert [r["outcome"] for r in results] == ["applied", "rejected", "applied"]
    assert (results[1]["status"], results[1]["problems"][0]["field"]) == (409, "members[0].nik")
    assert [db.get(Household, i) is not None for i in ids] == [True, False, True]


def test_a_seq_repeated_inside_one_batch(enrol: Callable[..., Tablet]) -> None:
    t = enrol()
    m = t.mutation("household", "create", uuid.uuid4(), f.household())
    other = {**m, "id": str(uuid.uuid4())}
    results = t.push(m, dict(m), other)
    assert [r["outcome"] for r in results] == ["applied", "duplicate", "rejected"]
    assert results[2]["problems"][0]["rule"] == "seq_reused"


def test_order_is_kept_across_fast_and_one_by_one_mutations(enrol: Callable[..., Tablet]) -> None:
    """seq order decides: an edit after a delete of the same family is a conflict, and two
    edits of one family in one batch apply one after the other."""
    t = enrol()
    kept, gone = uuid.uuid4(), uuid.uuid4()
    t.push(
        t.mutation("household", "create", kept, f.household()),
        t.mutation("household", "create", gone, f.household()),
    )
    results = t.push(
        t.mutation("household", "update", kept, {"asset_tv": True}, base_version=1),
        t.mutation("household", "update", kept, {"asset_ac": True}, base_version=1),
        t.mutation("household", "delete", gone, base_version=1),
        t.mutation("household", "update", gone, {"asset_tv": True}, base_version=1),
    )
    assert [(r["outcome"], r["version"]) for r in results] == [
        ("applied", 2),
        ("applied", 3),
        ("applied", 2),
        ("conflict", 2),
    ]


def test_concurrent_pushes_on_the_same_families_never_fail(live_app: LiveApp) -> None:
    """Two tablets push overlapping edits at once, one-by-one and fast-path mutations mixed.

    Whatever the interleaving, every push ends 200 (a deadlock would be a 503 to retry,
    never a 500) and every mutation gets an outcome; the families end consistent."""
    with TestClient(live_app.app) as client:
        headers = []
        for name in ("race-a-001", "race-b-001"):
            r = client.post("/sync/v1/devices", json={"device_id": name}, headers={**V1, **live_app.headers})
            headers.append({**V1, "Authorization": f"Bearer {r.json()['device_token']}"})
        ids = [str(uuid.uuid4()) for _ in range(12)]
        setup = [
            {"seq": i + 1, "entity": "household", "op": "create", "id": hid, "fields": f.household()}
            for i, hid in enumerate(ids)
        ]
        assert client.post("/sync/v1/push", json={"mutations": setup}, headers=headers[0]).status_code == 200

    statuses: list[int] = []
    outcomes: list[str] = []

    def work(k: int) -> None:
        order = ids if k == 0 else list(reversed(ids))
        with TestClient(live_app.app) as c:
            for rnd in range(3):
                muts = []
                for j, hid in enumerate(order):
                    fields: dict[str, object] = {"livestock_poultry": rnd + k * 10}
                    if j % 4 == 0:  # a field with side effects: applied one by one
                        fields = {"verification_status": "field_verified", "asset_ac": bool(rnd % 2)}
                    muts.append(
                        {
                            "seq": 1000 * (k + 1) + 100 * rnd + j,
                            "entity": "household",
                            "op": "update",
                            "id": hid,
                            "base_version": 1,
                            "fields": fields,
                        }
                    )
                while True:
                    r = c.post("/sync/v1/push", json={"mutations": muts}, headers=headers[k])
                    statuses.append(r.status_code)
                    if r.status_code != 503:
                        break
                outcomes.extend(x["outcome"] for x in r.json()["results"])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert set(statuses) <= {200, 503} and statuses.count(200) == 6, statuses
    assert len(outcomes) == 2 * 3 * 12 and set(outcomes) <= {"applied", "merged", "conflict"}, set(outcomes)
    with Session(live_app.engine) as s:
        rows = (
            s.execute(select(Household).where(Household.id.in_([uuid.UUID(i) for i in ids]))).scalars().all()
        )  # type: ignore[attr-defined]
        assert len(rows) == 12 and all(h.version >= 2 for h in rows)
