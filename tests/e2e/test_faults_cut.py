"""Dropped, reset, stalled and closed connections during a migration,
Dovecot -> Dovecot with both sides behind a fault proxy (issue 4, part 3:
"A dropped connection, a stall with no bytes for the I/O timeout, or a BYE
is retried with exponential backoff and jitter. The sync resumes where it
stopped, not from the folder's start.").

Source: alice with 460 messages (INBOX 352, among them 12 of 150-250 KB so
that a literal spans many reads; Projects/2024 100; Drafts 8), filled by
writing Maildir files. Each test copies alice into a target account of its
own (TargetUserName, opened by the target's administrator), so the tests
do not see each other's mail. Every result is checked with verify.compare
against the source: every message exactly once, bytes, flags, keywords,
INTERNALDATE, folder.

How the faults are placed (tests/servers/faultproxy.py):
  - source cut: the source proxy closes both sides in the middle of the
    K-th FETCH body literal of at least 2 KB (server -> client);
  - target cut: the target proxy closes in the middle of the K-th APPEND
    literal (client -> server), so the target never gets the whole message,
    while earlier pipelined APPENDs may have completed without their answer
    reaching mailferry;
  - reset: a TCP RST after N bytes from the source;
  - BYE: "* BYE" injected after the response line that carries the K-th
    literal;
  - stall: no byte forwarded (socket open) from the K-th literal on, for
    ever (mailferry's I/O timeout must notice: 30 s today) or for 2 s;
  - every connection cut: the user must fail once the reconnect budget is
    spent, with the reason shown, and a later start must finish the job.
"""

import os
import random
import time
import types

import pytest

from tests.e2e import verify
from tests.e2e.migrate_helpers import (
    ALICE, MailDovecot, batch_report, new_endpoint, row_summary, traversable_dir, user_show,
    write_csv)
from tests.servers.faultproxy import C2S, S2C
from tests.servers.mfrun import jget

WAIT = 240
SEED = 777
TARGETS = [f"t{i}@example.test" for i in range(1, 13)]
HEADER = ("EmailAddress", "UserName", "Password", "TargetUserName", "TargetPassword")


