"""Endpoint commands: new, list, show, set, remove; names, option values and
exit codes (docs/cli.md, docs/exit-codes.md)."""

import os
import stat

import pytest

from tests.servers.mfrun import endpoint_list, endpoint_names, jget


def new_starttls(run, dovecot, name="src", *extra, password="masterpw"):
    return run(["endpoint", "new", name, "--type", "imap", "--server", "127.0.0.1",
                "--port", dovecot.plain_port, "--security", "starttls",
                "--admin-user", "master", "--password-stdin", *extra],
               input=password + "\n")


def new_unverified(run, name, port=1, *extra):
    return run(["endpoint", "new", name, "--type", "imap", "--server", "127.0.0.1",
                "--port", port, "--security", "none", "--skip-verification", *extra])


def show_json(run, name):
    r = run(["endpoint", "show", name, "--json"])
    assert r.rc == 0, r.describe()
    doc = r.json()
    if isinstance(doc, list):  # tolerate a one-element list
        assert len(doc) == 1, r.describe()
        doc = doc[0]
    return doc


def test_new_stores_and_verifies(run, dovecot):
    r = new_starttls(run, dovecot)
    assert r.rc == 0, r.describe()

    r = run(["endpoint", "list", "--json"])
    assert r.rc == 0, r.describe()
    eps = endpoint_list(r.json())
    assert [jget(e, "Name") for e in eps] == ["src"]
    ep = eps[0]
    assert jget(ep, "Type") == "imap"
    assert jget(ep, "Server") == "127.0.0.1"
    assert jget(ep, "Port") == dovecot.plain_port
    assert jget(ep, "Security") == "starttls"
    assert jget(ep, "AdminUser") == "master"

    doc = show_json(run, "src")
    assert jget(doc, "AdminPassword") == "********"
    assert jget(doc, "LastTestResult") == "Success"

    r = run(["endpoint", "show", "src"])
    assert r.rc == 0, r.describe()
    assert "********" in r.out
    assert "masterpw" not in r.out + r.err
    assert "127.0.0.1" in r.out and "starttls" in r.out

    r = run(["endpoint", "list"])
    assert r.rc == 0, r.describe()
    assert "src" in r.out and "masterpw" not in r.out


def test_new_defaults(run):
    r = run(["endpoint", "new", "d1", "--type", "imap", "--server", "127.0.0.1",
             "--skip-verification"])
    assert r.rc == 0, r.describe()
    doc = show_json(run, "d1")
    assert jget(doc, "Security") == "tls"
    assert jget(doc, "Port") == 993
    assert jget(doc, "Authentication") == "plain"
    assert jget(doc, "ImpersonationMethod") == "sasl"
    assert jget(doc, "MasterSeparator") == "*"
    assert jget(doc, "MaxConcurrentMigrations") == 20
    assert jget(doc, "MaxConcurrentIncrementalSyncs") == 20
    assert jget(doc, "AcceptUntrustedCertificates") is False
    assert jget(doc, "LastTestResult") is None

    r = run(["endpoint", "new", "d2", "--type", "imap", "--server", "127.0.0.1",
             "--security", "starttls", "--skip-verification"])
    assert r.rc == 0, r.describe()
    assert jget(show_json(run, "d2"), "Port") == 143


def test_new_failing_verification_stores_nothing(run, dovecot):
    r = new_starttls(run, dovecot, password="not-the-password")
    assert r.rc == 16, r.describe()
    r = run(["endpoint", "show", "src"])
    assert r.rc == 3, r.describe()
    r = run(["endpoint", "list", "--json"])
    assert r.rc == 0 and endpoint_names(r.json()) == [], r.describe()


def test_new_skip_verification_stores_unreachable(run, closed_port):
    r = new_unverified(run, "later", closed_port.port)
    assert r.rc == 0, r.describe()
    doc = show_json(run, "later")
    assert jget(doc, "Port") == closed_port.port
    assert jget(doc, "LastTestResult") is None
    assert closed_port.received == b""


def test_duplicate_name_is_a_conflict(run, dovecot):
    assert new_unverified(run, "dup").rc == 0
    r = new_unverified(run, "dup", 2)
    assert r.rc == 4, r.describe()
    assert r.err.strip(), "a conflict needs a message on stderr"
    # Verified creation of an existing name: also a conflict.
    r = run(["endpoint", "new", "dup", "--type", "imap", "--server", "127.0.0.1",
             "--port", dovecot.plain_port, "--security", "starttls"])
    assert r.rc == 4, r.describe()
    assert jget(show_json(run, "dup"), "Port") == 1


