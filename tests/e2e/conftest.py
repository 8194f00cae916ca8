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


# ==== autodiscover test world (issue 5) =====================================
# dnsmasq + HTTPS/HTTP case servers + a Dovecot on 127.A.B.x, started once per
# session (tests/servers/httpsworld.py, tests/servers/dnsworld.py).

from tests.servers import httpsworld  # noqa: E402


@pytest.fixture(scope="session")
def autodiscover_world(server_root, test_certs):
    """The world: .dns_address, .requests(case=...), .tls_failures(),
    .dovecot (users alice/bob, master/masterpw), .case_ip, .ip(name)."""
    w = httpsworld.AutodiscoverWorld(os.path.join(server_root, "autodiscover-world"), test_certs)
    w.start()
    yield w
    w.stop()


def autodiscover_leaks(world, since=None):
    """Requests that carried credentials where they must never go: any
    plain-http request with an Authorization header, anything with one to
    untrusted.test, and anything at all to the downgrade target or the XXE
    sink. Returns the offending Request objects."""
    bad = []
    for r in world.requests(since=since):
        if r.authorization and r.scheme != "https":
            bad.append(r)
        elif r.authorization and r.case == "untrusted":
            bad.append(r)
        elif r.host == "mail.downgrade.test" or r.host == "xxe-sink.xxe.test":
            bad.append(r)
    return bad


@pytest.fixture
def ad_run(run, autodiscover_world):
    """run() with MAILFERRY_DNS_SERVER naming the world's DNS; after the test,
    asserts that no credentials leaked (see autodiscover_leaks)."""
    import time as _time
    start = _time.time()

    def _ad_run(args, input=None, env=None, **kw):
        e = {"MAILFERRY_DNS_SERVER": autodiscover_world.dns_address}
        e.update(env or {})
        return run(args, input=input, env=e, **kw)
    _ad_run.history = run.history
    _ad_run.since = start
    yield _ad_run
    leaks = autodiscover_leaks(autodiscover_world, since=start - 1)
    assert not leaks, f"credentials or requests went where they must not: {leaks}"


class AutodiscoverCli:
    """`mailferry autodiscover EMAIL --json --dns-server WORLD ...` with the
    world's DNS and a short request timeout (the silent case stays fast).

        r, doc = ad("user@pox-exch.test")
        r, doc = ad("user@basic.test", creds=("admin@basic.test", "pw"))
    """

    # docs/autodiscover.md has no per-request timeout option (10 s fixed); if
    # `autodiscover --help` ever lists --timeout, the tests use it.
    TIMEOUT_OPTION = "--timeout"
    REQUEST_TIMEOUT = 2

    def __init__(self, run, world, has_timeout=False):
        self.run = run
        self.world = world
        self.has_timeout = has_timeout

    def __call__(self, email, *extra, creds=None, json_out=True, timeout=None):
        args = ["autodiscover", email, "--dns-server", self.world.dns_address]
        if json_out:
            args.append("--json")
        if self.has_timeout:
            args += [self.TIMEOUT_OPTION, str(timeout or self.REQUEST_TIMEOUT)]
        args += list(extra)
        stdin = None
        if creds is not None:
            args += ["--admin-user", creds[0], "--password-stdin"]
            stdin = creds[1] + "\n"
        r = self.run(args, input=stdin)
        return r, (r.json() if json_out and r.out.strip() else None)

    # ---- reading the documented JSON (docs/autodiscover.md) ----

    @staticmethod
    def chosen(doc):
        return doc.get("Chosen")

    @staticmethod
    def candidates(doc, **match):
        """Candidates whose keys equal the given values (Server="x", ...)."""
        return [c for c in doc["Candidates"]
                if all(c.get(k) == v for k, v in match.items())]

    @staticmethod
    def source(doc, name):
        found = [s for s in doc["Sources"] if s["Source"] == name]
        assert len(found) == 1, doc["Sources"]
        return found[0]


@pytest.fixture(scope="session")
def autodiscover_help(mailferry_bin):
    """`mailferry autodiscover --help`; fails every autodiscover test at once
    while the command does not exist."""
    import subprocess

    def run(*args):
        return subprocess.run([mailferry_bin, "autodiscover", *args], capture_output=True,
                              text=True, timeout=30, stdin=subprocess.DEVNULL)
    p = run("not-an-address")
    if "is not an e-mail address" not in p.stderr:
        pytest.fail(f"`mailferry autodiscover not-an-address` exits {p.returncode} without "
                    f"the documented refusal: the command is missing (issue 5)\n"
                    f"{p.stdout}{p.stderr}", pytrace=False)
    p = run("--help")
    return p.stdout if p.returncode == 0 else ""


