"""A real Kannel for tests: Debian's ``bearerbox`` and ``smsbox`` with the ``fakesmsc`` test
SMSC (packages kannel, kannel-extras), all on free loopback ports in a temporary directory.

    phone (fakesmsc) --line protocol--> bearerbox (smsc = fake) <--> smsbox --get-url--> app
                     <--------------------- reply / sendsms MT <------- smsbox <--sendsms-- app

fakesmsc runs in its interactive mode: every line written to its stdin is an SMS from a phone
(``sender receiver text ...``), and every SMS bearerbox sends to the fake SMSC is logged as
``Got message N: <sender receiver text ...>``.  It reads its socket only between lines on
stdin (or after a one-second timeout), so waiting for a reply writes empty lines, which it
ignores, to make it read at once.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

import httpx

BEARERBOX = Path("/usr/sbin/bearerbox")
SMSBOX = Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
SHORT_CODE = "1234"          # the number residents write to
_GOT = re.compile(rb"Got message \d+: <(\S+) (\S+) (text|data) (.*)>$")


def missing_binaries() -> list[str]:
    return [str(p) for p in (BEARERBOX, SMSBOX, FAKESMSC) if not os.access(p, os.X_OK)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Sms:
    """One SMS that reached the fake SMSC (i.e. a resident's phone)."""

    sender: str
    to: str
    text: str


@dataclass
class Kannel:
    tmp: Path
    app_url: str                 # where the app listens: http://127.0.0.1:PORT
    secret: str                  # the app's gateway secret for "kannel"
    sendsms_user: str = "sigap"
    sendsms_password: str = "sendsms-pw"
    admin_password: str = "admin-pw"
    ports: dict[str, int] = field(default_factory=lambda: {
        n: free_port() for n in ("admin", "smsbox", "smsc", "sendsms")})
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _fake: subprocess.Popen[bytes] | None = None

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sendsms']}/cgi-bin/sendsms"

    @property
    def conf(self) -> Path:
        return self.tmp / "kannel.conf"

    def get_url(self) -> str:
        """The sms-service get-url, exactly as docs/feature-phones.md tells operators to write it."""
        return (f"{self.app_url}/channels/sms/kannel?key={quote(self.secret, safe='')}"
                "&from=%p&to=%P&id=%I&text=%b&coding=%c&charset=%C")

    def write_conf(self) -> None:
        p, log = self.ports, self.tmp
        self.conf.write_text(f"""
group = core
admin-port = {p['admin']}
admin-interface = 127.0.0.1
admin-password = {self.admin_password}
admin-allow-ip = 127.0.0.1
smsbox-port = {p['smsbox']}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{log}/bearerbox.log"
log-level = 0
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {p['smsc']}
our-host = 127.0.0.1
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {p['smsbox']}
sendsms-port = {p['sendsms']}
sendsms-interface = 127.0.0.1
log-file = "{log}/smsbox.log"
access-log = "{log}/smsbox-access.log"
log-level = 0
mo-recode = true
http-request-retry = 2
http-queue-delay = 0
reply-couldnotfetch = "Maaf, layanan SIGAP sedang gangguan. Coba kirim lagi nanti."

group = sms-service
keyword = default
get-url = "{self.get_url()}"
omit-empty = true
max-messages = 1

group = sendsms-user
username = {self.sendsms_user}
password = {self.sendsms_password}
user-allow-ip = 127.0.0.1
""", encoding="utf-8")

    # -- processes --------------------------------------------------------------------------

    def _spawn(self, *args: str, name: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
        out = (self.tmp / f"{name}.out").open("wb")
        proc = subprocess.Popen(args, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp,
                                start_new_session=True)  # its own process group: killed as one
        out.close()
        self._procs.append(proc)
        return proc

    def start(self, timeout: float = 15.0) -> Kannel:
        self.write_conf()
        try:
            self._spawn(str(BEARERBOX), "-v", "1", str(self.conf), name="bearerbox")
            self._until(lambda s: "Status: running" in s, timeout, "bearerbox did not start")
            self._spawn(str(SMSBOX), "-v", "1", str(self.conf), name="smsbox")
            self._until(lambda s: "smsbox:" in s, timeout, "smsbox did not connect to bearerbox")
            self._until_port(self.ports["sendsms"], timeout)
            self._fake = self._spawn(str(FAKESMSC), "-H", "127.0.0.1", "-r", str(self.ports["smsc"]),
                                     "-i", "0", "-v", "0", name="fakesmsc", stdin=subprocess.PIPE)
            self._until(lambda s: re.search(r"FAKE:\d+ \(online", s) is not None, timeout,
                        "fakesmsc did not connect")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            if proc.stdin:
                proc.stdin.close()
        self._procs.clear()

    def status(self) -> str:
        try:
            r = httpx.get(f"http://127.0.0.1:{self.ports['admin']}/status.txt",
                          params={"password": self.admin_password}, timeout=2)
        except httpx.HTTPError:
            return ""
        return r.text

    def _until(self, ready: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready(self.status()):  # type: ignore[operator]
            self._check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}\n{self.logs()}")
            time.sleep(0.05)

    def _until_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            self._check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on {port}\n{self.logs()}")
            time.sleep(0.05)

    def _check_alive(self) -> None:
        for proc in self._procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}\n{self.logs()}")

    def logs(self, lines: int = 15) -> str:
        out = []
        for name in ("bearerbox.log", "smsbox.log", "smsbox-access.log", "fakesmsc.out"):
            path = self.tmp / name
            if path.exists():
                tail = path.read_bytes().decode("utf-8", "replace").splitlines()[-lines:]
                out.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join(out)

    # -- the phone's side ----------------------------------------------------------------------

    def send(self, sender: str, text: str, *, to: str = SHORT_CODE) -> None:
        """An SMS from ``sender``'s phone (GSM-7 text travels as UTF-8, as the SMSC driver does)."""
        self._write(f"{sender} {to} text {text}\n".encode())

    def send_ucs2(self, sender: str, text: str, *, to: str = SHORT_CODE) -> None:
        """An SMS the phone wrote in UCS-2 (e.g. it typed a character GSM-7 does not have)."""
        data = "".join(f"%{b:02X}" for b in text.encode("utf-16-be"))
        self._write(f"{sender} {to} ucs2 {data}\n".encode())

    def _write(self, line: bytes) -> None:
        assert self._fake is not None and self._fake.stdin is not None
        self._fake.stdin.write(line)
        self._fake.stdin.flush()

    def received(self) -> list[Sms]:
        """Every SMS the fake SMSC has been given so far, in order."""
        found = []
        for line in (self.tmp / "fakesmsc.out").read_bytes().splitlines():
            m = _GOT.search(line)
            if m:
                sender, to, kind, data = m.groups()
                raw = unquote_to_bytes(data) if kind == b"data" else data
                found.append(Sms(sender.decode(), to.decode(), raw.decode("utf-8", "replace")))
        return found

    def wait_for(self, to: str, *, count: int = 1, timeout: float = 15.0) -> list[Sms]:
        """The SMS for ``to`` once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            got = [m for m in self.received() if m.to == to]
            if len(got) >= count:
                return got
            self._check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} SMS for {to} expected, got {got}\n{self.logs()}")
            self._write(b"\n")  # an empty line: fakesmsc reads its socket now
            time.sleep(0.02)

    def requests_from(self, phone: str) -> list[str]:
        """smsbox's access-log lines for get-url requests it made for messages from ``phone``."""
        path = self.tmp / "smsbox-access.log"
        text = path.read_text("utf-8", "replace") if path.exists() else ""
        return [line for line in text.splitlines() if "SMS HTTP-request" in line and f"from={phone}&" in line]
