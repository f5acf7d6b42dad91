"""Builds every module from `Settings` with constructor injection.

Nothing in `modules/` reads settings or globals; this is the one place that
knows how the pieces fit. Tests build the same graph on a temporary folder.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from modules.datastore import Database, Datastore
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


@dataclass
class Container:
    """The application's object graph."""

    settings: Settings
    secret_key: str
    db: Database
    store: Datastore

    @classmethod
    def build(cls, settings: Settings) -> "Container":
        """Create every module for these settings (creates the data folder)."""
        db = Database(settings.database_file)
        return cls(
            settings=settings,
            secret_key=resolve_secret_key(settings),
            db=db,
            store=Datastore(db),
        )

    def close(self) -> None:
        """Release what the modules hold (connections, threads)."""
        self.db.close()
