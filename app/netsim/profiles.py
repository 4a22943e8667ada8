"""Named link profiles for the network simulator, loaded from ``seed_data/netsim_profiles.toml``.

Units are in the field names: ``*_ms`` milliseconds, ``*_s`` seconds, ``*_kbit_s`` kilobits
(1000 bits) per second, ``*_bytes`` bytes.  Latency is ONE-WAY: a request/response round
trip pays it twice.  A bad file is refused with an error naming the profile and the key.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

DEFAULT_PROFILES_FILE = Path(__file__).resolve().parents[2] / "seed_data" / "netsim_profiles.toml"
OUTAGE_OPEN_MODES = ("reset", "stall")
OutageOpen = Literal["reset", "stall"]


class ProfileError(ValueError):
    """The profiles file is malformed; the message names the profile and the key."""


@dataclass(frozen=True)
class Profile:
    """One link, e.g. congested EDGE on Pulau Hiri.  See docs/connectivity.md."""

    name: str
    description: str
    sources: str
    latency_ms: float                    # one-way delay added to every chunk
    downlink_kbit_s: float               # server -> client
    uplink_kbit_s: float                 # client -> server
    jitter_ms: float = 0.0               # each chunk: latency +- uniform(jitter), order kept
    # Per connection, independently per direction: with this probability the connection is
    # reset (RST to both ends) once a number of bytes drawn from the range has passed.
    reset_up_probability: float = 0.0    # mid-request (client -> server)
    reset_up_after_bytes: tuple[int, int] = (1, 1)
    reset_down_probability: float = 0.0  # mid-response (server -> client)
    reset_down_after_bytes: tuple[int, int] = (1, 1)
    # Long transfers: a connection that got past its first draw gets another draw, with the
    # same probability, after every window of this many bytes (None: one draw only).  A
    # keep-alive connection carrying a day's photos then meets drops in proportion to the
    # bytes it carries, as a radio link does.
    reset_up_every_bytes: tuple[int, int] | None = None
    reset_down_every_bytes: tuple[int, int] | None = None
    # Stalls: a Poisson process per direction; during a stall the direction moves nothing.
    stall_rate_per_s: float = 0.0
    stall_ms: tuple[float, float] = (0.0, 0.0)
    # Outages (the whole link): up for uniform(outage_up_s), then down for
    # uniform(outage_down_s), repeat.  New connections during an outage are accepted and
    # reset at once; open ones are reset ("reset") or frozen until the link returns ("stall").
    outage_up_s: tuple[float, float] | None = None
    outage_down_s: tuple[float, float] | None = None
    outage_open: OutageOpen = "reset"
    time_scale: float = 1.0              # set by scaled(); 1.0 in the file

    @property
    def downlink_bytes_per_s(self) -> float:
        return self.downlink_kbit_s * 1000 / 8

    @property
    def uplink_bytes_per_s(self) -> float:
        return self.uplink_kbit_s * 1000 / 8

    @property
    def has_outages(self) -> bool:
        return self.outage_up_s is not None and self.outage_down_s is not None

    def scaled(self, time_scale: float) -> Profile:
        """The same link with every duration divided by ``time_scale`` and bandwidth (and the
        stall rate) multiplied by it, so a test runs ``time_scale`` times faster with the same
        shape.  Byte budgets and probabilities do not change."""
        if not (time_scale > 0 and math.isfinite(time_scale)):
            raise ValueError(f"time_scale must be a positive number (got {time_scale})")
        ts = time_scale

        def div(pair: tuple[float, float] | None) -> tuple[float, float] | None:
            return None if pair is None else (pair[0] / ts, pair[1] / ts)

        return replace(
            self, latency_ms=self.latency_ms / ts, jitter_ms=self.jitter_ms / ts,
            downlink_kbit_s=self.downlink_kbit_s * ts, uplink_kbit_s=self.uplink_kbit_s * ts,
            stall_rate_per_s=self.stall_rate_per_s * ts, stall_ms=(self.stall_ms[0] / ts,
                                                                   self.stall_ms[1] / ts),
            outage_up_s=div(self.outage_up_s), outage_down_s=div(self.outage_down_s),
            time_scale=self.time_scale * ts)

    def summary(self) -> list[tuple[str, str]]:
        """(label, value) rows for people: the CLI and the docs show these."""

        def rng(pair: tuple[float, float], unit: str) -> str:
            return f"{_num(pair[0])}-{_num(pair[1])} {unit}"

        rows = [
            ("one-way latency", f"{_num(self.latency_ms)} ms +- {_num(self.jitter_ms)} ms jitter"),
            ("downlink", f"{_num(self.downlink_kbit_s)} kbit/s ({_num(self.downlink_bytes_per_s)} B/s)"),
            ("uplink", f"{_num(self.uplink_kbit_s)} kbit/s ({_num(self.uplink_bytes_per_s)} B/s)"),
            ("reset mid-request", f"{self.reset_up_probability:.0%} of connections, after "
             + rng(self.reset_up_after_bytes, "bytes up") if self.reset_up_probability else "never"),
            ("reset mid-response", f"{self.reset_down_probability:.0%} of connections, after "
             + rng(self.reset_down_after_bytes, "bytes down") if self.reset_down_probability
             else "never"),
            ("stalls", f"{_num(self.stall_rate_per_s * 60)} per minute per direction, "
             + rng(self.stall_ms, "ms") if self.stall_rate_per_s else "none"),
        ]
        if self.outage_up_s is not None and self.outage_down_s is not None:
            rows.append(("outages", f"up {rng(self.outage_up_s, 's')}, down {rng(self.outage_down_s, 's')};"
                         f" open connections {self.outage_open}, new ones reset"))
        else:
            rows.append(("outages", "none"))
        if self.time_scale != 1.0:
            rows.append(("time scale", f"x{_num(self.time_scale)} (durations divided, bandwidth multiplied)"))
        return rows


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:.3g}"


def load_profiles(path: Path = DEFAULT_PROFILES_FILE) -> dict[str, Profile]:
    """Every profile in ``path`` by name; raises ProfileError naming the profile and key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    profiles = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ProfileError(f"{path}: top-level key {name!r} must be a [table] (one per profile)")
        profiles[name] = parse_profile(name, table, where=str(path))
    if not profiles:
        raise ProfileError(f"{path}: no profiles")
    return profiles


