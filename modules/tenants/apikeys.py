"""API keys: "sb_" + 43 random characters, shown once; only the SHA-256 of
the key is stored, with its first 8 characters for people to recognise it."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from modules.logs import get_logger
from modules.tenants._base import (
    TOUCH_INTERVAL,
    USER_COLUMNS,
    USER_SELECT,
    TenantsBase,
    clean_name,
    iso,
    public_user,
    token_hash,
    user_from_row,
)
from modules.datastore import ValidationError

log = get_logger("tenants.apikeys")

KEY_PREFIX = "sb_"
PREFIX_LENGTH = 8
_RESOLVE = (
    f"SELECT {USER_SELECT}, k.id, k.revoked_at, k.last_used_at, a.status "
    "FROM api_key k JOIN user u ON u.id = k.user AND u.account_id = k.account_id "
    "JOIN account a ON a.id = u.account_id WHERE k.key_hash = ?"
)


class ApiKeysMixin(TenantsBase):
    """Creating, listing, revoking and resolving API keys."""

    def create_api_key(self, account_id: int, user_id: int, name: str) -> tuple[int, str]:
        """A new key acting as the user: (id, raw key). Show the raw key once;
        it cannot be recovered."""
        errors: dict[str, str] = {}
        name = clean_name(name, "a name for the key", errors, "name")
        if errors:
            raise ValidationError(errors)
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._db.transaction():
            self._require_user(account_id, user_id)
            key_id = self._t.api_key.insert(
                account_id,
                {
                    "user": user_id,
                    "name": name,
                    "prefix": raw[:PREFIX_LENGTH],
                    "key_hash": token_hash(raw),
                },
            )
        log.info("API key %s created for user %s of account %s", key_id, user_id, account_id)
        return key_id, raw

    def list_api_keys(self, account_id: int, user_id: int) -> list[dict[str, Any]]:
        """The user's keys, newest first, revoked ones included (no hashes)."""
        rows = self._t.api_key.find(account_id, {"user": user_id}, order_by="id", descending=True)
        return [{k: v for k, v in r.items() if k != "key_hash"} for r in rows]

    def revoke_api_key(self, account_id: int, user_id: int, key_id: int) -> bool:
        """Stop the key working; False when the user has no such live key."""
        revoked = self._db.execute_write(
            "UPDATE api_key SET revoked_at = ? WHERE id = ? AND account_id = ? AND user = ? "
            "AND revoked_at IS NULL",
            (iso(self._now()), key_id, account_id, user_id),
        ).rowcount
        if revoked:
            log.info("API key %s of user %s revoked", key_id, user_id)
        return revoked > 0

    def resolve_api_key(self, raw: str) -> dict[str, Any] | None:
        """The user (with "account_id" and "api_key_id") a key acts as, or None
        when the key is unknown or revoked, the user inactive or the account
        suspended."""
        if not isinstance(raw, str) or not raw.startswith(KEY_PREFIX):
            return None
        row = self._db.execute_one(_RESOLVE, (token_hash(raw),))
        if row is None:
            return None
        key_id, revoked_at, used_raw, status = tuple(row)[len(USER_COLUMNS) :]
        user = user_from_row(row)
        if revoked_at is not None or not user["active"] or status != "active":
            return None
        now = self._now()
        if used_raw is None or now - datetime.fromisoformat(used_raw) >= TOUCH_INTERVAL:
            self._t.api_key.update(user["account_id"], key_id, {"last_used_at": now})
        return {**public_user(user), "api_key_id": key_id}
