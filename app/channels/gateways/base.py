"""What every adapter shares: the secret check, and the answer to a refused callback.

A gateway proves itself with the secret configured for it in ``SIGAP_GATEWAY_SECRETS``
(a JSON object: gateway name -> secret).  Gateways that cannot sign (Africa's Talking,
Kannel's get-url) put it in the callback URL they are given (``?key=...``) or a header;
gateways that sign (Twilio-style, the generic JSON webhook) are checked by their adapter
with the same secret as the signing key.  A gateway with no secret configured is refused:
an unauthenticated endpoint that writes to the registry must not exist by default.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlmodel import Session

from app.config import Settings
from app.errors import Forbidden, InvalidData, error_responses


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


def gateway_session(request: Request) -> Iterator[Session]:
    """``app.db.get_session`` for gateway callbacks, always a WRITING transaction: Kannel calls
    back with GET and the callback writes (SQLite: ``BEGIN IMMEDIATE``, so a concurrent
    writer queues instead of failing when a read lock cannot be upgraded).  Committed
    before the response leaves, like every request."""
    with request.app.state.session_factory() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


GatewaySessionDep = Annotated[Session, Depends(gateway_session, scope="function")]
