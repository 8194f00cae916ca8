"""A throwaway Cyrus IMAP 3.6 server for tests, on 127.0.0.1 only.

Debian's cyrus-imapd conflicts with dovecot-imapd, so the binaries are not
installed: tests/servers/cyrus-fetch.sh unpacks cyrus-common and cyrus-imapd
into a private prefix (default /var/cache/mailferry-test/cyrus, or
$MAILFERRY_CYRUS_PREFIX), and this module runs them from there with their own
imapd.conf and cyrus.conf. start() runs the fetch script itself when the
prefix is missing.

    c = CyrusServer()
    ports = c.start(directory)        # {"imap": N, "imaps": M or None}
    c.add_message("alice", "INBOX", b"Subject: x\\r\\n\\r\\nbody\\r\\n", flags=("\\\\Seen",))
    c.create_folder("alice", "Archive/2024")
    c.stop()                          # no process left behind

Users are SASL users in <dir>/sasldb2 (auxprop sasldb, realm "localhost"):
alice/alicepw and bob/bobpw by default, plus the administrator admin/adminpw
(listed in `admins:` and `proxyservers:`, so it may also log in as any user
with AUTHENTICATE PLAIN authzid=alice authcid=admin). Every user's INBOX is
created at start; LOGIN and AUTHENTICATE PLAIN are allowed without TLS.

Namespace: Cyrus 3.6 defaults, i.e. unixhierarchysep (separator "/") and
altnamespace (a user's folders sit beside INBOX: "Sent", "Archive/2024"); the
administrator sees them as "user/alice", "user/alice/Sent". Both can be turned
off with start(..., unixhierarchysep=False, altnamespace=False) for the
traditional "INBOX.Sent" / "user.alice.Sent" layout.

With tls_cert (a PEM file; its key is tls_key, or <cert>.key beside it, or the
same file), the plain port offers STARTTLS and an implicit-TLS port is opened.

The processes (cyrmaster and its imapd children) run as nobody:nogroup
(`cyrus_user: nobody`), so the instance directory and its parents must be
world-traversable. Differences from Cyrus' defaults: failedloginpause is 0
(not 3 s); override with extra_conf. Note that Cyrus turns 8-bit bytes in
APPENDed headers into "X" (munge8bit) unless extra_conf={"munge8bit": "no"}.
Cyrus logs only to syslog: master runs in a private mount
namespace whose /dev/log leads to <dir>/syslog.sock, which a small reader
copies to <dir>/log/syslog.log (see log_tail()).

Command line:
    /usr/bin/python3 -m tests.servers.cyrus start DIR [--tls-cert PEM [--tls-key KEY]]
    /usr/bin/python3 -m tests.servers.cyrus stop DIR
"""

import argparse
import base64
import glob
import grp
import imaplib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FETCH_SCRIPT = os.path.join(HERE, "cyrus-fetch.sh")
DEFAULT_PREFIX = "/var/cache/mailferry-test/cyrus"
DEFAULT_USERS = {"alice": "alicepw", "bob": "bobpw"}
DEFAULT_ADMIN = ("admin", "adminpw")
RUN_USER, RUN_GROUP = "nobody", "nogroup"
SERVERNAME = "localhost"  # also the SASL realm of the users
HOST = "127.0.0.1"
STATE_FILE = "instance.json"

# Started in a private mount namespace: /dev is replaced by a tmpfs of
# symlinks to the real nodes plus /dev/log -> the instance's syslog socket.
_NS_SCRIPT = r"""
set -e
hostdev=$1; logsock=$2; shift 2
mount --rbind /dev "$hostdev"
mount -t tmpfs -o mode=0755,size=64k mf-cyrus-dev /dev
for n in "$hostdev"/*; do ln -s "$n" /dev/; done
ln -s "$logsock" /dev/log
exec "$@"
"""

# Receives syslog datagrams on ./syslog.sock (relative: no sun_path limit)
# and appends them, one per line, to the file named by argv[1].
_SYSLOG_READER = r"""
import os, re, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    os.unlink("syslog.sock")
except FileNotFoundError:
    pass
s.bind("syslog.sock")
os.chmod("syslog.sock", 0o666)
with open(sys.argv[1], "ab", buffering=0) as f:
    while True:
        d = s.recv(65536)
        f.write(re.sub(rb"^<\d+>", b"", d).rstrip(b"\n") + b"\n")
"""


