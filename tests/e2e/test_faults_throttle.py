"""Throttling answers slow a user down rather than fail it (issue 4, part 3):
[UNAVAILABLE], [LIMIT], [INUSE], a BYE that speaks of a limit, and
"Suggested Backoff Time" text, from a scripted IMAP server
(tests/servers/scripted_imap.py) acting as the source or as the target.

Each case arms its faults after the endpoints and the batch exist (so the
connection test is not what meets them), runs `batch start --wait`, and
checks: exit 0 and the user Synced; every fault was met; the throttled
command was tried again only after a pause (at least what the server
suggested, when it suggested something); the transient errors are counted
in `user show --json` (TransientErrorCount at least 1: refusals of
pipelined commands may count as one); nothing was skipped; and the
target holds exactly the source's mail (verify.compare; the scripted
server is read with imaplib like any other).

Scripted source: alice with INBOX 60 and Archive/2023 20 messages (flags,
keywords, dates varied); target: a Dovecot, each case into an account of
its own. Scripted target: a Dovecot source account with 40 messages.
"""

import os
import random
import types

import pytest

from tests.e2e import verify
from tests.e2e.migrate_helpers import ALICE, MailDovecot, traversable_dir, write_csv

WAIT = 240
HEADER = ("EmailAddress", "UserName", "Password", "TargetUserName", "TargetPassword")
TARGETS = [f"tt{i}@example.test" for i in range(1, 13)]
SOURCES = [f"ss{i}@example.test" for i in range(1, 6)]
SUGGESTED = "Suggested Backoff Time: {ms} milliseconds"

# name: (side, [(command, times, after, reply)], smallest pause before a
# retry in s, largest pause (a suggested backoff is what the server asks:
# waiting many times longer is not honouring it) or None)
CASES = {
    "login-unavailable-suggested": ("source", [
        ("AUTH", 2, 0, "NO [UNAVAILABLE] Server Unavailable. " + SUGGESTED.format(ms=200))],
        0.19, 5),
    "examine-inuse": ("source", [
        (("EXAMINE", "SELECT"), 2, 0, "NO [INUSE] Mailbox is in use by another session")], 0.05,
        None),
    "fetch-limit": ("source", [
        ("UID FETCH", 2, 1, "NO [LIMIT] Too many requests, slow down")], 0.05, None),
    "fetch-suggested-backoff": ("source", [
        ("UID FETCH", 2, 2, "NO [UNAVAILABLE] Server busy. " + SUGGESTED.format(ms=300))], 0.28,
        5),
    "fetch-bye-limit": ("source", [
        ("UID FETCH", 1, 2, "BYE Too many simultaneous connections: connection limit exceeded")],
        0.05, None),
    "greeting-bye-limit": ("source", [
        ("GREETING", 1, 0, "BYE [UNAVAILABLE] Maximum number of connections from user+IP "
                           "exceeded (mail_max_userip_connections=10)")], 0.05, None),
    "append-limit": ("target", [
        ("APPEND", 3, 10, "NO [LIMIT] Rate limit exceeded, back off")], 0.05, None),
    "append-suggested-backoff": ("target", [
        ("APPEND", 2, 5, "NO [UNAVAILABLE] Server busy. " + SUGGESTED.format(ms=300))], 0.28, 5),
}


def _message(tag, n, size):
    head = (f"From: Throttle <t@example.test>\r\nSubject: {tag} {n}\r\n"
            f"Message-ID: <thr-{tag}-{n}@example.test>\r\n\r\n").encode()
    line = f"{tag} {n} ".encode().ljust(64, b"-") + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


FLAGS = [(), ("\\Seen",), ("\\Seen", "\\Flagged"), ("$Label1",), ("\\Answered", "\\Seen", "Work")]


