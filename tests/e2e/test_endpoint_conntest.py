"""The staged connection test (`endpoint new/test`) against Dovecot and
against scripted hostile servers: results, failed stages, messages and exit
codes (10 + stage)."""

import time

import pytest

from tests.servers.mfrun import (MIGRATION_CAPABILITIES, STAGES, assert_test_failed,
                                 assert_test_success, endpoint_names, find_in_text, jget,
                                 secret_needles, stage_status)


def adhoc(run, port, security, *extra, server="127.0.0.1", input=None, **kw):
    """`endpoint test --type imap ...` (nothing stored) with --json."""
    return run(["endpoint", "test", "--type", "imap", "--server", server, "--port", port,
                "--security", security, "--json", *extra], input=input, **kw)


def new_admin(run, dovecot, name="src", *extra, security="starttls"):
    port = dovecot.plain_port if security in ("starttls", "none") else dovecot.tls_port
    r = run(["endpoint", "new", name, "--type", "imap", "--server", "127.0.0.1",
             "--port", port, "--security", security, "--admin-user", "master",
             "--password-stdin", *extra], input="masterpw\n")
    assert r.rc == 0, r.describe()
    return r


def show_json(run, name):
    r = run(["endpoint", "show", name, "--json"])
    assert r.rc == 0, r.describe()
    doc = r.json()
    return doc[0] if isinstance(doc, list) else doc


def dovecot_log_since(dovecot, offset):
    with open(dovecot.log_file, errors="replace") as f:
        f.seek(offset)
        return f.read()


def log_offset(dovecot):
    with open(dovecot.log_file, "rb") as f:
        return f.seek(0, 2)


def wait_log(dovecot, offset, needle, timeout=3):
    deadline = time.monotonic() + timeout
    while True:
        text = dovecot_log_since(dovecot, offset)
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


# ---- success ---------------------------------------------------------------

def test_test_mailbox_with_password(run, dovecot):
    new_admin(run, dovecot)
    r = run(["endpoint", "test", "src", "--test-mailbox", "alice", "--password-stdin", "--json"],
            input="alicepw\n")
    doc = assert_test_success(r)
    status = stage_status(doc)
    assert list(status) == list(STAGES)
    for s in ("dns", "connect", "greeting", "starttls", "capability", "login", "select"):
        assert status[s] == "ok", (s, r.describe())
    assert status["tls"] == "skipped"
    for s in jget(doc, "Stages"):
        assert isinstance(jget(s, "ElapsedMs"), (int, float))

    caps = jget(doc, "Capabilities")
    assert isinstance(caps, list), r.describe()
    assert "IMAP4REV1" in [c.upper() for c in caps], r.describe()
    mig = jget(doc, "MigrationCapabilities")
    assert isinstance(mig, dict)
    for cap in MIGRATION_CAPABILITIES:
        assert isinstance(jget(mig, cap), bool), cap
    # Dovecot 2.3 offers these once logged in.
    for cap in ("UIDPLUS", "CONDSTORE", "QRESYNC", "SPECIAL-USE", "MOVE", "LITERAL+",
                "MULTIAPPEND"):
        assert jget(mig, cap) is True, (cap, r.describe())
    assert "Dovecot test server ready" in jget(doc, "Greeting")
    assert jget(doc, "TLS"), "a STARTTLS session must describe its TLS"
    assert "alice" in jget(doc, "LoginAs")
    assert jget(doc, "Port") == dovecot.plain_port
    assert jget(doc, "Security") == "starttls"
    assert jget(doc, "Warnings") == []


def test_human_readable_output(run, dovecot):
    new_admin(run, dovecot)
    r = run(["endpoint", "test", "src", "--test-mailbox", "alice", "--password-stdin"],
            input="alicepw\n")
    assert r.rc == 0, r.describe()
    assert "Result" in r.out and "Success" in r.out
    assert "UIDPLUS" in r.out
    r = run(["endpoint", "test", "src", "--test-mailbox", "alice", "--password-stdin"],
            input="wrong\n")
    assert r.rc == 16, r.describe()
    assert "Failed" in r.out and "login" in r.out


def test_admin_login_without_test_mailbox(run, dovecot):
    new_admin(run, dovecot)
    doc = assert_test_success(run(["endpoint", "test", "src", "--json"]))
    assert stage_status(doc)["login"] == "ok"
    assert stage_status(doc)["select"] == "ok"
    assert jget(doc, "LoginAs") == "master"


