"""kill -9 of `mailferry batch start NAME --wait` at many points of a
migration of 3,000 messages, each followed by a resume; then no loss and no
duplicate (issue 4: "kill -9 at any instant followed by batch start gives
zero duplicates and zero losses").

The source Dovecot is filled by writing Maildir files directly (alice:
INBOX 1,200 and Archive/2023 600; bob: INBOX 800 and Lists/dev 400; sizes
0.5-6 KB; flags, keywords and dates varied; about 1% of the messages are
byte-identical copies of another message of the same folder, the hard case
for reconciliation by content). mailferry reads it through the fault proxy,
which is how the kill points are placed:
  - "literal" points: the proxy SIGKILLs the process while the K-th FETCH
    literal (message body) since the start of the run is streaming, K
    chosen (seeded) so that the points spread over the whole migration;
  - "timer" points: SIGKILL after a random delay (seeded, 0.02-0.8 s) from
    the start of the process, which also hits start-up, reconciliation of
    the previous run's intents, login and listing.
After the last point a final `batch start --wait` must end Synced. The
local store is then served by a stock Dovecot and compared with the source
by the independent checker (verify.compare): every message once, bytes,
flags, keywords, INTERNALDATE and folder; per-folder counts equal.

The numbers (points tried, messages verified, duplicates, losses) are
printed and written to /tmp/mailferry-killnine.json for the closing note.
A second test does the same for an IMAP target (bob's 1,200 messages,
Dovecot -> Dovecot, both sides through fault proxies): its points also fall
while a message streams into an APPEND; its numbers go to the same file
under "imap_target". There the source proxy forwards at most SOURCE_RATE
bytes/s per connection, so that a run moves only the part of the mailbox
its point gives it (unthrottled, the whole mailbox goes in about a second
and most points would come after the end); as the target stores a
MULTIAPPEND command of 100 messages whole or not at all (and the folders
are copied in parallel), the i-th point first lets the run fill the target
i/POINTS of the way through all but the last two commands (the target
polled), then kills it at the K-th literal from there, K in 1..100.
Environment: MF_KILLNINE_SEED (default 4242), MF_KILLNINE_POINTS (default 30),
MF_KILLNINE_DIAG=1 (IMAP target: count the target's duplicates after each
kill, beyond the source's own byte-identical copies, recorded with the
point).

The local-store test needs the reconciliation of unconfirmed intents of
issue 4 (before it, each kill left the messages whose append completed
just before it to be copied again: about 600 duplicates per run).
"""

import json
import os
import random
import signal
import subprocess
import time
import types

import pytest

from tests.e2e import verify
from tests.e2e.migrate_helpers import (
    ALICE, BOB, MailDovecot, batch_report, new_endpoint, row_summary, serve_local_store,
    traversable_dir, write_csv)
from tests.servers.faultproxy import C2S, S2C
from tests.servers.mfrun import jget


SEED = int(os.environ.get("MF_KILLNINE_SEED", "4242"))
POINTS = max(20, int(os.environ.get("MF_KILLNINE_POINTS", "30")))
TIME_BUDGET = 150          # seconds for the kill phase, then a final run
RUN_TIMEOUT = 120
RESULT_FILE = "/tmp/mailferry-killnine.json"
SOURCE_RATE = 200_000      # bytes/s per source connection
MULTIAPPEND_MAX = 100      # messages per APPEND command (IMAP_MBX_MULTI_MAX)
LAYOUT = {ALICE: {"INBOX": 1200, "Archive/2023": 600}, BOB: {"INBOX": 800, "Lists/dev": 400}}
FLAG_CHOICES = [(), ("\\Seen",), ("\\Seen",), ("\\Seen", "\\Answered"), ("\\Flagged",),
                ("\\Seen", "$Label1"), ("Work",), ("\\Draft",), ("\\Seen", "\\Flagged", "Work")]


def _message(rng, user, folder, n):
    size = rng.choice((500, 800, 1200, 2000, 3000, 6000))
    head = (f"From: Sender {n} <sender{n % 37}@example.test>\r\nTo: {user}\r\n"
            f"Subject: kill-nine {folder} {n} {rng.getrandbits(32):08x}\r\n"
            f"Date: Mon, 0{1 + n % 9} Jan 2024 1{n % 10}:00:00 +0000\r\n"
            f"Message-ID: <k9-{user.split('@')[0]}-{folder.replace('/', '.')}-{n}@example.test>\r\n"
            f"\r\n").encode()
    line = f"{n} {folder} ".encode() + bytes(rng.choice(b"abcdefghij") for _ in range(50)) + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


