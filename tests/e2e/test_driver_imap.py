"""The IMAP driver copies a mailbox between two accounts of a real Dovecot.

The unit-test program test_driver_imap_live (tests/unit/) opens alice as the
source and bob as the target through the IMAP driver, and for each folder
streams every message from the source's FETCH into the target's APPEND
(fetch sink -> append_begin/data/end). Here a throwaway Dovecot is loaded
with mail for alice (flags, keywords, dates, a non-ASCII folder, a
special-use folder, an empty folder, duplicate Message-IDs and a 20 MB
message), the program runs under /usr/bin/time -v, and imaplib compares
both accounts: folders, subscriptions, and for every message its bytes,
flags, keywords and INTERNALDATE.

The binary is found through MAILFERRY_UNIT_BIN_DIR (ctest sets it), else
beside MAILFERRY_BIN; without either the test is skipped.
"""

import base64
import hashlib
import imaplib
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.servers.dovecot import Dovecot, mutf7_encode  # noqa: E402

BIG = 20 * 1024 * 1024
RSS_LIMIT_KB = 64 * 1024


def _binary():
    d = os.environ.get("MAILFERRY_UNIT_BIN_DIR")
    if not d and os.environ.get("MAILFERRY_BIN"):
        d = os.path.dirname(os.environ["MAILFERRY_BIN"])
    if not d:
        pytest.skip("MAILFERRY_UNIT_BIN_DIR (or MAILFERRY_BIN) is not set")
    path = os.path.join(d, "test_driver_imap_live")
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built")
    return path


def _msg(n, mid=None, extra=b""):
    mid = mid if mid is not None else f"<{n}@example.test>"
    head = f"From: a@example.test\r\nTo: b@example.test\r\nSubject: message {n}\r\n"
    if mid:
        head += f"Message-ID: {mid}\r\n"
    return head.encode() + b"\r\n" + f"Body of message {n}.\r\n".encode() + extra


@pytest.fixture(scope="module")
def loaded(server_root):
    d = Dovecot(os.path.join(server_root, "dovecot-imap-driver"), tls_mode="none")
    d.start()
    try:
        t0 = 1_600_000_000
        d.add_message("alice", "INBOX", _msg(1), flags=("\\Seen",), internaldate=t0,
                      resync=False)
        d.add_message("alice", "INBOX", _msg(2), flags=("\\Answered", "\\Flagged", "$Label1"),
                      internaldate=t0 + 86400 * 30, resync=False)
        d.add_message("alice", "INBOX", _msg(3, mid="<dup@example.test>"),
                      flags=("\\Draft", "\\Deleted", "project-x"), internaldate=t0 - 86400 * 400,
                      resync=False)
        d.add_message("alice", "INBOX", _msg(4, mid="<dup@example.test>"), resync=False)
        d.add_message("alice", "INBOX", _msg(5, mid=""), internaldate=t0 + 7, resync=False)
        d.add_message("alice", "Archive/2024", _msg(6), flags=("\\Seen", "$Label1"),
                      resync=False)
        d.add_message("alice", "Entwürfe", _msg(7), flags=("\\Draft",), resync=False)
        d.add_message("alice", "Sent", _msg(8), flags=("\\Seen",), resync=False)
        line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"\r\n"
        body = line * (BIG // len(line))
        d.add_message("alice", "Big", _msg(9, extra=body), flags=("\\Seen",), resync=False)
        d._ensure_maildir(d._folder_dir("alice", "Empty"), True)
        d._chown_tree(d.home("alice"))
        d.resync("alice")
        c = imaplib.IMAP4(d.host, d.plain_port)
        c.login("alice", "alicepw")
        for box in ("INBOX", "Archive/2024", "Entwürfe"):
            c.subscribe(_quote(box))
        c.logout()
        yield d
    finally:
        d.stop()


def _quote(name):
    return '"' + mutf7_encode(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


_LIST_RE = re.compile(rb'^\(([^)]*)\) (?:"[^"]*"|NIL) "?(.*?)"?$')


def _folders(c, cmd="LIST"):
    typ, data = (c.list if cmd == "LIST" else c.lsub)('""', "*")
    assert typ == "OK"
    out = set()
    for line in data:
        m = _LIST_RE.match(line)
        assert m, line
        if b"\\NonExistent" in m.group(1) or b"\\Noselect" in m.group(1):
            continue
        out.add(m.group(2).decode())
    return out


def _messages(c, box):
    typ, _ = c.select(_quote(box), readonly=True)
    assert typ == "OK", box
    typ, data = c.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
    assert typ == "OK"
    msgs = []
    for item in data:
        if not isinstance(item, tuple):
            continue
        head = item[0]
        flags = set(re.search(rb"FLAGS \(([^)]*)\)", head).group(1).split()) - {b"\\Recent"}
        date = re.search(rb'INTERNALDATE "([^"]+)"', head).group(1)
        msgs.append((hashlib.sha256(item[1]).hexdigest(), len(item[1]), sorted(flags),
                     imaplib.Internaldate2tuple(b'INTERNALDATE "' + date + b'"')))
    return sorted(msgs)


def _login(d, user, pw):
    c = imaplib.IMAP4(d.host, d.plain_port)
    c.login(user, pw)
    return c


def _run(d, **env_extra):
    env = dict(os.environ, MF_TEST_IMAP_PORT=str(d.plain_port), MF_TEST_IMAP_SRC_USER="alice",
               MF_TEST_IMAP_SRC_PASS="alicepw", MF_TEST_IMAP_DST_USER="bob")
    env.update(env_extra)
    return subprocess.run(["/usr/bin/time", "-v", _binary()], env=env, capture_output=True,
                          text=True, timeout=300)


def test_copy_alice_to_bob(loaded):
    # The target by impersonation (SASL authorization identity).
    r = _run(loaded, MF_TEST_IMAP_ADMIN_USER="master", MF_TEST_IMAP_ADMIN_PASS="masterpw",
             MF_TEST_IMAP_IMPERSONATION="sasl")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "copied 9 failed 0" in r.stdout, r.stdout
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    print(f"\npeak RSS copying a {BIG // (1024 * 1024)} MB message IMAP->IMAP: {rss} kB")
    assert rss < RSS_LIMIT_KB

    a = _login(loaded, "alice", "alicepw")
    b = _login(loaded, "bob", "bobpw")
    try:
        folders = _folders(a)
        assert folders == {"INBOX", "Archive/2024", mutf7_encode("Entwürfe"), "Sent", "Big",
                           "Empty"}
        assert _folders(b) == folders
        assert _folders(b, "LSUB") == _folders(a, "LSUB")
        for box in folders:
            src, dst = _messages(a, _mutf7_decode(box)), _messages(b, _mutf7_decode(box))
            assert src == dst, box
        assert len(_messages(a, "INBOX")) == 5
        assert _messages(b, "Big")[0][1] > BIG
    finally:
        a.logout()
        b.logout()


def _mutf7_decode(name):
    def dec(m):
        s = m.group(1)
        if s == "":
            return "&"
        s = s.replace(",", "/")
        return base64.b64decode(s + "=" * (-len(s) % 4)).decode("utf-16-be")
    return re.sub(r"&([A-Za-z0-9+,]*)-", dec, name)


def test_wrong_target_password(loaded):
    r = _run(loaded, MF_TEST_IMAP_DST_PASS="wrong")
    assert r.returncode == 1
    assert "dst: open failed: AUTHENTICATE PLAIN rejected: [AUTHENTICATIONFAILED]" in r.stderr
