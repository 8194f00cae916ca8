"""Smoke test: a real Cyrus IMAP 3.6 (tests/servers/cyrus.py) starts, lets
alice log in, LIST, SELECT, APPEND and FETCH, refuses a wrong password, and
stops without leaving a process behind."""

import email.utils
import imaplib
import os
import shutil
import ssl
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.servers.cyrus import CyrusServer, _group_members  # noqa: E402

MESSAGE = (b"From: Bob <bob@example.test>\r\n"
           b"To: Alice <alice@example.test>\r\n"
           b"Subject: cyrus smoke\r\n"
           b"Message-ID: <smoke-1@example.test>\r\n"
           b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
           b"\r\n"
           b"Hello from the smoke test.\r\n")


def _tmpdir(name):
    # Under /tmp and world-traversable: Cyrus runs as nobody (pytest's own
    # tmp_path lives below a 0700 directory).
    d = tempfile.mkdtemp(prefix=f"mf-{name}-", dir="/tmp")
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="module")
def cyrus():
    d = _tmpdir("cyrus")
    server = CyrusServer()
    server.start(d)
    yield server
    server.stop()
    shutil.rmtree(d, ignore_errors=True)


def test_start_is_fast(cyrus):
    # Includes the fetch check, sasldb, config, master and INBOX creation.
    assert cyrus.start_seconds < 10, cyrus.start_seconds


def test_login_list_select_append_fetch(cyrus):
    m = imaplib.IMAP4(cyrus.host, cyrus.plain_port)
    assert b"Cyrus IMAP" in m.welcome
    typ, _ = m.login("alice", "alicepw")
    assert typ == "OK"

    typ, boxes = m.list()
    assert typ == "OK"
    assert any(b.endswith(b" INBOX") for b in boxes), boxes

    typ, data = m.select("INBOX")
    assert typ == "OK"
    before = int(data[0])

    date = email.utils.parsedate_to_datetime("Tue, 02 Jan 2024 03:04:05 +0000")
    typ, data = m.append("INBOX", r"(\Seen $Smoke)", imaplib.Time2Internaldate(date), MESSAGE)
    assert typ == "OK", data
    assert b"APPENDUID" in data[0]

    typ, data = m.select("INBOX")
    assert int(data[0]) == before + 1
    typ, data = m.fetch(str(before + 1), "(FLAGS INTERNALDATE RFC822)")
    assert typ == "OK"
    meta, body = data[0]
    assert body == MESSAGE
    assert b"\\Seen" in meta and b"$Smoke" in meta
    assert time.mktime(imaplib.Internaldate2tuple(meta)) == date.timestamp()
    m.logout()


def test_wrong_password_refused(cyrus):
    m = imaplib.IMAP4(cyrus.host, cyrus.plain_port)
    with pytest.raises(imaplib.IMAP4.error):
        m.login("alice", "wrong-password")
    m.logout()
    with pytest.raises(imaplib.IMAP4.error):
        imaplib.IMAP4(cyrus.host, cyrus.plain_port).login("nobody-such", "x")


def test_helpers_folders_and_admin(cyrus):
    uid = cyrus.add_message("bob", "Archive/2024", MESSAGE, flags=("\\Flagged",),
                            internaldate=1_700_000_000)
    assert uid == 1
    cyrus.create_folder("bob", "Sent", special_use="\\Sent")
    m = cyrus.connect("bob")
    typ, boxes = m.list()
    names = b"\n".join(boxes)
    assert b'"/" Archive/2024' in names and b"\\Sent" in names
    typ, data = m.select("Archive/2024", readonly=True)
    assert data == [b"1"]
    typ, data = m.fetch("1", "(FLAGS RFC822)")
    assert b"\\Flagged" in data[0][0] and data[0][1] == MESSAGE
    m.logout()
    # The administrator sees every user's folders and may log in as a user.
    a = cyrus.connect_admin()
    typ, boxes = a.list()
    assert any(b.endswith(b"user/alice") for b in boxes), boxes
    a.logout()
    p = cyrus.connect("carol")  # no password known: admin proxy login
    assert p.select("INBOX")[0] == "OK"
    p.logout()


def test_tls_and_stop_leaves_nothing():
    certs = pytest.importorskip("tests.servers.certs")
    d = _tmpdir("cyrus-tls")
    try:
        c = certs.make_certs(os.path.join(d, "certs"))
        server = CyrusServer()
        ports = server.start(os.path.join(d, "srv"), tls_cert=c.cert("good"),
                             unixhierarchysep=False, altnamespace=False)
        try:
            assert ports["imaps"]
            ctx = ssl.create_default_context(cafile=c.ca_bundle)
            m = imaplib.IMAP4_SSL(server.host, ports["imaps"], ssl_context=ctx)
            assert m.login("alice", "alicepw")[0] == "OK"
            m.logout()
            m = imaplib.IMAP4(server.host, ports["imap"])
            m.starttls(ssl_context=ctx)
            assert m.login("bob", "bobpw")[0] == "OK"
            assert m.create("INBOX.Sent")[0] == "OK"
            assert any(b'"." INBOX.Sent' in b for b in m.list()[1])
            m.logout()
            pgid = server.info()["master_pid"]
            assert _group_members(pgid)
        finally:
            server.stop()
        deadline = time.monotonic() + 5
        while _group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _group_members(pgid)
    finally:
        shutil.rmtree(d, ignore_errors=True)