def build_source(fill, d, seed):
    rng = random.Random(seed)
    total = 0
    for user, folders in LAYOUT.items():
        for folder, count in folders.items():
            msgs = []
            for n in range(count):
                if msgs and rng.random() < 0.01:
                    data = rng.choice(msgs)[0]          # byte-identical copy
                else:
                    data = _message(rng, user, folder, n)
                when = 1_500_000_000 + rng.randrange(200_000_000)
                msgs.append((data, rng.choice(FLAG_CHOICES), when))
            total += fill(d, user, folder, msgs)
    return total


@pytest.fixture(scope="module")
def k9_source(server_root, fill_maildir):
    d = MailDovecot(os.path.join(server_root, "killnine-src"))
    d.start()
    try:
        d.total = build_source(fill_maildir, d, SEED)
        yield d
    finally:
        d.stop()


@pytest.fixture
def data_dir(server_root):
    return traversable_dir(server_root, "k9-data-")


def _store_count(data_dir):
    """Messages in the local store (cur/ and new/ files), read from disk."""
    n = 0
    root = os.path.join(data_dir, "mailstore")
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) in ("cur", "new"):
            n += len(files)
    return n


def _imap_count(server, users):
    """Messages on an IMAP server for users (STATUS of every folder)."""
    n = 0
    for u in users:
        m = server.login(u)
        try:
            for item in m.list()[1]:
                name = item.decode().rsplit(' "/" ', 1)[1]
                if "\\Noselect" in item.decode():
                    continue
                typ, dat = m.status(name, "(MESSAGES)")
                if typ == "OK":
                    n += int(dat[0].decode().rsplit("MESSAGES ", 1)[1].rstrip(")"))
        finally:
            m.logout()
    return n


