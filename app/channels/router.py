"""Every gateway adapter's routes, under ``/channels``."""

from __future__ import annotations

from fastapi import APIRouter

from app.channels.gateways import africastalking, kannel

router = APIRouter(tags=["channels"])
for adapter in (africastalking, kannel):
    router.include_router(adapter.router)
