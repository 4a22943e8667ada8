"""Every gateway adapter's routes, under ``/channels``."""

from __future__ import annotations

from fastapi import APIRouter

from app.channels.gateways import africastalking, hubtel, kannel, twilio, webhook

router = APIRouter(tags=["channels"])
for adapter in (africastalking, hubtel, kannel, twilio, webhook):
    router.include_router(adapter.router)
