"""The in-flight limit: requests beyond it wait on the event loop, then get 503 + Retry-After;
/health is never held back."""

from __future__ import annotations

import asyncio
import time

import httpx
from fastapi import FastAPI

from app.ops.middleware import InFlightLimit


def _app() -> InFlightLimit:
    inner = FastAPI()

    @inner.get("/slow")
    def slow() -> dict[str, str]:
        time.sleep(0.5)  # a sync endpoint, on the thread pool, as the app's are
        return {"ok": "yes"}

    @inner.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return InFlightLimit(inner, max_in_flight=1, queue_timeout=0.2)


def test_requests_beyond_the_limit_wait_then_get_503_and_health_passes() -> None:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.create_task(client.get("/slow"))
            await asyncio.sleep(0.05)  # the first is inside
            return list(await asyncio.gather(first, client.get("/slow"), client.get("/health")))

    slow, refused, health = asyncio.run(run())
    assert slow.status_code == 200 and health.status_code == 200
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
    assert refused.json()["error"] == "busy"


def test_a_waiting_request_runs_when_a_slot_frees() -> None:
    async def run() -> list[httpx.Response]:
        app = _app()
        app.queue_timeout = 5.0
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return list(await asyncio.gather(client.get("/slow"), client.get("/slow")))

    started = time.monotonic()
    assert [r.status_code for r in asyncio.run(run())] == [200, 200]
    assert time.monotonic() - started >= 0.9  # one after the other, not together


def test_a_streaming_upload_does_not_take_a_slot() -> None:
    inner = FastAPI()
    gate = asyncio.Event()

    @inner.patch("/sync/v1/media/{upload_id}")
    async def upload(upload_id: str) -> dict[str, str]:
        await gate.wait()  # a slow island link, still sending
        return {"id": upload_id}

    @inner.get("/households")
    def households() -> dict[str, str]:
        return {"ok": "yes"}

    app = InFlightLimit(inner, max_in_flight=1, queue_timeout=0.2)

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            uploading = asyncio.create_task(client.patch("/sync/v1/media/u1"))
            await asyncio.sleep(0.05)
            other = await client.get("/households")  # not queued behind the upload
            gate.set()
            return [other, await uploading]

    assert [r.status_code for r in asyncio.run(run())] == [200, 200]