class CyrusError(RuntimeError):
    pass


# ---- helpers --------------------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def mutf7_encode(name):
    """IMAP modified UTF-7 (RFC 3501 5.1.3) of a mailbox name."""
    out, buf = [], []

    def flush():
        if buf:
            b = base64.b64encode("".join(buf).encode("utf-16-be")).decode("ascii")
            out.append("&" + b.rstrip("=").replace("/", ",") + "-")
            buf.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def imap_quote(s):
    """A quoted IMAP string (mailbox names are modified-UTF-7 encoded first)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def prefix_path(prefix=None):
    return prefix or os.environ.get("MAILFERRY_CYRUS_PREFIX") or DEFAULT_PREFIX


def ensure_installed(prefix=None):
    """The prefix holding the unpacked Cyrus; runs cyrus-fetch.sh if needed."""
    prefix = prefix_path(prefix)
    if not (os.path.exists(os.path.join(prefix, ".complete"))
            and os.access(os.path.join(prefix, "usr/lib/cyrus/bin/imapd"), os.X_OK)):
        r = subprocess.run(["sh", FETCH_SCRIPT, prefix], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise CyrusError(f"{FETCH_SCRIPT} failed ({r.returncode}):\n{r.stderr}")
    return prefix


def _proc_stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _alive(pid):
    st = _proc_stat(pid)
    return st is not None and st[0] != "Z"


def _group_members(pgid):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _proc_stat(entry)
            if st and st[0] != "Z" and int(st[2]) == pgid:
                pids.append(int(entry))
    return pids


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _terminate_group(pgid, marker, proc=None, timeout=10):
    """SIGTERM the process group led by pgid (cyrmaster ends its children on
    SIGTERM), then SIGKILL whatever is left. marker must occur in the
    leader's command line (guards against a recycled pid)."""
    if not _group_members(pgid) or (marker not in _cmdline(pgid) and _alive(pgid)):
        if proc is not None:
            proc.poll()
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    killed = False
    while _group_members(pgid):
        if proc is not None:
            proc.poll()
        if time.monotonic() > deadline:
            if killed:
                raise CyrusError(f"processes {_group_members(pgid)} survive SIGKILL")
            killed = True
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 5
        time.sleep(0.02)
    if proc is not None:
        proc.wait()


# ---- the server -----------------------------------------------------------

