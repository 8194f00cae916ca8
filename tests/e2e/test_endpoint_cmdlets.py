"""The Exchange cmdlet names (docs/cli.md) give the same results as the
noun-verb commands. -Security None|Ssl|Tls means none, implicit TLS and
STARTTLS."""

import pytest

from tests.servers.mfrun import (assert_test_failed, assert_test_success, endpoint_names,
                                 jget, stage_status)


def show_json(run, name):
    r = run(["endpoint", "show", name, "--json"])
    assert r.rc == 0, r.describe()
    doc = r.json()
    return doc[0] if isinstance(doc, list) else doc


SETTINGS = ("Type", "Server", "Port", "Security", "Authentication", "AdminUser", "AdminPassword",
            "ImpersonationMethod", "MasterSeparator", "AcceptUntrustedCertificates",
            "MaxConcurrentMigrations", "MaxConcurrentIncrementalSyncs", "LastTestResult")


def test_cmdlet_flow(run, dovecot):
    r = run(["New-MigrationEndpoint", "-IMAP", "-Name", "src", "-RemoteServer", "127.0.0.1",
             "-Port", dovecot.plain_port, "-Security", "Tls", "-Credentials", "master",
             "-PasswordStdin"], input="masterpw\n")
    assert r.rc == 0, r.describe()
    doc = show_json(run, "src")
    assert jget(doc, "Security") == "starttls"
    assert jget(doc, "AdminUser") == "master"
    assert jget(doc, "LastTestResult") == "Success"

    r = run(["Get-MigrationEndpoint"])
    assert r.rc == 0 and "src" in r.out, r.describe()
    r = run(["Get-MigrationEndpoint", "-Json"])
    assert r.rc == 0 and endpoint_names(r.json()) == ["src"], r.describe()
    r = run(["Get-MigrationEndpoint", "src"])
    assert r.rc == 0 and "********" in r.out and "masterpw" not in r.out, r.describe()
    r = run(["Get-MigrationEndpoint", "-Identity", "src", "-Json"])
    assert r.rc == 0, r.describe()
    got = r.json()
    got = got[0] if isinstance(got, list) else got
    assert jget(got, "Name") == "src"

    r = run(["Set-MigrationEndpoint", "src", "-MaxConcurrentMigrations", "5",
             "-MaxConcurrentIncrementalSyncs", "2", "-SkipVerification"])
    assert r.rc == 0, r.describe()
    doc = show_json(run, "src")
    assert jget(doc, "MaxConcurrentMigrations") == 5
    assert jget(doc, "MaxConcurrentIncrementalSyncs") == 2
    r = run(["Set-MigrationEndpoint", "-Identity", "src", "-ImpersonationMethod", "MasterUser"])
    assert r.rc == 0, r.describe()
    assert jget(show_json(run, "src"), "ImpersonationMethod") == "master-user"

    r = run(["Test-MigrationServerAvailability", "-Endpoint", "src", "-TestMailbox", "alice",
             "-PasswordStdin", "-Json"], input="alicepw\n")
    doc = assert_test_success(r)
    assert stage_status(doc)["select"] == "ok"
    r = run(["Test-MigrationServerAvailability", "-Endpoint", "src", "-TestMailbox", "bob",
             "-Json"])
    doc = assert_test_success(r)
    assert "bob" in jget(doc, "LoginAs")

    r = run(["Test-MigrationServerAvailability", "-IMAP", "-RemoteServer", "127.0.0.1",
             "-Port", dovecot.tls_port, "-Security", "Ssl"])
    assert r.rc == 0, r.describe()
    r = run(["Test-MigrationServerAvailability", "-IMAP", "-RemoteServer", "127.0.0.1",
             "-Port", dovecot.tls_port, "-Security", "Ssl", "-Json"])
    doc = assert_test_success(r)
    assert jget(doc, "Security") == "tls"
    assert stage_status(doc)["tls"] == "ok"

    r = run(["Remove-MigrationEndpoint", "-Identity", "src", "-Confirm:$false"])
    assert r.rc == 0, r.describe()
    assert run(["Get-MigrationEndpoint", "src"]).rc == 3
    r = run(["Remove-MigrationEndpoint", "-Identity", "src", "-Confirm:$false"])
    assert r.rc == 3, r.describe()


def test_cmdlet_and_noun_verb_store_the_same(run, dovecot):
    r = run(["endpoint", "new", "a", "--type", "imap", "--server", "127.0.0.1",
             "--port", dovecot.tls_port, "--security", "tls", "--auth", "login",
             "--admin-user", "master", "--password-stdin", "--impersonation", "master-user",
             "--max-concurrent-migrations", "9", "--max-concurrent-incremental-syncs", "4"],
            input="masterpw\n")
    assert r.rc == 0, r.describe()
    r = run(["New-MigrationEndpoint", "-IMAP", "-Name", "b", "-RemoteServer", "127.0.0.1",
             "-Port", dovecot.tls_port, "-Security", "Ssl", "-Authentication", "Login",
             "-Credentials", "master", "-PasswordStdin", "-ImpersonationMethod", "MasterUser",
             "-MaxConcurrentMigrations", "9", "-MaxConcurrentIncrementalSyncs", "4"],
            input="masterpw\n")
    assert r.rc == 0, r.describe()
    a, b = show_json(run, "a"), show_json(run, "b")
    for key in SETTINGS:
        assert jget(a, key) == jget(b, key), key


