"""Linking stored files to households (service) and reading them back (GET /media...)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.audit.models import AuditEntry
from app.audit.service import ActorRef
from app.auth import service as auth_service
from app.auth.models import Role
from app.auth.permissions import Principal
from app.config import Settings
from app.errors import Conflict, InvalidData, NotFound, OutOfArea
from app.media import service
from app.media.models import MediaLink
from tests import factories as f
from tests.conftest import Account
from tests.media.tusutil import create, payload, sha, upload


def principal(db: Session, account: Account, settings: Settings) -> Principal:
    return auth_service.principal_for(session=db, user=account.user, settings=settings)


def actor(account: Account) -> ActorRef:
    return ActorRef(user_id=account.user.id, name=account.user.username, channel="enumerator")


class Ctx:
    """An enumerator of Faudu with one household there and a stored photo."""

    def __init__(self, client: TestClient, db: Session, settings: Settings, enumerator: Account,
                 household_id: uuid.UUID) -> None:
        self.client, self.db, self.account = client, db, enumerator
        self.principal = principal(db, enumerator, settings)
        self.household_id = household_id
        self.data = payload(5000, seed=7)
        self.sha = sha(self.data)
        upload(client, enumerator.headers, self.data)

    def link(self, link_id: uuid.UUID | None = None, **kw: object) -> MediaLink:
        args: dict[str, object] = {"household_id": self.household_id, "sha256": self.sha,
                                   "kind": "house_photo", **kw}
        link = service.link_media(session=self.db, link_id=link_id or uuid.uuid4(),
                                  actor=actor(self.account), principal=self.principal,
                                  **args)  # type: ignore[arg-type]
        self.db.commit()
        return link


@pytest.fixture
def ctx(client: TestClient, db: Session, settings: Settings, enumerator: Account,
        household_id: uuid.UUID) -> Ctx:
    return Ctx(client, db, settings, enumerator, household_id)


class TestLinkMedia:
    def test_links_and_audits(self, ctx: Ctx) -> None:
        link_id = uuid.uuid4()
        link = ctx.link(link_id, sha256=ctx.sha.upper())
        assert (link.id, link.household_id, link.sha256, link.kind) == (
            link_id, ctx.household_id, ctx.sha, "house_photo")
        assert link.created_by == ctx.account.user.id and link.deleted_at is None
        audit = ctx.db.exec(select(AuditEntry).where(AuditEntry.entity_id == str(link_id))).one()
        assert (audit.entity_type, audit.action, audit.household_id) == ("media", "create",
                                                                        ctx.household_id)
        assert audit.changes["sha256"] == [None, ctx.sha]

    def test_unknown_sha256_names_the_field(self, ctx: Ctx) -> None:
        with pytest.raises(InvalidData) as err:
            ctx.link(sha256=sha(b"never uploaded"))
        assert [(p.field, p.rule) for p in err.value.problems] == [("sha256", "media_uploaded")]
        assert "finish uploading" in err.value.problems[0].message

    def test_incomplete_upload_is_not_linkable(self, ctx: Ctx) -> None:
        data = payload(100, seed=9)
        create(ctx.client, ctx.account.headers, data)  # created, no bytes sent yet
        with pytest.raises(InvalidData) as err:
            ctx.link(sha256=sha(data))
        assert err.value.problems[0].field == "sha256"

    def test_bad_hash_and_kind_are_invalid(self, ctx: Ctx) -> None:
        with pytest.raises(InvalidData) as err:
            ctx.link(sha256="xyz")
        assert err.value.problems[0].rule == "sha256_hex"
        with pytest.raises(InvalidData) as err:
            ctx.link(kind="selfie")
        assert (err.value.problems[0].field, err.value.problems[0].rule) == ("kind", "media_kind")

    def test_same_link_again_is_idempotent(self, ctx: Ctx) -> None:
        link_id = uuid.uuid4()
        first = ctx.link(link_id)
        again = ctx.link(link_id)
        assert again.id == first.id and again.created_at == first.created_at
        audits = ctx.db.exec(select(AuditEntry).where(AuditEntry.entity_id == str(link_id))).all()
        assert len(audits) == 1

    def test_link_id_reused_for_other_content_is_409(self, ctx: Ctx) -> None:
        link_id = uuid.uuid4()
        ctx.link(link_id)
        with pytest.raises(Conflict) as err:
            ctx.link(link_id, kind="consent_form")
        assert "has different content" in err.value.message

    def test_out_of_area_household_is_403(self, ctx: Ctx, make_account: Callable[..., Account],
                                          settings: Settings) -> None:
        moti = make_account(Role.enumerator, kelurahan=(f.MOTI_KELURAHAN,))
        with pytest.raises(OutOfArea):
            service.link_media(session=ctx.db, link_id=uuid.uuid4(), household_id=ctx.household_id,
                               sha256=ctx.sha, kind="house_photo", actor=actor(moti),
                               principal=principal(ctx.db, moti, settings))

    def test_unlink_soft_deletes_once(self, ctx: Ctx) -> None:
        link = ctx.link()
        for _ in range(2):
            service.unlink_media(session=ctx.db, link_id=link.id, actor=actor(ctx.account),
                                 principal=ctx.principal)
            ctx.db.commit()
        row = ctx.db.get(MediaLink, link.id, populate_existing=True)
        assert row is not None and row.deleted_at is not None
        actions = ctx.db.exec(select(AuditEntry.action).where(
            AuditEntry.entity_id == str(link.id)).order_by(AuditEntry.id)).all()
        assert list(actions) == ["create", "delete"]
        with pytest.raises(Conflict) as err:
            ctx.link(link.id)
        assert "was deleted" in err.value.message

    def test_unlink_unknown_is_404(self, ctx: Ctx) -> None:
        with pytest.raises(NotFound):
            service.unlink_media(session=ctx.db, link_id=uuid.uuid4(), actor=actor(ctx.account),
                                 principal=ctx.principal)


class TestGetMedia:
    def test_in_area_reader_gets_the_bytes(self, ctx: Ctx) -> None:
        ctx.link()
        r = ctx.client.get(f"/media/{ctx.sha}", headers=ctx.account.headers)
        assert r.status_code == 200, r.text
        assert r.content == ctx.data
        assert r.headers["content-type"] == "image/jpeg"
        assert r.headers["etag"] == f'"{ctx.sha}"'
        assert r.headers["cache-control"] == "private"
        assert r.headers["x-content-type-options"] == "nosniff"

    def test_if_none_match_is_304(self, ctx: Ctx) -> None:
        ctx.link()
        r = ctx.client.get(f"/media/{ctx.sha}", headers={**ctx.account.headers,
                                                         "If-None-Match": f'"{ctx.sha}"'})
        assert r.status_code == 304 and r.content == b""

    def test_out_of_area_role_is_403(self, ctx: Ctx, make_account: Callable[..., Account]) -> None:
        ctx.link()
        moti_supervisor = make_account(Role.supervisor, kecamatan="82.71.04")
        r = ctx.client.get(f"/media/{ctx.sha}", headers=moti_supervisor.headers)
        assert r.status_code == 403 and r.json()["error"] == "out_of_area"
        hiri_supervisor = make_account(Role.supervisor, kecamatan="82.71.07")
        assert ctx.client.get(f"/media/{ctx.sha}", headers=hiri_supervisor.headers).status_code == 200

    def test_unlinked_file_only_for_admins(self, ctx: Ctx, admin: Account) -> None:
        assert ctx.client.get(f"/media/{ctx.sha}", headers=ctx.account.headers).status_code == 404
        r = ctx.client.get(f"/media/{ctx.sha}", headers=admin.headers)
        assert r.status_code == 200 and r.content == ctx.data

    def test_unlinked_after_delete(self, ctx: Ctx) -> None:
        link = ctx.link()
        service.unlink_media(session=ctx.db, link_id=link.id, actor=actor(ctx.account),
                             principal=ctx.principal)
        ctx.db.commit()
        assert ctx.client.get(f"/media/{ctx.sha}", headers=ctx.account.headers).status_code == 404

    def test_unknown_hash_is_404(self, ctx: Ctx, admin: Account) -> None:
        for value in (sha(b"nope"), "not-a-hash"):
            r = ctx.client.get(f"/media/{value}", headers=admin.headers)
            assert r.status_code == 404 and r.json()["error"] == "not_found"

    def test_requires_authentication(self, ctx: Ctx) -> None:
        assert ctx.client.get(f"/media/{ctx.sha}").status_code == 401


class TestListMedia:
    def test_lists_active_links_of_a_household(self, ctx: Ctx) -> None:
        first = ctx.link()
        second = ctx.link(kind="consent_form")
        service.unlink_media(session=ctx.db, link_id=first.id, actor=actor(ctx.account),
                             principal=ctx.principal)
        ctx.db.commit()
        r = ctx.client.get("/media", params={"household_id": str(ctx.household_id)},
                           headers=ctx.account.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["count"] == 1
        item = body["data"][0]
        assert (item["id"], item["kind"], item["sha256"], item["size"]) == (
            str(second.id), "consent_form", ctx.sha, 5000)
        assert item["content_type"] == "image/jpeg" and item["url"] == f"/media/{ctx.sha}"

    def test_out_of_area_household_is_403(self, ctx: Ctx,
                                          make_account: Callable[..., Account]) -> None:
        moti = make_account(Role.enumerator, kelurahan=(f.MOTI_KELURAHAN,))
        r = ctx.client.get("/media", params={"household_id": str(ctx.household_id)},
                           headers=moti.headers)
        assert r.status_code == 403 and r.json()["error"] == "out_of_area"
