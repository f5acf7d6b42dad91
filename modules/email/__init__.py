"""Mail through an outbox table: render a template, queue it, send it over SMTP.

for entity in ENTITIES:  # the container does this once, before the Mailer
    store.register(entity)
registry.register(PERMISSIONS)  # outbox.view, outbox.manage
mailer = Mailer(store, SmtpConfig("smtp.example.com", username="u", password="p"),
                Path("templates/email"))
mailer.start()
outbox_id = mailer.queue("ada@example.com", "password_reset", {...})
"""

from modules.email.config import SECURITY_MODES, SmtpConfig
from modules.email.mailer import Mailer
from modules.email.outbox import ENTITIES, FAILED, OUTBOX, QUEUED, SENDING, SENT, STATUSES
from modules.email.permissions import PERMISSIONS

__all__ = [
    "ENTITIES",
    "FAILED",
    "Mailer",
    "OUTBOX",
    "PERMISSIONS",
    "QUEUED",
    "SECURITY_MODES",
    "SENDING",
    "SENT",
    "STATUSES",
    "SmtpConfig",
]
