"""The fault-injection test world itself: the TCP fault proxy
(tests/servers/faultproxy.py) in front of a real Dovecot, and the scripted
IMAP server (tests/servers/scripted_imap.py), driven with imaplib. These do
not run mailferry; they make sure the faults the issue 4 tests rely on
happen where the tests say they do."""

import datetime as dt
import imaplib
import os
import socket
import threading
import time

import pytest

from tests.corpus import corpus
from tests.e2e import verify
from tests.e2e.migrate_helpers import ALICE, BOB, MailDovecot
from tests.servers.faultproxy import C2S, S2C

BIG = 64 * 1024


def _msg(n, size=2000):
    head = (f"From: a@example.test\r\nTo: b@example.test\r\nSubject: harness {n}\r\n"
            f"Message-ID: <harness-{n}@example.test>\r\n\r\n").encode()
    line = f"line of message {n} ".encode().ljust(76, b".") + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


@pytest.fixture(scope="module")
def src(server_root, fill_maildir):
    d = MailDovecot(os.path.join(server_root, "faults-harness-src"))
    d.start()
    try:
        fill_maildir(d, ALICE, "INBOX", [(_msg(i, BIG if i == 3 else 2000), ("\\Seen",),
                                          1_700_000_000 + i) for i in range(1, 11)])
        yield d
    finally:
        d.stop()


def _login(port, user=ALICE, password="alicepw", timeout=30):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=timeout)
    m.login(user, password)
    return m


def _fetch_all(m):
    m.select("INBOX", readonly=True)
    typ, dat = m.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
    return typ, [d for d in dat if isinstance(d, tuple)]


def test_proxy_forwards_and_counts(src, faultproxy):
    p = faultproxy(src.plain_port)
    m = _login(p.port)
    typ, bodies = _fetch_all(m)
    assert typ == "OK" and len(bodies) == 10
    m.logout()
    assert p.wait_for(lambda: p.open_connections == 0, 5), p.summary()
    assert p.connections == 1
    assert p.literals[S2C] == 10, p.summary()
    assert p.bytes[S2C] > 9 * 2000 + BIG


def test_cut_in_the_middle_of_a_fetch_literal(src, faultproxy):
    p = faultproxy(src.plain_port)
    rule = p.cut(S2C, literal=3, min_literal=1000, offset=1000)
    m = _login(p.port)
    with pytest.raises((imaplib.IMAP4.abort, OSError, EOFError)):
        _fetch_all(m)
    assert rule.wait(5)
    assert rule.info["literal_size"] > BIG - 100
    # Exactly the bytes before the cut point went through.
    assert p.bytes[S2C] == rule.info["pos"]
    # The next connection is not affected (the rule fired once).
    m2 = _login(p.port)
    assert len(_fetch_all(m2)[1]) == 10
    m2.logout()


def test_cut_in_the_middle_of_an_append_literal(src, faultproxy):
    p = faultproxy(src.plain_port)
    rule = p.cut(C2S, literal=1, min_literal=10000, how="rst")
    m = _login(p.port, BOB, "bobpw")
    data = _msg(99, 40000)
    with pytest.raises((imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError)):
        corpus.append_raw(m, "INBOX", (), dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), data)
    assert rule.wait(5)
    assert rule.info["literal_size"] == len(data)
    direct = _login(src.plain_port, BOB, "bobpw")
    typ, dat = direct.select("INBOX", readonly=True)
    assert int(dat[0]) == 0, "a cut APPEND must not store anything"
    direct.logout()


def test_stall_keeps_reading_the_other_direction(src, faultproxy):
    """While server->client is stalled, what the client sends still reaches
    the server (the reader never sleeps), and the socket stays open."""
    p = faultproxy(src.plain_port)
    m = _login(p.port, BOB, "bobpw")
    rule = p.stall(S2C, seconds=1.5)
    t0 = time.monotonic()
    data = _msg(7, 3000)
    corpus.append_raw(m, "INBOX", ("\\Flagged",), dt.datetime(2024, 2, 2, tzinfo=dt.timezone.utc),
                      data)
    elapsed = time.monotonic() - t0
    assert rule.fired.is_set()
    assert elapsed >= 1.4, elapsed
    m.logout()
    assert p.connections == 1


def test_stall_forever_until_the_client_gives_up(src, faultproxy):
    p = faultproxy(src.plain_port)
    m = _login(p.port, timeout=1)
    p.stall(S2C, literal=1)
    with pytest.raises((socket.timeout, TimeoutError, imaplib.IMAP4.abort, OSError)):
        _fetch_all(m)
    m.shutdown()
    assert p.wait_for(lambda: p.open_connections == 0, 5), p.summary()


def test_slow_and_bye(src, faultproxy):
    p = faultproxy(src.plain_port)
    m = _login(p.port)
    p.set_rate(S2C, 60_000)
    t0 = time.monotonic()
    m.select("INBOX", readonly=True)
    m.uid("FETCH", "3", "(BODY.PEEK[])")        # the 64 KiB message
    assert time.monotonic() - t0 >= 0.9
    p.set_rate(S2C, None)
    rule = p.bye("Server shutting down for maintenance")
    with pytest.raises(imaplib.IMAP4.abort) as ei:
        m.noop()
    assert "shutting down" in str(ei.value) or rule.fired.is_set()
    assert rule.wait(2)


