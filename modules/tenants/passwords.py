"""Password hashing (bcrypt) and the password policy.

bcrypt only reads the first 72 bytes of a password (bcrypt 5 refuses longer
ones), so the password is first reduced to a fixed 44-byte string: the
base64 of its SHA-256 digest. Every byte of a long passphrase then counts,
and no NUL byte reaches bcrypt.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading

import bcrypt

MIN_LENGTH = 10
MAX_LENGTH = 1024


def _prepare(password: str) -> bytes:
    digest = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
    return base64.b64encode(digest)


class PasswordHasher:
    """bcrypt with a configurable cost (`rounds`, 4..31; 12 in production)."""

    def __init__(self, rounds: int = 12):
        if not 4 <= rounds <= 31:
            raise ValueError("bcrypt rounds must be between 4 and 31")
        self.rounds = rounds
        self._dummy: bytes | None = None
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        """A salted hash to store; the password itself is never stored."""
        salt = bcrypt.gensalt(rounds=self.rounds)
        return bcrypt.hashpw(_prepare(password), salt).decode("ascii")

    def verify(self, password: str, hashed: str | None) -> bool:
        """Whether `password` matches `hashed`; False (never an error) for a
        missing or malformed hash."""
        if not isinstance(password, str) or not isinstance(hashed, str):
            return False
        try:
            return bcrypt.checkpw(_prepare(password), hashed.encode("ascii"))
        except (ValueError, TypeError, UnicodeError):
            return False

    def dummy_verify(self) -> None:
        """Spend the time a real `verify` takes, for unknown usernames, so
        response times do not tell which usernames exist."""
        with self._lock:
            dummy = self._dummy
        if dummy is None:
            # The first call hashes instead of checking, which costs the same.
            made = self.hash(secrets.token_urlsafe(16)).encode("ascii")
            with self._lock:
                self._dummy = made
            return
        bcrypt.checkpw(_prepare(secrets.token_urlsafe(16)), dummy)


def password_problems(username: str, password: str) -> list[str]:
    """What is wrong with `password` for this user, in words for a form; empty
    when it is acceptable."""
    if not isinstance(password, str):
        return ["Enter a password."]
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    name = (username or "").strip().casefold()
    candidate = password.strip().casefold()
    if name and candidate in {name, name.split("@", 1)[0]}:
        problems.append("Do not use your email address, or the part before the @, as password.")
    return problems
