"""Rendering: the shipped templates, strict variables, escaping only in HTML, safe names."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.modules.email.email_helpers import INVITE, RESET, MakeMailer

from modules.datastore import DAO


def test_password_reset_renders_subject_text_and_html(make_mailer: MakeMailer) -> None:
    """The shipped reset mail: one-line subject, the link and expiry in both bodies."""
    mailer = make_mailer(None)
    row = mailer.get(mailer.queue("ada@example.com", "password_reset", RESET))
    assert row["subject"] == "Reset your Switchboard password"
    assert row["template"] == "password_reset"
    for body in (row["body_text"], row["body_html"]):
        assert "Ada Lovelace" in body
        assert RESET["reset_url"] in body
        assert "30 minutes" in body
    assert row["body_html"].lstrip().startswith("<!doctype html>")


def test_invite_renders_with_who_invited_and_the_account(make_mailer: MakeMailer) -> None:
    """The shipped invite: inviter and account in the subject, the set-password link inside."""
    mailer = make_mailer(None)
    row = mailer.get(mailer.queue("grace@example.com", "invite", INVITE))
    assert row["subject"] == "Ada invited you to Acme Corp on Switchboard"
    for body in (row["body_text"], row["body_html"]):
        assert "Hello Grace," in body
        assert "Acme Corp" in body
        assert INVITE["reset_url"] in body
        assert "1440 minutes" in body


def test_html_is_escaped_and_text_is_not(make_mailer: MakeMailer) -> None:
    """Autoescape applies to .html only: markup in a name stays text in HTML mail."""
    mailer = make_mailer(None)
    row = mailer.get(
        mailer.queue("ada@example.com", "password_reset", {**RESET, "display_name": "<b>Ada</b>"})
    )
    assert "Hello <b>Ada</b>," in row["body_text"]
    assert "&lt;b&gt;Ada&lt;/b&gt;" in row["body_html"]
    assert "<b>Ada</b>" not in row["body_html"]


def test_missing_context_value_is_an_error_and_stores_nothing(
    make_mailer: MakeMailer, outbox: DAO
) -> None:
    """StrictUndefined: a template never goes out with a blank where a value belongs."""
    mailer = make_mailer(None)
    context = {k: v for k, v in RESET.items() if k != "reset_url"}
    with pytest.raises(ValueError, match="reset_url"):
        mailer.queue("ada@example.com", "password_reset", context)
    assert outbox.count() == 0


@pytest.mark.parametrize("name", ["nope", "../email/password_reset", "_layout", "Invite", ""])
def test_unknown_or_unsafe_template_names_are_refused(
    name: str, make_mailer: MakeMailer, outbox: DAO
) -> None:
    """Missing templates, paths, partials and odd names: ValueError."""
    mailer = make_mailer(None)
    with pytest.raises(ValueError):
        mailer.queue("ada@example.com", name, RESET)
    assert outbox.count() == 0


def test_multi_line_or_empty_subject_template_is_refused(
    tmp_path: Path, make_mailer: MakeMailer
) -> None:
    """The subject file must render to exactly one non-empty line."""
    (tmp_path / "two.subject.txt").write_text("Line one\nLine two\n")
    (tmp_path / "two.txt").write_text("Body")
    (tmp_path / "blank.subject.txt").write_text("{{ nothing }}\n")
    (tmp_path / "blank.txt").write_text("Body")
    mailer = make_mailer(None, templates_dir=tmp_path)
    with pytest.raises(ValueError, match="one line"):
        mailer.queue("ada@example.com", "two", {})
    with pytest.raises(ValueError, match="empty subject"):
        mailer.queue("ada@example.com", "blank", {"nothing": " "})
