"""Several senders at once: two Mailers on one database file, and the background thread."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.modules.email.email_helpers import RESET, MakeMailer, SmtpServer, open_store

from modules.datastore import DAO
from modules.email import Mailer


def drain_together(mailers: list[Mailer], batch: int) -> list[int]:
    """Each mailer calls send_due(batch) in its own thread, all starting at once,
    until it finds nothing to send; returns how many each sent."""
    sent = [0] * len(mailers)
    barrier = threading.Barrier(len(mailers))

    def drain(index: int) -> None:
        barrier.wait()
        while count := mailers[index].send_due(limit=batch):
            sent[index] += count

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(mailers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "a sender hung"
    return sent


def test_two_mailers_on_one_database_never_send_a_mail_twice(
    tmp_path: Path, db_file: Path, server: SmtpServer, make_mailer: MakeMailer, outbox: DAO
) -> None:
    """Two Mailers, each with its own Database on the same file (as two processes
    would be), drain the outbox at the same time: every mail arrives exactly once."""
    (tmp_path / "n.subject.txt").write_text("Mail {{ n }}")
    (tmp_path / "n.txt").write_text("Body {{ n }}")
    total = 40
    other_store = open_store(db_file)
    try:
        first = make_mailer(server.port, templates_dir=tmp_path)
        second = make_mailer(server.port, templates_dir=tmp_path, store=other_store)
        for n in range(total):
            first.queue(f"user{n}@example.com", "n", {"n": n})
        sent = drain_together([first, second], batch=3)
    finally:
        other_store.db.close()

    subjects = sorted(m["Subject"] for m in server.inbox.messages)
    assert subjects == sorted(f"Mail {n}" for n in range(total))  # each exactly once
    assert sum(sent) == total
    assert outbox.count({"status": "sent"}) == total


def test_background_thread_delivers_a_queued_mail_promptly(
    server: SmtpServer, make_mailer: MakeMailer
) -> None:
    """queue() wakes the thread: delivered long before the (one minute) poll."""
    mailer = make_mailer(server.port)
    mailer.start(poll_seconds=60)
    mailer.start(poll_seconds=60)  # already running: no second thread
    assert [t.name for t in threading.enumerate()].count("switchboard-mailer") == 1
    began = time.monotonic()
    outbox_id = mailer.queue("ada@example.com", "password_reset", RESET)
    assert server.inbox.wait_for(1, timeout=2)
    assert time.monotonic() - began < 2
    mailer.stop()
    assert "switchboard-mailer" not in [t.name for t in threading.enumerate()]
    assert mailer.get(outbox_id)["status"] == "sent"


def test_background_thread_sends_what_was_queued_before_it_started(
    server: SmtpServer, make_mailer: MakeMailer
) -> None:
    """Mail queued while no sender ran goes out as soon as the thread starts."""
    mailer = make_mailer(server.port)
    mailer.queue("ada@example.com", "password_reset", RESET)
    mailer.start(poll_seconds=60)
    assert server.inbox.wait_for(1, timeout=2)
    mailer.stop()


def test_stop_is_safe_without_start_and_twice(make_mailer: MakeMailer, server: SmtpServer) -> None:
    """stop() before start(), and a second stop(), do nothing; a stopped mailer can start again."""
    mailer = make_mailer(server.port)
    mailer.stop()
    mailer.start(poll_seconds=60)
    mailer.stop()
    mailer.stop()
    mailer.start(poll_seconds=60)
    mailer.queue("ada@example.com", "password_reset", RESET)
    assert server.inbox.wait_for(1, timeout=2)
    mailer.stop()
