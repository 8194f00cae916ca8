"""The maildir store driver writes what a stock Dovecot 2.3 serves.

The unit test binary test_maildir_export, run with MF_MAILDIR_EXPORT=DIR,
writes a store tree through the driver (folders with non-ASCII names and
dots, subscriptions, messages with all flags, keywords, more than 26
keywords, bare LF, NUL bytes) and a manifest of what it was given. Here a real Dovecot
(tests/servers/dovecot.py, mail_location = maildir:~/Maildir, separator '/',
plus the listescape plugin that ships with Dovecot) serves that tree, and
imaplib reads it back: LIST, LSUB, FLAGS, INTERNALDATE, RFC822.SIZE and the
bytes of each message.

What Dovecot 2.3.19 does with the bytes (seen here, asserted below):
  - a message with CRLF line ends comes back byte for byte (BODY[]);
  - a bare LF comes back as CRLF; RFC822.SIZE is the W= size;
  - a NUL byte comes back as 0x80 in BODY[], unchanged in BINARY[] (RFC 3516).

The binary is found through MAILFERRY_UNIT_BIN_DIR, else beside MAILFERRY_BIN;
without either the test is skipped.
"""

import base64
import datetime
import grp
import imaplib
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.servers.dovecot import Dovecot  # noqa: E402


class _Dovecot(Dovecot):
    """The shared test Dovecot, with or without the listescape plugin."""

    def __init__(self, directory, listescape=True):
        super().__init__(directory, tls_mode="none")
        self.listescape = listescape

    def _config_text(self):
        text = super()._config_text()
        if self.listescape:
            text += "mail_plugins = $mail_plugins listescape\n"
        return text


def _unit_binary():
    d = os.environ.get("MAILFERRY_UNIT_BIN_DIR")
    if not d and os.environ.get("MAILFERRY_BIN"):
        d = os.path.dirname(os.environ["MAILFERRY_BIN"])
    if not d:
        pytest.skip("MAILFERRY_UNIT_BIN_DIR (or MAILFERRY_BIN) is not set")
    path = os.path.join(d, "test_maildir_export")
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built")
    return path


def _tmpdir(name):
    # Under /tmp and world-traversable: Dovecot reads the mail as nobody.
    d = tempfile.mkdtemp(prefix=f"mf-{name}-", dir="/tmp")
    os.chmod(d, 0o755)
    return d


def _chown_nobody(path):
    uid, gid = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for n in files:
            os.chown(os.path.join(root, n), uid, gid)


