"""The tables of accounts, users, sessions and API keys.

`account` and `user` must be registered before the authz entities (which
reference `user`). After registration, `create_global_indexes` adds what the
entity definitions cannot say: usernames and API key hashes are unique
across all accounts, and reset tokens are found by their hash alone.
"""

from __future__ import annotations

from modules.datastore import Database, Entity, Field, utcnow

ACCOUNT = Entity(
    "account",
    (
        Field("name", required=True, unique=True),
        Field("status", required=True, default="active", help="active or suspended"),
        Field("platform", "boolean", default=False),
        Field("created_at", "datetime", default=utcnow),
    ),
    label="Account",
    search_fields=("name",),
)

USER = Entity(
    "user",
    (
        Field("username", required=True, help="an email address, lower-case"),
        Field("display_name", required=True),
        Field("password_hash"),
        Field("active", "boolean", default=True),
        Field("failed_logins", "integer", default=0),
        Field("locked_until", "datetime"),
        Field("last_login_at", "datetime"),
        Field("reset_token_hash"),
        Field("reset_token_created_at", "datetime"),
        Field("created_at", "datetime", default=utcnow),
    ),
    tenant_scoped=True,
    label="User",
    # One index per sort order the Users screen offers: keyset pages then
    # read 51 rows from the index instead of sorting the whole account.
    indexes=(("username",), ("display_name",), ("created_at",), ("last_login_at",)),
    search_fields=("username", "display_name"),
)

USER_SESSION = Entity(
    "user_session",
    (
        Field("token_hash", required=True, unique=True),
        Field("user", "reference", required=True, references="user", on_delete="cascade"),
        Field("created_at", "datetime"),
        Field("last_seen_at", "datetime"),
        Field("ip"),
        Field("user_agent"),
    ),
    label="Session",
)

API_KEY = Entity(
    "api_key",
    (
        Field("user", "reference", required=True, references="user", on_delete="cascade"),
        Field("name", required=True),
        Field("prefix", required=True),
        Field("key_hash", required=True, unique=True),
        Field("created_at", "datetime", default=utcnow),
        Field("last_used_at", "datetime"),
        Field("revoked_at", "datetime"),
    ),
    tenant_scoped=True,
    label="API key",
)

ENTITIES: tuple[Entity, ...] = (ACCOUNT, USER, USER_SESSION, API_KEY)

GLOBAL_INDEXES = (
    # There is at most one platform account.
    "CREATE UNIQUE INDEX IF NOT EXISTS ux_account__platform_only_one ON account (platform) "
    "WHERE platform = 1",
    # Login is by username alone, so it is unique across accounts.
    "CREATE UNIQUE INDEX IF NOT EXISTS ux_user__username_global ON user (username)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ux_api_key__key_hash_global ON api_key (key_hash)",
    "CREATE INDEX IF NOT EXISTS ix_user__reset_token_hash_global ON user (reset_token_hash) "
    "WHERE reset_token_hash IS NOT NULL",
)


def create_global_indexes(db: Database) -> None:
    """Add the cross-account indexes (idempotent; run after registering ENTITIES)."""
    db.apply(GLOBAL_INDEXES)
