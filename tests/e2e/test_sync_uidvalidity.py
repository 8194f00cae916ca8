"""UIDVALIDITY reset at the source (issue 4: "A UIDVALIDITY change at the
source ... is recovered by matching content, not by copying the folder
again").

After a first sync, the source resets two folders' UIDVALIDITY while
keeping their messages:
  - Projects is deleted and created again over IMAP, its messages APPENDed
    back (same bytes, flags, INTERNALDATE) in another order, so each UID
    now names another message;
  - INBOX loses Dovecot's dovecot-uidlist and index files and is resynced
    (doveadm force-resync): same files, new UIDVALIDITY, UIDs given anew.
Then two messages arrive in Projects. The next sync (`batch complete`, the
final incremental) must leave the target with every message exactly once
(verify.compare) and copy only the two new ones: counted independently on
the target (APPEND literals through a fault proxy for a Dovecot target,
files in the Maildir for the local store).
"""

import datetime as dt
import glob
import os
import random
import time
import types

import pytest

from tests.corpus import corpus
from tests.e2e import verify
from tests.e2e.migrate_helpers import (
    MailDovecot, serve_local_store, traversable_dir, write_csv)
from tests.servers.faultproxy import C2S

USERS = ["v1@example.test", "v2@example.test"]
HEADER = ("EmailAddress", "UserName", "Password", "TargetUserName", "TargetPassword")


def _message(tag, n, size):
    head = (f"From: uv <uv@example.test>\r\nSubject: {tag} {n}\r\n"
            f"Message-ID: <uv-{tag}-{n}@example.test>\r\n\r\n").encode()
    line = f"{tag} {n} ".encode().ljust(60, b"=") + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


@pytest.fixture(scope="module")
def uv_world(server_root, fill_maildir):
    rng = random.Random(5)
    src = MailDovecot(os.path.join(server_root, "uidvalidity-src"),
                      users={u: "pw" for u in USERS})
    dst = MailDovecot(os.path.join(server_root, "uidvalidity-dst"),
                      users={u: "pw" for u in USERS})
    src.start()
    dst.start()
    flags = [(), ("\\Seen",), ("\\Seen", "\\Flagged"), ("Work",), ("\\Answered", "\\Seen")]
    for u in USERS:
        for folder, count in (("INBOX", 60), ("Projects", 40)):
            fill_maildir(src, u, folder, [
                (_message(f"{u}-{folder}", n, rng.randint(500, 8000)), rng.choice(flags),
                 1_650_000_000 + rng.randrange(10_000_000)) for n in range(count)])
    yield types.SimpleNamespace(src=src, dst=dst, users=list(USERS))
    src.stop()
    dst.stop()


@pytest.fixture
def data_dir(server_root):
    return traversable_dir(server_root, "uv-data-")


def _uidvalidity(server, user, folder):
    m = server.login(user)
    try:
        typ, dat = m.status(folder, "(UIDVALIDITY)")
        return int(dat[0].decode().rsplit("UIDVALIDITY ", 1)[1].rstrip(")"))
    finally:
        m.logout()


def _recreate_folder(server, user, folder):
    """DELETE and CREATE folder, then APPEND its messages back (same bytes,
    flags and INTERNALDATE) in reverse order."""
    m = server.login(user)
    try:
        m.select(folder, readonly=True)
        typ, dat = m.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        msgs = []
        for item in dat:
            if not isinstance(item, tuple):
                continue
            meta = verify.parse_fetch([item, b")"])[0][1]
            system, kws = verify._norm_flags(meta.get(b"FLAGS", []))
            msgs.append((item[1], sorted(system) + sorted(kws),
                         verify.parse_internaldate(meta[b"INTERNALDATE"])))
        m.unselect()
        assert m.delete(folder)[0] == "OK"
        assert m.create(folder)[0] == "OK"
        for data, flags, when in reversed(msgs):
            typ, d = corpus.append_raw(m, folder, flags, when, data)
            assert typ == "OK", d
    finally:
        m.logout()
    return len(msgs)


def _reset_inbox_uidlist(server, user):
    """Remove Dovecot's UID list and indexes of INBOX and resync: same
    message files, new UIDVALIDITY."""
    root = server.maildir(user)
    for pattern in ("dovecot-uidlist", "dovecot.index*", "dovecot-uidvalidity*"):
        for p in glob.glob(os.path.join(root, pattern)):
            os.unlink(p)
    server.doveadm("force-resync", "-u", user, "INBOX")


def _reset(server, user):
    before = {f: _uidvalidity(server, user, f) for f in ("INBOX", "Projects")}
    time.sleep(1.1)     # Dovecot derives a new UIDVALIDITY from the clock
    n = _recreate_folder(server, user, "Projects")
    _reset_inbox_uidlist(server, user)
    after = {f: _uidvalidity(server, user, f) for f in ("INBOX", "Projects")}
    for f in before:
        assert before[f] != after[f], f"test setup: {f} kept UIDVALIDITY {before[f]}"
    m = server.login(user)
    try:
        for i in range(2):
            typ, d = corpus.append_raw(m, "Projects", ("\\Seen",),
                                       dt.datetime(2025, 5, 5, 5, 5, i, tzinfo=dt.timezone.utc),
                                       _message("after-reset", i, 1000))
            assert typ == "OK", d
    finally:
        m.logout()
    return n


def _exact(rep):
    assert rep.ok, str(rep)
    for f in rep.folders:
        assert f.source_count == f.target_count == f.matched, str(rep)
    assert not rep.extra and not rep.duplicates, str(rep)


def _maildir_files(data_dir, user):
    """Message files in the user's local store (cur/ and new/ of every
    folder; Maildir++ folders are hidden directories)."""
    n = 0
    for dirpath, _dirs, files in os.walk(os.path.join(data_dir, "mailstore", user)):
        if os.path.basename(dirpath) in ("cur", "new"):
            n += len(files)
    return n


def test_uidvalidity_reset_into_the_local_store(issue4, uv_world, tmp_path, data_dir,
                                                server_root):
    src, user = uv_world.src, uv_world.users[0]
    issue4.endpoint("src", src.plain_port)
    issue4.batch_new("uv", "src", write_csv(tmp_path / "uv.csv", [(user, "", "")]))
    issue4.start_wait("uv")
    files_before = _maildir_files(data_dir, user)
    assert files_before == 100
    _reset(src, user)
    issue4.complete("uv")
    assert _maildir_files(data_dir, user) - files_before == 2, \
        "the reset folders were copied again"
    with serve_local_store(data_dir, server_root, [user]) as store:
        s, t = src.login(user), store.login(user)
        try:
            _exact(verify.compare(s, t))
        finally:
            s.logout()
            t.logout()


def test_uidvalidity_reset_into_an_imap_target(issue4, uv_world, faultproxy, tmp_path):
    src, dst, user = uv_world.src, uv_world.dst, uv_world.users[1]
    tproxy = faultproxy(dst.plain_port)
    issue4.endpoint("src", src.plain_port)
    issue4.endpoint("dst", tproxy.port)
    csv = write_csv(tmp_path / "uv.csv", [(user, "", "", user, "")], header=HEADER)
    issue4.batch_new("uv", "src", csv, target="dst")
    issue4.start_wait("uv")
    _reset(src, user)
    tproxy.reset_counters()
    issue4.complete("uv")
    assert tproxy.literals[C2S] == 2, \
        f"{tproxy.literals[C2S]} APPENDs after the reset, 2 expected: {tproxy.summary()}"
    s, t = src.login(user), dst.login(user)
    try:
        _exact(verify.compare(s, t))
    finally:
        s.logout()
        t.logout()
