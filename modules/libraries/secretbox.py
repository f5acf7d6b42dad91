"""Encryption at rest for secret configuration values.

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, with a key derived
from the app's secret key by HKDF, so rotating SECRET_KEY makes stored
secrets unreadable (they must be entered again), never silently wrong.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "enc:v1:"


class SecretError(ValueError):
    """A stored secret cannot be decrypted (the secret key changed?)."""


class SecretBox:
    """encrypt(str) -> token; decrypt(token) -> str."""

    def __init__(self, secret_key: str, purpose: bytes = b"switchboard library config"):
        raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))

    def encrypt(self, value: str) -> str:
        """An opaque, authenticated token for `value`."""
        return PREFIX + self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The value back; `SecretError` when the token is not ours."""
        if not token.startswith(PREFIX):
            raise SecretError("not an encrypted value")
        try:
            return self._fernet.decrypt(token[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretError(
                "a stored secret cannot be decrypted; was SECRET_KEY changed? "
                "Enter the secret again."
            ) from None
