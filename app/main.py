"""Application factory: settings, engine, middleware, error handlers and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from threading import Event, Thread

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from sqlalchemy import Engine
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES

from app import __version__, pii
from app.appeals.router import router as appeals_router
from app.audit.chain import start_sealer
from app.auth.router import router as auth_router
from app.channels.router import router as channels_router
from app.config import Settings, get_settings
from app.console.router import install_console
from app.db import engine_from_settings, new_session
from app.eligibility.router import router as eligibility_router
from app.errors import install_error_handlers
from app.media.router import router as media_router
from app.ops.docs import install_docs, install_openapi
from app.ops.middleware import BodySizeLimit, GzipRequest, InFlightLimit, RejectNul, RequestContext
from app.ops.router import router as ops_router
from app.reconcile.router import router as reconcile_router
from app.reconcile.worker import start_thread
from app.registry.router import router as registry_router
from app.reports.progress_router import router as progress_router
from app.reports.router import router as reports_router
from app.sync.router import review_router
from app.sync.router import router as sync_router
from app.wilayah.router import router as wilayah_router
from sync_protocol.merge import FieldPolicies

DESCRIPTION = """
Sigap: the household registry behind Kota Ternate's 2026 social-assistance (bansos) pilot.

Log in with **Authorize** (username and password), then try `GET /households`.
Errors always look like `{"error": "<code>", "detail": ...}`; validation errors list
`{"field", "rule", "message"}` for every broken rule. NIK and KK numbers are masked
(`8271********0001`) for roles that do not need them in full.
"""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Background threads of this process: the audit sealer (on by default) and the
    reconciliation worker (off by default)."""
    settings: Settings = app.state.settings
    threads: list[tuple[Thread, Event]] = []
    if settings.audit_seal_seconds > 0:
        threads.append(
            start_sealer(app.state.engine, settings.audit_key, every_seconds=settings.audit_seal_seconds)
        )
    if settings.reconcile_worker:
        threads.append(start_thread(app.state.engine, poll_seconds=settings.reconcile_poll_seconds))
    try:
        yield
    finally:
        for _thread, stop in threads:
            stop.set()
        for thread, _stop in threads:
            thread.join(timeout=30)


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Sigap API",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,  # /docs is served locally: app/ops/docs.py
        lifespan=_lifespan,
    )
    app.state.settings = settings
    pii.configure(settings)  # the keys that seal NIK and KK numbers (app/pii.py)
    app.state.engine = engine or engine_from_settings(settings)
    # every session the app opens comes from here (requests and streamed exports alike)
    app.state.session_factory = partial(new_session, app.state.engine)
    # a bad policy file stops the start, not the first conflicting push
    app.state.sync_policies = FieldPolicies.from_toml(settings.sync_policy_file.read_text())
    install_error_handlers(app)
    # outermost first: request id, in-flight limit, NUL check, gzip out, size limit on the
    # wire, gunzip in
    app.add_middleware(GzipRequest, max_bytes=settings.max_body_bytes)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1024,
        compresslevel=6,
        exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/pdf"),
    )
    app.add_middleware(RejectNul)
    app.add_middleware(
        InFlightLimit, max_in_flight=settings.max_in_flight, queue_timeout=settings.queue_timeout_seconds
    )
    app.add_middleware(RequestContext)
    for router in (
        ops_router,
        auth_router,
        wilayah_router,
        registry_router,
        sync_router,
        review_router,
        channels_router,
        reconcile_router,
        appeals_router,
        eligibility_router,
        progress_router,
        reports_router,
    ):
        app.include_router(router)
    app.include_router(media_router)
    install_console(app)  # server-rendered pages under /console, not in the OpenAPI schema
    install_docs(app)
    install_openapi(app)
    return app
