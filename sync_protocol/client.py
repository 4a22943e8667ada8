"""Reference device client of sync protocol v1 (docs/sync-protocol.md).

Local edits go to the store's outbox without any network; :meth:`DeviceClient.sync`
pushes the outbox, then pulls the server's changes.  Interruptions are safe at any point:

- push: the outbox is cleared only after a 200 is received and applied in one local
  transaction; an unacknowledged batch is sent again with the same seqs, and the server
  answers ``duplicate`` for what it had already committed;
- pull: a page and its cursor are stored in one local transaction, so a page lost in
  transit or a crash before commit just repeats the same request.

Transient failures (connection errors, timeouts, 408/429/502/503/504) are retried with
exponential backoff and full jitter; other errors raise at once.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from pydantic import ValidationError

from sync_protocol import smscodec
from sync_protocol.messages import (
    PROTOCOL_VERSION,
    VERSION_HEADER,
    EnrolRequest,
    EnrolResponse,
    EntityType,
    Mutation,
    MutationResult,
    Operation,
    Outcome,
    Problem,
    PullResponse,
    PushRequest,
    PushResponse,
)
from sync_protocol.store import AttentionItem, Enrolment, FieldTask, LocalRecord, PendingMutation, Store

RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
RETRY_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)
USER_AGENT = f"sigap-device/sync-v{PROTOCOL_VERSION}"
_M = TypeVar("_M", EnrolResponse, PushResponse, PullResponse)


# --- errors ----------------------------------------------------------------------------------

class SyncError(Exception):
    """Sync did not complete; the outbox and cursor are as after the last committed step."""


class NotEnrolled(SyncError):
    """The store has no device token: run enrol first."""


class RetriesExhausted(SyncError):
    """A transient failure persisted past the retry policy."""

    def __init__(self, message: str, *, attempts: int, last_error: str) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last_error = last_error


class ProtocolViolation(SyncError):
    """The server's answer does not follow the protocol (bad JSON, wrong shape...)."""