def _message(rng, n, folder, size):
    head = (f"From: Cut Test <cut{n % 13}@example.test>\r\nTo: {ALICE}\r\n"
            f"Subject: {folder} message {n} {rng.getrandbits(40):010x}\r\n"
            f"Message-ID: <cut-{folder.replace('/', '.')}-{n}@example.test>\r\n\r\n").encode()
    line = bytes(rng.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(74)) + b"\r\n"
    return head + line * max(1, (size - len(head)) // 76)


@pytest.fixture(scope="module")
def cut_world(server_root, fill_maildir):
    rng = random.Random(SEED)
    src = MailDovecot(os.path.join(server_root, "faults-cut-src"))
    dst = MailDovecot(os.path.join(server_root, "faults-cut-dst"),
                      users={u: "pw" for u in TARGETS})
    src.start()
    dst.start()
    try:
        flags = [(), ("\\Seen",), ("\\Seen", "\\Flagged"), ("\\Answered", "\\Seen", "$Label2"),
                 ("Work",)]
        layout = {"INBOX": 352, "Projects/2024": 100, "Drafts": 8}
        total = 0
        for folder, count in layout.items():
            msgs = []
            for n in range(count):
                size = (rng.randint(150_000, 250_000) if folder == "INBOX" and n % 30 == 7
                        else rng.randint(2_000, 20_000))
                msgs.append((_message(rng, n, folder, size), rng.choice(flags),
                             1_400_000_000 + rng.randrange(300_000_000)))
            total += fill_maildir(src, ALICE, folder, msgs)
        world = types.SimpleNamespace(src=src, dst=dst, total=total, targets=list(TARGETS))
        yield world
    finally:
        src.stop()
        dst.stop()


@pytest.fixture
def data_dir(server_root):
    return traversable_dir(server_root, "cut-data-")


@pytest.fixture
def pair(cut_world, faultproxy, run, tmp_path):
    """Endpoints through a source and a target proxy, and a batch copying
    alice into a fresh target account. Returns a namespace: sproxy, tproxy,
    batch, target (the target account), csv."""
    w = cut_world
    target = w.targets.pop(0)
    sproxy = faultproxy(w.src.plain_port)
    tproxy = faultproxy(w.dst.plain_port)
    new_endpoint(run, "src", types.SimpleNamespace(plain_port=sproxy.port, tls_mode="none"))
    new_endpoint(run, "dst", types.SimpleNamespace(plain_port=tproxy.port, tls_mode="none"))
    csv = write_csv(tmp_path / "users.csv", [(ALICE, "", "", target, "")], header=HEADER)
    # One connection per side: these tests tell a reconnect by the proxies'
    # connection counts and place their faults by literal counts of one
    # stream (the other migrations run with the default lanes; their faults
    # are tested in tests/unit/test_engine_lanes.c).
    r = run(["batch", "new", "cut", "--source", "src", "--target", "dst", "--csv", csv,
             "--connections-per-user", "1"])
    assert r.rc == 0, r.describe()
    for p in (sproxy, tproxy):
        p.reset_counters()
    return types.SimpleNamespace(sproxy=sproxy, tproxy=tproxy, batch="cut", target=target,
                                 world=w)


def _verify(pair, partial=False):
    """compare(source alice, target account): every message once. partial:
    the target may lack messages (a failed run), but nothing may be extra,
    duplicated or different."""
    w = pair.world
    s = w.src.login(ALICE)
    t = w.dst.login(pair.target, "pw")
    try:
        rep = verify.compare(s, t)
    finally:
        s.logout()
        t.logout()
    if partial:
        assert not (rep.extra or rep.duplicates or rep.bytes_mismatch or rep.flag_mismatch
                    or rep.date_mismatch), str(rep)
    else:
        assert rep.ok, str(rep)
        for f in rep.folders:
            assert f.source_count == f.target_count == f.matched, str(rep)
        assert sum(f.matched for f in rep.folders) == w.total, str(rep)
    return rep


def _start(run, pair, rc=0, extra=()):
    t0 = time.monotonic()
    r = run(["batch", "start", pair.batch, "--wait", *extra], timeout=WAIT)
    took = time.monotonic() - t0
    rows = batch_report(run, pair.batch)
    assert r.rc == rc, f"{r.describe()}\n{row_summary(rows)}\n{pair.sproxy.summary()}\n" \
                       f"{pair.tproxy.summary()}"
    return r, rows, took


def _transient(run):
    doc = user_show(run, ALICE)
    return jget(doc, "TransientErrorCount")


def test_source_cut_in_a_fetch_literal(run, pair):
    k = 230
    rule = pair.sproxy.cut(S2C, literal=k, min_literal=2000)
    r, rows, _ = _start(run, pair)
    assert rule.fired.is_set(), pair.sproxy.summary()
    assert jget(rows[ALICE], "Status") == "Synced", row_summary(rows)
    assert pair.sproxy.connections >= 2, pair.sproxy.summary()
    assert _transient(run) >= 1
    _verify(pair)
    # Resumed where it stopped: starting the folder again would fetch (and
    # append) the k messages before the cut a second time.
    total = pair.world.total
    assert pair.tproxy.literals[C2S] < total + k - 20, pair.tproxy.summary()
    assert pair.sproxy.literals[S2C] < total + k, pair.sproxy.summary()


def test_target_cut_in_an_append_literal(run, pair):
    k = 200
    rule = pair.tproxy.cut(C2S, literal=k, min_literal=2000)
    r, rows, _ = _start(run, pair)
    assert rule.fired.is_set(), pair.tproxy.summary()
    assert jget(rows[ALICE], "Status") == "Synced", row_summary(rows)
    assert pair.tproxy.connections >= 2, pair.tproxy.summary()
    assert _transient(run) >= 1
    _verify(pair)
    total = pair.world.total
    assert pair.tproxy.literals[C2S] < total + k - 20, pair.tproxy.summary()


def test_source_reset_in_the_middle_of_a_big_message(run, pair):
    # The 8th message of INBOX (n == 7) is 150-250 KB: after the first
    # literal of at least 100 KB has sent 60 KB, a TCP RST.
    rule = pair.sproxy.cut(S2C, literal=1, min_literal=100_000, offset=60_000, how="rst")
    r, rows, _ = _start(run, pair)
    assert rule.fired.is_set(), pair.sproxy.summary()
    assert rule.info["literal_size"] >= 100_000
    assert jget(rows[ALICE], "Status") == "Synced", row_summary(rows)
    _verify(pair)


def test_target_cut_in_a_big_append(run, pair):
    rule = pair.tproxy.cut(C2S, literal=2, min_literal=100_000, offset=30_000, how="rst")
    r, rows, _ = _start(run, pair)
    assert rule.fired.is_set(), pair.tproxy.summary()
    assert jget(rows[ALICE], "Status") == "Synced", row_summary(rows)
    _verify(pair)


def test_bye_from_the_source(run, pair):
    rule = pair.sproxy.bye("Server shutting down.", literal=120)
    r, rows, _ = _start(run, pair)
    assert rule.fired.is_set(), pair.sproxy.summary()
    assert jget(rows[ALICE], "Status") == "Synced", row_summary(rows)
    assert pair.sproxy.connections >= 2
    _verify(pair)


def test_bye_from_the_target(run, pair):
    # Once the 150th APPEND literal has gone to the target, a BYE from the
    # target at the next line boundary of its answers.
    byes = []
    trigger = pair.tproxy.on(C2S, lambda info: byes.append(pair.tproxy.bye(
        "Server shutting down.")), literal=150, min_literal=2000)
    r, rows, _ = _start(run, pair)
    assert trigger.fired.is_set() and byes and byes[0].fired.is_set(), pair.tproxy.summary()
    assert jget(rows[ALICE], "Status") == "Synced", row_summary(rows)
    _verify(pair)


def test_short_stall_and_slow_link_only_slow_down(run, pair):
    pair.sproxy.stall(S2C, literal=100, seconds=2)
    pair.tproxy.stall(C2S, literal=300, seconds=2)
    pair.sproxy.slow(S2C, rate=4_000_000, literal=50)
    r, rows, took = _start(run, pair)
    assert took >= 4
    assert jget(rows[ALICE], "Status") == "Synced", row_summary(rows)
    assert pair.sproxy.connections == 1 and pair.tproxy.connections == 1, \
        f"{pair.sproxy.summary()}\n{pair.tproxy.summary()}"
    _verify(pair)


def test_stall_for_ever_is_noticed_and_retried(run, pair):
    """No byte from the source for ever from the 150th body on: the I/O
    timeout must notice (--io-timeout 3s where `batch start` has it, else
    the default 30 s), and a new connection finish the job."""
    rule = pair.sproxy.stall(S2C, literal=150, seconds=None)
    h = run(["batch", "start", "--help"])
    extra = ("--io-timeout", "3s") if "--io-timeout" in h.out + h.err else ()
    r, rows, took = _start(run, pair, extra=extra)
    assert rule.fired.is_set()
    assert jget(rows[ALICE], "Status") == "Synced", row_summary(rows)
    assert pair.sproxy.connections >= 2
    assert _transient(run) >= 1
    _verify(pair)


def test_every_connection_cut_fails_the_user_after_retries_then_resumes(run, pair):
    """Every source connection is cut at its 40th body: after the retries
    the user is Failed with the reason shown; what was copied is intact;
    a later start (connections no longer cut) completes without duplicates.
    Issue 4: backoff between the attempts (exponential, with jitter)."""
    rules = [pair.sproxy.cut(S2C, literal=40, min_literal=1) for _ in range(40)]
    h = run(["batch", "start", "--help"])
    # A lower cap of the backoff keeps the test short (1, 2, 3, 3, 3 s).
    extra = ("--retry-max", "3s") if "--retry-max" in h.out + h.err else ()
    r, rows, took = _start(run, pair, rc=1, extra=extra)
    row = rows[ALICE]
    assert jget(row, "Status") == "Failed", row_summary(rows)
    err = jget(row, "LastError") or ""
    assert err.strip(), row_summary(rows)
    words = ("reconnect", "retr", "attempt", "closed", "connection")
    assert any(w in err.lower() for w in words), err
    fired = [ru.info["time"] for ru in rules if ru.fired.is_set()]
    assert len(fired) >= 3, pair.sproxy.summary()
    gaps = [b - a for a, b in zip(fired, fired[1:])]
    # Exponential backoff: the waits grow (allowing for jitter).
    assert gaps[-1] > gaps[0], gaps
    _verify(pair, partial=True)
    pair.sproxy.clear()
    r, rows, _ = _start(run, pair)
    assert jget(rows[ALICE], "Status") == "Synced", row_summary(rows)
    _verify(pair)