def test_no_credentials_no_login(run, dovecot):
    r = run(["endpoint", "new", "anon", "--type", "imap", "--server", "127.0.0.1",
             "--port", dovecot.plain_port, "--security", "starttls"])
    assert r.rc == 0, r.describe()
    doc = assert_test_success(run(["endpoint", "test", "anon", "--json"]))
    assert stage_status(doc)["login"] == "skipped"
    assert stage_status(doc)["select"] == "skipped"
    assert jget(doc, "LoginAs") is None


@pytest.mark.parametrize("method", ["sasl", "master-user"])
def test_impersonation(run, dovecot, method):
    new_admin(run, dovecot, "src", "--impersonation", method)
    off = log_offset(dovecot)
    r = run(["endpoint", "test", "src", "--test-mailbox", "alice", "--json"])
    doc = assert_test_success(r)
    assert stage_status(doc)["select"] == "ok"
    login_as = jget(doc, "LoginAs")
    assert "alice" in login_as and "master" in login_as, r.describe()
    # Dovecot opened alice's mailbox (not master's).
    log = wait_log(dovecot, off, "Login: user=<alice>")
    assert "Login: user=<alice>" in log, log


@pytest.mark.parametrize("method", ["sasl", "master-user"])
def test_impersonation_of_unknown_user(run, dovecot, method):
    new_admin(run, dovecot, "src", "--impersonation", method)
    r = run(["endpoint", "test", "src", "--test-mailbox", "nosuchuser", "--json"])
    assert_test_failed(r, "login")


def test_impersonation_needs_admin(run, dovecot):
    r = run(["endpoint", "new", "anon", "--type", "imap", "--server", "127.0.0.1",
             "--port", dovecot.plain_port, "--security", "starttls"])
    assert r.rc == 0, r.describe()
    # No admin and no password for the test mailbox: nothing to log in with.
    r = run(["endpoint", "test", "anon", "--test-mailbox", "alice", "--json"])
    assert r.rc == 2, r.describe()


def test_master_separator(run, dovecot):
    new_admin(run, dovecot, "src", "--impersonation", "master-user", "--master-separator", "*")
    assert_test_success(run(["endpoint", "test", "src", "--test-mailbox", "bob", "--json"]))


def test_auth_login_command(run, dovecot):
    new_admin(run, dovecot, "src", "--auth", "login")
    assert_test_success(run(["endpoint", "test", "src", "--json"]))
    r = run(["endpoint", "test", "src", "--test-mailbox", "bob", "--password-stdin", "--json"],
            input="bobpw\n")
    assert_test_success(r)


def test_implicit_tls(run, dovecot):
    new_admin(run, dovecot, "tls", security="tls")
    r = run(["endpoint", "test", "tls", "--test-mailbox", "alice", "--password-stdin",
             "--json"], input="alicepw\n")
    doc = assert_test_success(r)
    status = stage_status(doc)
    assert status["tls"] == "ok" and status["starttls"] == "skipped"
    assert "TLS" in jget(doc, "TLS")


def test_implicit_tls_needs_trusted_ca(run, dovecot, tmp_path):
    # Without the test CA in SSL_CERT_FILE the good certificate does not verify.
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    r = adhoc(run, dovecot.tls_port, "tls", env={"SSL_CERT_FILE": str(empty)})
    assert_test_failed(r, "tls")
    r = adhoc(run, dovecot.plain_port, "starttls", env={"SSL_CERT_FILE": str(empty)})
    assert_test_failed(r, "starttls")


def test_adhoc_test_with_admin(run, dovecot):
    r = adhoc(run, dovecot.tls_port, "tls", "--admin-user", "master", "--password-stdin",
              input="masterpw\n")
    doc = assert_test_success(r)
    assert stage_status(doc)["login"] == "ok"
    # Nothing is stored by an ad-hoc test.
    assert endpoint_names(run(["endpoint", "list", "--json"]).json()) == []


# ---- login -----------------------------------------------------------------

def test_wrong_password(run, dovecot):
    new_admin(run, dovecot)
    r = run(["endpoint", "test", "src", "--test-mailbox", "alice", "--password-stdin", "--json"],
            input="Wr0ng-Passw0rd\n")
    doc = assert_test_failed(r, "login")
    assert "Wr0ng-Passw0rd" not in r.out + r.err
    assert stage_status(doc)["select"] == "skipped"


