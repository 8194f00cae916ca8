"""Incremental sync until cut-over (issue 4, part 1): mail that arrives at the
source after the first sync, and flag changes made there, reach the target
by the next incremental sync; deletions stay on the target unless the batch
has --sync-deletes; `batch complete` runs the final incremental sync;
--auto-complete completes after the first full sync; `mailferry serve`
runs incremental syncs every --incremental-interval.

Source: a Dovecot with users u1..u8@example.test, each filled on first use
(INBOX 120 and Lists/dev 40 messages, flags and keywords varied, written as
Maildir files). Mail arriving later is APPENDed over IMAP (as a delivery
would add it); flags are changed with UID STORE; deletions are STORE
\\Deleted + EXPUNGE. Target: the local store, served by a stock Dovecot for
the checks. Every claim is checked with verify.compare against the source.
"""

import datetime as dt
import hashlib
import os
import random
import signal
import time

import pytest

from tests.corpus import corpus
from tests.e2e import verify
from tests.e2e.migrate_helpers import (
    MailDovecot, serve_local_store, traversable_dir, write_csv)
from tests.servers.mfrun import jget

USERS = [f"u{i}@example.test" for i in range(1, 9)]
FLAGS = [(), ("\\Seen",), ("\\Seen",), ("\\Seen", "\\Answered"), ("\\Flagged",),
         ("$Label1",), ("\\Seen", "Work")]
UTC = dt.timezone.utc
SERVE_WAIT = 90


def _message(tag, n, size=1500):
    head = (f"From: Sync <sync@example.test>\r\nSubject: {tag} {n}\r\n"
            f"Message-ID: <{tag}-{n}@example.test>\r\n\r\n").encode()
    line = f"{tag} {n} ".encode().ljust(70, b"~") + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


@pytest.fixture(scope="module")
def sync_src(server_root, fill_maildir):
    d = MailDovecot(os.path.join(server_root, "sync-incr-src"), users={u: "pw" for u in USERS})
    d.start()
    free = list(USERS)
    rng = random.Random(99)

    def fresh_user():
        user = free.pop(0)
        for folder, count in (("INBOX", 120), ("Lists/dev", 40)):
            fill_maildir(d, user, folder, [
                (_message(f"{user}-{folder}", n, rng.randint(600, 6000)), rng.choice(FLAGS),
                 1_600_000_000 + rng.randrange(50_000_000)) for n in range(count)])
        return user
    d.fresh_user = fresh_user
    yield d
    d.stop()


@pytest.fixture
def data_dir(server_root):
    return traversable_dir(server_root, "sync-data-")


def _batch(issue4, tmp_path, src, user, name="inc", extra=()):
    issue4.endpoint("src", src.plain_port)
    csv = write_csv(tmp_path / f"{name}.csv", [(user, "", "")])
    issue4.batch_new(name, "src", csv, extra=extra)


def _arrive(src, user, folder, tag, count, flags=()):
    """New mail delivered at the source over IMAP (APPEND); returns the
    sha256 of each message."""
    m = src.login(user)
    shas = []
    try:
        if folder != "INBOX":
            m.create(corpus.imap_quote(folder))
        for n in range(count):
            data = _message(tag, n, 900 + 37 * n)
            typ, dat = corpus.append_raw(m, folder, flags,
                                         dt.datetime(2025, 3, 1 + n % 28, 8, n % 60, tzinfo=UTC),
                                         data)
            assert typ == "OK", dat
            shas.append(hashlib.sha256(data).hexdigest())
    finally:
        m.logout()
    return shas


def _change_flags(src, user):
    """Flag changes at the source: \\Seen added and removed, \\Flagged,
    a new keyword, \\Deleted without expunge."""
    m = src.login(user)
    try:
        m.select("INBOX")
        typ, dat = m.uid("SEARCH", None, "ALL")
        uids = dat[0].split()
        ops = [(uids[0:10], "+FLAGS", "(\\Seen)"), (uids[10:15], "-FLAGS", "(\\Seen)"),
               (uids[15:20], "+FLAGS", "(\\Flagged Important)"),
               (uids[20:23], "FLAGS", "(\\Answered $Forwarded)"),
               (uids[23:25], "+FLAGS", "(\\Deleted)")]
        for sel, op, flags in ops:
            typ, _ = m.uid("STORE", b",".join(sel).decode(), op, flags)
            assert typ == "OK"
        m.unselect()            # not CLOSE: that would expunge the \Deleted ones
    finally:
        m.logout()


