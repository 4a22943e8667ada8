"""One Settings object for the whole service (environment prefix ``SIGAP_``)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRET = "dev-only-secret-change-me"  # noqa: S105 - refused in production below


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting is named, its value (a key, a secret) not shown
    model_config = SettingsConfigDict(env_prefix="SIGAP_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    environment: Environment = Environment.development
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'sigap.db'}"
    secret_key: str = DEFAULT_SECRET
    # Separate key for page cursors so a leaked cursor key cannot mint tokens.
    cursor_secret: str = ""
    access_token_minutes: int = Field(default=8 * 60, ge=1, le=60 * 24 * 30)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    page_size_default: int = Field(default=50, ge=1)
    page_size_max: int = Field(default=500, ge=1)
    seed_data_dir: Path = PROJECT_ROOT / "seed_data"
    log_level: str = "INFO"
    log_json: bool = True
    # Roles that see NIK and KK numbers in full; every other role sees them masked.
    full_identifier_roles: list[str] = ["admin", "enumerator"]
    # SQLite only: milliseconds a writer waits for the lock before failing.
    sqlite_busy_timeout_ms: int = 10_000
    # Connection pool per process.  Requests run on a pool of 40 threads (anyio's default);
    # a request that finds no free connection within db_pool_timeout gets 503 + Retry-After
    # (never a 500 after a long wait: gateways give up after a few seconds).
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(default=5.0, gt=0)
    # Requests inside the app at once (the rest queue on the event loop, then 503): kept below
    # the 40 request threads so a COMMIT always finds a thread (app/ops/middleware.py).
    max_in_flight: int = Field(default=24, ge=1, le=36)
    queue_timeout_seconds: float = Field(default=10.0, gt=0)
    # Sync v1 (docs/sync-protocol.md)
    device_token_days: int = Field(default=30, ge=1, le=365)
    sync_max_batch: int = Field(default=500, ge=1, le=5000)
    sync_max_page: int = Field(default=500, ge=1, le=5000)
    sync_policy_file: Path = PROJECT_ROOT / "seed_data" / "sync_field_policies.toml"
    # Resumable media (tus 1.0): where files live, and the largest file accepted.
    media_dir: Path = PROJECT_ROOT / "var" / "media"
    media_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # Feature phones (docs/feature-phones.md).  A gateway without a secret here is refused
    # (403): every inbound callback must prove it comes from the gateway.
    gateway_secrets: dict[str, str] = {}
    ussd_code: str = "*123#"            # what replies tell residents to dial
    channel_phone_per_hour: int = Field(default=12, ge=1)   # messages from one phone
    channel_nik_per_day: int = Field(default=6, ge=1)       # registrations/status checks naming one NIK
    channel_pin_attempts: int = Field(default=3, ge=1)
    channel_pin_lock_hours: int = Field(default=24, ge=1)
    ussd_resume_hours: int = Field(default=24, ge=1)        # how long unfinished menus are kept
    sms_sender: Literal["log", "kannel"] = "log"           # who sends queued SMS (channels/outbound.py)
    # Kannel's smsbox (docs/feature-phones.md#kannel): the sendsms interface and its sendsms-user
    kannel_sendsms_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    kannel_username: str = "sigap"
    kannel_password: str = ""
    kannel_from: str = "SIGAP"         # sender shown on residents' phones ("": smsbox's global-sender)
    kannel_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # The address gateways call (scheme, host, any path prefix), e.g. https://sigap.ternatekota.go.id:
    # Twilio-style signatures cover the full URL, which behind a proxy is not the one the app sees.
    public_base_url: str | None = None
    # How far a signed webhook's timestamp may be from the server clock (replays are refused).
    webhook_tolerance_seconds: int = Field(default=300, ge=1)

    # Appeals (sanggah, docs/appeals.md): open for appeal_window_days days from
    # appeal_window_opens (the announcement date; None = always open).  Once decisions carry
    # their own date, the window counts from the household's decision date instead (the
    # ``decided_on`` argument of app.appeals.service.file_appeal).
    appeal_window_opens: date | None = None
    appeal_window_days: int = Field(default=30, ge=1, le=366)

    # Reconciliation (docs/reconciliation.md): run the incremental worker as a thread of the
    # API process (each uvicorn worker process runs one; they share the cursor safely), or
    # leave it off and run `sigap dedup worker` beside the server.
    reconcile_worker: bool = False
    reconcile_poll_seconds: float = Field(default=2.0, gt=0)

    # Audit log (app/audit/chain.py): the server seals new entries into the keyed hash chain
    # every audit_seal_seconds (0: not in this process; then run `sigap audit seal` from cron).
    # The chain's key: audit_secret, else derived from secret_key. Changing it makes every
    # sealed entry fail verification: keep it with the secret key.
    audit_seal_seconds: float = Field(default=5.0, ge=0)
    audit_secret: str = ""

    # NIK and KK numbers at rest (app/pii.py, docs/security.md): "id:base64url(32 bytes)"
    # keys, comma-separated, the first current. `sigap keys new ID` makes one. Empty: fixed public
    # development keys (never for real data; production refuses).
    pii_keys: str = ""
    pii_index_keys: str = ""

    # Password logins (app/auth/throttle.py, /auth/token and the console): after this many
    # refused logins for one username, or from one client address, within the window, logins
    # there are refused with 429 until the oldest counted failure leaves the window.
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_max_failures_per_client: int = Field(default=50, ge=1, le=10_000)
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)

    # Reports (docs/reports.md): published exports hide every cell below this many families
    # or persons, and the cells that would let one be recomputed from the totals.
    report_min_cell: int = Field(default=5, ge=2, le=100)
    # The console's dashboard (app/console/data.py): its figures are recounted at most this
    # often per area (0: on every page view); the page shows their time and offers a recount.
    dashboard_cache_seconds: float = Field(default=60.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        from app.pii import parse_keys  # the keys' own rules, named by setting

        seal_keys = parse_keys(self.pii_keys, "SIGAP_PII_KEYS")
        index_keys = parse_keys(self.pii_index_keys, "SIGAP_PII_INDEX_KEYS")
        if self.environment is Environment.production:
            if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "SIGAP_SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production (refusing to start with the development default)"
                )
            if self.database_url.startswith("sqlite"):
                raise ValueError("production requires PostgreSQL (SIGAP_DATABASE_URL)")
            if not seal_keys or not index_keys:
                raise ValueError("SIGAP_PII_KEYS and SIGAP_PII_INDEX_KEYS must be set in production "
                                 "(make each with `sigap keys new k1`; keep them apart from backups)")
            if self.sms_sender == "kannel" and not self.kannel_password:
                raise ValueError("SIGAP_SMS_SENDER=kannel needs SIGAP_KANNEL_PASSWORD (the sendsms-user's)")
            if self.sms_sender == "kannel" and not self.public_base_url:
                raise ValueError("SIGAP_SMS_SENDER=kannel needs SIGAP_PUBLIC_BASE_URL (delivery reports "
                                 "come back to it)")
        return self

    @property
    def audit_key(self) -> bytes:
        return (self.audit_secret or f"audit:{self.secret_key}").encode()

    @property
    def cursor_key(self) -> bytes:
        return (self.cursor_secret or f"cursor:{self.secret_key}").encode()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
