"""make bench: mailferry side by side with mbsync and offlineimap.

    /usr/bin/python3 bench/bench.py --build build [options]     (bench/run.sh)

What it does (docs/performance.md explains the method):
  1. the corpus (bench/corpus.py), generated once and cached;
  2. a source Dovecot on 127.0.0.1 loaded from the cache as Maildir++ files,
     warmed up with one unmeasured full FETCH; the checker's snapshot of it
     (tests/e2e/verify.py) is taken once;
  3. rounds: in each round every tool runs once (the order rotates from
     round to round), each against a fresh target Dovecot: the migration,
     then the same command again with nothing changed (the no-op run),
     then the fidelity check (verify.compare against the source snapshot;
     a Maildir target is served by a stock Dovecot for it);
  4. the WAN scenario: the same with DELAY ms added each way by
     bench/delayproxy in front of the source and of every target;
  5. medians per tool, a table with ratios to mailferry, the issue's
     targets checked, and everything in bench/results/bench-*.json.

Per run: wall time, the tool's CPU time (user + sys) and peak RSS (wait4
rusage of the tool's process, its waited-for children included), and the
servers' CPU: utime + stime + cutime + cstime of every process of the source
and target Dovecots (their process groups) from /proc, after minus before.

Tools (names for --tools):
  ref-fetch        raw pipelined FETCH 1:* of every folder (bench/ref-fetch.c)
  ref-append       raw MULTIAPPEND of the corpus files into the target
                   (bench/ref-append.c)
  mailferry-imap   endpoints src + dst, batch new --target dst, batch start --wait
  mailferry-local  endpoint src, batch new (local store), batch start --wait
  mbsync-imap      mbsync (isync 1.4) IMAP -> IMAP, CopyArrivalDate yes
  mbsync-maildir   mbsync IMAP -> Maildir++, CopyArrivalDate yes
  offlineimap      offlineimap3 IMAP -> IMAP (remote repository read-only)

Options come from the command line or the environment (make bench
BENCH_MESSAGES=500 BENCH_RUNS=1 ...): BENCH_MESSAGES (10000), BENCH_RUNS (3),
BENCH_WAN_RUNS (3; 0 skips the WAN scenario), BENCH_OFFLINEIMAP_RUNS (1:
offlineimap runs in the first round only), BENCH_TOOLS, BENCH_WAN_TOOLS,
BENCH_DELAY_MS (20), BENCH_SEED, BENCH_CACHE (/var/cache/mailferry-bench),
BENCH_WORK (/dev/shm/mailferry-bench when tmpfs has 6 GB free, else
/var/tmp/mailferry-bench), BENCH_KEEP (1: keep the work dir),
BENCH_VERIFY (0: skip the fidelity checks), BENCH_TIMEOUT (per run, s).
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import corpus  # noqa: E402
from tests.e2e import verify  # noqa: E402
from tests.e2e.migrate_helpers import MASTER, MailDovecot, serve_local_store  # noqa: E402

USER = corpus.USER
PASSWORD = "alicepw"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TIME = "/usr/bin/time"

ALL_TOOLS = ["ref-fetch", "ref-append", "mailferry-imap", "mailferry-local", "mbsync-imap",
             "mbsync-maildir", "offlineimap"]
DEFAULT_WAN_TOOLS = ["ref-fetch", "ref-append", "mailferry-imap", "mbsync-imap"]
LABELS = {
    "ref-fetch": "raw FETCH (reference)",
    "ref-append": "raw MULTIAPPEND (reference)",
    "mailferry-imap": "mailferry IMAP->IMAP",
    "mailferry-local": "mailferry IMAP->local",
    "mbsync-imap": "mbsync IMAP->IMAP",
    "mbsync-maildir": "mbsync IMAP->Maildir",
    "offlineimap": "offlineimap IMAP->IMAP",
}
# The mailferry row each row is compared with.
BASELINE = {"ref-fetch": "mailferry-imap", "ref-append": "mailferry-imap",
            "mailferry-imap": "mailferry-imap", "mbsync-imap": "mailferry-imap",
            "offlineimap": "mailferry-imap", "mailferry-local": "mailferry-local",
            "mbsync-maildir": "mailferry-local"}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- measuring -----------------------------------------------------------------------

def group_cpu(pgid):
    """CPU seconds (own and reaped children's) of every process in a process
    group, zombies included."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / CLK_TCK


def servers_cpu(servers):
    return sum(group_cpu(s.proc.pid) for s in servers if s is not None and s.proc is not None)


def run_measured(argv, env=None, cwd=None, stdin_data=None, timeout=3600, servers=()):
    """Run argv; returns a dict with rc, wall_s, cpu_s (user + sys), user_s,
    sys_s, rss_mb (peak), server_cpu_s, and the tails of stdout/stderr.

    The tool runs under /usr/bin/time, which forks it from its own small
    process: a child forked from this Python process would carry Python's
    resident set into its ru_maxrss (the high-water mark survives exec)."""
    out_f = tempfile.TemporaryFile()
    err_f = tempfile.TemporaryFile()
    fd, time_file = tempfile.mkstemp(prefix="bench-time-")
    os.close(fd)
    cpu0 = [servers_cpu([x]) for x in servers]
    t0 = time.monotonic()
    p = subprocess.Popen([TIME, "-f", "%U %S %M %x", "-o", time_file, *argv], env=env, cwd=cwd,
                         stdout=out_f, stderr=err_f,
                         stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
                         start_new_session=True)
    if stdin_data is not None:
        p.stdin.write(stdin_data.encode())
        p.stdin.close()
    try:
        p.wait(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    wall = time.monotonic() - t0
    time.sleep(0.2)  # let the servers' session processes finish their logout
    cpu1 = [servers_cpu([x]) for x in servers]
    per_server = [round(b - a, 2) for a, b in zip(cpu0, cpu1)]
    out_f.seek(0)
    err_f.seek(0)
    out = out_f.read().decode(errors="replace")
    err = err_f.read().decode(errors="replace")
    with open(time_file) as f:
        times = f.read().split()
    os.unlink(time_file)
    user = sys_ = 0.0
    rss = 0
    rc = p.returncode
    # "Command exited with non-zero status N" may come first.
    if len(times) >= 4 and times[-1].lstrip("-").isdigit():
        user, sys_, rss, rc = float(times[-4]), float(times[-3]), int(times[-2]), int(times[-1])
    if timed_out:
        rc = -9
    return {"rc": rc, "timed_out": timed_out, "wall_s": round(wall, 3),
            "cpu_s": round(user + sys_, 3), "user_s": user, "sys_s": sys_,
            "rss_mb": round(rss / 1024, 1), "server_cpu_s": round(sum(per_server), 2),
            "source_cpu_s": per_server[0] if per_server else None,
            "target_cpu_s": per_server[1] if len(per_server) > 1 and servers[1] else None,
            "stdout": out[-3000:], "stderr": err[-3000:]}


# ---- servers -------------------------------------------------------------------------------

def traversable(path):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)
    return path


def new_dovecot(parent, name):
    d = MailDovecot(os.path.join(parent, name), users={USER: PASSWORD}, master=MASTER)
    return d


def start_source(work, info):
    src = new_dovecot(work, "source")
    src._prepare()
    md = src.maildir(USER)
    shutil.rmtree(md, ignore_errors=True)
    # Hard links when the cache is on the same file system (Dovecot only
    # renames the files it serves, never rewrites them), else a copy.
    if os.stat(info["maildir"]).st_dev == os.stat(os.path.dirname(md)).st_dev:
        subprocess.run(["cp", "-al", info["maildir"], md], check=True)
    else:
        subprocess.run(["cp", "-a", info["maildir"], md], check=True)
    src._chown_tree(src.home(USER))
    src.start()
    src.doveadm("force-resync", "-u", USER, "*")
    return src


class DelayProxy:
    def __init__(self, binary, port, delay_ms):
        self.p = subprocess.Popen([binary, str(port), str(delay_ms)], stdout=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL)
        line = self.p.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError("delayproxy did not start")
        self.port = int(line)

    def stop(self):
        self.p.terminate()
        self.p.wait()


# ---- fidelity --------------------------------------------------------------------------------

def summarize(rep):
    n_src = sum(r.source_count for r in rep.folders)
    matched = sum(r.matched for r in rep.folders)
    return {
        "ok": rep.ok,
        "source": n_src,
        "target": sum(r.target_count for r in rep.folders),
        "matched": matched,
        "percent": round(100.0 * matched / n_src, 2) if n_src else 100.0,
        "missing": len(rep.missing), "extra": len(rep.extra), "duplicates": len(rep.duplicates),
        "bytes_mismatch": len(rep.bytes_mismatch), "flag_mismatch": len(rep.flag_mismatch),
        "date_mismatch": len(rep.date_mismatch), "missing_folders": len(rep.missing_folders),
        "missing_subscriptions": len(rep.missing_subscriptions),
        "extra_subscriptions": len(rep.extra_subscriptions),
        "report": str(rep)[:4000],
    }


class _HashWithout:
    """Stands in for the checker's hashlib while a second snapshot of a
    target is read: hashes a message without the header field a tool adds
    to every message it copies (mbsync's X-TUID), so that the rest of what
    the tool did (flags, keywords, dates, folders) can be reported too. The
    first, exact comparison is the checker as it is."""

    def __init__(self, field):
        self.pat = re.compile(rb"(?im)^" + re.escape(field) + rb":[^\n]*\n")

    def sha256(self, data=b""):
        end = data.find(b"\r\n\r\n")
        end = len(data) if end < 0 else end + 2
        return hashlib.sha256(self.pat.sub(b"", data[:end]) + data[end:])


def _compare(ctx, conn, added_header=None):
    fid = summarize(verify.compare(ctx.src_snapshot, conn))
    if added_header and not fid["ok"]:
        real = verify.hashlib
        verify.hashlib = _HashWithout(added_header)
        try:
            snap = verify.snapshot(conn)
        finally:
            verify.hashlib = real
        fid["ignoring"] = added_header.decode()
        fid["lenient"] = summarize(verify.compare(ctx.src_snapshot, snap))
    return fid


def check_imap(ctx, target, added_header=None):
    conn = target.login(USER, PASSWORD)
    try:
        return _compare(ctx, conn, added_header)
    finally:
        try:
            conn.logout()
        except Exception:  # noqa: BLE001
            pass


def check_store(ctx, data_dir, added_header=None):
    """A Maildir++ tree at <data_dir>/mailstore/<USER>/, served by Dovecot."""
    with serve_local_store(data_dir, ctx.work, [USER]) as store:
        conn = store.login(USER, "pw")
        try:
            return _compare(ctx, conn, added_header)
        finally:
            try:
                conn.logout()
            except Exception:  # noqa: BLE001
                pass


# ---- tools -----------------------------------------------------------------------------------

class Tool:
    name = ""
    target = "imap"   # imap, maildir or none
    has_noop = True
    added_header = None  # a header field the tool adds to every message

    def __init__(self, ctx):
        self.ctx = ctx

    def available(self):
        return True, ""

    def prepare(self, run_dir, src_port, dst_port):
        """Write configuration; returns nothing. dst_port is None for a
        local target."""

    def initial(self):
        raise NotImplementedError

    def noop(self):
        return self.initial()

    def store_dir(self):
        """For a Maildir target: the data dir holding mailstore/<USER>/."""
        return None


class RefFetch(Tool):
    name, target, has_noop = "ref-fetch", "none", False

    def available(self):
        return os.access(self.ctx.bin("ref-fetch"), os.X_OK), "bench/ref-fetch not built"

    def prepare(self, run_dir, src_port, dst_port):
        self.argv = [self.ctx.bin("ref-fetch"), "127.0.0.1", str(src_port), USER, PASSWORD]

    def initial(self):
        return self.argv


class RefAppend(Tool):
    name, has_noop = "ref-append", False

    def available(self):
        return os.access(self.ctx.bin("ref-append"), os.X_OK), "bench/ref-append not built"

    def prepare(self, run_dir, src_port, dst_port):
        self.argv = [self.ctx.bin("ref-append"), self.ctx.info["manifest"], "127.0.0.1",
                     str(dst_port), USER, PASSWORD]

    def initial(self):
        return self.argv


class Mailferry(Tool):
    local = False

    def available(self):
        mf = self.ctx.mailferry
        if not os.access(mf, os.X_OK):
            return False, f"{mf} is not built"
        r = subprocess.run([mf, "batch", "--help"], capture_output=True, text=True)
        text = r.stdout + r.stderr
        if r.returncode != 0 or "start" not in text or "new" not in text:
            return False, "mailferry has no `batch new` / `batch start --wait` yet"
        return True, ""

    def mf(self, *args, stdin=None):
        r = subprocess.run([self.ctx.mailferry, *map(str, args)], env=self.env,
                           input=stdin, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"mailferry {' '.join(map(str, args))}: exit {r.returncode}\n"
                               f"{r.stdout}{r.stderr}")
        return r

    def prepare(self, run_dir, src_port, dst_port):
        self.data = traversable(os.path.join(run_dir, "mfdata"))
        self.env = dict(os.environ, MAILFERRY_DATA_DIR=self.data,
                        MAILFERRY_KEY_FILE=os.path.join(self.data, "secret.key"))
        pw = MASTER[1] + "\n"
        self.mf("endpoint", "new", "src", "--type", "imap", "--server", "127.0.0.1",
                "--port", src_port, "--security", "none", "--admin-user", MASTER[0],
                "--password-stdin", stdin=pw)
        args = ["batch", "new", "bench", "--source", "src", "--csv"]
        csv = os.path.join(run_dir, "users.csv")
        with open(csv, "w") as f:
            f.write(f"EmailAddress,UserName,Password\r\n{USER},,\r\n")
        args.append(csv)
        if not self.local:
            self.mf("endpoint", "new", "dst", "--type", "imap", "--server", "127.0.0.1",
                    "--port", dst_port, "--security", "none", "--admin-user", MASTER[0],
                    "--password-stdin", stdin=pw)
            args += ["--target", "dst"]
        # BENCH_MF_CONNECTIONS: connections per user (default: mailferry's).
        if os.environ.get("BENCH_MF_CONNECTIONS"):
            args += ["--connections-per-user", os.environ["BENCH_MF_CONNECTIONS"]]
        self.mf(*args)
        self.argv = [self.ctx.mailferry, "batch", "start", "bench", "--wait"]

    def initial(self):
        return self.argv

    def run_env(self):
        return self.env

    def store_dir(self):
        return self.data


class MailferryImap(Mailferry):
    name = "mailferry-imap"


class MailferryLocal(Mailferry):
    name, target, local = "mailferry-local", "maildir", True


MBSYNC_ACCOUNT = """IMAPAccount {name}
Host 127.0.0.1
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore {name}
Account {name}

"""


class Mbsync(Tool):
    maildir = False
    added_header = b"X-TUID"

    def available(self):
        return shutil.which("mbsync") is not None, "mbsync is not installed (isync)"

    def prepare(self, run_dir, src_port, dst_port):
        cfg = MBSYNC_ACCOUNT.format(name="src", port=src_port, user=USER, password=PASSWORD)
        state = os.path.join(run_dir, "mbsync-state") + "/"
        os.makedirs(state, exist_ok=True)
        if self.maildir:
            self.data = traversable(os.path.join(run_dir, "mbdata"))
            store = os.path.join(self.data, "mailstore", USER)
            os.makedirs(store)
            cfg += f"MaildirStore dst\nInbox {store}\nSubFolders Maildir++\n\n"
            state = "*"
        else:
            cfg += MBSYNC_ACCOUNT.format(name="dst", port=dst_port, user=USER,
                                         password=PASSWORD)
        cfg += ("Channel bench\nFar :src:\nNear :dst:\nPatterns *\nCreate Near\nSync Pull\n"
                f"Expunge None\nRemove None\nCopyArrivalDate yes\nSyncState {state}\n")
        rc = os.path.join(run_dir, "mbsyncrc")
        with open(rc, "w") as f:
            f.write(cfg)
        self.argv = ["mbsync", "-c", rc, "-q", "bench"]

    def initial(self):
        return self.argv

    def store_dir(self):
        return self.data


class MbsyncImap(Mbsync):
    name = "mbsync-imap"


class MbsyncMaildir(Mbsync):
    name, target, maildir = "mbsync-maildir", "maildir", True


class OfflineImap(Tool):
    name = "offlineimap"

    def available(self):
        return shutil.which("offlineimap") is not None, "offlineimap is not installed"

    def prepare(self, run_dir, src_port, dst_port):
        meta = os.path.join(run_dir, "offlineimap-meta")
        os.makedirs(meta)
        repo = ("type = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\nremoteuser = {user}\n"
                "remotepass = {pw}\nssl = no\nstarttls = no\n")
        cfg = (f"[general]\naccounts = bench\nmetadata = {meta}\nui = quiet\n\n"
               "[Account bench]\nlocalrepository = dst\nremoterepository = src\n\n"
               "[Repository src]\n" + repo.format(port=src_port, user=USER, pw=PASSWORD) +
               "readonly = True\n\n"
               "[Repository dst]\n" + repo.format(port=dst_port, user=USER, pw=PASSWORD))
        rc = os.path.join(run_dir, "offlineimaprc")
        with open(rc, "w") as f:
            f.write(cfg)
        self.argv = ["offlineimap", "-c", rc, "-o", "-u", "quiet"]

    def initial(self):
        return self.argv


TOOL_CLASSES = {c.name: c for c in (RefFetch, RefAppend, MailferryImap, MailferryLocal,
                                    MbsyncImap, MbsyncMaildir, OfflineImap)}


# ---- the bench ---------------------------------------------------------------------------------

class Context:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.mailferry = os.path.join(self.build, "mailferry")
        self.bin_dir = os.path.join(self.build, "bench")
        self.work = None
        self.info = None
        self.source = None
        self.src_snapshot = None

    def bin(self, name):
        return os.path.join(self.bin_dir, name)


def one_run(ctx, tool, scenario, round_no, src_port, delay_ms):
    """One tool run (+ its no-op re-run and the fidelity check) against a
    fresh target."""
    run_dir = traversable(os.path.join(ctx.work, f"{scenario}-{round_no}-{tool.name}"))
    target = proxy = None
    rec = {"tool": tool.name, "scenario": scenario, "round": round_no}
    try:
        dst_port = None
        if tool.target == "imap":
            target = new_dovecot(run_dir, "target")
            target.start()
            dst_port = target.plain_port
            if delay_ms:
                proxy = DelayProxy(ctx.bin("delayproxy"), dst_port, delay_ms)
                dst_port = proxy.port
        tool.prepare(run_dir, src_port, dst_port)
        servers = (ctx.source, target)
        env = tool.run_env() if hasattr(tool, "run_env") else None
        r = run_measured(tool.initial(), env=env, cwd=run_dir, timeout=ctx.args.timeout,
                         servers=servers)
        rec["initial"] = r
        ok = r["rc"] == 0
        if tool.name == "ref-fetch" and ok:
            got = json.loads(r["stdout"].strip().splitlines()[-1])
            rec["fidelity"] = {"ok": got["messages"] == ctx.info["messages"]
                               and got["bytes"] == ctx.info["bytes"], "percent": None,
                               "detail": got}
        if tool.has_noop and ok:
            rec["noop"] = run_measured(tool.noop(), env=env, cwd=run_dir,
                                       timeout=ctx.args.timeout, servers=servers)
        if proxy:
            proxy.stop()
            proxy = None
        verify_this = ctx.args.verify and tool.target != "none" and ok and (
            tool.name != "ref-append" or round_no == 1)
        if verify_this:
            t0 = time.monotonic()
            if tool.target == "imap":
                rec["fidelity"] = check_imap(ctx, target, tool.added_header)
            else:
                rec["fidelity"] = check_store(ctx, tool.store_dir(), tool.added_header)
            rec["verify_s"] = round(time.monotonic() - t0, 1)
    except Exception as e:  # noqa: BLE001 - a failed run is recorded, not fatal
        rec["error"] = f"{type(e).__name__}: {e}"
        log(f"  {tool.name}: {rec['error']}")
    finally:
        if proxy:
            proxy.stop()
        if target:
            target.stop()
        if not ctx.args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    return rec


def describe(rec):
    r = rec.get("initial")
    if not r:
        return rec.get("error", "failed")
    s = f"{r['wall_s']:.2f} s, cpu {r['cpu_s']:.2f} s, rss {r['rss_mb']:.0f} MB, " \
        f"servers {r['server_cpu_s']:.2f} s"
    if r["rc"] != 0:
        s += f", EXIT {r['rc']}: {(r['stderr'] or r['stdout']).strip()[-300:]}"
    if "noop" in rec:
        s += f"; no-op {rec['noop']['wall_s']:.2f} s"
    f = rec.get("fidelity")
    if f:
        s += f"; fidelity {'OK' if f['ok'] else 'DIFF'}"
        if f.get("percent") is not None:
            s += f" {f['percent']}%"
    return s


def median(xs):
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 3) if xs else None