class ServerError(SyncError):
    """An error response that retrying will not fix."""

    def __init__(self, status: int, error: str, detail: Any, body: Any = None) -> None:
        super().__init__(f"HTTP {status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.body = body


class AuthenticationFailed(ServerError):
    """401 other than a revocation: wrong password, expired token or disabled user."""


class DeviceRevoked(ServerError):
    """401 ``device_revoked``: ``detail`` is the server's message for the enumerator."""


class UpgradeRequired(ServerError):
    """426: this client's protocol version is not supported; ``supported`` lists those that are."""

    def __init__(self, status: int, error: str, detail: Any, body: Any = None,
                 supported: list[int] | None = None) -> None:
        super().__init__(status, error, detail, body)
        self.supported = supported or []


# --- policy and reports ----------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: ``delay(n) = U(0, min(cap, base * factor**n))``.

    ``max_attempts`` counts every try of one request (first included); ``deadline`` (seconds
    from the first try, None: no limit) stops earlier if the next wait would pass it.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 300.0
    max_attempts: int = 10
    deadline: float | None = 1800.0

    def ceiling(self, retry: int) -> float:
        """Upper bound of the wait before retry number ``retry`` (0-based)."""
        return min(self.cap, self.base * self.factor ** min(retry, 64))

    def delay(self, retry: int, unit: float) -> float:
        """The wait for ``unit`` drawn uniformly from [0, 1)."""
        return unit * self.ceiling(retry)


@dataclass(frozen=True)
class SyncEvent:
    """Progress of a sync, for a UI: one per acknowledged batch or applied page."""

    phase: Literal["push", "pull"]
    done: int            # mutations acknowledged / changes applied so far
    total: int | None    # push: outbox size at start; pull: unknown


@dataclass(frozen=True)
class RetryNotice:
    """A transient failure about to be retried, for a UI."""

    request: str         # e.g. "POST /sync/v1/push"
    failure: str         # e.g. "HTTP 503" or "ConnectError: ..."
    attempt: int         # the attempt that failed (1-based)
    max_attempts: int
    delay: float         # seconds until the next attempt


@dataclass
class SyncReport:
    pushed: int = 0                      # mutations acknowledged by the server
    batches: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    attention: int = 0                   # new rejected/conflict items for the enumerator
    pages: int = 0
    upserts: int = 0
    tombstones: int = 0
    retries: int = 0
    server_time: datetime | None = None


@dataclass(frozen=True)
class DeviceStatus:
    enrolled: bool
    server_url: str | None
    device_id: str | None
    username: str | None
    scope: list[str]
    token_expires_at: str | None
    pending: int                         # outbox mutations not yet acknowledged
    records: dict[str, int]              # visible records per entity
    local_only: int                      # records created here, not yet confirmed by the server
    last_sync_at: str | None
    has_cursor: bool
    attention: list[AttentionItem]


@dataclass(frozen=True)
class SmsMessage:
    """One outbox mutation as the SMS texts to send, in order (or why it cannot go by SMS)."""

    seq: int
    texts: list[str]
    error: str | None = None


@dataclass(frozen=True)
class SmsAckResult:
    # acknowledged | already (not in the outbox any more) | bad_code | not_an_ack
    status: str
    seq: int | None = None
    word: str | None = None


def as_mutation(m: PendingMutation) -> Mutation:
    """An outbox row as the push mutation both HTTP and SMS carry (the same content)."""
    return Mutation(
        seq=m.seq, entity=EntityType(m.entity), id=uuid.UUID(m.id), op=Operation(m.op),
        base_version=m.base_version if m.op != "create" else None,
        household_id=uuid.UUID(m.household_id) if m.entity != "household" and m.op == "create" else None,
        fields=m.fields, recorded_at=datetime.fromisoformat(m.recorded_at))


def _default_rand() -> float:
    return random.SystemRandom().random()


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _error_body(response: httpx.Response) -> tuple[str, Any, Any]:
    try:
        body = response.json()
    except ValueError:
        return "http_error", response.text[:500], None
    if isinstance(body, dict):
        return str(body.get("error", "http_error")), body.get("detail", ""), body
    return "http_error", body, body


def _supported_versions(response: httpx.Response, body: Any) -> list[int]:
    """From the 426 body's ``supported`` list, else the ``Sigap-Sync-Supported: 1,2`` header."""
    listed = body.get("supported") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        listed = response.headers.get("Sigap-Sync-Supported", "").split(",")
    return [int(v) for v in listed if str(v).strip().isdigit()]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: ignored, the backoff applies


class DeviceClient:
    """A device: its store, and the HTTP calls of enrolment and sync.

    ``transport``: an httpx transport (tests pass ``httpx.MockTransport``).  ``sleep``,
    ``rand`` (uniform in [0, 1)) and ``clock`` (monotonic seconds) drive the backoff.
    ``batch_size``/``page_size`` are upper bounds; the server's enrolment limits also apply.
    ``on_retry`` is told about every retry before its wait.
    """

    def __init__(self, store_path: str | Path, *, transport: httpx.BaseTransport | None = None,
                 timeout: float = 60.0, retry: RetryPolicy | None = None, batch_size: int = 200,
                 page_size: int = 500, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = _default_rand,
                 clock: Callable[[], float] = time.monotonic,
                 on_retry: Callable[[RetryNotice], None] | None = None) -> None:
        if batch_size < 1 or page_size < 1:
            raise ValueError("batch_size and page_size must be at least 1")
        self.store = Store(store_path)
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.page_size = page_size
        self._transport = transport
        self._timeout = httpx.Timeout(timeout)
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._on_retry = on_retry
        self._http: httpx.Client | None = None
        self._retries = 0

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        self.store.close()

    def __enter__(self) -> DeviceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- enrolment --------------------------------------------------------------------------

    def enrol(self, server_url: str, username: str, password: str, device_id: str,
              label: str = "") -> Enrolment:
        """Log in as the enumerator, enrol this device, store the device token and limits."""
        try:
            request = EnrolRequest(device_id=device_id, label=label)
        except ValidationError as exc:
            raise ValueError(f"device id/label tidak sah: {exc.errors()[0]['msg']}") from None
        url = server_url.rstrip("/")
        self.store.check_enrolment(url, device_id, username)  # refuse before any network call
        http = self._client(url)
        response = self._send(http, "POST", "/auth/token",
                              data={"username": username, "password": password})
        self._check(response)
        try:
            user_token = str(response.json()["access_token"])
        except (ValueError, KeyError, TypeError):
            raise ProtocolViolation("POST /auth/token: no access_token in the response") from None
        response = self._send(http, "POST", "/sync/v1/devices",
                              content=request.model_dump_json().encode(),
                              headers={"Authorization": f"Bearer {user_token}",
                                       "Content-Type": "application/json",
                                       VERSION_HEADER: str(PROTOCOL_VERSION)})
        self._check(response)
        answer = self._parse(EnrolResponse, response)
        expires = datetime.now(UTC) + timedelta(seconds=answer.expires_in)
        enrolment = Enrolment(server_url=url, device_id=answer.device_id, device_token=answer.device_token,
                              username=answer.username, scope=list(answer.scope),
                              limits=answer.limits.model_dump(),
                              token_expires_at=expires.isoformat(timespec="seconds"),
                              sms_number=answer.sms_number, sms_key=answer.sms_key)
        self.store.save_enrolment(enrolment)
        return enrolment

    # --- local edits (no network) -----------------------------------------------------------

    def create_household(self, fields: Mapping[str, Any]) -> uuid.UUID:
        """Record a new household with its ``members``; ids are assigned where missing."""
        return uuid.UUID(self.store.create_household(fields, recorded_at=_now()))

    def add_member(self, household_id: str | uuid.UUID, fields: Mapping[str, Any]) -> uuid.UUID:
        """Record a new member of a household already on the device."""
        return uuid.UUID(self.store.add_member(household_id, fields, recorded_at=_now()))

    def update(self, entity: str, record_id: str | uuid.UUID, fields: Mapping[str, Any]) -> int | None:
        """Record changed fields (``None`` clears one); returns the seq, None if nothing changed."""
        return self.store.update(entity, record_id, fields, recorded_at=_now())

    def delete(self, entity: str, record_id: str | uuid.UUID) -> int:
        """Record a delete; returns the seq."""
        return self.store.delete(entity, record_id, recorded_at=_now())

    def record(self, entity: str, record_id: str | uuid.UUID) -> LocalRecord | None:
        return self.store.record(entity, record_id)

    def households(self) -> list[LocalRecord]:
        return self.store.households()

    def tasks(self) -> list[FieldTask]:
        """Open field tasks of this device's area, as of the last pull."""
        return self.store.tasks()

    def members(self, household_id: str | uuid.UUID) -> list[LocalRecord]:
        return self.store.members(household_id)

    def dismiss(self, ids: list[int]) -> int:
        """Clear attention items the enumerator has dealt with."""
        return self.store.dismiss(ids)

    # --- status -----------------------------------------------------------------------------

    def status(self) -> DeviceStatus:
        meta = self.store.meta()
        e = meta.enrolment
        return DeviceStatus(
            enrolled=e is not None, server_url=e.server_url if e else None,
            device_id=e.device_id if e else None, username=e.username if e else None,
            scope=e.scope if e else [], token_expires_at=e.token_expires_at if e else None,
            pending=self.store.pending_count(), records=self.store.counts(),
            local_only=self.store.local_only_count(), last_sync_at=meta.last_sync_at,
            has_cursor=meta.cursor is not None, attention=self.store.attention())

    # --- sync -------------------------------------------------------------------------------

    def sync(self, progress: Callable[[SyncEvent], None] | None = None) -> SyncReport:
        """Push the whole outbox, then pull until ``has_more`` is false."""
        enrolment = self.store.meta().enrolment
        if enrolment is None:
            raise NotEnrolled("perangkat belum terdaftar: jalankan enrol")
        report = SyncReport()
        self._retries = 0
        try:
            self._push(enrolment, report, progress)
            self._pull(enrolment, report, progress)
        finally:
            report.retries = self._retries
        self.store.set_last_sync()
        return report

    def _push(self, enrolment: Enrolment, report: SyncReport,
              progress: Callable[[SyncEvent], None] | None) -> None:
        http = self._client(enrolment.server_url)
        limit = max(1, min(enrolment.limits.get("max_batch", self.batch_size), self.batch_size))
        max_bytes = enrolment.limits.get("max_body_bytes")
        total = self.store.pending_count()
        after = 0
        while batch := self.store.pending(after=after, limit=limit):
            body = self._push_body(batch)
            while max_bytes and len(body) > max_bytes:  # the limit counts the decoded body
                if len(batch) == 1:
                    raise SyncError(f"mutasi seq {batch[0].seq} melebihi batas server ({max_bytes} byte)")
                batch = batch[: len(batch) // 2]
                body = self._push_body(batch)
            response = self._send(http, "POST", "/sync/v1/push", content=gzip.compress(body, mtime=0),
                                  headers={**self._auth(enrolment), "Content-Type": "application/json",
                                           "Content-Encoding": "gzip"})
            self._check(response)
            answer = self._parse(PushResponse, response)
            applied = self.store.apply_push_results(batch, answer.results)
            after = batch[-1].seq
            report.batches += 1
            report.pushed += applied.acknowledged
            report.attention += applied.attention
            report.server_time = answer.server_time
            for outcome, n in applied.outcomes.items():
                report.outcomes[outcome] = report.outcomes.get(outcome, 0) + n
            if progress:
                progress(SyncEvent("push", report.pushed, total))

    @staticmethod
    def _push_body(batch: list[PendingMutation]) -> bytes:
        mutations = [as_mutation(m) for m in batch]
        return PushRequest(mutations=mutations).model_dump_json(exclude_none=True).encode()

    # --- SMS fallback (docs/sms-fallback.md) -------------------------------------------------

    def _sms_identity(self) -> tuple[Enrolment, int, bytes]:
        enrolment = self.store.meta().enrolment
        if enrolment is None:
            raise NotEnrolled("perangkat belum terdaftar: jalankan enrol")
        if enrolment.sms_number is None or enrolment.sms_key is None:
            raise SyncError("perangkat belum punya kunci SMS: daftarkan ulang (enrol) saat ada internet")
        return enrolment, enrolment.sms_number, smscodec.key_from_text(enrolment.sms_key)

    def sms_encode(self, *, resend: bool = False) -> list[SmsMessage]:
        """Pending outbox mutations as SMS texts, marked as handed to the SMS app.

        Mutations already handed over are left out unless ``resend``.  A mutation that
        cannot travel by SMS (a media link, a field format v1 cannot carry) comes back with
        ``error`` set and stays for the next HTTP sync.
        """
        enrolment, number, key = self._sms_identity()
        out: list[SmsMessage] = []
        for m in self.store.pending(limit=2**31):
            if m.sms_sent_at and not resend:
                continue
            try:
                texts = smscodec.encode(as_mutation(m), device_id=enrolment.device_id,
                                        device_number=number, key=key)
            except smscodec.SmsEncodeError as exc:
                out.append(SmsMessage(seq=m.seq, texts=[], error=str(exc)))
                continue
            out.append(SmsMessage(seq=m.seq, texts=texts))
        self.store.mark_sms_sent([x.seq for x in out if x.texts])
        return out

    def sms_ack(self, text: str) -> SmsAckResult:
        """Take the server's reply SMS: verify its code and acknowledge that mutation.

        ``OK`` counts as ``merged`` (the next pull brings the server's record and version),
        ``KONFLIK`` as ``conflict`` and ``TOLAK`` as ``rejected``; both go to the attention
        list.  A wrong code changes nothing.
        """
        ack = smscodec.parse_ack(text)
        if ack is None:
            return SmsAckResult(status="not_an_ack")
        _, number, key = self._sms_identity()
        if not smscodec.verify_ack(ack, key=key, device_number=number):
            return SmsAckResult(status="bad_code", seq=ack.seq, word=ack.word)
        pending = [m for m in self.store.pending(after=ack.seq - 1, limit=1) if m.seq == ack.seq]
        if not pending:
            return SmsAckResult(status="already", seq=ack.seq, word=ack.word)
        m = pending[0]
        outcome = {"OK": Outcome.merged, "KONFLIK": Outcome.conflict}.get(ack.word, Outcome.rejected)
        problems = []
        if outcome is Outcome.rejected:
            found = re.search(r"Ditolak: (\S+) \((\w+)\)", ack.note)
            problems = [Problem(field=found[1] if found else "sms", rule=found[2] if found else "rejected",
                                message=ack.note)]
        result = MutationResult(seq=m.seq, entity=EntityType(m.entity), id=uuid.UUID(m.id), outcome=outcome,
                                status=422 if problems else 200, message=ack.note, problems=problems)
        self.store.apply_push_results([m], [result])
        return SmsAckResult(status="acknowledged", seq=ack.seq, word=ack.word)

    def _pull(self, enrolment: Enrolment, report: SyncReport,
              progress: Callable[[SyncEvent], None] | None) -> None:
        http = self._client(enrolment.server_url)
        limit = max(1, min(enrolment.limits.get("max_page", self.page_size), self.page_size))
        cursor = self.store.meta().cursor
        while True:
            params: dict[str, str | int] = {"limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            response = self._send(http, "GET", "/sync/v1/pull", params=params, headers=self._auth(enrolment))
            if response.status_code == 304:
                return
            self._check(response)
            page = self._parse(PullResponse, response)
            if page.has_more and not page.changes and page.cursor == cursor:
                raise ProtocolViolation("pull: has_more with no changes and the same cursor")
            applied = self.store.apply_pull_page(page.changes, cursor=page.cursor, scope=page.scope)
            cursor = page.cursor
            report.pages += 1
            report.upserts += applied.upserts
            report.tombstones += applied.tombstones
            if progress:
                progress(SyncEvent("pull", report.upserts + report.tombstones, None))
            if not page.has_more:
                return

    # --- media (tus 1.0) -------------------------------------------------------------------

    def upload_media(self, path: str | Path, *, kind: str, content_type: str,
                     chunk_size: int = 256 * 1024) -> str:
        """Upload a file with tus 1.0, resuming after drops from the server's offset.

        Returns the file's SHA-256, to attach with ``attach_media``.  A dropped PATCH is
        followed by HEAD (where the server's bytes end) and the upload goes on from there.
        """
        enrolment = self.store.meta().enrolment
        if enrolment is None:
            raise NotEnrolled("perangkat belum terdaftar: jalankan enrol")
        data = Path(path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        http = self._client(enrolment.server_url)
        tus = {"Authorization": f"Bearer {enrolment.device_token}", "Tus-Resumable": "1.0.0"}
        meta = {"sha256": digest, "kind": kind, "content_type": content_type, "filename": Path(path).name}
        encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
        created = self._send(http, "POST", "/sync/v1/media", headers={
            **tus, "Upload-Length": str(len(data)), "Upload-Metadata": encoded})
        self._check(created)
        location = created.headers["Location"]
        chunk_size = min(chunk_size, int(created.headers.get("Sigap-Max-Chunk-Size", chunk_size)))
        offset = 0
        while offset < len(data):
            try:
                response = http.patch(location, content=data[offset:offset + chunk_size], headers={
                    **tus, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
            except RETRY_EXCEPTIONS:
                self._retries += 1
                self._sleep(self.retry.delay(0, self._rand()))
                head = self._send(http, "HEAD", location, headers=tus)
                self._check(head)
                offset = int(head.headers["Upload-Offset"])
                continue
            if response.status_code in (204, 409):  # 409: the server says where its bytes end
                offset = int(response.headers["Upload-Offset"])
                continue
            if response.status_code in RETRY_STATUSES or response.status_code == 423:
                self._retries += 1
                self._sleep(self.retry.delay(0, self._rand()))
                continue
            self._check(response)
            raise ProtocolViolation(f"PATCH {location}: unexpected status {response.status_code}")
        return digest

    def attach_media(self, household_id: str | uuid.UUID, sha256: str, kind: str) -> str:
        """Queue the link of an uploaded file to a household (sent with the next sync)."""
        link, _ = self.store.attach_media(household_id, sha256, kind, recorded_at=_now())
        return link

    # --- HTTP -------------------------------------------------------------------------------

    def _client(self, base_url: str) -> httpx.Client:
        if self._http is not None and str(self._http.base_url).rstrip("/") != base_url:
            self._http.close()
            self._http = None
        if self._http is None:
            self._http = httpx.Client(base_url=base_url, transport=self._transport, timeout=self._timeout,
                                      headers={"Accept-Encoding": "gzip", "User-Agent": USER_AGENT})
        return self._http

    @staticmethod
    def _auth(enrolment: Enrolment) -> dict[str, str]:
        return {"Authorization": f"Bearer {enrolment.device_token}", VERSION_HEADER: str(PROTOCOL_VERSION)}

    def _send(self, http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, retried on transient failures per the retry policy."""
        policy = self.retry
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            wait_at_least = 0.0
            try:
                response = http.request(method, url, **kwargs)
            except RETRY_EXCEPTIONS as exc:
                failure = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                failure = f"HTTP {response.status_code}"
                wait_at_least = _retry_after(response) or 0.0
            if attempt >= policy.max_attempts:
                raise RetriesExhausted(f"{method} {url}: gagal setelah {attempt} percobaan ({failure})",
                                       attempts=attempt, last_error=failure)
            delay = min(policy.cap, max(policy.delay(attempt - 1, self._rand()), wait_at_least))
            if policy.deadline is not None and self._clock() - started + delay > policy.deadline:
                raise RetriesExhausted(f"{method} {url}: batas waktu {policy.deadline:.0f} dtk terlewati "
                                       f"setelah {attempt} percobaan ({failure})",
                                       attempts=attempt, last_error=failure)
            self._retries += 1
            if self._on_retry is not None:
                self._on_retry(RetryNotice(f"{method} {url}", failure, attempt, policy.max_attempts, delay))
            self._sleep(delay)

    @staticmethod
    def _check(response: httpx.Response) -> None:
        """Raise the right error for a non-2xx response."""
        if response.is_success:
            return
        status = response.status_code
        error, detail, body = _error_body(response)
        if status == 426:
            raise UpgradeRequired(status, error, detail, body, supported=_supported_versions(response, body))
        if status == 401:
            cls = DeviceRevoked if error == "device_revoked" else AuthenticationFailed
            raise cls(status, error, detail, body)
        raise ServerError(status, error, detail, body)

    @staticmethod
    def _parse(model: type[_M], response: httpx.Response) -> _M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise ProtocolViolation(f"{response.request.method} {response.request.url.path}: "
                                    f"unexpected response ({exc.error_count()} errors)") from None