@pytest.fixture
def ad(ad_run, autodiscover_world, autodiscover_help):
    return AutodiscoverCli(ad_run, autodiscover_world,
                           has_timeout=AutodiscoverCli.TIMEOUT_OPTION in autodiscover_help)


# ==== fault injection, scripted IMAP, background runs ====
# Fixtures for tests/e2e/test_sync_*.py, test_faults_*.py and test_killnine.py.

import signal as _signal  # noqa: E402
import subprocess as _subprocess  # noqa: E402

from tests.servers.faultproxy import FaultProxy  # noqa: E402
from tests.servers.scripted_imap import ScriptedImap  # noqa: E402


@pytest.fixture
def faultproxy():
    """faultproxy(upstream_port) -> a started FaultProxy (tests/servers/
    faultproxy.py) in front of 127.0.0.1:upstream_port; stopped after the test."""
    started = []

    def make(upstream_port, **kw):
        p = FaultProxy(upstream_port, **kw).start()
        started.append(p)
        return p
    yield make
    for p in started:
        p.stop()


@pytest.fixture
def scripted_imap():
    """scripted_imap(users={...}, ...) -> a started ScriptedImap (tests/servers/
    scripted_imap.py); stopped after the test."""
    started = []

    def make(**kw):
        s = ScriptedImap(**kw).start()
        started.append(s)
        return s
    yield make
    for s in started:
        s.stop()


class MailferryProcs:
    """mailferry processes run in the background (batch start --wait, serve).
    Only the processes started here are ever signalled, by their pid."""

    def __init__(self, mf, directory):
        self.mf = mf
        self.directory = directory
        self.procs = []

    def spawn(self, args, env=None):
        e = dict(self.mf.env)
        e.update(env or {})
        n = len(self.procs)
        out = open(os.path.join(self.directory, f"bg-{n}.out"), "w+b")
        err = open(os.path.join(self.directory, f"bg-{n}.err"), "w+b")
        p = _subprocess.Popen([self.mf.binary, *[str(a) for a in args]], env=e,
                              stdin=_subprocess.DEVNULL, stdout=out, stderr=err)
        p.mf_args = [str(a) for a in args]
        p.mf_out, p.mf_err = out, err
        self.procs.append(p)
        return p

    @staticmethod
    def output(p):
        """(stdout, stderr) of a finished or running process, as text."""
        texts = []
        for f in (p.mf_out, p.mf_err):
            f.flush()
            f.seek(0)
            texts.append(f.read().decode(errors="replace"))
        return tuple(texts)

    def describe(self, p):
        out, err = self.output(p)
        return (f"$ mailferry {' '.join(p.mf_args)}\nexit code {p.returncode}\n"
                f"--- stdout\n{out[-4000:]}--- stderr\n{err[-4000:]}---")

    def kill9(self, p):
        if p.poll() is None:
            os.kill(p.pid, _signal.SIGKILL)
        p.wait(30)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, _signal.SIGKILL)
                try:
                    p.wait(10)
                except _subprocess.TimeoutExpired:
                    pass
            for f in (p.mf_out, p.mf_err):
                f.close()


@pytest.fixture
def mf_procs(mf, tmp_path):
    procs = MailferryProcs(mf, str(tmp_path))
    yield procs
    procs.stop()


@pytest.fixture
def need_cli(run):
    """need_cli("batch", "complete", option="--sync-deletes"): assert that the
    command exists (its --help works) and, if given, that its help names the
    option; otherwise fail naming what issue 4 has not delivered yet."""
    def check(*words, option=None):
        r = run([*words, "--help"])
        assert r.rc == 0, (f"mailferry has no '{' '.join(words)}' command yet "
                           f"(issue 4):\n{r.describe()}")
        if option is not None:
            text = r.out + r.err
            assert option in text, (f"'mailferry {' '.join(words)}' has no {option} option yet "
                                    f"(issue 4):\n{r.describe()}")
        return r
    return check


_FILL_SEQ = __import__("itertools").count(1)


