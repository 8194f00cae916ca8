"""Fixtures for mailferry's end-to-end tests.

The binary comes from $MAILFERRY_BIN (ctest sets it; the run fails with a
clear message when it is unset). Test servers are started once per session
(Dovecot instances) or per test (the small hostile servers) on 127.0.0.1,
under a world-traversable directory in /tmp. Each test gets a fresh data
directory (MAILFERRY_DATA_DIR), SSL_CERT_FILE naming the test CA bundle,
and MAILFERRY_DNS_SERVER naming a dead local DNS port, so no packet leaves
the machine.

    def test_x(run, dovecot):
        rc, out, err = run(["endpoint", "list", "--json"])

Set MF_E2E_KEEP=1 to keep the server directory (logs) after the run.
"""

import os
import shutil
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tests.servers import certs as certs_mod  # noqa: E402
from tests.servers import dovecot as dovecot_mod  # noqa: E402
from tests.servers import hostile  # noqa: E402
from tests.servers.mfrun import Mailferry  # noqa: E402

# alice, bob, and carol whose password is long and distinctive (secret scans).
MAIN_USERS = dict(dovecot_mod.DEFAULT_USERS, carol=dovecot_mod.CAROL_PASSWORD)


@pytest.fixture(scope="session")
def mailferry_bin():
    path = os.environ.get("MAILFERRY_BIN")
    if not path:
        pytest.fail("MAILFERRY_BIN is not set: point it at the mailferry binary to test, e.g.\n"
                    "  MAILFERRY_BIN=build/mailferry /usr/bin/python3 -m pytest tests/e2e\n"
                    "(ctest sets it for the e2e test)", pytrace=False)
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"MAILFERRY_BIN={path} is not an executable file", pytrace=False)
    return path


@pytest.fixture(scope="session")
def server_root():
    """A world-traversable directory for the session's servers."""
    d = tempfile.mkdtemp(prefix="mailferry-e2e-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    if not os.environ.get("MF_E2E_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def test_certs(server_root):
    return certs_mod.make_certs(os.path.join(server_root, "certs"))


class DovecotPool:
    """Dovecot instances by (tls_mode, cert), started on first use."""

    def __init__(self, root, certs):
        self.root = root
        self.certs = certs
        self.instances = {}

    def get(self, tls_mode="both", cert="good"):
        key = (tls_mode, cert)
        if key not in self.instances:
            d = dovecot_mod.Dovecot(os.path.join(self.root, f"dovecot-{tls_mode}-{cert}"),
                                    tls_mode=tls_mode, cert=cert, users=MAIN_USERS,
                                    certs_dir=self.certs.directory)
            d.start()
            self.instances[key] = d
        return self.instances[key]

    def stop(self):
        dovecot_mod.stop_all(list(self.instances.values()))
        self.instances.clear()


@pytest.fixture(scope="session")
def dovecot_pool(server_root, test_certs):
    pool = DovecotPool(server_root, test_certs)
    yield pool
    pool.stop()


@pytest.fixture(scope="session")
def dovecot(dovecot_pool):
    """Dovecot with STARTTLS on plain_port and implicit TLS on tls_port,
    serving the good certificate (from the test CA)."""
    return dovecot_pool.get("both", "good")


@pytest.fixture(scope="session")
def dovecot_notls(dovecot_pool):
    """Dovecot without any TLS: plain_port only, LOGIN accepted in clear."""
    return dovecot_pool.get("none", "good")


@pytest.fixture
def dovecot_cert(dovecot_pool):
    """dovecot_cert(kind): an instance (STARTTLS + implicit TLS) serving the
    expired, wronghost or selfsigned certificate."""
    return lambda kind: dovecot_pool.get("both", kind)


# ---- hostile servers (cheap: one per test) --------------------------------

@pytest.fixture
def silent_server():
    with hostile.silent() as s:
        yield s


@pytest.fixture
def garbage_server():
    with hostile.garbage() as s:
        yield s


@pytest.fixture
def junk_server():
    with hostile.junk() as s:
        yield s


@pytest.fixture
def truncated_server():
    with hostile.truncated() as s:
        yield s


@pytest.fixture
def midcap_server():
    with hostile.close_mid_capability() as s:
        yield s


@pytest.fixture
def closed_port():
    with hostile.ClosedPort() as c:
        yield c


@pytest.fixture
def fake_imap():
    """fake_imap(**kw): a scripted IMAP server (see hostile.fake_imap)."""
    started = []

    def make(**kw):
        s = hostile.fake_imap(**kw)
        started.append(s)
        return s
    yield make
    for s in started:
        s.stop()


@pytest.fixture
def dns_nxdomain():
    with hostile.DnsServer("nxdomain") as d:
        yield d


@pytest.fixture
def dns_silent():
    with hostile.DnsServer("silent") as d:
        yield d


@pytest.fixture(scope="session")
def dead_dns():
    """127.0.0.1:PORT with no DNS server behind it."""
    return f"127.0.0.1:{hostile.unused_udp_port()}"


# ---- running mailferry ----------------------------------------------------

@pytest.fixture
def data_dir(tmp_path):
    """This test's data directory (not created: mailferry creates it)."""
    return str(tmp_path / "data")


@pytest.fixture
def mf(mailferry_bin, data_dir, tmp_path, test_certs, dead_dns):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAILFERRY_", "SSL_CERT_", "XDG_"))}
    env.update({
        "HOME": str(home),
        "LC_ALL": "C.UTF-8",
        "MAILFERRY_DATA_DIR": data_dir,
        "SSL_CERT_FILE": test_certs.ca_bundle,
        "MAILFERRY_DNS_SERVER": dead_dns,
    })
    return Mailferry(mailferry_bin, env)


@pytest.fixture
def run(mf):
    """run(args, input=None, timeout=None, env=None, unset=()) ->
    Result(rc, out, err). stdin is /dev/null unless input is given."""
    def _run(args, input=None, **kw):
        return mf.run(args, input=input, **kw)
    _run.mf = mf
    _run.history = mf.history
    return _run