class CyrusServer:
    def __init__(self, prefix=None):
        self.prefix = prefix_path(prefix)
        self.directory = None
        self.users = {}
        self.admin = DEFAULT_ADMIN
        self.plain_port = None
        self.tls_port = None
        self.unixhierarchysep = True
        self.altnamespace = True
        self.tls_cert = None
        self.tls_key = None
        self.start_seconds = None
        self._master = None   # Popen of cyrmaster (same pid via exec)
        self._reader = None   # Popen of the syslog reader
        self._master_pid = None
        self._reader_pid = None

    # ---- paths / naming ---------------------------------------------------

    @property
    def host(self):
        return HOST

    @property
    def sep(self):
        """Hierarchy separator."""
        return "/" if self.unixhierarchysep else "."

    def user_mailbox(self, user, folder="INBOX"):
        """The administrator's name for user's folder (in the user's view)."""
        base = f"user{self.sep}{user}"
        if folder.upper() == "INBOX":
            return base
        if not self.altnamespace:
            p = "INBOX" + self.sep
            if folder.upper().startswith(p):
                folder = folder[len(p):]
        return base + self.sep + folder

    def _p(self, *parts):
        return os.path.join(self.directory, *parts)

    @property
    def log_file(self):
        return self._p("log", "syslog.log")

    def _bin(self, name):
        return os.path.join(self.prefix, "usr/lib/cyrus/bin", name)

    def _libdir(self):
        found = glob.glob(os.path.join(self.prefix, "usr/lib/*/libcyrus.so.0"))
        if not found:
            raise CyrusError(f"no libcyrus.so.0 under {self.prefix}")
        return os.path.dirname(found[0])

    # ---- configuration ----------------------------------------------------

    def _imapd_conf(self, extra):
        d = self.directory
        yn = lambda b: "yes" if b else "no"  # noqa: E731
        conf = {
            "configdirectory": f"{d}/conf",
            "partition-default": f"{d}/spool",
            "defaultpartition": "default",
            "sievedir": f"{d}/sieve",
            "servername": SERVERNAME,
            "cyrus_user": RUN_USER,
            "cyrus_group": RUN_GROUP,
            "admins": self.admin[0],
            "proxyservers": self.admin[0],
            "allowplaintext": "yes",
            "sasl_pwcheck_method": "auxprop",
            "sasl_auxprop_plugin": "sasldb",
            "sasl_sasldb_path": f"{d}/sasldb2",
            "sasl_mech_list": "PLAIN LOGIN",
            "autocreate_quota": "0",
            "failedloginpause": "0",   # Cyrus' default: 3 s after each bad login
            "unixhierarchysep": yn(self.unixhierarchysep),
            "altnamespace": yn(self.altnamespace),
            "lmtpsocket": f"{d}/conf/socket/lmtp",
            "idlesocket": f"{d}/conf/socket/idle",
            "notifysocket": f"{d}/conf/socket/notify",
            "syslog_prefix": "mf-cyrus",
        }
        if self.tls_cert:
            conf["tls_server_cert"] = self.tls_cert
            conf["tls_server_key"] = self.tls_key
        conf.update(extra or {})
        return ("# Generated by tests/servers/cyrus.py: a throwaway test instance.\n"
                + "".join(f"{k}: {v}\n" for k, v in conf.items() if v is not None))

    def _cyrus_conf(self):
        c = self._p("imapd.conf")
        lines = [
            "# Generated by tests/servers/cyrus.py.",
            "START {",
            f'  recover cmd="{self._bin("ctl_cyrusdb")} -C {c} -r"',
            "}",
            "SERVICES {",
            f'  imap cmd="{self._bin("imapd")} -C {c}" listen="{HOST}:{self.plain_port}" '
            "prefork=1",
        ]
        if self.tls_port:
            lines.append(f'  imaps cmd="{self._bin("imapd")} -s -C {c}" '
                         f'listen="{HOST}:{self.tls_port}" prefork=0')
        lines += ["}", "EVENTS {", "}", "DAEMON {", "}"]
        return "\n".join(lines) + "\n"

    def _prepare(self, extra_conf):
        d = self.directory
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        p = os.path.dirname(d)
        while p and p != "/":
            st = os.stat(p)
            if not st.st_mode & 0o001:
                raise CyrusError(f"{p} is not world-traversable (mode {st.st_mode & 0o777:o}); "
                                 f"Cyrus, running as {RUN_USER}, cannot reach {d}")
            p = os.path.dirname(p)
        # A fresh instance each time.
        for sub in ("conf", "spool", "sieve", "log", "tls", "hostdev"):
            path = self._p(sub)
            if os.path.isdir(path) and not os.path.ismount(path):
                shutil.rmtree(path)
        for sub in ("sasldb2", "master.pid", "syslog.sock"):
            try:
                os.unlink(self._p(sub))
            except FileNotFoundError:
                pass
        for sub in ("conf", "conf/socket", "conf/proc", "conf/db", "conf/log", "spool",
                    "sieve", "log", "hostdev"):
            os.makedirs(self._p(sub), exist_ok=True)

        if self.tls_cert:
            os.makedirs(self._p("tls"))
            cert = self._p("tls", "server.pem")
            key = self._p("tls", "server.key")
            shutil.copyfile(self.tls_cert, cert)
            shutil.copyfile(self.tls_key, key)
            self.tls_cert, self.tls_key = cert, key

        logins = dict(self.users)
        logins[self.admin[0]] = self.admin[1]
        sasldb = self._p("sasldb2")
        for user, pw in logins.items():
            r = subprocess.run(["saslpasswd2", "-f", sasldb, "-u", SERVERNAME, "-c", "-p", user],
                               input=pw.encode(), capture_output=True)
            if r.returncode != 0:
                raise CyrusError(f"saslpasswd2 {user}: {r.stderr.decode(errors='replace')}")

        with open(self._p("imapd.conf"), "w") as f:
            f.write(self._imapd_conf(extra_conf))

        uid = pwd.getpwnam(RUN_USER).pw_uid
        gid = grp.getgrnam(RUN_GROUP).gr_gid
        for root, dirs, files in os.walk(d):
            if root == self._p("log") or root.startswith(self._p("hostdev")):
                continue
            os.chown(root, uid, gid)
            for n in files:
                os.chown(os.path.join(root, n), uid, gid)
        for sub in ("conf", "spool", "tls"):
            if os.path.isdir(self._p(sub)):
                os.chmod(self._p(sub), 0o750)

    # ---- start / stop -----------------------------------------------------

    def start(self, dir, users=None, admin=DEFAULT_ADMIN, tls_cert=None, tls_key=None,
              unixhierarchysep=True, altnamespace=True, extra_conf=None, timeout=20):
        """Start a fresh instance in dir; return {"imap": port, "imaps": port|None}
        once every port answers with a Cyrus greeting and every user's INBOX
        exists. extra_conf: more imapd.conf options (dict)."""
        if self._master is not None:
            raise CyrusError("already started")
        t0 = time.monotonic()
        ensure_installed(self.prefix)
        self.directory = os.path.abspath(dir)
        if any(c.isspace() or c == '"' for c in self.directory + self.prefix):
            raise CyrusError("cyrus.conf cannot quote spaces: use a directory without them")
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.admin = tuple(admin)
        self.unixhierarchysep = unixhierarchysep
        self.altnamespace = altnamespace
        if tls_cert:
            self.tls_cert = os.path.abspath(tls_cert)
            if tls_key is None:
                guess = os.path.splitext(self.tls_cert)[0] + ".key"
                tls_key = guess if os.path.exists(guess) else self.tls_cert
            self.tls_key = os.path.abspath(tls_key)
        else:
            self.tls_cert = self.tls_key = None
        self._prepare(extra_conf)

        for attempt in range(5):
            self.plain_port = free_port()
            self.tls_port = None
            if self.tls_cert:
                while self.tls_port in (None, self.plain_port):
                    self.tls_port = free_port()
            with open(self._p("cyrus.conf"), "w") as f:
                f.write(self._cyrus_conf())
            self._spawn()
            try:
                self._wait_ready(timeout)
                break
            except CyrusError:
                log = self.log_tail()
                self._kill()
                if "bind" in log and attempt < 4:
                    continue
                raise CyrusError(f"Cyrus did not start:\n{log}") from None
        try:
            self._create_inboxes()
        except Exception:
            self._kill()
            raise
        self.start_seconds = time.monotonic() - t0
        self._write_state()
        return self.ports()

    def ports(self):
        return {"imap": self.plain_port, "imaps": self.tls_port}

    def _spawn(self):
        d = self.directory
        out = open(self._p("log", "master.out"), "ab")
        try:
            self._reader = subprocess.Popen(
                [sys.executable, "-c", _SYSLOG_READER, self.log_file], cwd=d,
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
            self._reader_pid = self._reader.pid
            deadline = time.monotonic() + 10
            while not os.path.exists(self._p("syslog.sock")):
                if self._reader.poll() is not None or time.monotonic() > deadline:
                    raise CyrusError("the syslog reader did not start:\n" + self.log_tail())
                time.sleep(0.01)
            env = dict(os.environ)
            env["LD_LIBRARY_PATH"] = self._libdir()
            master = [self._bin("master"), "-C", self._p("imapd.conf"), "-M",
                      self._p("cyrus.conf"), "-p", self._p("master.pid")]
            cmd = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                   _NS_SCRIPT, "sh", self._p("hostdev"), self._p("syslog.sock"), *master]
            self._master = subprocess.Popen(cmd, env=env, cwd=d, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=out, start_new_session=True)
            self._master_pid = self._master.pid
        finally:
            out.close()
        with open(self._p("master.pgid"), "w") as f:
            f.write(f"{self._master_pid}\n")

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        pending = [p for p in (self.plain_port, self.tls_port) if p]
        while pending:
            if self._master.poll() is not None:
                raise CyrusError(f"cyrmaster exited with {self._master.returncode}")
            port = pending[0]
            try:
                with socket.create_connection((HOST, port), timeout=1) as s:
                    if port == self.tls_port:
                        ctx = ssl.create_default_context()
                        ctx.check_hostname = False
                        ctx.verify_mode = ssl.CERT_NONE
                        s = ctx.wrap_socket(s)
                    s.settimeout(5)
                    data = s.recv(4096)
                    if data.startswith(b"* OK") and b"Cyrus" in data:
                        s.sendall(b"z LOGOUT\r\n")
                        pending.pop(0)
                        continue
            except (OSError, ssl.SSLError):
                pass
            if time.monotonic() > deadline:
                raise CyrusError(f"no Cyrus greeting on port {port} within {timeout} s")
            time.sleep(0.02)

    def _create_inboxes(self):
        m = self.connect_admin()
        try:
            for user in self.users:
                typ, dat = m.create(imap_quote(self.user_mailbox(user)))
                if typ != "OK" and b"exists" not in (dat[0] or b"").lower():
                    raise CyrusError(f"CREATE {self.user_mailbox(user)}: {dat}")
        finally:
            _logout(m)

    def log_tail(self, n=40):
        text = ""
        for name in ("master.out", "syslog.log"):
            try:
                with open(self._p("log", name), errors="replace") as f:
                    text += "".join(f.readlines()[-n:])
            except OSError:
                pass
        return text

    def info(self):
        return {
            "directory": self.directory,
            "prefix": self.prefix,
            "host": HOST,
            "plain_port": self.plain_port,
            "tls_port": self.tls_port,
            "users": self.users,
            "admin": list(self.admin),
            "separator": self.sep,
            "altnamespace": self.altnamespace,
            "tls_cert": self.tls_cert,
            "master_pid": self._master_pid,
            "syslog_reader_pid": self._reader_pid,
            "log": self.log_file,
            "start_seconds": self.start_seconds,
        }

    def _write_state(self):
        with open(self._p(STATE_FILE), "w") as f:
            json.dump(self.info(), f, indent=2)

    def _kill(self):
        if self._master_pid:
            _terminate_group(self._master_pid, self._p("imapd.conf"), self._master)
        if self._reader_pid:
            _terminate_group(self._reader_pid, "syslog.sock", self._reader)
        self._master = self._reader = None
        self._master_pid = self._reader_pid = None
        for name in ("master.pgid",):
            try:
                os.unlink(self._p(name))
            except (OSError, TypeError):
                pass

    def stop(self):
        """Stop cyrmaster, its imapd children and the syslog reader."""
        if self.directory:
            self._kill()

    @classmethod
    def attach(cls, dir):
        """The instance recorded in dir (started by another process)."""
        with open(os.path.join(os.path.abspath(dir), STATE_FILE)) as f:
            st = json.load(f)
        c = cls(st["prefix"])
        c.directory = st["directory"]
        c.users = st["users"]
        c.admin = tuple(st["admin"])
        c.plain_port, c.tls_port = st["plain_port"], st["tls_port"]
        c.unixhierarchysep = st["separator"] == "/"
        c.altnamespace = st["altnamespace"]
        c.tls_cert = st["tls_cert"]
        c._master_pid, c._reader_pid = st["master_pid"], st["syslog_reader_pid"]
        return c

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- IMAP helpers -----------------------------------------------------

    def connect(self, user=None, password=None, tls=False):
        """A logged-in imaplib connection: as user with password (default:
        the user's known password, else the admin proxying for the user via
        AUTHENTICATE PLAIN); as the admin when user is None."""
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            m = imaplib.IMAP4_SSL(HOST, self.tls_port, ssl_context=ctx)
        else:
            m = imaplib.IMAP4(HOST, self.plain_port)
        try:
            if user is None:
                m.login(*self.admin)
            elif password is not None or user in self.users:
                m.login(user, password if password is not None else self.users[user])
            else:
                a, apw = self.admin
                m.authenticate("PLAIN", lambda _: f"{user}\0{a}\0{apw}".encode())
        except Exception:
            m.shutdown()
            raise
        return m

    def connect_admin(self):
        return self.connect(None)

    def create_folder(self, user, folder, special_use=None):
        """Create folder (user's view, e.g. "Archive/2024"; parents too) and
        subscribe the user to it; special_use e.g. "\\\\Sent"."""
        m = self.connect(user)
        try:
            self._create(m, folder, special_use)
        finally:
            _logout(m)

    def _create(self, m, folder, special_use=None):
        name = imap_quote(mutf7_encode(folder))
        if special_use:
            typ, dat = m._simple_command("CREATE", name, f"(USE ({special_use}))")
        else:
            typ, dat = m._simple_command("CREATE", name)
        if typ != "OK" and b"already exists" not in (dat[0] or b"").lower():
            raise CyrusError(f"CREATE {folder}: {typ} {dat}")
        m.subscribe(name)

    def add_message(self, user, folder, data, flags=(), internaldate=None):
        """APPEND one message (bytes) to user's folder (user's view; created if
        missing) with flags (e.g. "\\\\Seen", "$Label1") and INTERNALDATE
        (unix time, aware datetime, or None for now). Returns the UID."""
        return self.add_messages(user, folder, [(data, flags, internaldate)])[0]

    def add_messages(self, user, folder, messages):
        """APPEND several messages on one connection: messages is an iterable of
        bytes or (data, flags, internaldate) tuples. Returns their UIDs."""
        m = self.connect(user)
        uids = []
        try:
            name = imap_quote(mutf7_encode(folder))
            created = folder.upper() == "INBOX"
            for item in messages:
                if isinstance(item, (bytes, bytearray, str)):
                    data, flags, internaldate = item, (), None
                else:
                    data, flags, internaldate = (tuple(item) + ((), None))[:3]
                if isinstance(data, str):
                    data = data.encode()
                fl = "(" + " ".join(flags) + ")" if flags else None
                date = imaplib.Time2Internaldate(internaldate) if internaldate is not None else None
                typ, dat = m.append(name, fl, date, bytes(data))
                if typ != "OK" and not created and b"TRYCREATE" in (dat[0] or b""):
                    self._create(m, folder)
                    created = True
                    typ, dat = m.append(name, fl, date, bytes(data))
                if typ != "OK":
                    raise CyrusError(f"APPEND to {folder} for {user}: {typ} {dat}")
                mo = re.search(rb"APPENDUID \d+ (\d+)", dat[0] or b"")
                uids.append(int(mo.group(1)) if mo else None)
        finally:
            _logout(m)
        return uids