def test_callback_at_the_kth_literal_over_all_connections(src, faultproxy):
    p = faultproxy(src.plain_port)
    hits = []
    rule = p.on(S2C, hits.append, literal=13, scope="total")
    for _ in range(2):
        m = _login(p.port)
        assert len(_fetch_all(m)[1]) == 10
        m.logout()
    assert rule.wait(2) and len(hits) == 1
    assert hits[0]["conn"] == 2


def test_refused_connections(src, faultproxy):
    p = faultproxy(src.plain_port)
    p.refuse(True)
    with pytest.raises((imaplib.IMAP4.abort, OSError, EOFError)):
        imaplib.IMAP4("127.0.0.1", p.port, timeout=5)
    p.refuse(False)
    _login(p.port).logout()


# ---- the scripted IMAP server --------------------------------------------------

def test_scripted_server_is_a_source_verify_can_read(scripted_imap):
    s = scripted_imap(users={ALICE: "alicepw"})
    s.add_message(ALICE, "INBOX", _msg(1), flags=("\\Seen", "$Label1"), internaldate=1_700_000_000)
    s.add_message(ALICE, "Archive/2024", _msg(2), internaldate=1_600_000_000)
    m = _login(s.port)
    snap = verify.snapshot(m)
    assert len(snap.folders["INBOX"].messages) == 1
    assert snap.folders["INBOX"].messages[0].keywords == frozenset({"$Label1"})
    assert len(snap.folders["Archive/2024"].messages) == 1
    assert snap.folders["Sent"].special_use == "\\Sent"
    # The administrator opens the account through SASL PLAIN authzid.
    m2 = imaplib.IMAP4("127.0.0.1", s.port)
    m2.authenticate("PLAIN", lambda _: f"{ALICE}\0master\0masterpw".encode())
    assert verify.compare(snap, m2).ok
    for c in (m, m2):
        c.logout()


def test_scripted_server_as_a_target(scripted_imap):
    s = scripted_imap(users={BOB: "bobpw"})
    folders = [corpus.Folder("INBOX", [corpus.Message(
        data=_msg(5), flags=("\\Flagged",), keywords=("Work",),
        internaldate=dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))]),
        corpus.Folder("Lists/dev", [corpus.Message(
            data=_msg(6), flags=(), internaldate=dt.datetime(2021, 1, 2, tzinfo=dt.timezone.utc))])]
    res = corpus.load_imap("127.0.0.1", s.port, BOB, "bobpw", folders)
    assert not res.refused
    m = _login(s.port, BOB, "bobpw")
    rep = verify.compare(verify.Snapshot.from_folders(folders), m)
    assert rep.ok, str(rep)
    m.logout()


def test_scripted_faults_and_quota(scripted_imap):
    s = scripted_imap(users={BOB: "bobpw"})
    s.fault("AUTH", times=2,
            reply="NO [UNAVAILABLE] Busy. Suggested Backoff Time: 200 milliseconds")
    s.fault("SELECT", times=1, reply="NO [INUSE] Mailbox in use")
    s.fault("UID FETCH", times=1, reply="BYE Connection limit exceeded", after=1)
    m = imaplib.IMAP4("127.0.0.1", s.port)
    for _ in range(2):
        with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
            m.login(BOB, "bobpw")
    m.login(BOB, "bobpw")
    typ, dat = m.select("INBOX")
    assert typ == "NO" and b"INUSE" in dat[0], (typ, dat)
    assert m.select("INBOX")[0] == "OK"
    assert m.uid("FETCH", "1:*", "(FLAGS)")[0] == "OK"
    with pytest.raises(imaplib.IMAP4.abort, match="limit"):
        m.uid("FETCH", "1:*", "(FLAGS)")
    assert [o for _, o in s.outcomes("LOGIN")] == ["fault:no", "fault:no", "ok"]

    s.quota_messages = 1
    m = _login(s.port, BOB, "bobpw")
    when = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    assert corpus.append_raw(m, "INBOX", (), when, _msg(1))[0] == "OK"
    typ, dat = corpus.append_raw(m, "INBOX", (), when, _msg(2))
    assert typ == "NO" and b"OVERQUOTA" in dat[0], (typ, dat)
    assert len(s.mailbox(BOB, "INBOX").messages) == 1
    s.quota_messages = None
    assert corpus.append_raw(m, "INBOX", (), when, _msg(2))[0] == "OK"
    assert len(s.mailbox(BOB, "INBOX").messages) == 2


def test_scripted_greeting_bye(scripted_imap):
    s = scripted_imap()
    s.fault("GREETING", times=1, reply="BYE [UNAVAILABLE] Too many connections, limit reached")
    with pytest.raises(imaplib.IMAP4.error, match="limit"):
        imaplib.IMAP4("127.0.0.1", s.port, timeout=5)
    imaplib.IMAP4("127.0.0.1", s.port, timeout=5).logout()
    assert threading.active_count() >= 1
