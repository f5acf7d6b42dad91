"""Settings read from the environment (and `.env`), validated once at start-up.

Every variable is declared once in `VARIABLES`; `.env.example` and the README
table are checked against that list by the tests, so they cannot drift.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from dotenv import dotenv_values

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A variable has a value the application cannot use."""


def _text(raw: str) -> str:
    return raw.strip()


def _port(raw: str) -> int:
    raw = raw.strip()
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError
    return int(raw)


def _optional_port(raw: str) -> int | None:
    return _port(raw) if raw.strip() else None


def _positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value < 1:
        raise ValueError
    return value


def _positive_float(raw: str) -> float:
    value = float(raw.strip())
    if math.isnan(value) or value <= 0:
        raise ValueError
    return value


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError


def _rounds(raw: str) -> int:
    value = int(raw.strip())
    if not 4 <= value <= 16:
        raise ValueError
    return value


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper() if choices == LOG_LEVELS else raw.strip().lower()
        if value not in choices:
            raise ValueError
        return value

    return parse


def _url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ValueError
    return value


@dataclass(frozen=True)
class Var:
    """One environment variable: its default, what it accepts and what it means."""

    name: str
    default: str
    parse: Callable[[str], Any]
    accepts: str
    help: str


VARIABLES: tuple[Var, ...] = (
    Var(
        "BASE_URL",
        "http://127.0.0.1:8000",
        _url,
        "an http:// or https:// URL",
        "Public address of the app; links in mail use it, https turns on Secure cookies.",
    ),
    Var(
        "SECRET_KEY",
        "",
        _text,
        "any string (32+ random characters)",
        "Signs session cookies. Empty: generated once and kept in DB_PATH/secret_key.",
    ),
    Var(
        "DB_PATH",
        "./data",
        _text,
        "a folder path",
        "Folder of the SQLite database (created if missing).",
    ),
    Var(
        "DB_NAME",
        "switchboard.db",
        _text,
        "a file name",
        "SQLite database file inside DB_PATH.",
    ),
    Var(
        "DB_PORT",
        "",
        _optional_port,
        "empty or a port number 1-65535",
        "Accepted for a future server database; unused by SQLite.",
    ),
    Var(
        "DB_USER",
        "",
        _text,
        "any string",
        "Accepted for a future server database; unused by SQLite.",
    ),
    Var(
        "DB_PASS",
        "",
        _text,
        "any string",
        "Accepted for a future server database; unused by SQLite.",
    ),
    Var(
        "LOG_LEVEL",
        "INFO",
        _choice(*LOG_LEVELS),
        "one of " + ", ".join(LOG_LEVELS),
        "Lowest level written to the log.",
    ),
    Var(
        "LOG_FORMAT",
        "text",
        _choice("text", "json"),
        "text or json",
        "text: one readable line per record; json: one JSON object per line.",
    ),
    Var(
        "LOG_FILE",
        "",
        _text,
        "empty or a file path",
        "Also append log records to this file.",
    ),
    Var(
        "LOG_CONSOLE",
        "true",
        _bool,
        "true or false",
        "Write log records to standard error.",
    ),
    Var(
        "BCRYPT_ROUNDS",
        "12",
        _rounds,
        "a whole number from 4 to 16",
        "bcrypt cost for password hashes (each step doubles the work).",
    ),
    Var(
        "LOGIN_MAX_ATTEMPTS",
        "5",
        _positive_int,
        "a whole number >= 1",
        "Failed logins in a row before the user is locked out.",
    ),
    Var(
        "LOGIN_LOCKOUT_MINUTES",
        "15",
        _positive_int,
        "a whole number >= 1",
        "How long a lockout lasts.",
    ),
    Var(
        "LOGIN_RATE_LIMIT",
        "20",
        _positive_int,
        "a whole number >= 1",
        "Login attempts allowed per client address per minute.",
    ),
    Var(
        "SESSION_IDLE_MINUTES",
        "120",
        _positive_int,
        "a whole number >= 1",
        "A session unused this long is ended.",
    ),
    Var(
        "SESSION_MAX_HOURS",
        "24",
        _positive_int,
        "a whole number >= 1",
        "A session ends this long after sign-in, used or not.",
    ),
    Var(
        "SMTP_HOST",
        "",
        _text,
        "empty or a host name",
        "Mail server. Empty: mail stays in the outbox (readable by operators).",
    ),
    Var(
        "SMTP_PORT",
        "587",
        _port,
        "a port number 1-65535",
        "Mail server port.",
    ),
    Var(
        "SMTP_USERNAME",
        "",
        _text,
        "any string",
        "Mail server login (empty: no login).",
    ),
    Var(
        "SMTP_PASSWORD",
        "",
        _text,
        "any string",
        "Mail server password; never logged.",
    ),
    Var(
        "SMTP_SECURITY",
        "starttls",
        _choice("starttls", "tls", "none"),
        "starttls, tls or none",
        "starttls: upgrade a plain connection; tls: TLS from the start (port 465).",
    ),
    Var(
        "SMTP_FROM",
        "Switchboard <switchboard@localhost>",
        _text,
        "an address, optionally with a name",
        "Sender of the mail Switchboard sends.",
    ),
    Var(
        "LIBRARIES_DIR",
        "./libraries",
        _text,
        "a folder path",
        "Folder of library packages that owners can add by folder name.",
    ),
    Var(
        "LIBRARY_SYNC_SECONDS",
        "2",
        _positive_float,
        "a number of seconds > 0",
        "How often each process checks for library changes made by another.",
    ),
    Var(
        "WORKFLOW_WORKERS",
        "4",
        _positive_int,
        "a whole number >= 1",
        "Runs executed at the same time by each process.",
    ),
    Var(
        "WORKFLOW_STALE_SECONDS",
        "15",
        _positive_float,
        "a number of seconds > 0",
        "A running run whose process wrote no heartbeat for this long (a crash, a kill) goes "
        "back to the queue; heartbeats come every third of this, at most every 2 s.",
    ),
    Var(
        "RUN_RETENTION_DAYS",
        "30",
        _positive_int,
        "a whole number >= 1",
        "Finished runs (with their steps and logs) older than this are deleted.",
    ),
    Var(
        "HOST",
        "127.0.0.1",
        _text,
        "an interface address",
        "Default address for `webapp serve` (--host overrides).",
    ),
    Var(
        "PORT",
        "8000",
        _port,
        "a port number 1-65535",
        "Default port for `webapp serve` (--port overrides).",
    ),
    Var(
        "WORKERS",
        "1",
        _positive_int,
        "a whole number >= 1",
        "uvicorn worker processes for `webapp serve`.",
    ),
)