def aggregate(records, tools):
    out = {}
    for t in tools:
        rs = [r for r in records if r["tool"] == t and r.get("initial")
              and r["initial"]["rc"] == 0]
        if not rs:
            continue
        fids = [r["fidelity"] for r in rs if r.get("fidelity")]
        out[t] = {
            "runs": len(rs),
            "wall_s": median([r["initial"]["wall_s"] for r in rs]),
            "cpu_s": median([r["initial"]["cpu_s"] for r in rs]),
            "rss_mb": median([r["initial"]["rss_mb"] for r in rs]),
            "rss_mb_max": max(max(r["initial"]["rss_mb"], r.get("noop", {}).get("rss_mb", 0))
                              for r in rs),
            "server_cpu_s": median([r["initial"]["server_cpu_s"] for r in rs]),
            "source_cpu_s": median([r["initial"].get("source_cpu_s") for r in rs]),
            "target_cpu_s": median([r["initial"].get("target_cpu_s") for r in rs]),
            "noop_wall_s": median([r["noop"]["wall_s"] for r in rs if r.get("noop")
                                   and r["noop"]["rc"] == 0]),
            "noop_rss_mb": median([r["noop"]["rss_mb"] for r in rs if r.get("noop")]),
            "fidelity_ok": all(f["ok"] for f in fids) if fids else None,
            "fidelity_percent": min((f["percent"] for f in fids if f.get("percent") is not None),
                                    default=None),
            "fidelity_checked": len(fids),
            "fidelity_problems": _problems(fids),
            "lenient_ignoring": next((f["ignoring"] for f in fids if f.get("ignoring")), None),
            "lenient_percent": min((f["lenient"]["percent"] for f in fids if f.get("lenient")),
                                   default=None),
            "lenient_problems": _problems([f["lenient"] for f in fids if f.get("lenient")]),
        }
    return out