def _expunge(src, user, folder, count):
    """Delete count messages at the source; returns their sha256."""
    m = src.login(user)
    try:
        m.select(corpus.imap_quote(folder))
        typ, dat = m.uid("SEARCH", None, "ALL")
        uids = dat[0].split()[5:5 + count]
        shas = []
        for u in uids:
            typ, d = m.uid("FETCH", u.decode(), "(BODY.PEEK[])")
            shas.append(hashlib.sha256(d[0][1]).hexdigest())
        m.uid("STORE", b",".join(uids).decode(), "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.close()
    finally:
        m.logout()
    return shas


def _compare(src, data_dir, server_root, user):
    with serve_local_store(data_dir, server_root, [user]) as store:
        s, t = src.login(user), store.login(user)
        try:
            return verify.compare(s, t)
        finally:
            s.logout()
            t.logout()


def _assert_exact(rep):
    assert rep.ok, str(rep)
    for f in rep.folders:
        assert f.source_count == f.target_count == f.matched, str(rep)
    assert not rep.extra and not rep.duplicates, str(rep)


def test_new_mail_and_flag_changes_reach_the_target_at_completion(
        issue4, sync_src, tmp_path, data_dir, server_root):
    src = sync_src
    user = src.fresh_user()
    _batch(issue4, tmp_path, src, user)
    issue4.start_wait("inc")
    assert issue4.field(user, "Status") == "Synced"
    _assert_exact(_compare(src, data_dir, server_root, user))

    _arrive(src, user, "INBOX", "late-inbox", 15, ("\\Seen",))
    _arrive(src, user, "Lists/dev", "late-dev", 5)
    _arrive(src, user, "Neu/Ordner", "late-new-folder", 3, ("\\Flagged",))
    _change_flags(src, user)

    issue4.complete("inc")
    assert issue4.batch("inc") == "Completed", issue4.summary("inc")
    assert issue4.field(user, "Status") == "Completed", issue4.summary("inc")
    rep = _compare(src, data_dir, server_root, user)
    _assert_exact(rep)
    assert sum(f.matched for f in rep.folders) == 160 + 23


@pytest.mark.parametrize("sync_deletes", [False, True], ids=["deletes-kept", "sync-deletes"])
def test_deletions_at_the_source(issue4, need_cli, sync_src, tmp_path, data_dir, server_root,
                                 sync_deletes):
    src = sync_src
    user = src.fresh_user()
    extra = ()
    if sync_deletes:
        need_cli("batch", "new", option="--sync-deletes")
        extra = ("--sync-deletes",)
    _batch(issue4, tmp_path, src, user, extra=extra)
    issue4.start_wait("inc")
    gone = _expunge(src, user, "INBOX", 4) + _expunge(src, user, "Lists/dev", 2)
    _arrive(src, user, "INBOX", "after-delete", 2)
    issue4.complete("inc")
    rep = _compare(src, data_dir, server_root, user)
    if sync_deletes:
        _assert_exact(rep)
    else:
        # Everything the source holds is there once; the deleted messages
        # stay on the target, and nothing else is extra.
        assert not (rep.missing or rep.duplicates or rep.bytes_mismatch or rep.flag_mismatch
                    or rep.date_mismatch or rep.missing_folders), str(rep)
        assert sorted(p.dst.sha256 for p in rep.extra) == sorted(gone), str(rep)


def test_auto_complete_after_the_first_full_sync(issue4, need_cli, sync_src, tmp_path,
                                                 data_dir, server_root):
    src = sync_src
    user = src.fresh_user()
    need_cli("batch", "new", option="--auto-complete")
    _batch(issue4, tmp_path, src, user, extra=("--auto-complete",))
    issue4.start_wait("inc")
    assert issue4.batch("inc") == "Completed", issue4.summary("inc")
    assert issue4.field(user, "Status") == "Completed"
    _assert_exact(_compare(src, data_dir, server_root, user))


def _interval_batch(issue4, need_cli, tmp_path, src, user, seconds=2):
    """A batch whose users sync again every `seconds` (the option's value is
    tried as "2s" first, then as a plain number of seconds)."""
    need_cli("batch", "new", option="--incremental-interval")
    issue4.endpoint("src", src.plain_port)
    csv = write_csv(tmp_path / "serve.csv", [(user, "", "")])
    last = None
    for value in (f"{seconds}s", str(seconds)):
        r = issue4.run(["batch", "new", "inc", "--source", "src", "--csv", csv,
                        "--incremental-interval", value])
        if r.rc == 0:
            return value
        last = r
    raise AssertionError(f"--incremental-interval takes neither '{seconds}s' nor "
                         f"'{seconds}':\n{last.describe()}")


def test_serve_runs_incremental_syncs_every_interval(issue4, need_cli, mf_procs, sync_src,
                                                      tmp_path, data_dir, server_root):
    src = sync_src
    user = src.fresh_user()
    need_cli("serve")
    _interval_batch(issue4, need_cli, tmp_path, src, user)
    issue4.start_wait("inc")
    first = issue4.field(user, "LastSuccessfulSyncTimestamp")
    serve = mf_procs.spawn(["serve"])
    try:
        time.sleep(1.2)         # later than the first sync's timestamp (1 s resolution)
        _arrive(src, user, "INBOX", "serve-late", 6)
        _change_flags(src, user)
        t_changed = time.time()
        deadline = time.monotonic() + SERVE_WAIT
        while True:
            doc = issue4.user(user)
            last = jget(doc, "LastSuccessfulSyncTimestamp")
            # A sync that ended 2.5 s after the changes began after them
            # (a no-op pass of this mailbox takes milliseconds).
            if (last and last != first and jget(doc, "Status") == "Synced"
                    and dt.datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()
                    >= t_changed + 2.5):
                break
            assert serve.poll() is None, mf_procs.describe(serve)
            assert time.monotonic() < deadline, \
                f"no incremental sync after the changes within {SERVE_WAIT} s: {doc}"
            time.sleep(0.3)
    finally:
        if serve.poll() is None:
            os.kill(serve.pid, signal.SIGTERM)
    assert serve.wait(60) == 0, mf_procs.describe(serve)
    _assert_exact(_compare(src, data_dir, server_root, user))