@pytest.fixture(scope="module")
def dovecots(server_root, fill_maildir):
    """A Dovecot target (accounts tt1..) and a Dovecot source (ss1.., 40
    messages each)."""
    rng = random.Random(31)
    dst = MailDovecot(os.path.join(server_root, "throttle-dst"), users={u: "pw" for u in TARGETS})
    src = MailDovecot(os.path.join(server_root, "throttle-src"), users={u: "pw" for u in SOURCES})
    dst.start()
    src.start()
    for u in SOURCES:
        fill_maildir(src, u, "INBOX", [(_message(u, n, rng.randint(500, 5000)), rng.choice(FLAGS),
                                        1_690_000_000 + rng.randrange(9_000_000))
                                       for n in range(30)])
        fill_maildir(src, u, "Lists/ops", [(_message(u + "-ops", n, 800), rng.choice(FLAGS),
                                            1_690_000_000 + n) for n in range(10)])
    yield types.SimpleNamespace(src=src, dst=dst, targets=list(TARGETS), sources=list(SOURCES))
    dst.stop()
    src.stop()


@pytest.fixture
def data_dir(server_root):
    return traversable_dir(server_root, "thr-data-")


def _fill_scripted(s, user):
    rng = random.Random(7)
    for n in range(60):
        s.add_message(user, "INBOX", _message("inbox", n, rng.randint(400, 9000)),
                      flags=rng.choice(FLAGS), internaldate=1_700_000_000 + rng.randrange(10**7))
    for n in range(20):
        s.add_message(user, "Archive/2023", _message("archive", n, 1200),
                      flags=("\\Seen",), internaldate=1_680_000_000 + n)


@pytest.mark.parametrize("case", list(CASES))
def test_throttling_slows_the_user_down(case, issue4, dovecots, scripted_imap, tmp_path):
    side, faults, min_pause, max_pause = CASES[case]
    if side == "source":
        s = scripted_imap(users={ALICE: "alicepw"})
        _fill_scripted(s, ALICE)
        src_login = lambda: _scripted_login(s, ALICE)  # noqa: E731
        target = dovecots.targets.pop(0)
        dst_login = lambda: dovecots.dst.login(target, "pw")  # noqa: E731
        issue4.endpoint("src", s.port)
        issue4.endpoint("dst", dovecots.dst.plain_port)
        row = (ALICE, "", "", target, "")
        email = ALICE
    else:
        s = scripted_imap(users={u: "pw" for u in dovecots.sources})
        email = dovecots.sources.pop(0)
        src_login = lambda: dovecots.src.login(email, "pw")  # noqa: E731
        dst_login = lambda: _scripted_login(s, email)  # noqa: E731
        issue4.endpoint("src", dovecots.src.plain_port)
        issue4.endpoint("dst", s.port)
        row = (email, "", "", email, "")
    issue4.batch_new("thr", "src", write_csv(tmp_path / "u.csv", [row], header=HEADER),
                     target="dst")
    armed = [s.fault(cmd, times=times, after=after, reply=reply)
             for cmd, times, after, reply in faults]
    issue4.start_wait("thr", timeout=WAIT)
    s.faults_enabled = False
    doc = issue4.user(email)
    from tests.servers.mfrun import jget
    assert jget(doc, "Status") == "Synced", doc
    for f in armed:
        assert f.fired == f.times, f"fault {f.commands} met {f.fired} of {f.times} times"
    # Counted (a burst of answers to pipelined commands may count once).
    assert jget(doc, "TransientErrorCount") >= 1, doc
    assert jget(doc, "SkippedItemCount") == 0, doc
    for cmd, *_ in faults:
        cmds = (cmd,) if isinstance(cmd, str) else cmd
        # The retry of each refused command (same arguments; an APPEND of
        # the same message), not the commands that were already in flight.
        pauses = s.retry_pauses(cmds)
        assert pauses and None not in pauses and min(pauses) >= min_pause, \
            f"{cmds}: retried after {pauses} s, expected a pause of at least {min_pause} s"
        if max_pause is not None:
            assert max(pauses) <= max_pause, \
                f"{cmds}: retried after {pauses} s although the server suggested less"
    src_conn, dst_conn = src_login(), dst_login()
    try:
        rep = verify.compare(src_conn, dst_conn)
    finally:
        src_conn.logout()
        dst_conn.logout()
    assert rep.ok, str(rep)
    for f in rep.folders:
        assert f.source_count == f.target_count == f.matched, str(rep)


def _scripted_login(s, user):
    import imaplib
    m = imaplib.IMAP4("127.0.0.1", s.port, timeout=60)
    m.login(user, s.users[user])
    return m