def load_profile(name: str, path: Path = DEFAULT_PROFILES_FILE) -> Profile:
    profiles = load_profiles(path)
    if name not in profiles:
        raise ProfileError(f"unknown profile {name!r}; known: {', '.join(sorted(profiles))}")
    return profiles[name]


_REQUIRED = ("description", "sources", "latency_ms", "downlink_kbit_s", "uplink_kbit_s")
_KEYS = {f.name for f in fields(Profile)} - {"name", "time_scale"}


def parse_profile(name: str, table: dict[str, Any], *, where: str = "profiles") -> Profile:
    """Validate one ``[name]`` table into a Profile."""

    def fail(key: str, rule: str) -> ProfileError:
        return ProfileError(f"{where}: profile {name!r}: {key}: {rule}")

    for key in table:
        if key not in _KEYS:
            raise fail(key, f"unknown key (known: {', '.join(sorted(_KEYS))})")
    for key in _REQUIRED:
        if key not in table:
            raise fail(key, "missing (required)")

    def text(key: str) -> str:
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise fail(key, "must be a non-empty string")
        return value.strip()

    def number(key: str, default: float, *, positive: bool = False, at_most: float | None = None) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise fail(key, f"must be a number (got {value!r})")
        if value < 0 or (positive and value == 0):
            raise fail(key, f"must be {'> 0' if positive else '>= 0'} (got {value})")
        if at_most is not None and value > at_most:
            raise fail(key, f"must be <= {at_most} (got {value})")
        return float(value)

    def pair(key: str, *, integer: bool = False, positive: bool = False) -> tuple[float, float]:
        value = table[key]
        kind = int if integer else int | float
        if (not isinstance(value, list) or len(value) != 2
                or any(isinstance(v, bool) or not isinstance(v, kind) for v in value)):
            raise fail(key, f"must be [low, high] {'integers' if integer else 'numbers'} (got {value!r})")
        low, high = value
        if low < 0 or (positive and low == 0):
            raise fail(key, f"low must be {'> 0' if positive else '>= 0'} (got {low})")
        if high < low:
            raise fail(key, f"high must be >= low (got {value!r})")
        return (low, high)

    kwargs: dict[str, Any] = {
        "description": text("description"), "sources": text("sources"),
        "latency_ms": number("latency_ms", 0), "jitter_ms": number("jitter_ms", 0),
        "downlink_kbit_s": number("downlink_kbit_s", 0, positive=True),
        "uplink_kbit_s": number("uplink_kbit_s", 0, positive=True),
        "stall_rate_per_s": number("stall_rate_per_s", 0),
    }
    for direction in ("up", "down"):
        prob_key, bytes_key = f"reset_{direction}_probability", f"reset_{direction}_after_bytes"
        kwargs[prob_key] = number(prob_key, 0, at_most=1)
        if bytes_key in table:
            low, high = pair(bytes_key, integer=True, positive=True)
            kwargs[bytes_key] = (int(low), int(high))
        elif kwargs[prob_key] > 0:
            raise fail(bytes_key, f"missing (required when {prob_key} > 0)")
        every_key = f"reset_{direction}_every_bytes"
        if every_key in table:
            low, high = pair(every_key, integer=True, positive=True)
            kwargs[every_key] = (int(low), int(high))
    if "stall_ms" in table:
        kwargs["stall_ms"] = pair("stall_ms")
    elif kwargs["stall_rate_per_s"] > 0:
        raise fail("stall_ms", "missing (required when stall_rate_per_s > 0)")
    if ("outage_up_s" in table) != ("outage_down_s" in table):
        missing = "outage_down_s" if "outage_up_s" in table else "outage_up_s"
        raise fail(missing, "missing (outage_up_s and outage_down_s go together)")
    if "outage_up_s" in table:
        kwargs["outage_up_s"] = pair("outage_up_s", positive=True)
        kwargs["outage_down_s"] = pair("outage_down_s", positive=True)
    if "outage_open" in table:
        if table["outage_open"] not in OUTAGE_OPEN_MODES:
            raise fail("outage_open", f"must be one of {', '.join(OUTAGE_OPEN_MODES)}"
                                      f" (got {table['outage_open']!r})")
        kwargs["outage_open"] = table["outage_open"]
    return Profile(name=name, **kwargs)
