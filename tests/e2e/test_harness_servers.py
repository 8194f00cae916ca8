"""The test servers themselves (tests/servers/), checked with Python's
imaplib and ssl: no mailferry involved."""

import imaplib
import json
import os
import socket
import ssl
import subprocess
import sys
import time

import pytest

from tests.servers import dovecot as dovecot_mod
from tests.servers import hostile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ca_context(certs):
    return ssl.create_default_context(cafile=certs.ca_bundle)


def test_starttls_login_with_test_ca(dovecot, test_certs):
    m = imaplib.IMAP4("127.0.0.1", dovecot.plain_port)
    assert "STARTTLS" in m.capabilities
    m.starttls(ssl_context=ca_context(test_certs))
    assert m.login("alice", "alicepw")[0] == "OK"
    assert m.select("INBOX", readonly=True)[0] == "OK"
    m.logout()


def test_implicit_tls_and_hostname(dovecot, test_certs):
    for host in ("127.0.0.1", "localhost"):
        m = imaplib.IMAP4_SSL(host, dovecot.tls_port, ssl_context=ca_context(test_certs))
        assert m.login("bob", "bobpw")[0] == "OK"
        m.logout()


def test_master_user(dovecot, test_certs):
    ctx = ca_context(test_certs)
    m = imaplib.IMAP4_SSL("127.0.0.1", dovecot.tls_port, ssl_context=ctx)
    assert m.login("alice*master", "masterpw")[0] == "OK"
    m.logout()
    m = imaplib.IMAP4_SSL("127.0.0.1", dovecot.tls_port, ssl_context=ctx)
    assert m.authenticate("PLAIN", lambda _: b"alice\0master\0masterpw")[0] == "OK"
    m.logout()
    m = imaplib.IMAP4_SSL("127.0.0.1", dovecot.tls_port, ssl_context=ctx)
    assert m.login("master", "masterpw")[0] == "OK"
    m.logout()
    m = imaplib.IMAP4_SSL("127.0.0.1", dovecot.tls_port, ssl_context=ctx)
    with pytest.raises(imaplib.IMAP4.error):
        m.login("nosuchuser*master", "masterpw")


def test_no_tls_instance(dovecot_notls):
    m = imaplib.IMAP4("127.0.0.1", dovecot_notls.plain_port)
    assert "STARTTLS" not in m.capabilities
    assert m.login("alice", "alicepw")[0] == "OK"
    m.logout()
    assert dovecot_notls.tls_port is None


@pytest.mark.parametrize("kind,reason", [("expired", "expired"), ("selfsigned", "self-signed"),
                                         ("wronghost", "mismatch")])
def test_bad_certificates_are_served(dovecot_cert, test_certs, kind, reason):
    d = dovecot_cert(kind)
    with pytest.raises(ssl.SSLCertVerificationError) as e:
        imaplib.IMAP4_SSL("127.0.0.1", d.tls_port, ssl_context=ca_context(test_certs))
    assert reason in str(e.value)
    m = imaplib.IMAP4("127.0.0.1", d.plain_port)
    with pytest.raises(ssl.SSLCertVerificationError):
        m.starttls(ssl_context=ca_context(test_certs))


def test_add_message(dovecot):
    dovecot.add_message("bob", "INBOX", b"Subject: one\r\n\r\nbody\r\n",
                        flags=("\\Seen", "$Label1"), internaldate=1700000000)
    dovecot.add_message("bob", "Archive/2023 \u00e4", b"Subject: two\r\n\r\nbody\r\n",
                        flags=("\\Flagged",))
    m = imaplib.IMAP4("127.0.0.1", dovecot.plain_port)
    m.login("bob", "bobpw")
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK" and int(data[0]) >= 1
    typ, data = m.fetch(data[0], "(FLAGS INTERNALDATE)")
    assert b"\\Seen" in data[0] and b"$Label1" in data[0]
    assert b"14-Nov-2023 22:13:20 +0000" in data[0]
    typ, data = m.select('"Archive/2023 &AOQ-"', readonly=True)
    assert typ == "OK" and int(data[0]) == 1
    m.logout()


def test_hostile_servers_record():
    with hostile.silent() as s:
        with socket.create_connection(("127.0.0.1", s.port)) as c:
            c.sendall(b"a LOGIN x y\r\n")
            assert s.wait_for_connections(1)
        for _ in range(50):
            if s.received:
                break
            time.sleep(0.02)
        assert s.received == b"a LOGIN x y\r\n"
    with hostile.ClosedPort() as p:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", p.port), timeout=2)


def test_command_line_start_stop(server_root, test_certs):
    # The supervisor that `start` leaves behind becomes our child when its
    # parent exits (so that we can collect it after `stop`).
    dovecot_mod.become_subreaper()
    d = os.path.join(server_root, "cli-instance")
    p = subprocess.run([sys.executable, "-m", "tests.servers.dovecot", "start", d,
                        "--tls-mode", "starttls", "--certs-dir", test_certs.directory],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["tls_port"] is None
    m = imaplib.IMAP4("127.0.0.1", info["plain_port"])
    m.starttls(ssl_context=ca_context(test_certs))
    assert m.login("alice*master", "masterpw")[0] == "OK"
    m.logout()
    with open(os.path.join(d, "supervisor.pid")) as f:
        supervisor = int(f.read())
    p = subprocess.run([sys.executable, "-m", "tests.servers.dovecot", "stop", d], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    try:
        os.waitpid(supervisor, 0)
    except ChildProcessError:
        pass
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", info["plain_port"]), timeout=2)
    conf = os.path.join(d, "dovecot.conf")
    left = [pid for pid, _pp, _pg, state in dovecot_mod._procs()
            if state != "Z" and conf.encode() in _cmdline(pid)]
    assert not left


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_stop_leaves_no_process(server_root, test_certs):
    d = dovecot_mod.Dovecot(os.path.join(server_root, "short-lived"),
                            certs_dir=test_certs.directory).start()
    pgid = d.proc.pid
    m = imaplib.IMAP4("127.0.0.1", d.plain_port)
    m.login("alice", "alicepw")
    m.select()
    d.stop()
    assert not [p for p in dovecot_mod._procs() if p[2] == pgid and p[3] != "Z"]
    assert not [p for p in dovecot_mod._procs() if p[2] == pgid and p[1] == os.getpid()]