def _wait_progress(p, progress, target, runs, mf_procs):
    """Poll progress() until it reaches target (True), or p ends (False)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while p.poll() is None:
        if progress() >= target:
            return True
        if time.monotonic() > deadline:
            pytest.fail(f"run {runs} did not reach {target} messages\n{mf_procs.describe(p)}")
        time.sleep(0.02)
    return False


def kill_loop(mf_procs, batch, total, progress, kinds, rng, points_wanted=POINTS, diag=None,
              granule=None):
    """Run `batch start BATCH --wait` again and again, killing each run with
    SIGKILL at a point of the kind kinds[i % len(kinds)]:
      ("literal", proxy, direction)  while the K-th literal of the run
                                      streams through proxy in direction;
      ("timer", None, None)           after a random delay.
    K is chosen so that the points spread over the rest of the migration
    (progress() tells how many messages the target holds). granule: the
    target stores messages by whole commands of that many (MULTIAPPEND), one
    command per folder being copied at a time, so a run only moves it on by
    the commands it completed, and K literals from the start of a run may
    complete none. Point i then has a goal, i/points_wanted of the way
    through all but the last two commands: the run is let store messages
    until the target holds that many (progress() polled; at once if it
    already does) and killed at the K-th literal from there, K in
    1..granule (None: messages are stored one at a time).
    diag(): extra facts recorded with each point (MF_KILLNINE_DIAG=1).
    Returns (points, runs, seconds)."""
    points, runs, final = [], 0, None
    t_start = time.monotonic()
    while len(points) < points_wanted and time.monotonic() - t_start < TIME_BUDGET:
        stored = min(total, progress())
        runs += 1
        kind, proxy, direction = kinds[len(points) % len(kinds)]
        for k in kinds:
            if k[1] is not None:
                k[1].clear()
        p = mf_procs.spawn(["batch", "start", batch, "--wait"])
        if kind == "literal":
            left = max(1, total - stored)
            per_point = max(4, left // (points_wanted - len(points) + 1))
            goal = 0
            if granule:
                # This point's place: once the target holds goal messages
                # (the points evenly spaced over all but the last two
                # commands, so that the run still has param literals to
                # go), the param-th literal from there.
                goal = len(points) * max(0, total - 2 * granule) // points_wanted
                param = rng.randint(1, granule)
            else:
                param = rng.randint(max(1, per_point // 2), max(2, per_point * 3 // 2))
            rule = None
            if goal <= stored or _wait_progress(p, progress, goal, runs, mf_procs):
                rule = proxy.on(direction, lambda info, pid=p.pid: os.kill(pid, signal.SIGKILL),
                                literal=param, scope="total")
            try:
                rc = p.wait(RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"run {runs} did not end\n{mf_procs.describe(p)}")
            killed = rule is not None and rule.fired.is_set()
        else:
            param = round(rng.uniform(0.02, 0.8), 3)
            try:
                rc = p.wait(param)
                killed = False
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                rc = p.wait(30)
                killed = True
        if not killed:
            assert rc == 0, f"run {runs} ended before its kill point, and failed\n" \
                             f"{mf_procs.describe(p)}"
            final = p
            break
        assert rc == -signal.SIGKILL, mf_procs.describe(p)
        points.append({"kind": kind if kind == "timer" else f"{kind}-{direction}",
                       "param": param, "stored_before": stored,
                       "at": round(time.monotonic() - t_start, 2)})
        if granule and kind == "literal":
            points[-1]["goal"] = goal
        if diag is not None:
            points[-1].update(diag())
    for k in kinds:
        if k[1] is not None:
            k[1].clear()
    if final is None:
        runs += 1
        final = mf_procs.spawn(["batch", "start", batch, "--wait"])
        rc = final.wait(RUN_TIMEOUT)
        assert rc == 0, f"final run after {len(points)} kills\n{mf_procs.describe(final)}"
    return points, runs, time.monotonic() - t_start


def verify_users(src, target_login, users, total):
    """verify.compare for each user; returns (numbers, {user: report})."""
    res = {"messages_verified": 0, "duplicates": 0, "losses": 0, "extra": 0,
           "mismatches": 0, "folders": {}}
    reports = {}
    for user in users:
        s = src.login(user)
        t = target_login(user)
        try:
            rep = verify.compare(s, t)
        finally:
            for c in (s, t):
                try:
                    c.logout()
                except Exception:  # noqa: BLE001
                    pass
        reports[user] = rep
        res["messages_verified"] += sum(min(f.matched, f.target_count) for f in rep.folders)
        res["duplicates"] += len(rep.duplicates)
        res["losses"] += len(rep.missing)
        res["extra"] += len(rep.extra)
        res["mismatches"] += (len(rep.bytes_mismatch) + len(rep.flag_mismatch)
                              + len(rep.date_mismatch))
        res["folders"][user] = {f.source: [f.source_count, f.target_count, f.matched]
                                for f in rep.folders}
    return res, reports


def check(result, reports, statuses, rows, total):
    print(f"\nkill -9 ({result['scenario']}): {result['points_tried']} points tried "
          f"({', '.join(f'{v} {k}' for k, v in result['kinds'].items())}), "
          f"{result['runs']} runs, {result['messages_verified']} of {total} messages verified, "
          f"{result['duplicates']} duplicates, {result['losses']} losses, "
          f"{result['extra']} extra, {result['mismatches']} mismatches, "
          f"{result['seconds']} s (seed {SEED}; {RESULT_FILE})")
    points = result["points"]
    assert len(points) >= 20, f"only {len(points)} kill points: the migration ended early\n{points}"
    # The points are spread over the migration, not bunched at its start.
    assert max(p["stored_before"] for p in points) >= total // 2, points
    assert all(s == "Synced" for s in statuses.values()), row_summary(rows)
    for user, rep in reports.items():
        assert rep.ok, f"{user}:\n{rep}"
        for f in rep.folders:
            assert f.source_count == f.target_count == f.matched, f"{user}:\n{rep}"
    assert result["messages_verified"] == total
    assert result["duplicates"] == 0 and result["losses"] == 0


def _result(scenario, points, runs, elapsed, total, numbers, statuses):
    kinds = {}
    for p in points:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    return {"scenario": scenario, "points_tried": len(points), "runs": runs, "seed": SEED,
            "source_messages": total, **numbers, "seconds": round(elapsed, 1),
            "kinds": kinds, "user_status": statuses, "points": points,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def test_kill_nine_into_the_local_store(k9_source, faultproxy, run, mf_procs, data_dir,
                                        server_root, tmp_path):
    """3,000 messages, two users, Dovecot -> local store."""
    src = k9_source
    total = src.total
    proxy = faultproxy(src.plain_port)
    # Paced, so that a run lasts long enough for its kill point with several
    # connections per user (unpaced, the whole migration takes under a second).
    proxy.set_rate(S2C, SOURCE_RATE)
    new_endpoint(run, "k9src", types.SimpleNamespace(plain_port=proxy.port, tls_mode="none"))
    csv = write_csv(tmp_path / "k9.csv", [(ALICE, "", ""), (BOB, "", "")])
    r = run(["batch", "new", "k9", "--source", "k9src", "--csv", csv])
    assert r.rc == 0, r.describe()

    kinds = [("literal", proxy, S2C), ("literal", proxy, S2C), ("timer", None, None)]
    points, runs, elapsed = kill_loop(mf_procs, "k9", total, lambda: _store_count(data_dir),
                                      kinds, random.Random(SEED))
    rows = batch_report(run, "k9")
    statuses = {e: jget(row, "Status") for e, row in rows.items()}
    with serve_local_store(data_dir, server_root, [ALICE, BOB]) as store:
        numbers, reports = verify_users(src, store.login, (ALICE, BOB), total)
    result = _result("Dovecot -> local store", points, runs, elapsed, total, numbers, statuses)
    with open(RESULT_FILE, "w") as f:
        json.dump(result, f, indent=2)
    check(result, reports, statuses, rows, total)


@pytest.fixture(scope="module")
def k9_target(server_root):
    d = MailDovecot(os.path.join(server_root, "killnine-dst"))
    d.start()
    yield d
    d.stop()


def test_kill_nine_into_an_imap_target(k9_source, k9_target, faultproxy, run, mf_procs,
                                       tmp_path):
    """bob's 1,200 messages, Dovecot -> Dovecot, both through fault proxies:
    kills while a message streams from the source (FETCH literal), while one
    streams to the target (APPEND literal), and after random delays."""
    src, dst = k9_source, k9_target
    total = sum(LAYOUT[BOB].values())
    sproxy = faultproxy(src.plain_port)
    tproxy = faultproxy(dst.plain_port)
    new_endpoint(run, "k9src", types.SimpleNamespace(plain_port=sproxy.port, tls_mode="none"))
    new_endpoint(run, "k9dst", types.SimpleNamespace(plain_port=tproxy.port, tls_mode="none"))
    csv = write_csv(tmp_path / "k9i.csv", [(BOB, "", "")])
    r = run(["batch", "new", "k9i", "--source", "k9src", "--target", "k9dst", "--csv", csv])
    assert r.rc == 0, r.describe()

    # Pacing: unthrottled, a run moves the whole mailbox in about a second
    # (what mailferry wrote before the kill still reaches the target), so
    # most points would fall after the end. The source is read at
    # SOURCE_RATE: a run moves only what the point gives it, and a kill
    # lands within a message or so of where it is aimed.
    sproxy.set_rate(S2C, SOURCE_RATE)
    kinds = [("literal", tproxy, C2S), ("literal", sproxy, S2C), ("timer", None, None)]

    def copies(server):
        """{(folder, SHA-256): how many} of bob's messages on server."""
        c = server.login(BOB)
        try:
            snap = verify.snapshot(c)
        finally:
            c.logout()
        n = {}
        for f in snap.folders.values():
            for m in f.messages:
                n[(f.name, m.sha256)] = n.get((f.name, m.sha256), 0) + 1
        return n
    src_copies = copies(src) if os.environ.get("MF_KILLNINE_DIAG") else {}

    def diag():
        # Duplicates on the target right after this kill (before the resume
        # that should settle the intents): copies beyond the source's own
        # byte-identical ones.
        return {"target_duplicates_after_kill":
                sum(max(0, k - src_copies.get(key, 1)) for key, k in copies(dst).items())}
    points, runs, elapsed = kill_loop(mf_procs, "k9i", total, lambda: _imap_count(dst, [BOB]),
                                      kinds, random.Random(SEED + 1),
                                      diag=diag if os.environ.get("MF_KILLNINE_DIAG") else None,
                                      granule=MULTIAPPEND_MAX)
    rows = batch_report(run, "k9i")
    statuses = {e: jget(row, "Status") for e, row in rows.items()}
    numbers, reports = verify_users(src, dst.login, (BOB,), total)
    result = _result("Dovecot -> Dovecot", points, runs, elapsed, total, numbers, statuses)
    try:
        with open(RESULT_FILE) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        doc = {}
    doc["imap_target"] = result
    with open(RESULT_FILE, "w") as f:
        json.dump(doc, f, indent=2)
    check(result, reports, statuses, rows, total)
