"""A fault-injecting TCP proxy on real sockets: the link a tablet on Pulau Hiri or Moti sees.

One proxy is one link (one tablet's radio): bandwidth, stalls and outages belong to the link
and are shared by every connection through it; latency, jitter and resets apply per chunk and
per connection.  Each accepted connection gets an upstream connection and two pumps, ``up``
(client -> server) and ``down`` (server -> client).  A pump reads small chunks into a bounded
queue (the bottleneck's buffer) and delivers each one after the link has serialised it at the
direction's bandwidth (pacing), held back by any stall, then delayed by the one-way latency
+- jitter (never overtaking the previous chunk, as in TCP).  When a direction's byte budget
runs out the proxy resets BOTH sockets (SO_LINGER 0, so an RST, not a FIN): the client sees a
drop in the middle of its request or of the response.  Outages follow a randomised up/down
schedule.

Every random choice comes from ``random.Random`` seeded from the proxy seed and the
connection number, so a seed replays the same faults.  Runs in a background thread for tests
(``start()``/``stop()``) or in the foreground (``run()``) for ``sigap netsim``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import random
import secrets
import signal
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

from app.netsim.profiles import Profile

log = logging.getLogger("app.netsim")
CHUNK_BYTES = 1460  # one TCP segment's payload on a 1500-byte MTU
Direction = Literal["up", "down"]


@dataclass(frozen=True)
class FaultPlan:
    """What connection number ``connection`` will suffer: a reset once this many bytes have
    passed up (mid-request) or down (mid-response); None: no reset in that direction."""

    connection: int
    reset_up_after: int | None
    reset_down_after: int | None


@dataclass(frozen=True)
class FaultEvent:
    connection: int
    kind: Literal["reset", "outage_reset", "refused"]
    direction: Direction | None  # which direction ran out of budget (kind "reset")
    after_bytes: int             # bytes passed in that direction (0 for the others)


@dataclass(frozen=True)
class NetSimStats:
    connections: int = 0        # accepted and connected upstream
    refused_outage: int = 0     # accepted during an outage and reset at once
    upstream_errors: int = 0    # the upstream refused; the client was reset
    bytes_up: int = 0           # delivered client -> server
    bytes_down: int = 0         # delivered server -> client
    resets_up: int = 0          # injected mid-request
    resets_down: int = 0        # injected mid-response
    resets_outage: int = 0      # open connections reset when an outage began
    stalls: int = 0             # stalls that held back data
    stall_seconds: float = 0.0  # data-holding stall time (in scaled seconds)
    outages: int = 0            # outages begun

    @property
    def resets(self) -> int:
        return self.resets_up + self.resets_down + self.resets_outage

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


def _rng(*parts: object) -> random.Random:
    # Reproducibility is the point: a seed must replay the same faults (not security).
    return random.Random(":".join(map(str, parts)))  # noqa: S311


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close abruptly: SO_LINGER 0 makes the kernel send an RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class OutageSchedule:
    """Down windows ``[start, end)`` on the monotonic clock, drawn lazily: up for
    uniform(outage_up_s), down for uniform(outage_down_s), repeat."""

    def __init__(self, profile: Profile, rng: random.Random, start: float) -> None:
        assert profile.outage_up_s is not None and profile.outage_down_s is not None
        self._up, self._down, self._rng = profile.outage_up_s, profile.outage_down_s, rng
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._horizon = start
        self._lock = threading.Lock()

    def state(self, t: float) -> tuple[bool, float]:
        """(link up at ``t``, time of the next change)."""
        with self._lock:
            while self._horizon <= t:
                down_at = self._horizon + self._rng.uniform(*self._up)
                self._horizon = down_at + self._rng.uniform(*self._down)
                self._starts.append(down_at)
                self._ends.append(self._horizon)
            i = bisect.bisect_right(self._starts, t) - 1
            if i >= 0 and t < self._ends[i]:
                return False, self._ends[i]
            return True, self._starts[i + 1]


class _Connection:
    def __init__(self, sim: NetSim, index: int, plan: FaultPlan,
                 client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 server: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.sim, self.index = sim, index
        self.writers = (client[1], server[1])
        for writer in self.writers:  # drain() then means "handed to the kernel"
            writer.transport.set_write_buffer_limits(high=0)
        p = sim.profile
        self.pumps = (
            _Pump(self, "up", client[0], server[1], p.uplink_bytes_per_s, plan.reset_up_after,
                  p.reset_up_probability, p.reset_up_after_bytes, p.reset_up_every_bytes),
            _Pump(self, "down", server[0], client[1], p.downlink_bytes_per_s, plan.reset_down_after,
                  p.reset_down_probability, p.reset_down_after_bytes, p.reset_down_every_bytes))
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False

    async def run(self) -> None:
        self.tasks = [asyncio.create_task(coro) for pump in self.pumps
                      for coro in (pump.read_loop(), pump.write_loop())]
        try:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        finally:
            for task in self.tasks:
                task.cancel()
            if not self.closed:
                self.closed = True
                for writer in self.writers:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()

    def reset(self) -> None:
        """Abort both sides with an RST and stop the pumps."""
        if self.closed:
            return
        self.closed = True
        for writer in self.writers:
            _rst(writer)
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()


class _Pump:
    def __init__(self, conn: _Connection, direction: Direction, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, bytes_per_s: float, budget: int | None,
                 probability: float = 0.0, first: tuple[int, int] = (1, 1),
                 every: tuple[int, int] | None = None) -> None:
        sim, p = conn.sim, conn.sim.profile
        self.conn, self.direction, self.reader, self.writer = conn, direction, reader, writer
        self.budget, self.passed = budget, 0
        # after the first draw's window (its range's top) passes uncut, draw again per window
        self.probability, self.every = probability, every
        self.window_end = first[1] if every is not None and budget is None else None
        self.window_rng = _rng(sim.seed, conn.index, direction, "windows")
        self.jitter_rng = _rng(sim.seed, conn.index, direction, "jitter")
        # The bottleneck buffer: about two bandwidth-delay products, at least 16 chunks.
        bdp = bytes_per_s * (p.latency_ms + p.jitter_ms) / 1000
        self.queue: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue(
            maxsize=min(4096, max(16, math.ceil(2 * bdp / CHUNK_BYTES))))

    async def read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while data := await self.reader.read(CHUNK_BYTES):
                await self.queue.put((data, loop.time()))
        except OSError:  # the peer reset or vanished: pass the abort on
            self.conn.reset()
            return
        await self.queue.put(None)

    async def write_loop(self) -> None:
        sim, p, loop = self.conn.sim, self.conn.sim.profile, asyncio.get_running_loop()
        last_delivery = 0.0
        try:
            while (item := await self.queue.get()) is not None:
                data, arrived = item
                sent = sim._transmit(self.direction, arrived, len(data))
                delay = max(0.0, p.latency_ms + self.jitter_rng.uniform(-p.jitter_ms, p.jitter_ms)) / 1000
                last_delivery = sim._after_outage(max(sent + delay, last_delivery))
                if (wait := last_delivery - loop.time()) > 0.0005:
                    await asyncio.sleep(wait)
                self._next_window()
                if self.budget is not None and self.passed + len(data) >= self.budget:
                    await self._deliver(data[:self.budget - self.passed])
                    sim._fault(FaultEvent(self.conn.index, "reset", self.direction, self.passed))
                    self.conn.reset()
                    return
                await self._deliver(data)
            if (wait := last_delivery - loop.time()) > 0:
                await asyncio.sleep(wait)
            if self.writer.can_write_eof():
                self.writer.write_eof()
        except OSError:
            self.conn.reset()

    def _next_window(self) -> None:
        while self.window_end is not None and self.every is not None and self.passed >= self.window_end:
            size = self.window_rng.randint(*self.every)
            if self.window_rng.random() < self.probability:
                self.budget, self.window_end = self.window_end + size, None
            else:
                self.window_end += size

    async def _deliver(self, data: bytes) -> None:
        if data:
            self.writer.write(data)
            await self.writer.drain()
            self.passed += len(data)
            self.conn.sim._count(f"bytes_{self.direction}", len(data))


class NetSim:
    """``NetSim(profile, upstream=("127.0.0.1", 8000)).start()`` -> the bound port."""

    def __init__(self, profile: Profile, *, upstream: tuple[str, int],
                 listen: tuple[str, int] = ("127.0.0.1", 0), seed: int | None = None,
                 time_scale: float = 1.0) -> None:
        self.base_profile = profile
        self.profile = profile.scaled(time_scale) if time_scale != 1.0 else profile
        self.time_scale = time_scale
        self.listen, self.upstream = listen, upstream
        self.seed = secrets.randbelow(2**31) if seed is None else seed
        self.port: int | None = None
        self._counts: dict[str, int | float] = dict(NetSimStats().as_dict())
        self._events: deque[FaultEvent] = deque(maxlen=10_000)
        self._lock = threading.Lock()
        self._open: set[_Connection] = set()
        self._handlers: set[asyncio.Task[object]] = set()
        self._accepted = 0
        self._schedule: OutageSchedule | None = None
        self._bytes_per_s: dict[Direction, float] = {"up": self.profile.uplink_bytes_per_s,
                                                     "down": self.profile.downlink_bytes_per_s}
        self._link_free: dict[Direction, float] = {"up": 0.0, "down": 0.0}
        self._stall_rngs: dict[Direction, random.Random] = {
            "up": _rng(self.seed, "stall", "up"), "down": _rng(self.seed, "stall", "down")}
        self._next_stall: dict[Direction, float] = {"up": math.inf, "down": math.inf}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- public -------------------------------------------------------------------------------
    def fault_plan(self, connection: int) -> FaultPlan:
        """The faults drawn for the ``connection``-th accepted connection (from 0)."""
        p, rng = self.profile, _rng(self.seed, connection, "plan")
        draws = []
        for prob, (low, high) in ((p.reset_up_probability, p.reset_up_after_bytes),
                                  (p.reset_down_probability, p.reset_down_after_bytes)):
            hit, budget = rng.random() < prob, rng.randint(low, high)  # always draw both
            draws.append(budget if hit else None)
        return FaultPlan(connection, draws[0], draws[1])

    def stats(self) -> NetSimStats:
        with self._lock:
            return NetSimStats(**self._counts)  # type: ignore[arg-type]

    def faults(self) -> list[FaultEvent]:
        """Injected faults in order (the last 10,000)."""
        with self._lock:
            return list(self._events)

    def link_state(self) -> tuple[bool, float]:
        """(link up now, seconds until it changes; inf without outages)."""
        if self._schedule is None:
            return True, math.inf
        now = time.monotonic()  # the asyncio loop's clock
        up, change = self._schedule.state(now)
        return up, change - now

    def start(self) -> int:
        """Serve in a background thread; returns the bound port."""
        if self._thread is not None or self._loop is not None:
            raise RuntimeError("a NetSim runs once; make a new one")
        ready = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, args=(ready,), daemon=True,
                                        name=f"netsim-{self.profile.name}")
        self._thread.start()
        if not ready.wait(10) or self._error is not None or self.port is None:
            self.stop()
            raise RuntimeError(f"netsim did not start on {self.listen[0]}:{self.listen[1]}: "
                               f"{self._error}") from self._error
        return self.port

    def stop(self) -> None:
        """Stop the background thread: open connections are aborted."""
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def run(self, on_ready: Callable[[int], None] | None = None) -> None:
        """Serve in the foreground: Ctrl-C raises KeyboardInterrupt, SIGTERM returns."""
        asyncio.run(self._main(on_ready or (lambda port: None), foreground=True))

    def __enter__(self) -> NetSim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------------------------
    def _thread_main(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._main(lambda port: ready.set()))
        except BaseException as exc:  # reported by start() if it happens while starting
            self._error = exc
            if ready.is_set():
                log.exception("netsim %s stopped", self.profile.name)
        finally:
            ready.set()

    def _count(self, key: str, n: float) -> None:
        with self._lock:
            self._counts[key] += n

    def _fault(self, event: FaultEvent) -> None:
        key = {"reset": f"resets_{event.direction}", "outage_reset": "resets_outage",
               "refused": "refused_outage"}[event.kind]
        with self._lock:
            self._counts[key] += 1
            self._events.append(event)
        where = f" after {event.after_bytes} bytes {event.direction}" if event.kind == "reset" else ""
        log.info("netsim conn %d: %s%s", event.connection, event.kind, where)

    def _transmit(self, direction: Direction, ready: float, size: int) -> float:
        """When the link has finished sending ``size`` bytes that were ready at ``ready``: after
        the previous chunk in that direction (any connection), any stall and outage."""
        start = self._after_outage(self._after_stalls(direction, max(ready, self._link_free[direction])))
        self._link_free[direction] = start + size / self._bytes_per_s[direction]
        return self._link_free[direction]

    def _after_stalls(self, direction: Direction, t: float) -> float:
        """When the link can send in ``direction`` at ``t``, given that direction's stalls."""
        p, rng = self.profile, self._stall_rngs[direction]
        while self._next_stall[direction] <= t:
            end = self._next_stall[direction] + rng.uniform(*p.stall_ms) / 1000
            if end > t:  # a stall that held data back (ones in idle time pass unnoticed)
                self._count("stalls", 1)
                self._count("stall_seconds", end - t)
                log.info("netsim stall: %s held %.2f s", direction, end - t)
                t = end
            self._next_stall[direction] = end + rng.expovariate(p.stall_rate_per_s)
        return t

    def _after_outage(self, t: float) -> float:
        """``t``, or the end of the outage covering ``t`` when open connections stall."""
        if self._schedule is None or self.profile.outage_open != "stall":
            return t
        up, change = self._schedule.state(t)
        return t if up else change

    async def _main(self, on_ready: Callable[[int], None], *, foreground: bool = False) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if foreground:  # `kill` stops cleanly too, so the stats still get printed
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGTERM, self._stopping.set)
        server = await asyncio.start_server(self._handle, *self.listen)
        self.port = server.sockets[0].getsockname()[1]
        if self.profile.stall_rate_per_s > 0:
            for d, rng in self._stall_rngs.items():
                self._next_stall[d] = loop.time() + rng.expovariate(self.profile.stall_rate_per_s)
        watcher = None
        if self.profile.has_outages:
            self._schedule = OutageSchedule(self.profile, _rng(self.seed, "outage"), loop.time())
            watcher = asyncio.create_task(self._watch_outages())
        log.info("netsim %s on %s:%s -> %s:%s seed=%d time_scale=%g", self.profile.name,
                 self.listen[0], self.port, *self.upstream, self.seed, self.time_scale)
        on_ready(self.port)
        try:
            await self._stopping.wait()
        finally:
            server.close()
            if watcher is not None:
                watcher.cancel()
            for conn in list(self._open):
                conn.reset()
            # Handlers end by themselves once their connection is reset; cancelling one makes
            # Python 3.11's start_server callback log a spurious "Exception in callback".
            if self._handlers:
                _, stuck = await asyncio.wait(list(self._handlers), timeout=2)
                for task in stuck:
                    task.cancel()
            if watcher is not None:
                await asyncio.gather(watcher, return_exceptions=True)
            await server.wait_closed()

    async def _watch_outages(self) -> None:
        assert self._schedule is not None
        loop = asyncio.get_running_loop()
        while True:
            up, change = self._schedule.state(loop.time())
            if not up:
                self._count("outages", 1)
                log.info("netsim link DOWN for %.1f s", change - loop.time())
                if self.profile.outage_open == "reset":
                    for conn in list(self._open):
                        if not conn.closed:
                            self._fault(FaultEvent(conn.index, "outage_reset", None, 0))
                            conn.reset()
            else:
                log.info("netsim link up for %.1f s", change - loop.time())
            await asyncio.sleep(max(0.0, change - loop.time()))
            while loop.time() < change:  # the clock may wake a hair early
                await asyncio.sleep(0.001)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        index, self._accepted = self._accepted, self._accepted + 1
        try:
            loop = asyncio.get_running_loop()
            if self._schedule is not None and not self._schedule.state(loop.time())[0]:
                self._fault(FaultEvent(index, "refused", None, 0))
                _rst(writer)
                return
            try:
                upstream = await asyncio.open_connection(*self.upstream)
            except OSError as exc:
                self._count("upstream_errors", 1)
                log.warning("netsim conn %d: upstream %s:%s: %s", index, *self.upstream, exc)
                _rst(writer)
                return
            self._count("connections", 1)
            conn = _Connection(self, index, self.fault_plan(index), (reader, writer), upstream)
            self._open.add(conn)
            try:
                await conn.run()
            finally:
                self._open.discard(conn)
        finally:
            self._handlers.discard(task)