def maildir_fill(server, user, folder, messages):
    """Write many messages straight into a test Dovecot's Maildir++ (much
    faster than APPEND or Dovecot.add_message, which chowns the whole tree for
    each message), then chown once and force-resync. messages: iterable of
    (data bytes, flags incl. keywords, unix time). Returns how many."""
    import pwd as _pwd
    import grp as _grp
    root = server.maildir(user)
    server._ensure_maildir(root, False)
    fdir = server._folder_dir(user, folder)
    server._ensure_maildir(fdir, fdir != root)
    letters = {"\\draft": "D", "\\flagged": "F", "\\answered": "R", "\\seen": "S",
               "\\deleted": "T"}
    # Keywords are letters a-z defined in dovecot-keywords of the folder's
    # own directory (Dovecot.add_message writes it at the Maildir root only,
    # which is right for INBOX alone).
    kw_path = os.path.join(fdir, "dovecot-keywords")
    known = []
    if os.path.exists(kw_path):
        with open(kw_path) as f:
            known = [line.split()[1] for line in f if len(line.split()) == 2]
    n = 0
    for data, flags, when in messages:
        system = "".join(letters[f.lower()] for f in flags if f.startswith("\\"))
        kws = ""
        for k in (f for f in flags if not f.startswith("\\")):
            if k not in known:
                assert len(known) < 26, "at most 26 keywords per folder"
                known.append(k)
            kws += chr(ord("a") + known.index(k))
        code = "".join(sorted(system + kws))
        n += 1
        base = f"{int(when)}.M{next(_FILL_SEQ)}P{os.getpid()}.mf-fill,S={len(data)}"
        path = os.path.join(fdir, "cur", f"{base}:2,{code}")
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (when, when))
    if known:
        with open(kw_path, "w") as f:
            f.write("".join(f"{i} {k}\n" for i, k in enumerate(known)))
    uid, gid = _pwd.getpwnam("nobody").pw_uid, _grp.getgrnam("nogroup").gr_gid
    for dirpath, dirs, files in os.walk(server.home(user)):
        os.chown(dirpath, uid, gid)
        for name in files:
            os.chown(os.path.join(dirpath, name), uid, gid)
    server.resync(user)
    return n


@pytest.fixture(scope="session")
def fill_maildir():
    """fill_maildir(dovecot, user, folder, [(data, flags, unix time)]): see
    maildir_fill()."""
    return maildir_fill


class Issue4Helpers:
    """Shortcuts for the issue 4 tests (endpoints on 127.0.0.1 ports, batches,
    statuses), on top of tests/e2e/migrate_helpers.py."""

    def __init__(self, run, need_cli):
        self.run = run
        self.need_cli = need_cli

    def endpoint(self, name, port, admin=("master", "masterpw"), extra=()):
        """`endpoint new NAME` for 127.0.0.1:port (no TLS), tested."""
        import types as _types
        from tests.e2e.migrate_helpers import new_endpoint
        return new_endpoint(self.run, name, _types.SimpleNamespace(plain_port=port,
                                                                   tls_mode="none"),
                            admin=admin, extra=extra)

    def batch_new(self, name, source, csv, target=None, extra=()):
        args = ["batch", "new", name, "--source", source, "--csv", csv]
        if target:
            args += ["--target", target]
        r = self.run([*args, *extra])
        assert r.rc == 0, r.describe()
        return r

    def start_wait(self, name, rc=0, timeout=300, extra=()):
        r = self.run(["batch", "start", name, "--wait", *extra], timeout=timeout)
        if rc is not None:
            assert r.rc == rc, f"{r.describe()}\n{self.summary(name)}"
        return r

    def complete(self, name, rc=0, timeout=300):
        """`batch complete NAME` (a final incremental sync), in the
        foreground: with --wait when the command has that option."""
        h = self.need_cli("batch", "complete")
        args = ["batch", "complete", name]
        if "--wait" in h.out + h.err:
            args.append("--wait")
        r = self.run(args, timeout=timeout)
        if rc is not None:
            assert r.rc == rc, f"{r.describe()}\n{self.summary(name)}"
        return r

    def user(self, email):
        from tests.e2e.migrate_helpers import user_show
        return user_show(self.run, email)

    def field(self, email, key):
        from tests.servers.mfrun import jget
        return jget(self.user(email), key)

    def batch(self, name):
        from tests.servers.mfrun import jget
        r = self.run(["batch", "show", name, "--json"])
        assert r.rc == 0, r.describe()
        return jget(r.json(), "Status")

    def summary(self, name):
        from tests.e2e.migrate_helpers import batch_report, row_summary
        try:
            return f"batch {name}: {self.batch(name)}\n" + row_summary(batch_report(self.run, name))
        except AssertionError as e:
            return f"(no report: {e})"

    def wait_user(self, email, statuses, timeout=120, proc=None, procs=None):
        """Poll `user show` until the user's Status is one of statuses;
        returns the document. proc: a background process that must stay
        alive meanwhile."""
        import time as _time
        from tests.servers.mfrun import jget
        deadline = _time.monotonic() + timeout
        doc = None
        while _time.monotonic() < deadline:
            doc = self.user(email)
            if jget(doc, "Status") in statuses:
                return doc
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"the background process ended while waiting for "
                                     f"{email} to be {statuses}:\n"
                                     + (procs.describe(proc) if procs else str(proc.returncode)))
            _time.sleep(0.2)
        raise AssertionError(f"{email} not {statuses} within {timeout} s: {doc}")


@pytest.fixture
def issue4(run, need_cli):
    return Issue4Helpers(run, need_cli)