def _export(binary, maildir, meta):
    env = dict(os.environ, MF_MAILDIR_EXPORT=maildir, MF_MAILDIR_EXPORT_META=meta)
    r = subprocess.run([binary], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def _manifest(meta):
    folders, msgs = {}, []
    with open(os.path.join(meta, "manifest.tsv"), encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "folder":
                folders[parts[1]] = parts[2] == "1"
            elif parts[0] == "msg":
                _, folder, eml, date, flags, keywords, location = parts
                with open(os.path.join(meta, eml), "rb") as m:
                    raw = m.read()
                msgs.append({"folder": folder, "raw": raw, "date": int(date),
                             "flags": set(flags.split()), "keywords": set(keywords.split()),
                             "location": location})
    return folders, msgs


def mutf7_decode(name):
    def dec(m):
        s = m.group(1)
        if s == "":
            return "&"
        s = s.replace(",", "/")
        return base64.b64decode(s + "=" * (-len(s) % 4)).decode("utf-16-be")
    return re.sub(r"&([A-Za-z0-9+,]*)-", dec, name)


def mutf7_encode(name):
    out, pend = [], []

    def flush():
        if pend:
            b = base64.b64encode("".join(pend).encode("utf-16-be")).decode()
            out.append("&" + b.rstrip("=").replace("/", ",") + "-")
            pend.clear()
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pend.append(ch)
    flush()
    return "".join(out)


def _quote(name):
    return '"' + mutf7_encode(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


_LIST_RE = re.compile(rb'^\(([^)]*)\) "(?:[^"]*)" (.*)$')


def _list(conn, cmd):
    typ, data = getattr(conn, cmd)('""', '"*"')
    assert typ == "OK", data
    out = {}
    for line in data:
        m = _LIST_RE.match(line)
        assert m, line
        name = m.group(2).decode()
        if name.startswith('"'):
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[mutf7_decode(name)] = set(m.group(1).decode().split())
    return out


def _crlf(raw):
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def _fetch_all(conn, folder):
    typ, data = conn.select(_quote(folder), readonly=True)
    assert typ == "OK", (folder, data)
    typ, data = conn.uid("FETCH", "1:*", "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[] "
                                         "BINARY.PEEK[])")
    assert typ == "OK", data
    out = []
    parts = [p for p in data if isinstance(p, tuple)]
    for head, tail in zip(parts[0::2], parts[1::2]):
        flags = re.search(rb"FLAGS \(([^)]*)\)", head[0]).group(1).decode().split()
        idate = re.search(rb'INTERNALDATE "([^"]*)"', head[0]).group(1).decode()
        size = int(re.search(rb"RFC822\.SIZE (\d+)", head[0]).group(1))
        out.append({"flags": set(flags) - {"\\Recent"},
                    "date": datetime.datetime.strptime(idate.strip(),
                                                       "%d-%b-%Y %H:%M:%S %z").timestamp(),
                    "size": size, "body": head[1], "binary": tail[1]})
    return out


def _test_id(raw):
    m = re.search(rb"X-Test-Id: (\d+)", raw)
    return int(m.group(1))


@pytest.fixture(scope="module")
def served():
    binary = _unit_binary()
    top = _tmpdir("maildir-dovecot")
    d = _Dovecot(os.path.join(top, "dovecot"))
    meta = os.path.join(top, "meta")
    try:
        _export(binary, d.maildir("alice"), meta)
        _chown_nobody(d.home("alice"))
        d.start()
        conn = imaplib.IMAP4("127.0.0.1", d.plain_port)
        conn.login("alice", "alicepw")
        folders, msgs = _manifest(meta)
        yield {"conn": conn, "dovecot": d, "folders": folders, "msgs": msgs, "top": top,
               "binary": binary}
        conn.logout()
    finally:
        d.stop()
        shutil.rmtree(top, ignore_errors=True)


def test_folders_listed(served):
    got = _list(served["conn"], "list")
    want = set(served["folders"])
    # Parents the driver left implicit are \Noselect, as when Dovecot
    # itself creates "A/B".
    implicit = {"Archiv", "Archiv/2024", "Pär"}
    assert set(got) == want | implicit
    for name in implicit:
        assert "\\Noselect" in got[name], (name, got[name])
    for name in want:
        assert "\\Noselect" not in got[name], (name, got[name])


def test_subscriptions(served):
    got = _list(served["conn"], "lsub")
    assert set(got) == {n for n, sub in served["folders"].items() if sub}


def test_messages(served):
    conn = served["conn"]
    by_folder = {}
    for m in served["msgs"]:
        by_folder.setdefault(m["folder"], []).append(m)
    seen = 0
    for folder, want in by_folder.items():
        got = {_test_id(g["binary"]): g for g in _fetch_all(conn, folder)}
        assert len(got) == len(want), folder
        for m in want:
            g = got[_test_id(m["raw"])]
            wsize = int(re.search(r",W=(\d+)", m["location"]).group(1))
            served_bytes = _crlf(m["raw"])
            assert g["size"] == wsize == len(served_bytes)
            if b"\n" not in m["raw"].replace(b"\r\n", b""):
                # CRLF messages (what IMAP sources deliver): exact bytes.
                assert g["binary"] == m["raw"]
            else:
                assert g["binary"] == served_bytes
            assert g["body"] == served_bytes.replace(b"\0", b"\x80")
            assert g["flags"] == m["flags"] | m["keywords"], folder
            assert g["date"] == m["date"]
            seen += 1
    assert seen == len(served["msgs"])
    assert any(b"\0" in m["raw"] for m in served["msgs"])
    assert any(len(m["keywords"]) == 26 for m in served["msgs"])


def test_dovecot_did_not_complain(served):
    log = served["dovecot"].log_tail(400)
    for bad in ("Error:", "Panic:", "Fatal:", "size wrong", "Broken", "Corrupted"):
        assert bad not in log, log


def test_without_listescape_dotted_names_show_escaped():
    """The fallback when Dovecot runs without listescape: the folders with
    '.' in their names are still there, named with the escape ("x\\2ey")."""
    binary = _unit_binary()
    top = _tmpdir("maildir-dovecot-plain")
    d = _Dovecot(os.path.join(top, "dovecot"), listescape=False)
    try:
        _export(binary, d.maildir("alice"), os.path.join(top, "meta"))
        _chown_nobody(d.home("alice"))
        d.start()
        conn = imaplib.IMAP4("127.0.0.1", d.plain_port)
        conn.login("alice", "alicepw")
        got = _list(conn, "list")
        conn.logout()
        assert "x\\2ey" in got and "Pär/Q\\2ez" in got
        assert "Archiv/2024/Entwürfe" in got and "日本語" in got
    finally:
        d.stop()
        shutil.rmtree(top, ignore_errors=True)
