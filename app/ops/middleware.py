"""Pure ASGI middleware: request id + access log, and the request body size limit.

The size limit counts bytes as they arrive, so a chunked upload without Content-Length
cannot slip past it, and nothing of an oversized body reaches a handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import zlib
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("sigap.access")


class _TooLarge(Exception):
    pass


async def _send_413(send: Send, limit: int, what: str = "request body") -> None:
    await _send_error(send, 413, "payload_too_large", f"{what} exceeds {limit} bytes")


async def _send_error(send: Send, status: int, code: str, detail: str) -> None:
    body = json.dumps({"error": code, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class RejectNul:
    """A NUL in the path or query string is refused up front (PostgreSQL cannot store or
    compare one, and no legitimate client sends it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
                "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"")):
            body = json.dumps({"error": "bad_request",
                               "detail": "NUL characters are not allowed in the URL"}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _send_413(send, self.max_bytes)
                return
        received = 0
        started = exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # FastAPI turns our exception into its own 400: we answer 413 instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited_receive, tracking_send)
        if exceeded and not started:
            await _send_413(send, self.max_bytes)


class RequestContext:
    """Gives each request an id (echoed as X-Request-ID) and writes one access-log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # 16 hex digits starting with a letter: never 16 decimal digits, which the log
        # redaction would take for a NIK and mask (it happened once in ~50,000 requests)
        request_id = secrets.choice("abcdef") + secrets.token_hex(8)[1:]
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info("request", extra={
                "request_id": request_id, "method": scope.get("method"),
                "path": scope.get("path"), "status": status["code"],
                "ms": round((time.perf_counter() - started) * 1000, 1)})


class GzipRequest:
    """Decodes ``Content-Encoding: gzip`` request bodies (tablets on 2G compress pushes).

    The decoded size is bounded like a plain body (a small gzip can expand a thousandfold),
    and a body that is not valid gzip is refused with 400 before any handler runs.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope.get("headers", []) if scope["type"] == "http" else []
        encoding = next((v for k, v in headers if k == b"content-encoding"), b"").strip().lower()
        if encoding not in (b"gzip", b"x-gzip"):
            await self.app(scope, receive, send)
            return
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = bytearray()
        more = True
        seen = 0
        try:
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # client went away
                more = message.get("more_body", False)
                chunk = message.get("body", b"")
                seen += len(chunk)
                out += decoder.decompress(chunk, self.max_bytes + 1 - len(out))
                if len(out) > self.max_bytes or decoder.unconsumed_tail:
                    await _send_413(send, self.max_bytes, "decoded (gunzipped) request body")
                    return
            out += decoder.flush()
            if seen and not decoder.eof:  # an empty body (a GET) is simply empty
                raise zlib.error("truncated")
        except zlib.error:
            await _send_error(send, 400, "bad_request",
                              "request body is not valid gzip (Content-Encoding: gzip)")
            return
        body = bytes(out)
        scope = dict(scope)
        scope["headers"] = [(k, v) for k, v in headers if k not in (b"content-encoding", b"content-length")]
        scope["headers"].append((b"content-length", str(len(body)).encode()))
        sent = False

        async def decoded_receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, decoded_receive, send)


class InFlightLimit:
    """At most ``max_in_flight`` requests inside the app at once; the rest wait here, on the
    event loop, for up to ``queue_timeout`` seconds, then get 503 with Retry-After.

    Why: sync endpoints and the session dependency's exit (the COMMIT) each need one of the
    thread pool's 40 threads.  With more requests than threads inside, every thread can end
    up waiting for a database connection (or SQLite's writer lock) that only a COMMIT would
    free, and the COMMIT has no thread to run on: measured, 100 SMS at once stalled a server
    for the pool timeout.  Keeping the requests inside below the thread count leaves threads
    for the COMMITs.  Not held back: ``/health``, and tus PATCH uploads, which stream a body
    for minutes over an island link on the event loop, with no thread and no connection
    held while they wait for bytes (app/media/router.py).
    """

    EXEMPT = frozenset({"/health"})
    STREAMING = ("PATCH", "/sync/v1/media/")

    def __init__(self, app: ASGIApp, max_in_flight: int, queue_timeout: float) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.queue_timeout = queue_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(max_in_flight)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()  # one per event loop (tests run several)
        if loop is not self._loop:
            self._loop, self._slots = loop, asyncio.Semaphore(self.max_in_flight)
        return self._slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.EXEMPT or (
                scope["method"] == self.STREAMING[0] and scope["path"].startswith(self.STREAMING[1])):
            await self.app(scope, receive, send)
            return
        slots = self._semaphore()
        try:
            await asyncio.wait_for(slots.acquire(), self.queue_timeout)
        except TimeoutError:
            body = json.dumps({"error": "busy", "detail": "the server is busy; nothing was done: "
                               "send the same request again"}).encode()
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"2")]})
            await send({"type": "http.response.body", "body": body})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()
