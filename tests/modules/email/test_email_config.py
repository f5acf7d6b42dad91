"""SmtpConfig: sane values only, and a repr that keeps the password out."""

from __future__ import annotations

import dataclasses

import pytest

from modules.email import SmtpConfig


def test_defaults_and_repr_without_password() -> None:
    """Port 587 with STARTTLS by default; the password is nowhere in repr() or str()."""
    config = SmtpConfig("smtp.example.com", username="ada", password="hunter2-secret")
    assert (config.port, config.security, config.timeout) == (587, "starttls", 10.0)
    assert config.from_address == "switchboard@localhost"
    assert "hunter2-secret" not in repr(config)
    assert "hunter2-secret" not in str(config)
    assert "ada" in repr(config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.password = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host": ""},
        {"security": "ssl"},
        {"port": 0},
        {"port": 70000},
        {"port": "25"},
        {"timeout": 0},
        {"from_address": "nobody"},
        {"from_address": "a@example.com\r\nBcc: eve@example.com"},
    ],
)
def test_bad_values_are_refused(kwargs: dict) -> None:
    """A config that could never work (or would inject headers) fails at once."""
    with pytest.raises(ValueError):
        SmtpConfig(**{"host": "smtp.example.com", **kwargs})


def test_from_address_may_carry_a_display_name() -> None:
    """`Name <address>` is a valid From."""
    config = SmtpConfig("smtp.example.com", from_address="Switchboard <noreply@example.com>")
    assert config.from_address.endswith("<noreply@example.com>")