def _problems(fids):
    keys = ("missing", "extra", "duplicates", "bytes_mismatch", "flag_mismatch",
            "date_mismatch", "missing_folders", "missing_subscriptions")
    worst = {}
    for f in fids:
        for k in keys:
            if f.get(k):
                worst[k] = max(worst.get(k, 0), f[k])
    return worst


def fmt(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def table(scenario, agg, tools, unavailable):
    lines = [f"### {scenario}", "",
             "| tool | wall s | x mf | no-op s | x mf | CPU s | peak RSS MB "
             "| servers' CPU s (source + target) | fidelity |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for t in tools:
        if t in unavailable:
            lines.append(f"| {LABELS[t]} | not available: {unavailable[t]} | | | | | | | |")
            continue
        a = agg.get(t)
        if not a:
            lines.append(f"| {LABELS[t]} | failed (see JSON) | | | | | | | |")
            continue
        base = agg.get(BASELINE[t])
        rw = ratio(a["wall_s"], base["wall_s"]) if base else None
        rn = ratio(a["noop_wall_s"], base["noop_wall_s"]) if base else None
        if a["fidelity_ok"] is None:
            fid = "not checked"
        elif a["fidelity_percent"] is None:
            fid = "OK" if a["fidelity_ok"] else "DIFF"
        else:
            fid = f"{a['fidelity_percent']:.1f}% exact"
            if a["fidelity_problems"]:
                fid += " (" + ", ".join(f"{k.replace('_', ' ')} {v}"
                                        for k, v in a["fidelity_problems"].items()) + ")"
            if a.get("lenient_percent") is not None:
                ign = a["lenient_ignoring"]
                ign = ign.decode() if isinstance(ign, bytes) else ign
                fid += f"; without its {ign} header: {a['lenient_percent']:.1f}%"
                if a["lenient_problems"]:
                    fid += " (" + ", ".join(f"{k.replace('_', ' ')} {v}"
                                            for k, v in a["lenient_problems"].items()) + ")"
        srv = fmt(a["server_cpu_s"])
        if a.get("target_cpu_s") is not None and a.get("source_cpu_s") is not None:
            srv = f"{a['source_cpu_s']:.2f} + {a['target_cpu_s']:.2f}"
        lines.append(f"| {LABELS[t]} | {fmt(a['wall_s'])} | {fmt(rw)} | "
                     f"{fmt(a['noop_wall_s'])} | {fmt(rn)} | {fmt(a['cpu_s'])} | "
                     f"{fmt(a['rss_mb'], 0)} | {srv} | {fid} |")
    return "\n".join(lines)


def targets(results):
    """The issue's targets, checked on the medians."""
    lan = results["medians"].get("lan", {})
    wan = results["medians"].get("wan", {})
    out = []

    def check(name, value, limit, what, le=True):
        if value is None:
            out.append({"target": name, "status": "not measured", "detail": what})
            return
        met = value <= limit if le else value >= limit
        out.append({"target": name, "status": "met" if met else "missed",
                    "value": round(value, 3), "limit": limit, "detail": what})

    def w(d, t, key="wall_s"):
        return d.get(t, {}).get(key)

    mi, ml = w(lan, "mailferry-imap"), w(lan, "mailferry-local")
    check("IMAP->IMAP wall <= 0.6x mbsync", ratio(mi, w(lan, "mbsync-imap")), 0.6,
          "mailferry-imap / mbsync-imap wall time")
    check("IMAP->IMAP wall <= 1.15x raw MULTIAPPEND", ratio(mi, w(lan, "ref-append")), 1.15,
          "mailferry-imap / ref-append wall time")
    check("IMAP->local <= 0.6x mbsync into Maildir", ratio(ml, w(lan, "mbsync-maildir")), 0.6,
          "mailferry-local / mbsync-maildir wall time")
    check("no-op IMAP->IMAP no slower than mbsync",
          ratio(w(lan, "mailferry-imap", "noop_wall_s"), w(lan, "mbsync-imap", "noop_wall_s")),
          1.0, "no-op wall time ratio")
    check("no-op IMAP->local no slower than mbsync",
          ratio(w(lan, "mailferry-local", "noop_wall_s"),
                w(lan, "mbsync-maildir", "noop_wall_s")), 1.0, "no-op wall time ratio")
    rss = [a.get("rss_mb_max") for d in (lan, wan) for t, a in d.items()
           if t.startswith("mailferry")]
    check("peak RSS <= 32 MB", max(rss) if rss else None, 32.0,
          "largest peak RSS of any mailferry run, no-op runs included (MB)")
    sp = ratio(w(wan, "mbsync-imap"), w(wan, "mailferry-imap"))
    check("WAN >= 3x faster than mbsync", sp, 3.0, "mbsync-imap / mailferry-imap wall time, WAN",
          le=False)
    fid = [a.get("fidelity_ok") for d in (lan, wan) for t, a in d.items()
           if t.startswith("mailferry")]
    if fid:
        out.append({"target": "100% fidelity in every mailferry run",
                    "status": "met" if all(f is True for f in fid) else "missed",
                    "detail": "verify.compare OK in every checked mailferry run"})
    else:
        out.append({"target": "100% fidelity in every mailferry run", "status": "not measured"})
    return out


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1)) // 1024
    except (OSError, AttributeError):
        pass

    def version(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except Exception:  # noqa: BLE001
            return None
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        git = head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        git = None
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_mb": mem, "kernel": platform.release(),
            "git": git,
            "dovecot": version(["dovecot", "--version"]),
            "mbsync": version(["mbsync", "--version"]),
            "offlineimap": version(["offlineimap", "--version"]),
            "loadavg_start": os.getloadavg()}


