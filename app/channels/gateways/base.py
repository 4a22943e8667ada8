"""What every adapter shares: the secret check, and the answer to a refused callback.

A gateway proves itself with the secret configured for it in ``SIGAP_GATEWAY_SECRETS``
(a JSON object: gateway name -> secret).  Gateways that cannot sign (Africa's Talking,
Kannel's get-url) put it in the callback URL they are given (``?key=...``) or a header;
gateways that sign (Twilio-style, the generic JSON webhook) are checked by their adapter
with the same secret as the signing key.  A gateway with no secret configured is refused:
an unauthenticated endpoint that writes to the registry must not exist by default.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import Header, Query, Request

from app.config import Settings
from app.errors import FieldProblem, Forbidden, InvalidData, error_responses


class GatewayForbidden(Forbidden):
    code = "gateway_forbidden"


# every adapter's router documents these (a forged callback, a field the gateway got wrong)
RESPONSES = error_responses(GatewayForbidden, InvalidData)


def gateway_secret(settings: Settings, gateway: str) -> str:
    secret = settings.gateway_secrets.get(gateway)
    if not secret:
        raise GatewayForbidden(f"gateway {gateway!r} is not configured (SIGAP_GATEWAY_SECRETS)")
    return secret


def check_secret(settings: Settings, gateway: str, offered: str | None) -> None:
    expected = gateway_secret(settings, gateway)
    if not offered or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise GatewayForbidden(f"gateway {gateway!r}: missing or wrong key")


def shared_secret(gateway: str) -> Callable[..., None]:
    """A dependency: the request carries the gateway's secret as ``?key=`` or ``X-Gateway-Key``."""

    def dependency(request: Request,
                   key: Annotated[str | None, Query(description="the gateway's shared secret")] = None,
                   x_gateway_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> None:
        check_secret(request.app.state.settings, gateway, key or x_gateway_key)

    return dependency


def signature(key: str, message: bytes, *, algorithm: Literal["sha1", "sha256"],
              encoding: Literal["hex", "base64"]) -> str:
    """HMAC of ``message`` keyed with ``key``, written the way the gateway writes it."""
    digest = hmac.new(key.encode(), message, getattr(hashlib, algorithm)).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


def check_signature(settings: Settings, gateway: str, messages: Iterable[bytes], offered: str | None, *,
                    algorithm: Literal["sha1", "sha256"], encoding: Literal["hex", "base64"]) -> None:
    """Refuse (403) unless ``offered`` is the HMAC of one of ``messages`` (the forms the gateway
    may have signed), keyed with the gateway's secret; compared in constant time."""
    key = gateway_secret(settings, gateway)
    if not offered:
        raise GatewayForbidden(f"gateway {gateway!r}: unsigned request")
    matches = [hmac.compare_digest(offered.encode(), signature(key, m, algorithm=algorithm,
                                                               encoding=encoding).encode())
               for m in messages]  # every candidate is computed: the time says nothing about which failed
    if not any(matches):
        raise GatewayForbidden(f"gateway {gateway!r}: bad signature")


def public_url(request: Request) -> str:
    """The URL the gateway called, as the gateway wrote it: behind a proxy the app sees its
    own address, so ``SIGAP_PUBLIC_BASE_URL`` (scheme, host and any path prefix) replaces it."""
    base = request.app.state.settings.public_base_url
    if not base:
        return str(request.url)
    query = request.url.query
    return base.rstrip("/") + request.url.path + (f"?{query}" if query else "")


def with_and_without_port(url: str) -> list[str]:
    """The URL without its port and with it (the default port of the scheme when none is
    written): gateways differ in which one they sign, so both are accepted."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    bare = parts._replace(netloc=prefix + host).geturl()
    return [bare, parts._replace(netloc=f"{prefix}{host}:{port}").geturl()] if port else [bare]


@contextmanager
def renamed_fields(names: dict[str, str]) -> Iterator[None]:
    """The service names a bad field by Africa's Talking's name (``phoneNumber``); an adapter
    renames it to the field its gateway actually sent."""
    try:
        yield
    except InvalidData as exc:
        raise InvalidData([FieldProblem(field=names.get(p.field, p.field), rule=p.rule, message=p.message)
                           for p in exc.problems]) from None
