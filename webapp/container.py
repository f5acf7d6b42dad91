"""Builds every module from `Settings` with constructor injection.

Nothing in `modules/` reads settings or globals; this is the one place that
knows how the pieces fit. Tests build the same graph on a temporary folder.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from modules import authz, email, tenants
from modules.authz import Authz, PermissionRegistry
from modules.datastore import Database, Datastore
from modules.email import Mailer, SmtpConfig
from modules.libraries import permissions as library_permissions
from modules.libraries import state as library_state
from modules.libraries.core import core_libraries
from modules.libraries.isolation import SubprocessWorker
from modules.libraries.loader import LibrarySource
from modules.libraries.manager import LibraryManager
from modules.libraries.secretbox import SecretBox
from modules.tenants import PasswordHasher, Tenants
from modules.workflows import entities as workflow_entities
from modules.workflows import permissions as workflow_permissions
from modules.workflows.service import Workflows
from webapp.paths import TEMPLATES
from webapp.ratelimit import RateLimiter
from webapp.settings import Settings

SECRET_FILE = "secret_key"


def resolve_secret_key(settings: Settings) -> str:
    """`SECRET_KEY`, or one generated once and kept (mode 0600) in the data folder."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when several workers start at once, exactly one writes it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(48))
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key; delete it to regenerate")
    return key


def smtp_config(settings: Settings) -> SmtpConfig | None:
    """SMTP settings, or None when no SMTP_HOST is set (mail stays in the outbox)."""
    if not settings.smtp_host:
        return None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        security=settings.smtp_security,
        from_address=settings.smtp_from,
    )


@dataclass
class Container:  # pylint: disable=too-many-instance-attributes  # the object graph
    """The application's object graph."""

    settings: Settings
    secret_key: str
    db: Database
    store: Datastore
    permissions: PermissionRegistry
    authz: Authz
    tenants: Tenants
    mailer: Mailer
    libraries: LibraryManager
    workflows: Workflows
    login_limiter: RateLimiter

    @classmethod
    def build(cls, settings: Settings) -> "Container":
        """Create every module for these settings (creates the data folder)."""
        db = Database(settings.database_file)
        store = Datastore(db)
        # Order matters: tenant-scoped entities need `account`, authz needs `user`.
        for entity in (
            *tenants.ENTITIES,
            *authz.ENTITIES,
            *email.ENTITIES,
            *library_state.ENTITIES,
            *workflow_entities.ENTITIES,
        ):
            store.register(entity)
        tenants.create_global_indexes(db)
        registry = PermissionRegistry()
        registry.register(
            (
                *authz.PERMISSIONS,
                *tenants.PERMISSIONS,
                *email.PERMISSIONS,
                *library_permissions.PERMISSIONS,
                *workflow_permissions.PERMISSIONS,
            )
        )

        def is_platform(account_id: int) -> bool:
            # Authz and Tenants need each other; `people` is bound just below.
            return people.is_platform(account_id)

        access = Authz(store, registry, is_platform=is_platform)
        people = Tenants(
            store,
            access,
            PasswordHasher(settings.bcrypt_rounds),
            max_failed_logins=settings.login_max_attempts,
            lockout_minutes=settings.login_lockout_minutes,
            session_idle_minutes=settings.session_idle_minutes,
            session_max_hours=settings.session_max_hours,
            on_event=lambda account_id, event, payload: flows.emit(account_id, event, payload),
        )
        secret_key = resolve_secret_key(settings)
        mailer = Mailer(store, smtp_config(settings), TEMPLATES / "email")

        def worker(source: LibrarySource, _mode: str) -> SubprocessWorker:
            return SubprocessWorker(source, settings.database_file)

        libraries = LibraryManager(
            store,
            registry,
            SecretBox(secret_key),
            libraries_dir=settings.libraries_dir,
            core=core_libraries(people, mailer),
            runner_factory=worker,
            poll_seconds=settings.library_sync_seconds,
            event_sink=lambda account_id, event, payload: flows.emit(account_id, event, payload),
        )
        flows = Workflows(
            store,
            libraries,
            people,
            mailer,
            SecretBox(secret_key),
            permissions_for=access.entitled_permissions,
            base_url=settings.base_url,
            workers=settings.workflow_workers,
            stale_seconds=settings.workflow_stale_seconds,
            retention_days=settings.run_retention_days,
        )
        return cls(
            settings=settings,
            secret_key=secret_key,
            db=db,
            store=store,
            permissions=registry,
            authz=access,
            tenants=people,
            mailer=mailer,
            libraries=libraries,
            workflows=flows,
            login_limiter=RateLimiter(settings.login_rate_limit, 60.0),
        )

    @property
    def mail_sender(self) -> str:
        """The bare sender address (for display)."""
        return parseaddr(self.settings.smtp_from)[1]

    def close(self) -> None:
        """Release what the modules hold (connections, threads)."""
        runner_stopped = self.workflows.stop()
        self.libraries.stop()
        self.mailer.stop()
        if runner_stopped:
            self.db.close()
        # else: a step is still running on its connection; closing it under
        # the step would crash the process. The process is ending anyway.