def test_odd_case_names(run, dovecot):
    r = run(["new-migrationENDPOINT", "-imap", "-NAME", "odd", "-remoteSERVER", "127.0.0.1",
             "-PORT", dovecot.plain_port, "-security", "tls", "-CREDENTIALS", "master",
             "-passwordstdin"], input="masterpw\n")
    assert r.rc == 0, r.describe()
    assert jget(show_json(run, "odd"), "Security") == "starttls"
    r = run(["GET-MIGRATIONENDPOINT", "-identity", "odd", "-JSON"])
    assert r.rc == 0, r.describe()
    r = run(["test-MigrationServerAvailability", "-ENDPOINT", "odd", "-testmailbox", "alice",
             "-json"])
    assert_test_success(r)
    r = run(["remove-migrationendpoint", "-IDENTITY", "odd", "-confirm:$FALSE"])
    assert r.rc == 0, r.describe()


def test_switch_forms(run, dovecot_cert, closed_port):
    d = dovecot_cert("expired")
    base = ["Test-MigrationServerAvailability", "-IMAP", "-RemoteServer", "127.0.0.1",
            "-Port", d.tls_port, "-Security", "Ssl", "-Json"]
    assert_test_failed(run(base), "tls")
    assert_test_failed(run(base + ["-AcceptUntrustedCertificates:$false"]), "tls")
    assert_test_success(run(base + ["-AcceptUntrustedCertificates"]))
    assert_test_success(run(base + ["-AcceptUntrustedCertificates:$true"]))

    new = ["New-MigrationEndpoint", "-IMAP", "-Name", "later", "-RemoteServer", "127.0.0.1",
           "-Port", closed_port.port, "-Security", "None"]
    r = run(new + ["-SkipVerification:$false"])
    assert r.rc == 11, r.describe()
    r = run(new + ["-SkipVerification:$true"])
    assert r.rc == 0, r.describe()
    assert jget(show_json(run, "later"), "Security") == "none"


@pytest.mark.parametrize("kind,security,port_attr,stage", [
    ("expired", "Ssl", "tls_port", "tls"),
    ("selfsigned", "Tls", "plain_port", "starttls"),
    ("wronghost", "Ssl", "tls_port", "tls"),
])
def test_cmdlet_failures_match_noun_verb(run, dovecot_cert, kind, security, port_attr, stage):
    d = dovecot_cert(kind)
    port = getattr(d, port_attr)
    r1 = run(["Test-MigrationServerAvailability", "-IMAP", "-RemoteServer", "127.0.0.1",
              "-Port", port, "-Security", security, "-Json"])
    r2 = run(["endpoint", "test", "--type", "imap", "--server", "127.0.0.1", "--port", port,
              "--security", {"Ssl": "tls", "Tls": "starttls"}[security], "--json"])
    d1, d2 = assert_test_failed(r1, stage), assert_test_failed(r2, stage)
    assert r1.rc == r2.rc
    assert jget(d1, "Message") == jget(d2, "Message")


def test_cmdlet_errors(run, dovecot):
    base = ["New-MigrationEndpoint", "-IMAP", "-Name", "e", "-RemoteServer", "127.0.0.1",
            "-Port", dovecot.plain_port, "-Security", "Tls"]
    r = run(base + ["-Frobnicate", "1"])
    assert r.rc == 2, r.describe()
    r = run(base + ["-Security", "Bogus"])
    assert r.rc == 2, r.describe()
    r = run(["New-MigrationEndpoint", "-IMAP", "-Name", "bad name", "-RemoteServer",
             "127.0.0.1", "-SkipVerification"])
    assert r.rc == 2, r.describe()
    r = run(["Get-MigrationEndpoint", "-Identity", "nosuch"])
    assert r.rc == 3, r.describe()
    r = run(["Set-MigrationEndpoint", "-Identity", "nosuch", "-Port", "1", "-SkipVerification"])
    assert r.rc == 3, r.describe()
    r = run(["Test-MigrationServerAvailability", "-Endpoint", "nosuch"])
    assert r.rc == 3, r.describe()
    r = run(["Get-NoSuchThing"])
    assert r.rc == 2, r.describe()

    assert run(base).rc == 0
    r = run(base)
    assert r.rc == 4, r.describe()
    # -Credentials without a password source (stdin is not a terminal).
    r = run(["New-MigrationEndpoint", "-IMAP", "-Name", "f", "-RemoteServer", "127.0.0.1",
             "-Port", dovecot.plain_port, "-Security", "Tls", "-Credentials", "master"])
    assert r.rc == 2, r.describe()
