"""`email.send`: queue a plain message through the outbox."""

from __future__ import annotations

from typing import Any

from modules.email import Mailer
from modules.libraries.contract import LibraryRegistry
from modules.libraries.manager import CoreLibrary


def mail_library(mailer: Mailer) -> CoreLibrary:
    """The email library, bound to the app's mailer."""

    def register(registry: LibraryRegistry) -> None:
        registry.info(version="1.0", title="Email", description="Send mail through the outbox.")

        @registry.capability(name="send", title="Send an email")
        def send(to: str, subject: str, body: str) -> dict[str, Any]:
            """Queues a plain-text message; it is sent in the background, with retries."""
            outbox_id = mailer.queue(to, "message", {"subject": subject, "body": body})
            return {"outbox_id": outbox_id, "to": to}

    return CoreLibrary("email", register)
