"""Passwords appear nowhere in plain text: not in any file of the data
directory (database, -wal, -shm, key file), not on stdout or stderr, not in
the --trace output, not as base64 (the AUTHENTICATE PLAIN message)."""

import os
import sqlite3

from tests.servers.dovecot import CAROL_PASSWORD
from tests.servers.mfrun import assert_test_failed, assert_test_success, find_in_text, \
    find_in_tree, secret_needles

WRONG_PASSWORD = "Wr0ng-S3cret-Passw0rd-c41d"

MASTER_NEEDLES = secret_needles("masterpw", [("", "master"), ("alice", "master"),
                                             ("bob", "master"), ("master", "master")])
CAROL_NEEDLES = secret_needles(CAROL_PASSWORD, [("", "carol")])
WRONG_NEEDLES = secret_needles(WRONG_PASSWORD, [("", "carol"), ("", "master")])
ALL_NEEDLES = MASTER_NEEDLES + CAROL_NEEDLES + WRONG_NEEDLES


def test_passwords_appear_nowhere(run, dovecot, dovecot_notls, data_dir, tmp_path):
    steps = []

    def step(args, input=None, rc=0):
        r = run(args, input=input)
        assert r.rc == rc, r.describe()
        steps.append(r)
        return r

    base = ["--type", "imap", "--server", "127.0.0.1"]
    # Administrator over STARTTLS with AUTHENTICATE PLAIN; SASL impersonation.
    step(["--trace", "-v", "endpoint", "new", "src", *base, "--port", dovecot.plain_port,
          "--security", "starttls", "--admin-user", "master", "--password-stdin"],
         input="masterpw\n")
    r = step(["endpoint", "test", "src", "--test-mailbox", "carol", "--password-stdin",
              "--json", "--trace"], input=CAROL_PASSWORD + "\n")
    assert_test_success(r)
    assert_test_success(step(["endpoint", "test", "src", "--test-mailbox", "alice", "--json",
                              "--trace", "-v"]))
    # Master-user impersonation (LOGIN "alice*master" masterpw).
    step(["endpoint", "set", "src", "--impersonation", "master-user", "--trace"])
    assert_test_success(step(["endpoint", "test", "src", "--test-mailbox", "alice",
                              "--trace", "--json"]))
    # A new administrator password through set.
    step(["endpoint", "set", "src", "--admin-user", "master", "--password-stdin", "--trace"],
         input="masterpw\n")
    # The LOGIN command over implicit TLS.
    step(["endpoint", "new", "tls", *base, "--port", dovecot.tls_port, "--security", "tls",
          "--auth", "login", "--admin-user", "master", "--password-stdin", "--trace", "-v"],
         input="masterpw\n")
    step(["endpoint", "test", "tls", "--test-mailbox", "carol", "--password-stdin", "--trace"],
         input=CAROL_PASSWORD + "\n")
    # Failed logins.
    r = step(["endpoint", "test", "src", "--test-mailbox", "carol", "--password-stdin",
              "--json", "--trace", "-v"], input=WRONG_PASSWORD + "\n", rc=16)
    assert_test_failed(r, "login")
    step(["endpoint", "new", "bad", *base, "--port", dovecot.plain_port, "--security",
          "starttls", "--admin-user", "master", "--password-stdin", "--trace"],
         input=WRONG_PASSWORD + "\n", rc=16)
    # Plain text on the wire (security none): the trace must still redact.
    step(["endpoint", "new", "clear", *base, "--port", dovecot_notls.plain_port, "--security",
          "none", "--admin-user", "master", "--password-stdin", "--trace"], input="masterpw\n")
    step(["endpoint", "test", "clear", "--test-mailbox", "carol", "--password-stdin", "--trace"],
         input=CAROL_PASSWORD + "\n")
    step(["endpoint", "test", "--type", "imap", "--server", "127.0.0.1", "--port",
          dovecot_notls.plain_port, "--security", "none", "--auth", "login",
          "--admin-user", "carol", "--password-stdin", "--trace"], input=CAROL_PASSWORD + "\n")
    # Listing and showing.
    step(["endpoint", "list"])
    step(["endpoint", "list", "--json"])
    step(["endpoint", "show", "src"])
    step(["endpoint", "show", "src", "--json"])
    step(["Get-MigrationEndpoint", "-Identity", "src"])

    # The trace did show the protocol exchange (so its redaction was tested).
    traces = "".join(r.err for r in steps)
    assert "CAPABILITY" in traces.upper(), "--trace printed no protocol exchange"
    assert "AUTHENTICATE" in traces.upper() and "LOGIN" in traces.upper(), \
        "--trace printed no login command"

    leaks = []
    for r in run.history:
        for stream, text in (("stdout", r.out), ("stderr", r.err)):
            for n in find_in_text(text, ALL_NEEDLES):
                leaks.append(f"{stream} of `mailferry {' '.join(r.args)}`: {n!r}")
    assert not leaks, "\n".join(leaks)

    files = []
    for dirpath, _dirs, names in os.walk(data_dir):
        files += [os.path.join(dirpath, n) for n in names]
    assert files, f"nothing in the data directory {data_dir}"
    hits = find_in_tree(str(tmp_path), ALL_NEEDLES)
    assert not hits, hits


def _database(data_dir):
    for name in sorted(os.listdir(data_dir)):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                if f.read(16) == b"SQLite format 3\0":
                    return path
    raise AssertionError(f"no SQLite database in {data_dir}: {os.listdir(data_dir)}")


def test_passwords_not_in_wal(run, dovecot, data_dir):
    """Keep a reader connection open on the database so that mailferry's
    writes stay in the -wal file (SQLite checkpoints and removes it when
    the last connection closes), then search every file, -wal included."""
    r = run(["endpoint", "new", "src", "--type", "imap", "--server", "127.0.0.1",
             "--port", dovecot.plain_port, "--security", "starttls", "--admin-user", "master",
             "--password-stdin"], input="masterpw\n")
    assert r.rc == 0, r.describe()
    assert not find_in_tree(data_dir, MASTER_NEEDLES)
    db = _database(data_dir)
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        reader.execute("SELECT count(*) FROM sqlite_master").fetchall()
        for i in range(3):
            r = run(["endpoint", "set", "src", "--max-concurrent-migrations", str(25 + i),
                     "--admin-user", "master", "--password-stdin", "--skip-verification"],
                    input="masterpw\n")
            assert r.rc == 0, r.describe()
        r = run(["endpoint", "new", "carol", "--type", "imap", "--server", "127.0.0.1",
                 "--port", dovecot.plain_port, "--security", "starttls", "--admin-user",
                 "carol", "--password-stdin"], input=CAROL_PASSWORD + "\n")
        assert r.rc == 0, r.describe()
        wal = db + "-wal"
        assert os.path.exists(wal) and os.path.getsize(wal) > 0, os.listdir(data_dir)
        hits = find_in_tree(data_dir, MASTER_NEEDLES + CAROL_NEEDLES)
        assert not hits, hits
        # The passwords are there, sealed ("v1:" + base64, see store.h).
        with open(wal, "rb") as f:
            assert b"v1:" in f.read()
    finally:
        reader.close()
    assert "secret.key" in os.listdir(data_dir)
