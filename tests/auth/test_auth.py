"""Login, tokens (expired, tampered, alg=none, foreign key), roles and user administration."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from jose import jwt
from sqlmodel import Session

from app.auth.models import Role, User
from app.db import utcnow
from tests.conftest import TEST_SECRET, Account


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_for(user: User, **overrides: object) -> dict[str, object]:
    now = utcnow()
    claims: dict[str, object] = {"sub": str(user.id), "role": user.role, "typ": "access",
                                 "iat": int(now.timestamp()),
                                 "exp": int((now + timedelta(hours=1)).timestamp())}
    claims.update(overrides)
    return claims


class TestLogin:
    def test_password_login_returns_a_working_token(self, client: TestClient,
                                                    make_account: Callable[..., Account]) -> None:
        account = make_account(Role.dinsos, username="dinsos.ternate")
        r = client.post("/auth/token", data={"username": "dinsos.ternate",
                                             "password": "correct horse battery"})
        assert r.status_code == 200 and r.json()["token_type"] == "bearer"
        token = r.json()["access_token"]
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["username"] == account.user.username

    @pytest.mark.parametrize(("username", "password"), [
        ("dinsos.ternate", "wrong password"), ("nobody", "correct horse battery")])
    def test_bad_credentials_are_401_without_saying_which(
            self, client: TestClient, make_account: Callable[..., Account],
            username: str, password: str) -> None:
        make_account(Role.dinsos, username="dinsos.ternate")
        r = client.post("/auth/token", data={"username": username, "password": password})
        assert r.status_code == 401
        assert r.json() == {"error": "not_authenticated", "detail": "Incorrect username or password"}

    def test_disabled_user_cannot_log_in_or_use_a_token(
            self, client: TestClient, make_account: Callable[..., Account], db: Session) -> None:
        account = make_account(Role.dinsos, username="gone")
        account.user.is_active = False
        db.add(account.user)
        db.commit()
        r = client.post("/auth/token", data={"username": "gone",
                                             "password": "correct horse battery"})
        assert r.status_code == 401
        assert client.get("/auth/me", headers=account.headers).status_code == 401


class TestTokens:
    def test_missing_token(self, client: TestClient) -> None:
        r = client.get("/households")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"

    def test_expired_token(self, client: TestClient, admin: Account) -> None:
        past = int((utcnow() - timedelta(minutes=5)).timestamp())
        token = jwt.encode(claims_for(admin.user, exp=past), TEST_SECRET, algorithm="HS256")
        r = client.get("/households", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and "expired" in r.json()["detail"]

    def test_tampered_payload(self, client: TestClient, make_account: Callable[..., Account],
                              admin: Account) -> None:
        dinsos = make_account(Role.dinsos)
        header, _payload, signature = dinsos.token.split(".")
        forged = f"{header}.{_b64(claims_for(admin.user))}.{signature}"
        r = client.get("/users", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401

    def test_alg_none(self, client: TestClient, admin: Account) -> None:
        token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims_for(admin.user))}."
        r = client.get("/households", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401

    def test_signed_with_another_key(self, client: TestClient, admin: Account) -> None:
        token = jwt.encode(claims_for(admin.user), "not-the-server-key" * 3, algorithm="HS256")
        assert client.get("/households", headers={"Authorization": f"Bearer {token}"}
                          ).status_code == 401

    def test_other_algorithm_is_refused(self, client: TestClient, admin: Account) -> None:
        token = jwt.encode(claims_for(admin.user), TEST_SECRET, algorithm="HS512")
        assert client.get("/households", headers={"Authorization": f"Bearer {token}"}
                          ).status_code == 401

    def test_garbage(self, client: TestClient) -> None:
        for value in ("Bearer abc", "Bearer a.b.c", "Basic dXNlcjpwYXNz"):
            assert client.get("/households", headers={"Authorization": value}).status_code == 401

    def test_role_change_invalidates_old_tokens(self, client: TestClient, admin: Account,
                                                db: Session) -> None:
        admin.user.role = "dinsos"
        db.add(admin.user)
        db.commit()
        r = client.get("/households", headers=admin.headers)
        assert r.status_code == 401 and "Role changed" in r.json()["detail"]

    def test_wrong_token_type(self, client: TestClient, admin: Account) -> None:
        token = jwt.encode(claims_for(admin.user, typ="refresh"), TEST_SECRET, algorithm="HS256")
        assert client.get("/households", headers={"Authorization": f"Bearer {token}"}
                          ).status_code == 401


class TestUserAdministration:
    def test_admin_creates_an_enumerator_with_assignments(
            self, client: TestClient, admin: Account) -> None:
        r = client.post("/users", headers=admin.headers, json={
            "username": "enum.moti", "password": "a-long-password", "role": "enumerator",
            "kelurahan_codes": ["82.71.04.1001", "8271011003"]})  # Kemendagri and BPS codes
        assert r.status_code == 201, r.text
        assert r.json()["kelurahan_codes"] == ["82.71.04.1001", "82.71.04.1004"]  # Tafaga
        login = client.post("/auth/token", data={"username": "enum.moti",
                                                  "password": "a-long-password"})
        assert login.status_code == 200

    @pytest.mark.parametrize(("body", "status", "rule"), [
        ({"role": "supervisor"}, 422, "kecamatan_required"),
        ({"role": "supervisor", "kecamatan_code": "82.71.99"}, 422, "kecamatan_required"),
        ({"role": "enumerator"}, 422, "assignment_required"),
        ({"role": "enumerator", "kelurahan_codes": ["82.71.04.9999"]}, 422, "kelurahan_exists"),
        ({"role": "dinsos", "kelurahan_codes": ["82.71.04.1001"]}, 422, "only_for_enumerator"),
        ({"role": "dinsos", "password": "short"}, 422, "string_too_short"),
        ({"role": "emperor"}, 422, "enum"),
    ])
    def test_invalid_users(self, client: TestClient, admin: Account, body: dict[str, object],
                           status: int, rule: str) -> None:
        payload = {"username": "someone", "password": "a-long-password", **body}
        r = client.post("/users", headers=admin.headers, json=payload)
        assert r.status_code == status and r.json()["detail"][0]["rule"] == rule

    def test_duplicate_username(self, client: TestClient, admin: Account) -> None:
        body = {"username": "twice", "password": "a-long-password", "role": "dinsos"}
        assert client.post("/users", headers=admin.headers, json=body).status_code == 201
        assert client.post("/users", headers=admin.headers, json=body).status_code == 409

    @pytest.mark.parametrize("role", [Role.dinsos, Role.enumerator])
    def test_only_admin_manages_users(self, client: TestClient,
                                      make_account: Callable[..., Account], role: Role) -> None:
        account = make_account(role, kelurahan=("82.71.07.1001",) if role is Role.enumerator else ())
        assert client.get("/users", headers=account.headers).status_code == 403
        r = client.post("/users", headers=account.headers, json={
            "username": "x-user", "password": "a-long-password", "role": "admin"})
        assert r.status_code == 403
