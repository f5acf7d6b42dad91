"""Users: validation, global username uniqueness, roles in the same
transaction, no secrets in returned dicts, search and paging at scale."""

from __future__ import annotations

import pytest

from modules.authz import Authz
from modules.datastore import Database, Datastore, NotFoundError, ScopedDAO, ValidationError
from modules.tenants import PasswordHasher, Tenants, password_problems

SECRETS = ("password_hash", "reset_token_hash")


def test_create_user_normalizes_and_assigns_member(
    tenants: Tenants, authz: Authz, account: int
) -> None:
    user_id = tenants.create_user(account, "  Grace@Example.COM ", "  Grace   Hopper ")
    user = tenants.get_user(account, user_id)
    assert user is not None
    assert user["username"] == "grace@example.com"
    assert user["display_name"] == "Grace Hopper"
    assert user["account_id"] == account
    assert user["active"] is True
    assert user["failed_logins"] == 0
    assert user["has_password"] is False
    assert not set(SECRETS) & set(user)
    assert [r["name"] for r in authz.user_roles(account, user_id)] == ["Member"]


def test_create_user_with_roles_and_password(
    tenants: Tenants, authz: Authz, account: int, password: str
) -> None:
    user_id = tenants.create_user(
        account, "a@example.com", "A", password=password, role_names=("Admin", "Viewer")
    )
    assert [r["name"] for r in authz.user_roles(account, user_id)] == ["Admin", "Viewer"]
    assert tenants.get_user(account, user_id)["has_password"] is True
    assert tenants.authenticate("a@example.com", password).ok


@pytest.mark.parametrize(
    "username", ["", "   ", "ada", "ada@", "@example.com", "ada@example", "a b@example.com"]
)
def test_username_must_look_like_an_email_address(
    tenants: Tenants, account: int, username: str
) -> None:
    with pytest.raises(ValidationError) as info:
        tenants.create_user(account, username, "Ada")
    assert set(info.value.fields) == {"username"}


def test_every_bad_field_is_reported_at_once(tenants: Tenants, account: int) -> None:
    with pytest.raises(ValidationError) as info:
        tenants.create_user(account, "nope", " ", password="short")
    assert set(info.value.fields) == {"username", "display_name", "password"}


def test_username_is_unique_across_accounts(
    tenants: Tenants, account: int, other_account: int, db: Database
) -> None:
    tenants.create_user(account, "ada@example.com", "Ada")
    for target in (account, other_account):
        with pytest.raises(ValidationError) as info:
            tenants.create_user(target, "ADA@example.com", "Other Ada")
        assert "already in use" in info.value.fields["username"]
    assert db.execute_one("SELECT count(*) FROM user")[0] == 1


def test_the_global_unique_index_holds_even_behind_the_api(
    tenants: Tenants, store: Datastore, account: int, other_account: int
) -> None:
    tenants.create_user(account, "ada@example.com", "Ada")
    users = store.dao("user")
    assert isinstance(users, ScopedDAO)
    with pytest.raises(ValidationError):
        users.insert(other_account, {"username": "ada@example.com", "display_name": "Twin"})


def test_unknown_role_writes_nothing(tenants: Tenants, account: int, db: Database) -> None:
    with pytest.raises(ValidationError) as info:
        tenants.create_user(account, "ada@example.com", "Ada", role_names=("Member", "Wizard"))
    assert "Wizard" in info.value.fields["roles"]
    assert db.execute_one("SELECT count(*) FROM user")[0] == 0
    assert db.execute_one("SELECT count(*) FROM user_role")[0] == 0


def test_create_user_in_a_missing_account(tenants: Tenants) -> None:
    with pytest.raises(NotFoundError):
        tenants.create_user(9999, "ada@example.com", "Ada")


@pytest.mark.parametrize(
    ("username", "password", "expected"),
    [
        ("ada@example.com", "long enough password", []),
        ("ada@example.com", "short", ["at least 10"]),
        ("ada@example.com", "x" * 1025, ["at most 1024"]),
        ("ada@example.com", "x" * 1024, []),
        ("ada@example.com", "ADA@EXAMPLE.COM", ["email address"]),
        ("adalovelace@example.com", "AdaLovelace", ["email address"]),
        ("ada@example.com", "ada", ["at least 10", "email address"]),
    ],
)
def test_password_policy(username: str, password: str, expected: list[str]) -> None:
    problems = password_problems(username, password)
    assert len(problems) == len(expected)
    for problem, words in zip(problems, expected):
        assert words in problem


def test_policy_applies_when_creating_with_a_password(tenants: Tenants, account: int) -> None:
    with pytest.raises(ValidationError) as info:
        tenants.create_user(account, "grace@example.com", "Grace", password="grace")
    assert "at least 10" in info.value.fields["password"]


