"""The connection test against a real Cyrus IMAP 3.6 server (the second
server implementation of the suite): plain, STARTTLS and implicit TLS with the
test CA, a user's own login, administrator impersonation through the SASL PLAIN
authorization identity, and a wrong password."""

import os
import shutil
import tempfile

import pytest

from tests.servers.cyrus import CyrusServer
from tests.servers.mfrun import (assert_test_failed, assert_test_success, find_in_tree,
                                 jget, secret_needles)


@pytest.fixture(scope="module")
def cyrus(test_certs):
    d = tempfile.mkdtemp(prefix="mf-cyrus-ep-", dir="/tmp")
    os.chmod(d, 0o755)
    server = CyrusServer()
    server.start(d, tls_cert=test_certs.cert("good"), tls_key=test_certs.key("good"))
    yield server
    server.stop()
    shutil.rmtree(d, ignore_errors=True)


def new_cyrus(run, cyrus, security, name="cy"):
    port = cyrus.tls_port if security == "tls" else cyrus.plain_port
    return run(["endpoint", "new", name, "--type", "imap", "--server", "127.0.0.1",
                "--port", port, "--security", security, "--admin-user", "admin",
                "--password-stdin", "--json"], input="adminpw\n")


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_admin_endpoint_verified(run, cyrus, security):
    r = new_cyrus(run, cyrus, security)
    assert r.rc == 0, r.describe()
    r = run(["endpoint", "test", "cy", "--json"])
    doc = assert_test_success(r)
    assert "Cyrus" in jget(doc, "Greeting") or "cyrus" in (jget(doc, "ServerId") or "").lower()
    assert jget(doc, "LoginAs") == "admin"
    assert jget(jget(doc, "MigrationCapabilities"), "UIDPLUS") is True


def test_user_login_with_password(run, cyrus):
    assert new_cyrus(run, cyrus, "starttls").rc == 0
    r = run(["endpoint", "test", "cy", "--test-mailbox", "alice", "--password-stdin",
             "--json"], input="alicepw\n")
    doc = assert_test_success(r)
    assert jget(doc, "LoginAs") == "alice"


def test_impersonation_through_sasl_authzid(run, cyrus):
    assert new_cyrus(run, cyrus, "starttls").rc == 0
    r = run(["endpoint", "test", "cy", "--test-mailbox", "alice", "--json"])
    doc = assert_test_success(r)
    assert jget(doc, "LoginAs") == "alice (as admin)"


def test_wrong_password_fails_at_login(run, cyrus, data_dir):
    assert new_cyrus(run, cyrus, "starttls").rc == 0
    r = run(["endpoint", "test", "cy", "--test-mailbox", "alice", "--password-stdin",
             "--json"], input="not-alicepw\n")
    doc = assert_test_failed(r, "login")
    assert "rejected" in jget(doc, "Message")
    for secret in ("adminpw", "not-alicepw"):
        assert not find_in_tree(data_dir, secret_needles(secret)), secret
        assert secret not in r.out and secret not in r.err


def test_plain_login_warns(run, cyrus):
    r = run(["endpoint", "test", "--type", "imap", "--server", "127.0.0.1", "--port",
             cyrus.plain_port, "--security", "none", "--test-mailbox", "alice",
             "--password-stdin", "--json"], input="alicepw\n")
    doc = assert_test_success(r)
    assert any("unencrypted" in w for w in jget(doc, "Warnings")), doc