def default_work():
    """/dev/shm (tmpfs) when it has room: the servers' and tools' files then
    never wait for a disk that other work on the machine shares (fsync is
    free there, for every tool alike); else /var/tmp."""
    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize > 6 << 30:
            return "/dev/shm/mailferry-bench"
    except OSError:
        pass
    return "/var/tmp/mailferry-bench"


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def env_str(name, default):
    v = os.environ.get(name, "")
    return v.strip() if v.strip() else default


def parse_args():
    ap = argparse.ArgumentParser(description="mailferry vs mbsync vs offlineimap")
    ap.add_argument("--build", default=env_str("BENCH_BUILD", "build"))
    ap.add_argument("--messages", type=int, default=env_int("BENCH_MESSAGES", 10000))
    ap.add_argument("--runs", type=int, default=env_int("BENCH_RUNS", 3))
    ap.add_argument("--wan-runs", type=int, default=env_int("BENCH_WAN_RUNS", 3))
    ap.add_argument("--offlineimap-runs", type=int, default=env_int("BENCH_OFFLINEIMAP_RUNS", 1),
                    help="rounds in which offlineimap runs (it is ten times slower)")
    ap.add_argument("--tools", default=env_str("BENCH_TOOLS", ",".join(ALL_TOOLS)))
    ap.add_argument("--wan-tools", default=env_str("BENCH_WAN_TOOLS", ",".join(DEFAULT_WAN_TOOLS)))
    ap.add_argument("--delay-ms", type=int, default=env_int("BENCH_DELAY_MS", 20))
    ap.add_argument("--seed", type=int, default=env_int("BENCH_SEED", corpus.DEFAULT_SEED))
    ap.add_argument("--cache", default=env_str("BENCH_CACHE", "/var/cache/mailferry-bench"))
    ap.add_argument("--work", default=env_str("BENCH_WORK", default_work()))
    ap.add_argument("--results", default=env_str("BENCH_RESULTS", os.path.join(HERE, "results")))
    ap.add_argument("--timeout", type=int, default=env_int("BENCH_TIMEOUT", 1800))
    ap.add_argument("--keep", action="store_true", default=env_int("BENCH_KEEP", 0) == 1)
    ap.add_argument("--no-verify", dest="verify", action="store_false",
                    default=env_int("BENCH_VERIFY", 1) == 1)
    a = ap.parse_args()
    for attr in ("tools", "wan_tools"):
        names = [t.strip() for t in getattr(a, attr).split(",") if t.strip()]
        bad = [t for t in names if t not in TOOL_CLASSES]
        if bad:
            ap.error(f"unknown tool(s) {bad}; known: {', '.join(ALL_TOOLS)}")
        setattr(a, attr, names)
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    return a