def test_wrong_admin_password_adhoc(run, dovecot):
    r = adhoc(run, dovecot.plain_port, "starttls", "--admin-user", "master", "--password-stdin",
              input="Wr0ng-Passw0rd\n")
    assert_test_failed(r, "login")


# ---- certificates ----------------------------------------------------------

CERT_CASES = {
    "expired": ("expired",),
    "selfsigned": ("self-signed", "self signed"),
    "wronghost": ("mail.wrong.test", "127.0.0.1"),
}


@pytest.mark.parametrize("kind", list(CERT_CASES))
@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_untrusted_certificate(run, dovecot_cert, kind, security):
    d = dovecot_cert(kind)
    port = d.tls_port if security == "tls" else d.plain_port
    stage = "tls" if security == "tls" else "starttls"
    r = adhoc(run, port, security, "--admin-user", "master", "--password-stdin",
              input="masterpw\n")
    doc = assert_test_failed(r, stage)
    msg = jget(doc, "Message").lower()
    assert any(w in msg for w in CERT_CASES[kind]), r.describe()
    if security == "starttls":
        assert stage_status(doc)["greeting"] == "ok"
    assert stage_status(doc)["login"] == "skipped"

    r = adhoc(run, port, security, "--admin-user", "master", "--password-stdin",
              "--accept-untrusted-certificates", input="masterpw\n")
    doc = assert_test_success(r)
    assert stage_status(doc)["login"] == "ok"


def test_accept_untrusted_is_stored(run, dovecot_cert):
    d = dovecot_cert("selfsigned")
    r = run(["endpoint", "new", "ss", "--type", "imap", "--server", "127.0.0.1",
             "--port", d.tls_port, "--security", "tls"])
    assert r.rc == 12, r.describe()
    r = run(["endpoint", "new", "ss", "--type", "imap", "--server", "127.0.0.1",
             "--port", d.tls_port, "--security", "tls", "--accept-untrusted-certificates"])
    assert r.rc == 0, r.describe()
    assert jget(show_json(run, "ss"), "AcceptUntrustedCertificates") is True
    assert_test_success(run(["endpoint", "test", "ss", "--json"]))
    r = run(["endpoint", "set", "ss", "--no-accept-untrusted-certificates"])
    assert r.rc == 12, r.describe()
    assert jget(show_json(run, "ss"), "AcceptUntrustedCertificates") is True


# ---- network and protocol failures -----------------------------------------

def test_closed_port(run, closed_port):
    r = adhoc(run, closed_port.port, "none")
    doc = assert_test_failed(r, "connect")
    assert stage_status(doc)["dns"] == "ok"


def test_never_answering_port(run, silent_server):
    t = time.monotonic()
    r = adhoc(run, silent_server.port, "none", "--timeout", "2")
    elapsed = time.monotonic() - t
    assert_test_failed(r, "greeting")
    assert elapsed < 8, f"took {elapsed:.1f} s with --timeout 2"


def test_never_answering_port_implicit_tls(run, silent_server):
    # The TLS handshake gets no answer: a failure at tls, within the timeout.
    t = time.monotonic()
    r = adhoc(run, silent_server.port, "tls", "--timeout", "2")
    assert_test_failed(r, "tls")
    assert time.monotonic() - t < 8


def test_garbage_greeting(run, garbage_server):
    assert_test_failed(adhoc(run, garbage_server.port, "none", "--timeout", "3"), "greeting")


def test_binary_junk_greeting(run, junk_server):
    assert_test_failed(adhoc(run, junk_server.port, "none", "--timeout", "3"), "greeting")


def test_truncated_greeting(run, truncated_server):
    assert_test_failed(adhoc(run, truncated_server.port, "none", "--timeout", "3"), "greeting")


def test_close_mid_capability(run, midcap_server):
    r = adhoc(run, midcap_server.port, "none", "--timeout", "3")
    doc = assert_test_failed(r, "capability")
    assert stage_status(doc)["greeting"] == "ok"
    assert b"CAPABILITY" in midcap_server.received.upper()


def test_unknown_host(run, dns_nxdomain):
    r = adhoc(run, 143, "none", server="nosuchhost.invalid",
              env={"MAILFERRY_DNS_SERVER": dns_nxdomain.address})
    assert_test_failed(r, "dns")
    assert any(q.rstrip(".") == "nosuchhost.invalid" for q in dns_nxdomain.queries), \
        dns_nxdomain.queries