@pytest.mark.parametrize("args", [
    ["endpoint", "show", "nosuch"],
    ["endpoint", "show", "nosuch", "--json"],
    ["endpoint", "set", "nosuch", "--port", "144", "--skip-verification"],
    ["endpoint", "remove", "nosuch"],
    ["endpoint", "test", "nosuch"],
], ids=["show", "show-json", "set", "remove", "test"])
def test_unknown_endpoint_is_not_found(run, args):
    r = run(args)
    assert r.rc == 3, r.describe()
    assert "nosuch" in r.err, r.describe()


def test_set_changes_only_given_settings(run, dovecot, closed_port):
    assert new_starttls(run, dovecot).rc == 0
    before = show_json(run, "src")

    r = run(["endpoint", "set", "src", "--max-concurrent-migrations", "7",
             "--max-concurrent-incremental-syncs", "3", "--skip-verification"])
    assert r.rc == 0, r.describe()
    after = show_json(run, "src")
    assert jget(after, "MaxConcurrentMigrations") == 7
    assert jget(after, "MaxConcurrentIncrementalSyncs") == 3
    for key in ("Name", "Type", "Server", "Port", "Security", "Authentication", "AdminUser",
                "AdminPassword", "ImpersonationMethod", "MasterSeparator",
                "AcceptUntrustedCertificates"):
        assert jget(after, key) == jget(before, key), key

    # Without --skip-verification, set re-tests: a good change passes ...
    r = run(["endpoint", "set", "src", "--auth", "login"])
    assert r.rc == 0, r.describe()
    assert jget(show_json(run, "src"), "Authentication") == "login"
    assert jget(show_json(run, "src"), "LastTestResult") == "Success"

    # ... and a change that fails the test is refused (exit 10+stage) and not stored.
    r = run(["endpoint", "set", "src", "--port", closed_port.port])
    assert r.rc == 11, r.describe()
    assert jget(show_json(run, "src"), "Port") == dovecot.plain_port

    # The type cannot change.
    r = run(["endpoint", "set", "src", "--type", "exchange-remote", "--skip-verification"])
    assert r.rc != 0, r.describe()
    assert jget(show_json(run, "src"), "Type") == "imap"


def test_set_admin_password(run, dovecot):
    assert new_starttls(run, dovecot).rc == 0
    # A wrong new password fails the re-test and is not stored ...
    r = run(["endpoint", "set", "src", "--admin-user", "master", "--password-stdin"],
            input="wrong-password\n")
    assert r.rc == 16, r.describe()
    r = run(["endpoint", "test", "src", "--json"])
    assert r.rc == 0, r.describe()
    # ... a right one is.
    r = run(["endpoint", "set", "src", "--admin-user", "master", "--password-stdin"],
            input="masterpw\n")
    assert r.rc == 0, r.describe()


def test_remove(run, dovecot):
    assert new_starttls(run, dovecot).rc == 0
    assert new_unverified(run, "other").rc == 0
    r = run(["endpoint", "remove", "src"])
    assert r.rc == 0, r.describe()
    assert run(["endpoint", "show", "src"]).rc == 3
    assert endpoint_names(run(["endpoint", "list", "--json"]).json()) == ["other"]
    r = run(["endpoint", "remove", "src"])
    assert r.rc == 3, r.describe()


def test_list_is_ordered_by_name(run):
    for n in ("zeta", "Alpha", "mid"):
        assert new_unverified(run, n).rc == 0
    names = endpoint_names(run(["endpoint", "list", "--json"]).json())
    assert sorted(names) == sorted(["zeta", "Alpha", "mid"])
    assert names == sorted(names)


def test_empty_list(run):
    r = run(["endpoint", "list", "--json"])
    assert r.rc == 0, r.describe()
    assert endpoint_names(r.json()) == []


VALID_NAMES = ["a", "Z", "0", "src", "A-1.b_c", "9lives", "x" * 64, "a.-_"]
INVALID_NAMES = ["", "-a", ".a", "_a", "a b", "a/b", "a\\b", "a:b", "a;b", "a*b",
                 "caf\u00e9", "x" * 65, "a\tb", "--"]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_names(run, name):
    r = new_unverified(run, name)
    assert r.rc == 0, r.describe()
    assert endpoint_names(run(["endpoint", "list", "--json"]).json()) == [name]
    assert run(["endpoint", "show", name]).rc == 0


@pytest.mark.parametrize("name", INVALID_NAMES,
                         ids=lambda n: repr(n) if len(n) < 20 else f"len{len(n)}")
def test_invalid_names(run, name):
    r = new_unverified(run, name)
    assert r.rc == 2, r.describe()
    assert r.err.strip(), "a usage error needs a message"
    assert endpoint_names(run(["endpoint", "list", "--json"]).json()) == []


