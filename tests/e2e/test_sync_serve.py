"""SIGTERM to `mailferry serve` in the middle of a sync (issue 4: serve
"stops cleanly on SIGTERM, finishing or rolling back in-flight work"),
then a resume that completes with no loss and no duplicate.

Source: a Dovecot account with 900 messages (INBOX 700, Archive 200,
1-8 KB), read through the fault proxy, which limits the source to
1.5 MB/s so that the sync lasts a few seconds; the target is the local
store. The batch is queued with `batch start NAME` (no --wait) and run by
`mailferry serve`. When a third of the message bodies have gone through
the proxy, serve gets SIGTERM: it must exit 0 within 30 s, leave the user
not Syncing, leave no partial file in the store's tmp/ directories, and
what it copied must be exact (no duplicate, nothing foreign). A second
serve (no rate limit) must take the user to Synced; after its own SIGTERM
the store must equal the source (verify.compare).
"""

import os
import random
import signal
import time

import pytest

from tests.e2e import verify
from tests.e2e.migrate_helpers import MailDovecot, serve_local_store, traversable_dir, write_csv
from tests.servers.faultproxy import S2C
from tests.servers.mfrun import jget

USER = "sv@example.test"
TOTAL = 900


def _message(n, size):
    head = (f"From: Serve <serve@example.test>\r\nSubject: serve {n}\r\n"
            f"Message-ID: <serve-{n}@example.test>\r\n\r\n").encode()
    line = f"serve {n} ".encode().ljust(70, b"*") + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


@pytest.fixture(scope="module")
def serve_src(server_root, fill_maildir):
    rng = random.Random(3)
    d = MailDovecot(os.path.join(server_root, "serve-src"), users={USER: "pw"})
    d.start()
    flags = [(), ("\\Seen",), ("\\Seen", "\\Answered"), ("\\Flagged", "Work")]
    fill_maildir(d, USER, "INBOX", [(_message(n, rng.randint(1000, 8000)), rng.choice(flags),
                                     1_690_000_000 + rng.randrange(10**7)) for n in range(700)])
    fill_maildir(d, USER, "Archive", [(_message(1000 + n, 2000), ("\\Seen",), 1_600_000_000 + n)
                                      for n in range(200)])
    yield d
    d.stop()


@pytest.fixture
def data_dir(server_root):
    return traversable_dir(server_root, "serve-data-")


def _partial_files(data_dir):
    """Files in tmp/ of any folder of the store (Maildir++ folders are hidden
    directories, so os.walk rather than glob)."""
    out = []
    for dirpath, _dirs, files in os.walk(os.path.join(data_dir, "mailstore")):
        if os.path.basename(dirpath) == "tmp":
            out += [os.path.join(dirpath, f) for f in files]
    return out


def _compare(src, data_dir, server_root):
    with serve_local_store(data_dir, server_root, [USER]) as store:
        s, t = src.login(USER, "pw"), store.login(USER)
        try:
            return verify.compare(s, t)
        finally:
            s.logout()
            t.logout()


def _sigterm(mf_procs, p, timeout=30):
    os.kill(p.pid, signal.SIGTERM)
    t0 = time.monotonic()
    try:
        rc = p.wait(timeout)
    except Exception:  # noqa: BLE001
        raise AssertionError(f"serve did not stop within {timeout} s of SIGTERM\n"
                             f"{mf_procs.describe(p)}") from None
    assert rc == 0, f"serve exited {rc} on SIGTERM\n{mf_procs.describe(p)}"
    return time.monotonic() - t0


def test_sigterm_to_serve_during_a_sync_then_resume(issue4, need_cli, run, mf_procs,
                                                     serve_src, faultproxy, tmp_path, data_dir,
                                                     server_root):
    src = serve_src
    need_cli("serve")
    proxy = faultproxy(src.plain_port)
    issue4.endpoint("src", proxy.port)
    issue4.batch_new("sv", "src", write_csv(tmp_path / "sv.csv", [(USER, "", "")]))
    r = run(["batch", "start", "sv"])
    assert r.rc == 0, f"'batch start NAME' without --wait must queue the batch for " \
                      f"'mailferry serve' (issue 4):\n{r.describe()}"
    proxy.reset_counters()
    proxy.set_rate(S2C, 1_500_000)

    serve = mf_procs.spawn(["serve"])
    assert proxy.wait_for(lambda: proxy.literals[S2C] >= TOTAL // 3 or serve.poll() is not None,
                          timeout=90), f"serve did not sync: {proxy.summary()}\n" \
                                       f"{mf_procs.describe(serve)}"
    assert serve.poll() is None, mf_procs.describe(serve)
    took = _sigterm(mf_procs, serve)
    doc = issue4.user(USER)
    assert jget(doc, "Status") != "Syncing", f"serve left the user Syncing: {doc}"
    assert not _partial_files(data_dir), f"partial files left: {_partial_files(data_dir)}"
    rep = _compare(src, data_dir, server_root)
    assert not (rep.extra or rep.duplicates or rep.bytes_mismatch or rep.flag_mismatch
                or rep.date_mismatch), str(rep)
    copied = sum(f.target_count for f in rep.folders)
    assert 0 < copied < TOTAL, f"stopped after {copied} of {TOTAL} (SIGTERM after {took:.1f} s)"

    proxy.set_rate(S2C, None)
    serve = mf_procs.spawn(["serve"])
    issue4.wait_user(USER, ("Synced",), timeout=120, proc=serve, procs=mf_procs)
    _sigterm(mf_procs, serve)
    rep = _compare(src, data_dir, server_root)
    assert rep.ok, str(rep)
    for f in rep.folders:
        assert f.source_count == f.target_count == f.matched, str(rep)
    assert sum(f.matched for f in rep.folders) == TOTAL