@dataclass(frozen=True)
class Settings:  # pylint: disable=too-many-instance-attributes  # one field per variable
    """Validated configuration. Build it with `Settings.load()`."""

    base_url: str
    secret_key: str = field(repr=False)
    db_path: str
    db_name: str
    db_port: int | None
    db_user: str
    db_pass: str = field(repr=False)
    log_level: str
    log_format: str
    log_file: str
    log_console: bool
    bcrypt_rounds: int
    login_max_attempts: int
    login_lockout_minutes: int
    login_rate_limit: int
    session_idle_minutes: int
    session_max_hours: int
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_password: str = field(repr=False)
    smtp_security: str
    smtp_from: str
    libraries_dir: str
    library_sync_seconds: float
    workflow_workers: int
    workflow_stale_seconds: float
    run_retention_days: int
    host: str
    port: int
    workers: int

    @property
    def data_dir(self) -> Path:
        """The folder that holds the database and generated secrets."""
        return Path(self.db_path)

    @property
    def database_file(self) -> Path:
        """Full path of the SQLite file."""
        return self.data_dir / self.db_name

    @property
    def secure_cookies(self) -> bool:
        """Cookies get the Secure flag when the app is served over https."""
        return self.base_url.startswith("https://")

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: str | os.PathLike[str] | None = ".env",
        **overrides: Any,
    ) -> "Settings":
        """Read variables from `environ` (default: the process environment),
        falling back to `env_file` and then to the defaults.

        Raises `SettingsError` with one line naming the variable and what it
        accepts when a value is unusable.
        """
        source: dict[str, str] = {}
        if env_file and Path(env_file).is_file():
            source.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        source.update(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for var in VARIABLES:
            raw = source.get(var.name, var.default)
            try:
                values[var.name.lower()] = var.parse(raw)
            except ValueError:
                raise SettingsError(
                    f"{var.name}={raw!r} is not valid: expected {var.accepts}"
                ) from None
        values.update(overrides)
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**values)
