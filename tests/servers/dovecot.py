"""A throwaway Dovecot 2.3 instance for tests, on 127.0.0.1 only.

    d = Dovecot(directory, tls_mode="both", cert="good")
    d.start()               # returns once the listeners greet
    d.plain_port            # 143-style listener (STARTTLS offered when TLS is on)
    d.tls_port              # 993-style implicit TLS listener (None without TLS)
    d.add_message("alice", "INBOX", b"Subject: x\\r\\n\\r\\nbody\\r\\n", flags=("\\\\Seen",))
    d.stop()

tls_mode: "none" (no TLS at all: plain listener, no STARTTLS), "starttls"
(plain listener offering STARTTLS), "tls" (implicit TLS listener only), "both"
(plain + STARTTLS and implicit TLS). cert: good, expired, wronghost,
selfsigned (see certs.py); the certificates are generated into
<directory>/certs unless a certs directory is given.

Users (passwd-file, plaintext scheme): alice/alicepw, bob/bobpw and the
administrator master/masterpw, who also logs in as himself. master may open
any user's mailbox as "alice*master" or with AUTHENTICATE PLAIN
authzid=alice authcid=master.

Everything lives under the instance directory (it must be world-traversable,
never under /root): config, passwd files, certs, run/ (base_dir), state/,
log/, mail/<user>/Maildir (owned by nobody).

Command line, from the repository root (used by scripts/demo.sh):
    /usr/bin/python3 -m tests.servers.dovecot start DIR [--tls-mode MODE] [--cert KIND]
        starts a supervisor in the background (its own session) that runs
        Dovecot and stops it on SIGTERM; prints the instance as JSON
        (ports, users, CA bundle; also in DIR/instance.json)
    /usr/bin/python3 -m tests.servers.dovecot stop DIR
    /usr/bin/python3 -m tests.servers.dovecot run DIR ...   (the same, in the foreground)

Stopping signals the whole process group (master and children, SIGTERM, then
SIGKILL after 4 s) and waits until none is left. Processes orphaned by the
master are adopted and reaped (PR_SET_CHILD_SUBREAPER), as PID 1 in some VMs
does not reap them. The auth penalty is disabled (no anvil-auth-penalty
socket), so a test of a wrong password does not slow later logins.
"""

import argparse
import json
import os
import pwd
import grp
import hashlib
import signal
import socket
import ssl
import subprocess
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from tests.servers import certs as certs_mod  # noqa: E402
else:
    from . import certs as certs_mod

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"

DEFAULT_USERS = {"alice": "alicepw", "bob": "bobpw"}
MASTER_USER = "master"
MASTER_PASSWORD = "masterpw"
# An extra user (not in DEFAULT_USERS) whose password is long and distinctive,
# for tests that search output for a password in every encoding.
CAROL_PASSWORD = "C4rol-Secr3t-Passw0rd-7f3a9"
TLS_MODES = ("none", "starttls", "tls", "both")

_FLAG_LETTERS = {"\\draft": "D", "\\flagged": "F", "\\answered": "R", "\\seen": "S",
                 "\\deleted": "T"}


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mutf7_encode(name):
    """IMAP modified UTF-7 (RFC 3501 5.1.3) of a mailbox name."""
    out = []
    buf = []

    def flush():
        if buf:
            import base64
            data = "".join(buf).encode("utf-16-be")
            b = base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",")
            out.append("&" + b + "-")
            buf.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


class DovecotError(RuntimeError):
    pass


