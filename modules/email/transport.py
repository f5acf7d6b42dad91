"""Talking to the SMTP server with `smtplib`: connect, build a message, describe errors."""

from __future__ import annotations

import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Mapping

from modules.email.config import SmtpConfig

MAX_ERROR = 500


def connect(config: SmtpConfig) -> smtplib.SMTP:
    """An SMTP session ready to send: TLS as configured, logged in when a
    username is set. The caller closes it (`with connect(...) as client:`)."""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if config.security == "tls":
        client = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=context)
    else:
        client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    try:
        if config.security == "starttls":
            # Raises SMTPNotSupportedError when the server does not offer
            # STARTTLS: we never fall back to sending in clear.
            client.starttls(context=context)
        if config.username:
            client.login(config.username, config.password)
    except BaseException:
        client.close()
        raise
    return client


def build_message(row: Mapping[str, Any], config: SmtpConfig, now: datetime) -> EmailMessage:
    """The message for one outbox row: text, plus an HTML alternative if there is one.

    The Message-ID is derived from the outbox row (id and creation time), so a mail sent twice (a
    sender that died after the server accepted it) can be recognised as one.
    """
    domain = config.from_address.rsplit("@", 1)[-1].strip(">").strip() or "localhost"
    message = EmailMessage()
    message["From"] = config.from_address
    message["To"] = row["to_address"]
    message["Subject"] = row["subject"]
    message["Date"] = format_datetime(now)
    created = row.get("created_at")
    stamp = f".{int(created.timestamp() * 1_000_000)}" if isinstance(created, datetime) else ""
    message["Message-ID"] = f"<switchboard.outbox.{row['id']}{stamp}@{domain}>"
    message.set_content(row["body_text"])
    if row.get("body_html"):
        message.add_alternative(row["body_html"], subtype="html")
    return message


def is_refusal(exc: BaseException) -> bool:
    """True when the server refused one message (or it could not be encoded)
    but the connection can go on with the next."""
    return isinstance(
        exc,
        (
            smtplib.SMTPRecipientsRefused,
            smtplib.SMTPSenderRefused,
            smtplib.SMTPDataError,
            smtplib.SMTPNotSupportedError,  # e.g. a UTF-8 address without SMTPUTF8
            ValueError,
        ),
    )


def describe_error(exc: BaseException, config: SmtpConfig) -> str:
    """A short, password-free account of why a send failed, for `last_error`."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "recipient refused: " + "; ".join(
            f"{address} {code} {_decode(reply)}"
            for address, (code, reply) in exc.recipients.items()
        )
    elif isinstance(exc, UnicodeError):
        # Its message quotes the offending character, which may come from
        # the password: keep only the reason.
        text = f"{type(exc).__name__}: {getattr(exc, 'reason', 'cannot encode')}"
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"{type(exc).__name__}: {exc.smtp_code} {_decode(exc.smtp_error)}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    if config.password:
        text = text.replace(config.password, "********")
    return text[:MAX_ERROR]


def _decode(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