def _logout(m):
    try:
        m.logout()
    except Exception:
        try:
            m.shutdown()
        except Exception:
            pass


# ---- command line ---------------------------------------------------------

def stop_directory(directory):
    try:
        c = CyrusServer.attach(directory)
    except (OSError, ValueError, KeyError):
        return False
    c.stop()
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m tests.servers.cyrus",
                                 description="Start or stop a throwaway Cyrus IMAP test instance.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="start an instance in DIR (in the background), print JSON")
    s.add_argument("dir")
    s.add_argument("--tls-cert", help="PEM certificate: adds STARTTLS and an implicit-TLS port")
    s.add_argument("--tls-key", help="its key (default: <cert>.key if present, else the cert file)")
    s.add_argument("--traditional-namespace", action="store_true",
                   help="separator '.' and INBOX.Sent-style names (default: '/' and altnamespace)")
    t = sub.add_parser("stop", help="stop the instance in DIR")
    t.add_argument("dir")
    args = ap.parse_args(argv)
    if args.cmd == "start":
        c = CyrusServer()
        trad = args.traditional_namespace
        try:
            c.start(args.dir, tls_cert=args.tls_cert, tls_key=args.tls_key,
                    unixhierarchysep=not trad, altnamespace=not trad)
        except CyrusError as e:
            print(f"cyrus: {e}", file=sys.stderr)
            return 1
        # Detach: cyrmaster runs in its own session; `stop DIR` ends it.
        c._master = c._reader = None
        print(json.dumps(c.info(), indent=2))
        return 0
    if not stop_directory(args.dir):
        print(f"cyrus: no instance recorded in {args.dir}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