def test_find_user_by_username_is_global_and_stripped(
    tenants: Tenants, account: int, user: int
) -> None:
    found = tenants.find_user_by_username(" ADA@example.com ")
    assert found is not None
    assert found["id"] == user
    assert found["account_id"] == account
    assert not set(SECRETS) & set(found)
    assert tenants.find_user_by_username("nobody@example.com") is None


def test_update_user(tenants: Tenants, account: int, user: int) -> None:
    tenants.update_user(account, user, display_name="Ada L.", username="ADA.L@example.com")
    updated = tenants.get_user(account, user)
    assert (updated["display_name"], updated["username"]) == ("Ada L.", "ada.l@example.com")
    other = tenants.create_user(account, "grace@example.com", "Grace")
    with pytest.raises(ValidationError) as info:
        tenants.update_user(account, other, username="ada.l@example.com")
    assert "already in use" in info.value.fields["username"]
    with pytest.raises(ValidationError) as info:
        tenants.update_user(account, other, display_name="", username="bad")
    assert set(info.value.fields) == {"display_name", "username"}
    assert tenants.get_user(account, other)["display_name"] == "Grace"


def test_deactivating_ends_sessions(tenants: Tenants, account: int) -> None:
    member = tenants.create_user(account, "grace@example.com", "Grace")
    token = tenants.start_session(member)
    tenants.update_user(account, member, active=False)
    assert tenants.get_user(account, member)["active"] is False
    assert tenants.resolve_session(token) is None
    tenants.update_user(account, member, active=True)
    assert tenants.resolve_session(token) is None  # stays ended


def test_the_last_active_owner_stays(
    tenants: Tenants, authz: Authz, account: int, user: int
) -> None:
    with pytest.raises(ValidationError) as info:
        tenants.update_user(account, user, active=False)
    assert "Owner" in info.value.fields["active"]
    with pytest.raises(ValidationError):
        tenants.delete_user(account, user)
    second = tenants.create_user(account, "grace@example.com", "Grace", role_names=("Owner",))
    tenants.update_user(account, user, active=False)
    # Now `second` is the only active owner.
    with pytest.raises(ValidationError):
        tenants.update_user(account, second, active=False)
    assert tenants.delete_user(account, user)
    assert tenants.get_user(account, user) is None
    assert authz.user_roles(account, user) == []


def test_delete_user_takes_its_rows_along(
    tenants: Tenants, account: int, user: int, db: Database
) -> None:
    member = tenants.create_user(account, "grace@example.com", "Grace")
    tenants.start_session(member)
    tenants.create_api_key(account, member, "laptop")
    assert tenants.delete_user(account, member)
    assert not tenants.delete_user(account, member)
    for table in ("user_session", "api_key"):
        assert db.execute_one(f"SELECT count(*) FROM {table} WHERE user = ?", (member,))[0] == 0
    assert tenants.get_user(account, user) is not None


@pytest.fixture(name="thousand")
def fixture_thousand(store: Datastore, hasher: PasswordHasher, account: int) -> int:
    """1,000 users in `account` (one shared hash, inserted in one statement)."""
    users = store.dao("user")
    assert isinstance(users, ScopedDAO)
    shared = hasher.hash("a shared password")
    rows = [
        {
            "username": f"user{i:04d}@example.com",
            "display_name": f"Person {999 - i:04d}" + (" Smith" if i % 100 == 0 else ""),
            "password_hash": shared,
        }
        for i in range(1000)
    ]
    assert users.insert_many(account, rows) == 1000
    return account


def test_paging_through_a_thousand_users(tenants: Tenants, thousand: int) -> None:
    assert tenants.count_users(thousand) == 1000
    seen: list[str] = []
    after = None
    while True:
        page = tenants.page_users(thousand, after=after, limit=100)
        assert not any(set(SECRETS) & set(u) for u in page.items)
        seen += [u["username"] for u in page.items]
        after = page.next_cursor
        if after is None:
            break
    assert seen == sorted(seen) and len(set(seen)) == 1000
    by_name = tenants.page_users(thousand, order_by="display_name", limit=3)
    assert [u["display_name"] for u in by_name.items] == [
        "Person 0000",
        "Person 0001",
        "Person 0002",
    ]


def test_searching_a_thousand_users(tenants: Tenants, thousand: int) -> None:
    smiths = tenants.page_users(thousand, search="smith", limit=50)
    assert len(smiths.items) == 10 and smiths.next_cursor is None
    one = tenants.page_users(thousand, search="USER0042@")
    assert [u["username"] for u in one.items] == ["user0042@example.com"]


def test_page_users_refuses_unknown_sort(tenants: Tenants, account: int) -> None:
    with pytest.raises(ValidationError) as info:
        tenants.page_users(account, order_by="password_hash")
    assert set(info.value.fields) == {"order_by"}


def test_has_users(tenants: Tenants, account: int) -> None:
    assert not tenants.has_users()
    tenants.create_user(account, "ada@example.com", "Ada")
    assert tenants.has_users()
