"""Small tus client helpers for the media tests (TestClient or httpx)."""

from __future__ import annotations

import base64
import hashlib
import random
from typing import Any, Protocol

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {"Content-Type": "application/offset+octet-stream"}


class HttpClient(Protocol):
    def request(self, method: str, url: str, **kwargs: Any) -> Any: ...


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


def metadata(**values: str) -> str:
    return ",".join(f"{key} {b64(value)}" for key, value in values.items())


def create(client: HttpClient, headers: dict[str, str], data: bytes, *, expect: int = 201,
           **meta: str) -> Any:
    """POST a new upload of ``data`` (a JPEG house photo unless overridden)."""
    fields = {"sha256": sha(data), "kind": "house_photo", "content_type": "image/jpeg", **meta}
    r = client.request("POST", "/sync/v1/media", headers={
        **headers, **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata(**fields)})
    assert r.status_code == expect, r.text
    return r


def patch(client: HttpClient, headers: dict[str, str], url: str, offset: int, chunk: bytes,
          **extra: str) -> Any:
    return client.request("PATCH", url, content=chunk, headers={
        **headers, **TUS, **OCTET, "Upload-Offset": str(offset), **extra})


def head(client: HttpClient, headers: dict[str, str], url: str) -> Any:
    return client.request("HEAD", url, headers={**headers, **TUS})


def upload(client: HttpClient, headers: dict[str, str], data: bytes, chunk: int = 64 * 1024,
           **meta: str) -> str:
    """A whole upload, chunk by chunk; returns the upload URL."""
    url = str(create(client, headers, data, **meta).headers["Location"])
    for start in range(0, len(data), chunk):
        r = patch(client, headers, url, start, data[start:start + chunk])
        assert r.status_code == 204, r.text
        assert int(r.headers["Upload-Offset"]) == min(start + chunk, len(data))
    return url