BASE = ["endpoint", "new", "e", "--type", "imap", "--server", "127.0.0.1", "--skip-verification"]
BAD_VALUES = {
    "port-zero": ["--port", "0"],
    "port-high": ["--port", "65536"],
    "port-negative": ["--port", "-1"],
    "port-text": ["--port", "imap"],
    "port-trailing": ["--port", "143x"],
    "port-missing": ["--port"],
    "security": ["--security", "ssl"],
    "security-bogus": ["--security", "bogus"],
    "auth": ["--auth", "ntlm"],
    "impersonation": ["--impersonation", "proxy"],
    "migrations-zero": ["--max-concurrent-migrations", "0"],
    "migrations-high": ["--max-concurrent-migrations", "1001"],
    "incremental-above-migrations": ["--max-concurrent-migrations", "5",
                                     "--max-concurrent-incremental-syncs", "6"],
    "incremental-zero": ["--max-concurrent-incremental-syncs", "0"],
    "timeout-zero": ["--timeout", "0"],
    "timeout-text": ["--timeout", "soon"],
    "server-space": ["--server", "a b"],
    "server-empty": ["--server", ""],
    "unknown-option": ["--frobnicate"],
    "password-on-command-line": ["--password", "masterpw"],
}


@pytest.mark.parametrize("extra", list(BAD_VALUES.values()), ids=list(BAD_VALUES))
def test_bad_option_values(run, extra):
    r = run(BASE + extra)
    assert r.rc == 2, r.describe()
    assert r.err.strip(), "a usage error needs a message on stderr"
    assert "masterpw" not in r.out + r.err
    assert endpoint_names(run(["endpoint", "list", "--json"]).json()) == []


@pytest.mark.parametrize("args", [
    ["endpoint", "new", "e", "--server", "127.0.0.1", "--skip-verification"],  # no --type
    ["endpoint", "new", "e", "--type", "pop3", "--server", "127.0.0.1", "--skip-verification"],
    ["endpoint", "new", "e", "--type", "imap", "--skip-verification"],  # no --server
    ["endpoint", "new", "--type", "imap", "--server", "127.0.0.1"],  # no name
    ["endpoint", "frobnicate"],
    ["endpoint"],
    ["nosuchnoun", "list"],
    ["endpoint", "list", "extra-argument"],
    ["endpoint", "test"],  # neither a name nor --type
], ids=["no-type", "bad-type", "no-server", "no-name", "bad-verb", "no-verb", "bad-noun",
        "extra-arg", "test-nothing"])
def test_usage_errors(run, args):
    r = run(args)
    assert r.rc == 2, r.describe()
    assert r.err.strip()


def test_admin_user_without_password_source(run, dovecot):
    # stdin is /dev/null, not a terminal: no prompt, exit 2, nothing stored.
    r = run(["endpoint", "new", "src", "--type", "imap", "--server", "127.0.0.1",
             "--port", dovecot.plain_port, "--security", "starttls", "--admin-user", "master"])
    assert r.rc == 2, r.describe()
    assert run(["endpoint", "show", "src"]).rc == 3


def test_password_file(run, dovecot, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("masterpw\nsecond line is ignored\n")
    r = run(["endpoint", "new", "src", "--type", "imap", "--server", "127.0.0.1",
             "--port", dovecot.plain_port, "--security", "starttls",
             "--admin-user", "master", "--password-file", str(pw)])
    assert r.rc == 0, r.describe()
    r = run(["endpoint", "new", "src2", "--type", "imap", "--server", "127.0.0.1",
             "--port", dovecot.plain_port, "--security", "starttls",
             "--admin-user", "master", "--password-file", str(tmp_path / "missing")])
    assert r.rc != 0, r.describe()
    assert run(["endpoint", "show", "src2"]).rc == 3


def test_password_stdin_first_line_only(run, dovecot):
    r = new_starttls(run, dovecot, password="masterpw\nsomething else")
    assert r.rc == 0, r.describe()


def test_help(run):
    r = run(["endpoint", "new", "--help"])
    assert r.rc == 0, r.describe()
    assert "--server" in r.out
    r = run(["--help"])
    assert r.rc == 0, r.describe()
    assert "endpoint" in r.out


def test_data_dir_option_and_key_file(run, tmp_path):
    other = tmp_path / "elsewhere"
    # Global options may appear anywhere on the line.
    r = run(["endpoint", "new", "x", "--type", "imap", "--server", "127.0.0.1",
             "--skip-verification", "--data-dir", str(other)])
    assert r.rc == 0, r.describe()
    r = run(["--data-dir", str(other), "endpoint", "list", "--json"])
    assert endpoint_names(r.json()) == ["x"]
    # Not in $MAILFERRY_DATA_DIR.
    assert endpoint_names(run(["endpoint", "list", "--json"]).json()) == []
    key = other / "secret.key"
    assert key.exists()
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(other).st_mode) & 0o077 == 0
