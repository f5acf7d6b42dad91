"""Queue and send against a real SMTP server: delivery, retries, failure, no-SMTP mode."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.modules.email.email_helpers import (
    FROM,
    INVITE,
    RESET,
    START,
    Clock,
    MakeMailer,
    SmtpServer,
    StartServer,
    free_port,
)

from modules.datastore import DAO, ValidationError


def test_queued_reset_mail_is_delivered_with_the_right_headers_and_link(
    server: SmtpServer, make_mailer: MakeMailer, clock: Clock
) -> None:
    """queue + send_due: one message, To/From/Subject right, the reset URL in both bodies."""
    mailer = make_mailer(server.port)
    outbox_id = mailer.queue("ada@example.com", "password_reset", RESET)
    assert mailer.get(outbox_id)["status"] == "queued"

    assert mailer.send_due() == 1

    [received] = server.inbox.received
    assert received.mail_from == FROM
    assert received.rcpt_tos == ["ada@example.com"]
    message = received.message
    assert message["To"] == "ada@example.com"
    assert message["From"] == FROM
    assert message["Subject"] == "Reset your Switchboard password"
    assert message["Message-ID"].startswith(f"<switchboard.outbox.{outbox_id}.")
    text = message.get_body(("plain",)).get_content()
    assert "Hello Ada Lovelace," in text
    assert RESET["reset_url"] in text
    assert "30 minutes" in text
    row = mailer.get(outbox_id)
    assert row["status"] == "sent"
    assert row["sent_at"] == clock.now
    assert row["attempts"] == 0
    assert mailer.send_due() == 0  # nothing left, nothing sent twice
    assert len(server.inbox.received) == 1


def test_html_alternative_is_sent_next_to_the_text(
    server: SmtpServer, make_mailer: MakeMailer
) -> None:
    """With a .html template the message is multipart/alternative: text first, then HTML."""
    mailer = make_mailer(server.port)
    mailer.queue("grace@example.com", "invite", {**INVITE, "account_name": "R&D <Labs>"})
    mailer.send_due()

    [message] = server.inbox.messages
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert message["Subject"] == "Ada invited you to R&D <Labs> on Switchboard"
    html = message.get_body(("html",)).get_content()
    assert f'href="{INVITE["reset_url"]}"' in html
    assert "R&amp;D &lt;Labs&gt;" in html  # escaped in HTML...
    assert "R&D <Labs>" in message.get_body(("plain",)).get_content()  # ...not in text


def test_text_only_template_sends_a_single_part(
    tmp_path, server: SmtpServer, make_mailer: MakeMailer
) -> None:
    """No .html template: a plain text/plain message, body_html stays empty."""
    (tmp_path / "note.subject.txt").write_text("Note for {{ name }}\n")
    (tmp_path / "note.txt").write_text("Hi {{ name }} & co\n")
    mailer = make_mailer(server.port, templates_dir=tmp_path)
    outbox_id = mailer.queue("ada@example.com", "note", {"name": "Ada"})
    assert mailer.get(outbox_id)["body_html"] is None
    mailer.send_due()
    [message] = server.inbox.messages
    assert message.get_content_type() == "text/plain"
    assert message.get_content().splitlines() == ["Hi Ada & co"]


def test_smtp_down_backs_off_then_sends_once_the_server_is_up(
    start_server: StartServer, make_mailer: MakeMailer, clock: Clock
) -> None:
    """Connection refused: attempt counted, error kept, next try after the backoff."""
    port = free_port()  # nothing listens here yet
    mailer = make_mailer(port, retry_base_seconds=30)
    outbox_id = mailer.queue("ada@example.com", "password_reset", RESET)

    assert mailer.send_due() == 0
    row = mailer.get(outbox_id)
    assert row["status"] == "queued"
    assert row["attempts"] == 1
    assert "ConnectionRefusedError" in row["last_error"]
    assert row["next_attempt_at"] == START + timedelta(seconds=30)

    server = start_server(port=port)
    clock.advance(seconds=29)
    assert mailer.send_due() == 0  # not due yet: not even tried
    assert mailer.get(outbox_id)["attempts"] == 1
    assert server.inbox.received == []

    clock.advance(seconds=1)
    assert mailer.send_due() == 1
    assert len(server.inbox.received) == 1
    row = mailer.get(outbox_id)
    assert row["status"] == "sent"
    assert row["attempts"] == 1


def test_backoff_doubles_and_max_attempts_marks_failed_until_retried(
    start_server: StartServer, make_mailer: MakeMailer, clock: Clock
) -> None:
    """Delays 10 s, 20 s, then failed at the 3rd attempt; retry() queues it afresh."""
    port = free_port()
    mailer = make_mailer(port, max_attempts=3, retry_base_seconds=10)
    outbox_id = mailer.queue("ada@example.com", "password_reset", RESET)

    mailer.send_due()
    assert mailer.get(outbox_id)["next_attempt_at"] == clock.now + timedelta(seconds=10)
    clock.advance(seconds=10)
    mailer.send_due()
    assert mailer.get(outbox_id)["next_attempt_at"] == clock.now + timedelta(seconds=20)
    clock.advance(seconds=20)
    mailer.send_due()
    row = mailer.get(outbox_id)
    assert row["status"] == "failed"
    assert row["attempts"] == 3
    assert row["next_attempt_at"] is None
    assert "ConnectionRefusedError" in row["last_error"]

    clock.advance(days=1)
    assert mailer.send_due() == 0  # failed mail is never picked up by itself
    assert mailer.retry(outbox_id) is True
    assert mailer.retry(outbox_id) is False  # no longer failed
    row = mailer.get(outbox_id)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("queued", 0, None)

    server = start_server(port=port)
    assert mailer.send_due() == 1
    assert len(server.inbox.received) == 1
    assert mailer.retry(outbox_id) is False  # sent, not failed
    assert mailer.retry(999) is False


def test_without_smtp_config_mail_stays_queued(make_mailer: MakeMailer) -> None:
    """smtp=None: queue works, send_due returns 0 and touches nothing; start() is a no-op."""
    mailer = make_mailer(None)
    outbox_id = mailer.queue("ada@example.com", "password_reset", RESET)
    mailer.start(poll_seconds=0.01)
    assert mailer.send_due() == 0
    mailer.stop()
    row = mailer.get(outbox_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("queued", 0, None)
    assert "Hello Ada Lovelace" in row["body_text"]  # readable in the outbox screen


@pytest.mark.parametrize(
    "to",
    [
        "ada@example.com\r\nBcc: eve@example.com",
        "ada@example.com\nBcc: eve@example.com",
        "ada@example.com\rX: y",
        "ada@example.com\x00",
        "ada@example.com, eve@example.com",
        "Ada <ada@example.com>",
        "ada@@example.com",
        "ada",
        "@example.com",
        "ada@",
        "",
    ],
)
def test_bad_recipient_is_refused_and_nothing_is_stored(
    to: str, make_mailer: MakeMailer, outbox: DAO
) -> None:
    """One bare address only, never a line break: ValueError, no row."""
    mailer = make_mailer(None)
    with pytest.raises(ValueError):
        mailer.queue(to, "password_reset", RESET)
    assert outbox.count() == 0


@pytest.mark.parametrize("name", ["Acme\r\nBcc: eve@example.com", "Acme\nBcc: x", "Acme\rX"])
def test_line_break_in_subject_is_refused(name: str, make_mailer: MakeMailer, outbox: DAO) -> None:
    """A context value that would put a line break into the Subject: ValueError, no row."""
    mailer = make_mailer(None)
    with pytest.raises(ValueError, match="one line"):
        mailer.queue("grace@example.com", "invite", {**INVITE, "account_name": name})
    assert outbox.count() == 0


def test_refused_recipient_fails_alone_and_the_batch_goes_on(
    server: SmtpServer, make_mailer: MakeMailer
) -> None:
    """A 550 for one recipient counts an attempt for that mail only."""
    mailer = make_mailer(server.port)
    bad = mailer.queue("reject@example.com", "password_reset", RESET)
    good = mailer.queue("ada@example.com", "password_reset", RESET)
    assert mailer.send_due() == 1
    assert [r.rcpt_tos for r in server.inbox.received] == [["ada@example.com"]]
    assert mailer.get(good)["status"] == "sent"
    row = mailer.get(bad)
    assert (row["status"], row["attempts"]) == ("queued", 1)
    assert "550" in row["last_error"] and "No such user" in row["last_error"]


def test_starttls_is_required_when_configured(server: SmtpServer, make_mailer: MakeMailer) -> None:
    """security="starttls" with a server that offers no STARTTLS: not sent in clear."""
    mailer = make_mailer(server.port, smtp={"security": "starttls"})
    outbox_id = mailer.queue("ada@example.com", "password_reset", RESET)
    assert mailer.send_due() == 0
    assert server.inbox.received == []
    row = mailer.get(outbox_id)
    assert row["attempts"] == 1
    assert "STARTTLS" in row["last_error"]


def test_mail_left_sending_by_a_dead_sender_is_queued_again_after_ten_minutes(
    server: SmtpServer, make_mailer: MakeMailer, outbox: DAO, clock: Clock
) -> None:
    """A row stuck in "sending" goes back to the queue once its claim is 10 minutes old."""
    mailer = make_mailer(server.port)
    old = mailer.queue("old@example.com", "password_reset", RESET)
    recent = mailer.queue("recent@example.com", "password_reset", RESET)
    outbox.update(old, {"status": "sending", "claimed_at": clock.now - timedelta(minutes=11)})
    outbox.update(recent, {"status": "sending", "claimed_at": clock.now - timedelta(minutes=5)})

    assert mailer.send_due() == 1
    assert [r.rcpt_tos for r in server.inbox.received] == [["old@example.com"]]
    assert mailer.get(recent)["status"] == "sending"

    clock.advance(minutes=6)
    assert mailer.send_due() == 1
    assert mailer.get(recent)["status"] == "sent"


def test_outbox_page_is_newest_first_and_filters_by_status(
    server: SmtpServer, make_mailer: MakeMailer
) -> None:
    """Pages walk newest to oldest; a status narrows them; an unknown status is refused."""
    mailer = make_mailer(server.port)
    ids = [mailer.queue(f"user{n}@example.com", "password_reset", RESET) for n in range(5)]
    mailer.send_due(limit=2)  # the two oldest are sent

    first = mailer.outbox_page(limit=3)
    assert [r["id"] for r in first.items] == ids[::-1][:3]
    second = mailer.outbox_page(after=first.next_cursor, limit=3)
    assert [r["id"] for r in second.items] == ids[::-1][3:]
    assert second.next_cursor is None
    assert [r["id"] for r in mailer.outbox_page("sent").items] == [ids[1], ids[0]]
    assert [r["id"] for r in mailer.outbox_page("queued").items] == ids[:1:-1]
    assert (mailer.count(), mailer.count("sent"), mailer.count("failed")) == (5, 2, 0)
    for call in (mailer.outbox_page, mailer.count):
        with pytest.raises(ValidationError) as info:
            call("bogus")
        assert "status" in info.value.fields
    assert mailer.get(12345) is None