def main():
    args = parse_args()
    ctx = Context(args)
    started = dt.datetime.now(dt.timezone.utc)
    t_start = time.monotonic()
    ctx.info = corpus.ensure(args.cache, args.messages, args.seed, log=log)
    log(f"corpus: {ctx.info['messages']} messages, {ctx.info['bytes'] / 1e6:.0f} MB "
        f"({ctx.info['path']})")
    os.makedirs(args.work, exist_ok=True)
    os.chmod(args.work, 0o755)
    ctx.work = tempfile.mkdtemp(prefix=started.strftime("%Y%m%d-%H%M%S-"), dir=args.work)
    os.chmod(ctx.work, 0o755)

    tools = {n: TOOL_CLASSES[n](ctx) for n in ALL_TOOLS
             if n in args.tools or (args.wan_runs and n in args.wan_tools)}
    unavailable = {}
    for n, t in tools.items():
        ok, why = t.available()
        if not ok:
            unavailable[n] = why
            log(f"{n}: not available: {why}")

    results = {"started": started.isoformat(timespec="seconds"), "machine": machine(),
               "params": {"messages": args.messages, "bytes": None, "seed": args.seed,
                          "runs": args.runs, "wan_runs": args.wan_runs,
                          "offlineimap_runs": args.offlineimap_runs,
                          "delay_ms_each_way": args.delay_ms, "tools": args.tools,
                          "wan_tools": args.wan_tools, "verify": args.verify,
                          "command": " ".join(sys.argv)},
               "corpus": {k: v for k, v in ctx.info.items() if k not in ("maildir", "manifest")},
               "unavailable": unavailable, "runs": [], "medians": {}}
    results["params"]["bytes"] = ctx.info["bytes"]
    src_proxy = None
    try:
        log("source: starting Dovecot and loading the corpus")
        ctx.source = start_source(ctx.work, ctx.info)
        if os.access(ctx.bin("ref-fetch"), os.X_OK):
            log("source: warm-up read")
            run_measured([ctx.bin("ref-fetch"), "127.0.0.1", str(ctx.source.plain_port), USER,
                          PASSWORD])
        if args.verify:
            log("source: checker snapshot")
            conn = ctx.source.login(USER, PASSWORD)
            ctx.src_snapshot = verify.snapshot(conn)
            conn.logout()
        scenarios = [("lan", args.runs, args.tools, 0)]
        if args.wan_runs > 0:
            scenarios.append(("wan", args.wan_runs, args.wan_tools, args.delay_ms))
        for scenario, runs, names, delay in scenarios:
            names = [n for n in names if n not in unavailable]
            src_port = ctx.source.plain_port
            if delay:
                src_proxy = DelayProxy(ctx.bin("delayproxy"), src_port, delay)
                src_port = src_proxy.port
            for rnd in range(1, runs + 1):
                k = (rnd - 1) % len(names) if names else 0
                order = names[k:] + names[:k]
                log(f"{scenario} round {rnd}/{runs}: {', '.join(order)}")
                for n in order:
                    if n == "offlineimap" and rnd > args.offlineimap_runs:
                        continue
                    rec = one_run(ctx, tools[n], scenario, rnd, src_port, delay)
                    results["runs"].append(rec)
                    log(f"  {n}: {describe(rec)}")
            if src_proxy:
                src_proxy.stop()
                src_proxy = None
            results["medians"][scenario] = aggregate(
                [r for r in results["runs"] if r["scenario"] == scenario], names)
    finally:
        if src_proxy:
            src_proxy.stop()
        if ctx.source:
            ctx.source.stop()
        if not args.keep:
            shutil.rmtree(ctx.work, ignore_errors=True)

    results["targets"] = targets(results)
    results["elapsed_s"] = round(time.monotonic() - t_start, 1)
    results["machine"]["loadavg_end"] = os.getloadavg()
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, f"bench-{started.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)

    m = results["machine"]
    print(f"\nmailferry bench: {ctx.info['messages']} messages, {ctx.info['bytes'] / 1e6:.0f} MB, "
          f"seed {args.seed}; medians of {args.runs} LAN run(s)"
          + (f" and {args.wan_runs} WAN run(s) (+{args.delay_ms} ms each way)"
             if args.wan_runs else "")
          + f"\nmachine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_mb']} MB RAM; "
          f"elapsed {results['elapsed_s']:.0f} s\n")
    print(table("LAN (loopback)", results["medians"].get("lan", {}),
                [t for t in ALL_TOOLS if t in args.tools], unavailable))
    if args.wan_runs:
        print()
        print(table(f"WAN (+{args.delay_ms} ms each way)", results["medians"].get("wan", {}),
                    [t for t in ALL_TOOLS if t in args.wan_tools], unavailable))
    print("\nx mf: ratio to mailferry's median (IMAP->IMAP rows and references: mailferry "
          "IMAP->IMAP; Maildir rows: mailferry IMAP->local). Lower is faster.\n")
    print("Targets (issue 6):")
    for t in results["targets"]:
        v = f" {t['value']}" if "value" in t else ""
        lim = f" (limit {t['limit']})" if "limit" in t else ""
        print(f"  [{t['status']}] {t['target']}:{v}{lim}")
    print(f"\nresults: {path}")
    failed = [r for r in results["runs"] if r.get("error") or
              (r.get("initial") and r["initial"]["rc"] != 0)]
    return 1 if failed and not any(r.get("initial", {}).get("rc") == 0
                                   for r in results["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