class Dovecot:
    def __init__(self, directory, tls_mode="both", cert="good", users=None,
                 master=(MASTER_USER, MASTER_PASSWORD), certs_dir=None,
                 auth_failure_delay=0):
        if tls_mode not in TLS_MODES:
            raise ValueError(f"tls_mode must be one of {TLS_MODES}")
        if cert not in certs_mod.KINDS:
            raise ValueError(f"cert must be one of {certs_mod.KINDS}")
        self.directory = os.path.abspath(directory)
        if self.directory == "/root" or self.directory.startswith("/root/"):
            raise DovecotError("a Dovecot test instance cannot live under /root "
                               "(the dovecot user cannot traverse it)")
        self.tls_mode = tls_mode
        self.cert = cert
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.master_user, self.master_password = master if master else (None, None)
        self.certs_dir = certs_dir
        self.certs = None
        self.auth_failure_delay = auth_failure_delay
        self.plain_port = None
        self.tls_port = None
        self.proc = None
        self.config = os.path.join(self.directory, "dovecot.conf")
        self.log_file = os.path.join(self.directory, "log", "dovecot.log")
        self._uid = pwd.getpwnam("nobody").pw_uid
        self._gid = grp.getgrnam("nogroup").gr_gid
        self._seq = 0

    # ---- paths ---------------------------------------------------------

    @property
    def has_tls(self):
        return self.tls_mode != "none"

    @property
    def host(self):
        return "127.0.0.1"

    def home(self, user):
        return os.path.join(self.directory, "mail", user)

    def maildir(self, user):
        return os.path.join(self.home(user), "Maildir")

    def all_logins(self):
        """Every account that can log in, with its password."""
        d = dict(self.users)
        if self.master_user:
            d[self.master_user] = self.master_password
        return d

    # ---- setup ---------------------------------------------------------

    def _mkdir(self, path, mode=0o755):
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)

    def _write(self, path, text, mode=0o644):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    def _chown_tree(self, path):
        for root, dirs, files in os.walk(path):
            os.chown(root, self._uid, self._gid)
            for n in files:
                os.chown(os.path.join(root, n), self._uid, self._gid)

    def _prepare(self):
        # The instance directory and every parent must be traversable by the
        # dovecot and nobody users.
        self._mkdir(self.directory)
        p = os.path.dirname(self.directory)
        while p and p != "/":
            st = os.stat(p)
            if not st.st_mode & 0o001:
                raise DovecotError(f"{p} is not world-traversable (mode {st.st_mode & 0o777:o}); "
                                   "Dovecot's unprivileged processes cannot reach the instance")
            p = os.path.dirname(p)
        for sub in ("state", "log"):
            self._mkdir(os.path.join(self.directory, sub))
        self._mkdir(os.path.join(self.directory, "mail"))
        for user in self.all_logins():
            home = self.home(user)
            self._mkdir(home, 0o700)
            self._chown_tree(home)

        if self.has_tls:
            if self.certs_dir:
                self.certs = certs_mod.load_certs(self.certs_dir)
                if not os.path.exists(self.certs.ca_bundle):
                    self.certs = certs_mod.make_certs(self.certs_dir)
            else:
                self.certs = certs_mod.make_certs(os.path.join(self.directory, "certs"))

        users = "".join(f"{u}:{{PLAIN}}{pw}::::::\n" for u, pw in self.all_logins().items())
        self._write(os.path.join(self.directory, "users.passwd"), users)
        master = (f"{self.master_user}:{{PLAIN}}{self.master_password}::::::\n"
                  if self.master_user else "")
        self._write(os.path.join(self.directory, "master.passwd"), master)

    def _config_text(self):
        d = self.directory
        name = "mftest-" + hashlib.sha1(d.encode()).hexdigest()[:10]
        lines = [
            "# Generated by tests/servers/dovecot.py: a throwaway test instance.",
            f"instance_name = {name}",
            f"base_dir = {d}/run",
            f"state_dir = {d}/state",
            f"log_path = {d}/log/dovecot.log",
            f"info_log_path = {d}/log/dovecot.log",
            f"debug_log_path = {d}/log/dovecot.log",
            "listen = 127.0.0.1",
            "protocols = imap",
            "shutdown_clients = yes",
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login",
            "auth_master_user_separator = *",
            f"auth_failure_delay = {self.auth_failure_delay} secs",
            "auth_cache_size = 0",
            "mail_uid = nobody",
            "mail_gid = nogroup",
            "first_valid_uid = 1",
            "first_valid_gid = 1",
            "mail_location = maildir:~/Maildir",
            "mail_max_userip_connections = 100",
            "login_greeting = Dovecot test server ready.",
            "namespace inbox {",
            "  inbox = yes",
            "  separator = /",
            "  mailbox Drafts {\n    special_use = \\Drafts\n  }",
            "  mailbox Sent {\n    special_use = \\Sent\n  }",
            "  mailbox Trash {\n    special_use = \\Trash\n  }",
            "  mailbox Junk {\n    special_use = \\Junk\n  }",
            "}",
        ]
        if self.has_tls:
            lines += [
                "ssl = yes",
                f"ssl_cert = <{self.certs.cert(self.cert)}",
                f"ssl_key = <{self.certs.key(self.cert)}",
                "ssl_min_protocol = TLSv1.2",
            ]
        else:
            lines.append("ssl = no")
        if self.master_user:
            lines += [
                "passdb {",
                "  driver = passwd-file",
                f"  args = scheme=PLAIN username_format=%u {d}/master.passwd",
                "  master = yes",
                "  pass = yes",
                "}",
            ]
        lines += [
            "passdb {",
            "  driver = passwd-file",
            f"  args = scheme=PLAIN username_format=%u {d}/users.passwd",
            "}",
            "userdb {",
            "  driver = static",
            f"  args = uid=nobody gid=nogroup home={d}/mail/%u",
            "}",
            "service imap-login {",
        ]
        plain = self.tls_mode in ("none", "starttls", "both")
        implicit = self.tls_mode in ("tls", "both")
        lines += [
            "  inet_listener imap {",
            "    address = 127.0.0.1",
            f"    port = {self.plain_port if plain else 0}",
            "  }",
            "  inet_listener imaps {",
            "    address = 127.0.0.1",
            f"    port = {self.tls_port if implicit else 0}",
            "    ssl = yes",
            "  }",
            "}",
            # No other network listeners.
            "service doveadm {\n  inet_listener {\n    port = 0\n  }\n}",
            # Without this socket the auth process runs no failure penalty
            # (which would delay every later login from 127.0.0.1 by seconds
            # after a test of a wrong password).
            "service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}",
        ]
        return "\n".join(lines) + "\n"

    # ---- start / stop --------------------------------------------------

    def start(self, timeout=15):
        self._prepare()
        for attempt in range(5):
            plain = self.tls_mode in ("none", "starttls", "both")
            implicit = self.tls_mode in ("tls", "both")
            self.plain_port = free_port() if plain else None
            self.tls_port = free_port() if implicit else None
            while self.tls_port is not None and self.tls_port == self.plain_port:
                self.tls_port = free_port()
            self._write(self.config, self._config_text())
            become_subreaper()
            out = open(os.path.join(self.directory, "log", "master.out"), "ab")
            self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.config],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True, close_fds=True)
            out.close()
            self._write(os.path.join(self.directory, "master.pgid"), f"{self.proc.pid}\n")
            try:
                self._wait_ready(timeout)
                self._write_state()
                return self
            except DovecotError:
                log = self.log_tail()
                self._kill()
                if "Address already in use" in log and attempt < 4:
                    continue
                raise
        raise DovecotError("could not start Dovecot")

    def _ports(self):
        return [p for p in (self.plain_port, self.tls_port) if p]

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        pending = self._ports()
        while pending:
            if self.proc.poll() is not None:
                raise DovecotError(f"dovecot exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            port = pending[0]
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if port == self.tls_port:
                        ctx = ssl.create_default_context()
                        ctx.check_hostname = False
                        ctx.verify_mode = ssl.CERT_NONE
                        s = ctx.wrap_socket(s)
                    s.settimeout(2)
                    data = s.recv(512)
                    if data.startswith(b"* OK"):
                        pending.pop(0)
                        continue
            except (OSError, ssl.SSLError):
                pass
            if time.monotonic() > deadline:
                raise DovecotError(f"dovecot did not answer on {port} within {timeout} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, n=40):
        text = ""
        for name in ("master.out", "dovecot.log"):
            try:
                with open(os.path.join(self.directory, "log", name), errors="replace") as f:
                    text += "".join(f.readlines()[-n:])
            except OSError:
                pass
        return text

    def _write_state(self):
        self._write(os.path.join(self.directory, "instance.json"), json.dumps(self.info(), indent=2))

    def info(self):
        return {
            "directory": self.directory,
            "config": self.config,
            "host": self.host,
            "plain_port": self.plain_port,
            "tls_port": self.tls_port,
            "tls_mode": self.tls_mode,
            "cert": self.cert if self.has_tls else None,
            "ca_bundle": self.certs.ca_bundle if self.certs else None,
            "users": self.users,
            "master_user": self.master_user,
            "master_password": self.master_password,
            "pid": self.proc.pid if self.proc else None,
            "users_with_master": self.all_logins(),
            "log": self.log_file,
        }

    def _kill(self):
        if self.proc is None:
            return
        _stop_pgid(self.proc.pid, self.config, wait=self.proc)
        self.proc = None

    def begin_stop(self):
        """Signal the instance to stop without waiting (see stop_all)."""
        if self.proc is not None:
            _signal_group(self.proc.pid, signal.SIGTERM)

    def stop(self):
        """Stop the instance: SIGTERM to the master and its children (what
        `dovecot stop` sends the master), SIGKILL if they are still there
        after 4 s; returns when no process of the instance is left."""
        self._kill()

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.stop()

    # ---- mail ----------------------------------------------------------

    def doveadm(self, *args, check=True):
        return subprocess.run([DOVEADM, "-c", self.config, *args], capture_output=True,
                              text=True, check=check, timeout=60)

    def _folder_dir(self, user, folder):
        root = self.maildir(user)
        if folder.upper() == "INBOX":
            return root
        parts = folder.split("/")
        return os.path.join(root, "." + ".".join(mutf7_encode(p) for p in parts))

    def _ensure_maildir(self, path, is_folder):
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        if is_folder:
            marker = os.path.join(path, "maildirfolder")
            if not os.path.exists(marker):
                open(marker, "w").close()

    def _keyword_letters(self, fdir, keywords):
        """Letters for keywords, recorded in the folder's own
        dovecot-keywords (Maildir++ keeps one per folder)."""
        if not keywords:
            return ""
        path = os.path.join(fdir, "dovecot-keywords")
        known = []
        try:
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2:
                        known.append(parts[1])
        except FileNotFoundError:
            pass
        letters = ""
        for kw in keywords:
            if kw not in known:
                if len(known) >= 26:
                    raise ValueError("at most 26 keywords per mailbox")
                known.append(kw)
            letters += chr(ord("a") + known.index(kw))
        with open(path, "w") as f:
            f.write("".join(f"{i} {k}\n" for i, k in enumerate(known)))
        os.chown(path, self._uid, self._gid)
        return letters

    def add_message(self, user, folder, data, flags=(), internaldate=None, resync=True):
        """Store one message (bytes) in user's folder ("INBOX", "A/B") with
        the given flags ("\\Seen", ... and keywords) and INTERNALDATE (unix time
        or datetime; default now). Then force-resync, unless resync=False (call
        resync(user) after a batch)."""
        if isinstance(data, str):
            data = data.encode()
        if internaldate is None:
            internaldate = time.time()
        elif hasattr(internaldate, "timestamp"):
            internaldate = internaldate.timestamp()
        system = ""
        keywords = []
        for f in flags:
            letter = _FLAG_LETTERS.get(f.lower())
            if letter:
                system += letter
            elif f.startswith("\\"):
                raise ValueError(f"unsupported system flag {f}")
            else:
                keywords.append(f)
        home = self.home(user)
        os.makedirs(home, exist_ok=True)
        root = self.maildir(user)
        self._ensure_maildir(root, False)
        fdir = self._folder_dir(user, folder)
        self._ensure_maildir(fdir, fdir != root)
        letters = "".join(sorted(system + self._keyword_letters(fdir, keywords)))
        self._seq += 1
        base = f"{int(internaldate)}.M{self._seq}P{os.getpid()}.mailferry-test,S={len(data)}"
        tmp = os.path.join(fdir, "tmp", base)
        with open(tmp, "wb") as f:
            f.write(data)
        os.utime(tmp, (internaldate, internaldate))
        final = os.path.join(fdir, "cur", f"{base}:2,{letters}")
        os.rename(tmp, final)
        self._chown_tree(home)
        if resync:
            self.resync(user)
        return final

    def resync(self, user):
        self.doveadm("force-resync", "-u", user, "*")


def stop_all(instances):
    """Stop several instances in parallel."""
    for d in instances:
        d.begin_stop()
    for d in instances:
        d.stop()


# ---- process clean-up ----------------------------------------------------

def become_subreaper():
    """Make this process adopt its orphaned descendants (PR_SET_CHILD_SUBREAPER),
    so that Dovecot's children, orphaned when the master exits, are reaped here
    and not left as zombies where PID 1 does not reap (as in some VMs)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _procs():
    """(pid, ppid, pgid, state) of every process."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out.append((int(entry), int(fields[1]), int(fields[2]), fields[0]))
    return out


def _alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def reap_orphans(pgid=None, skip=()):
    """Collect our zombie children (of process group pgid, or all)."""
    me = os.getpid()
    for pid, ppid, group, state in _procs():
        if ppid == me and state == "Z" and pid not in skip and (pgid is None or group == pgid):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def _group_alive(pgid, skip=()):
    """True while a process of the group exists (zombies do not count; those
    that are our children are reaped)."""
    reap_orphans(pgid, skip)
    return any(group == pgid and state != "Z" for _, _, group, state in _procs())


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_pgid(pgid, config, wait=None, timeout=8):
    """Stop the Dovecot whose master is pgid (a session leader).

    `dovecot -c FILE stop` signals the master and waits up to 3 s for it,
    after which its children may linger for seconds more; signalling the
    whole group at once (master and children, SIGTERM: their clean shutdown)
    takes about a second. SIGKILL after timeout/2 s of waiting; with
    config=None and the group already gone nothing is sent."""
    skip = (wait.pid,) if wait is not None else ()
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    killed = False
    while _group_alive(pgid, skip):
        if wait is not None:
            try:
                wait.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
        else:
            time.sleep(0.05)
        now = time.monotonic()
        if not killed and now > deadline - timeout / 2:
            killed = True
            _signal_group(pgid, signal.SIGKILL)
        if now > deadline:
            break
    if wait is not None:
        try:
            wait.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    reap_orphans(pgid)
    return not _group_alive(pgid)


def _read_int(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def stop_directory(directory, timeout=20):
    """Stop the instance started by `start DIR`: end its supervisor, and
    make sure no process of the Dovecot group is left."""
    directory = os.path.abspath(directory)
    config = os.path.join(directory, "dovecot.conf")
    sup = _read_int(os.path.join(directory, "supervisor.pid"))
    pgid = _read_int(os.path.join(directory, "master.pgid"))
    if sup is None and pgid is None:
        return False
    if sup is not None and _alive(sup):
        try:
            os.kill(sup, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while _alive(sup) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(sup):
            os.kill(sup, signal.SIGKILL)
    if sup is not None:
        # When we are its (sub)reaper, collect it.
        try:
            os.waitpid(sup, os.WNOHANG)
        except ChildProcessError:
            pass
    if pgid is not None:
        _stop_pgid(pgid, config)
    for name in ("supervisor.pid", "master.pgid"):
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass
    return True


def _repo_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_foreground(args):
    """`run`: start Dovecot, print its JSON on one line, and stay until
    SIGTERM/SIGINT/SIGHUP (or until Dovecot dies); then stop it."""
    become_subreaper()
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    d = Dovecot(args.dir, tls_mode=args.tls_mode, cert=args.cert, certs_dir=args.certs_dir)
    try:
        d.start()
    except DovecotError as e:
        print(f"dovecot: {e}", file=sys.stderr)
        return 1
    with open(os.path.join(d.directory, "supervisor.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")
    print(json.dumps(d.info()), flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        while not stopping and d.proc.poll() is None:
            time.sleep(0.2)
            reap_orphans(skip=(d.proc.pid,))
    finally:
        d.stop()
        reap_orphans()
    return 0


def _start_background(args):
    """`start`: run `run` detached (own session), print its JSON, return."""
    directory = os.path.abspath(args.dir)
    os.makedirs(os.path.join(directory, "log"), exist_ok=True)
    os.chmod(directory, 0o755)
    cmd = [sys.executable, "-m", "tests.servers.dovecot", "run", directory,
           "--tls-mode", args.tls_mode, "--cert", args.cert]
    if args.certs_dir:
        cmd += ["--certs-dir", args.certs_dir]
    errpath = os.path.join(directory, "log", "supervisor.err")
    with open(errpath, "ab") as err:
        p = subprocess.Popen(cmd, cwd=_repo_root(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=err, start_new_session=True)
    line = p.stdout.readline()
    p.stdout.close()
    if not line.strip():
        p.wait(timeout=30)
        with open(errpath, errors="replace") as f:
            sys.stderr.write(f.read())
        return 1
    print(json.dumps(json.loads(line), indent=2))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m tests.servers.dovecot",
                                 description="Start or stop a throwaway Dovecot test instance.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, text in (("start", "start an instance in DIR in the background; print JSON"),
                       ("run", "run an instance in DIR in the foreground until a signal")):
        s = sub.add_parser(name, help=text)
        s.add_argument("dir")
        s.add_argument("--tls-mode", choices=TLS_MODES, default="both")
        s.add_argument("--cert", choices=certs_mod.KINDS, default="good")
        s.add_argument("--certs-dir", help="reuse (or create) the certificates in this directory")
    t = sub.add_parser("stop", help="stop the instance in DIR")
    t.add_argument("dir")
    args = ap.parse_args(argv)
    if args.cmd == "start":
        return _start_background(args)
    if args.cmd == "run":
        return _run_foreground(args)
    if not stop_directory(args.dir):
        print(f"dovecot: no instance recorded in {args.dir}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