def test_dead_dns_server(run):
    # The session's default MAILFERRY_DNS_SERVER has no server behind it.
    t = time.monotonic()
    r = adhoc(run, 143, "none", "--timeout", "2", server="nosuchhost.invalid")
    assert_test_failed(r, "dns")
    assert time.monotonic() - t < 10


def test_silent_dns_server(run, dns_silent):
    t = time.monotonic()
    r = adhoc(run, 143, "none", "--timeout", "2", server="mail.example.invalid",
              env={"MAILFERRY_DNS_SERVER": dns_silent.address})
    assert_test_failed(r, "dns")
    assert time.monotonic() - t < 10
    assert dns_silent.queries, "the query went to MAILFERRY_DNS_SERVER"


# ---- TLS policy and plaintext logins ---------------------------------------

def test_login_without_tls_warns(run, dovecot_notls):
    r = adhoc(run, dovecot_notls.plain_port, "none", "--admin-user", "alice",
              "--password-stdin", input="alicepw\n")
    doc = assert_test_success(r)
    warnings = jget(doc, "Warnings")
    assert warnings, r.describe()
    text = " ".join(warnings).lower()
    assert "tls" in text or "plain" in text or "unencrypted" in text, warnings
    assert jget(doc, "TLS") in (None, "")


def test_no_login_without_tls_no_warning_needed(run, dovecot_notls):
    r = adhoc(run, dovecot_notls.plain_port, "none")
    assert_test_success(r)


def test_starttls_required_but_not_offered_by_dovecot(run, dovecot_notls):
    r = adhoc(run, dovecot_notls.plain_port, "starttls", "--admin-user", "alice",
              "--password-stdin", input="alicepw\n")
    doc = assert_test_failed(r, "starttls")
    assert stage_status(doc)["login"] == "skipped"


@pytest.mark.parametrize("starttls", [None, "no", "bad"], ids=["absent", "refused-no",
                                                               "refused-bad"])
def test_starttls_failure_sends_no_password(run, fake_imap, starttls):
    srv = fake_imap(starttls=starttls)
    r = adhoc(run, srv.port, "starttls", "--admin-user", "alice", "--password-stdin",
              "--timeout", "3", input="alicepw\n")
    assert_test_failed(r, "starttls")
    got = srv.received.decode(errors="replace")
    assert "LOGIN" not in got.upper() and "AUTHENTICATE" not in got.upper(), got
    assert not find_in_text(got, secret_needles("alicepw", [("", "alice")])), got


def test_plain_login_on_fake_server(run, fake_imap):
    # The scripted server accepts LOGIN in clear; the test warns and the
    # server did receive a login (so the recording above is meaningful).
    srv = fake_imap()
    r = adhoc(run, srv.port, "none", "--admin-user", "alice", "--password-stdin",
              "--timeout", "3", input="alicepw\n")
    doc = assert_test_success(r)
    assert jget(doc, "Warnings")
    got = srv.received.upper()
    assert b"LOGIN" in got or b"AUTHENTICATE" in got


def test_bad_timeout_value(run, dovecot):
    r = adhoc(run, dovecot.plain_port, "starttls", "--timeout", "0")
    assert r.rc == 2, r.describe()
    r = adhoc(run, dovecot.plain_port, "starttls", "--timeout", "x")
    assert r.rc == 2, r.describe()


# ---- the stored result -----------------------------------------------------

def test_last_result_is_stored_and_shown(run, dovecot):
    new_admin(run, dovecot)
    doc = show_json(run, "src")
    assert jget(doc, "LastTestResult") == "Success"
    assert jget(doc, "LastTestTime")

    r = run(["endpoint", "test", "src", "--test-mailbox", "alice", "--password-stdin"],
            input="wrong\n")
    assert r.rc == 16, r.describe()
    doc = show_json(run, "src")
    assert jget(doc, "LastTestResult") == "Failed"
    last = jget(doc, "LastTest")
    assert jget(last, "Result") == "Failed"
    assert jget(last, "FailedStage") == "login"
    assert jget(doc, "LastTestMessage") == jget(last, "Message")

    r = run(["endpoint", "show", "src"])
    assert r.rc == 0 and "Failed" in r.out, r.describe()

    assert_test_success(run(["endpoint", "test", "src", "--json"]))
    doc = show_json(run, "src")
    assert jget(doc, "LastTestResult") == "Success"
    assert jget(jget(doc, "LastTest"), "FailedStage", None) is None
    r = run(["endpoint", "show", "src"])
    assert "Success" in r.out, r.describe()
