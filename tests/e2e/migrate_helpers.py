"""Helpers for the migration end-to-end tests (tests/e2e/test_migrate_*.py).

The migration tests drive `mailferry batch ...` (and the cmdlet names)
against real servers and check the result with the independent verifier
(verify.py), never with mailferry's own counters alone.

    src = MailDovecot(dir, users=SOURCE_USERS, certs_dir=...).start()
    load_alice(src)                      # corpus "small" via APPEND
    ep = new_endpoint(run, "src", src)   # admin master, connection tested
    csv = write_csv(path, [...])
    r = run(["batch", "new", "b1", "--source", "src", "--csv", csv])
    r = run(["batch", "start", "b1", "--wait"], timeout=...)
    rows = batch_report(run, "b1")       # {EmailAddress: row}
    with serve_local_store(data_dir, server_root, ["alice@example.test"]) as store:
        check_migrated(src_conn, store.login("alice@example.test"))

Users are named by their e-mail address on the Dovecot servers, because a
CSV row with an empty UserName is opened by impersonating its EmailAddress.
The local store (<data-dir>/mailstore/<EmailAddress>/) is served by a stock
Dovecot (MailDovecot with mailstore=...): listescape plugin, separator "/",
its index files kept outside the tree; the tree is chowned to nobody first
(Dovecot refuses to read mail as root).
"""

import contextlib
import grp
import imaplib
import json
import os
import pwd
import re
import subprocess
import tempfile
import time

from tests.corpus import corpus
from tests.e2e import verify
from tests.servers.dovecot import Dovecot
from tests.servers.mfrun import jget

ALICE, BOB = "alice@example.test", "bob@example.test"
SOURCE_USERS = {ALICE: "alicepw", BOB: "bobpw"}
MASTER = ("master", "masterpw")
RSS_LIMIT_KB = 64 * 1024
RSS_NOTE = "/tmp/mailferry-rss-200mb.txt"


# ---- servers ----------------------------------------------------------------------

class MailDovecot(Dovecot):
    """A test Dovecot whose users are named by address, with the listescape
    plugin (folder names with dots), and optionally:
      special_use: {folder: "\\Sent", ...} replacing the default special-use
          folders (Sent, Drafts, Trash, Junk), each created at first login;
      mailstore: serve <mailstore>/<user>/ (mailferry's local store) as the
          users' Maildir++ roots, index files under the instance directory."""

    def __init__(self, directory, users=None, tls_mode="none", master=MASTER,
                 special_use=None, mailstore=None, **kw):
        super().__init__(directory, tls_mode=tls_mode, users=users or SOURCE_USERS,
                         master=master, **kw)
        self.special_use = special_use
        self.mailstore = os.path.abspath(mailstore) if mailstore else None

    def home(self, user):
        if self.mailstore:
            return os.path.join(self.mailstore, user)
        return super().home(user)

    def maildir(self, user):
        return self.home(user) if self.mailstore else super().maildir(user)

    def _prepare(self):
        super()._prepare()
        if self.mailstore:
            idx = os.path.join(self.directory, "index")
            os.makedirs(idx, exist_ok=True)
            self._chown_tree(idx)

    def _config_text(self):
        text = super()._config_text()
        d = self.directory
        if self.special_use is not None:
            boxes = "".join(
                f'  mailbox "{name}" {{\n    special_use = {use}\n    auto = create\n  }}\n'
                for name, use in self.special_use.items())
            text = re.sub(r"namespace inbox \{\n.*?\n\}\n",
                          lambda _: ("namespace inbox {\n  inbox = yes\n  separator = /\n"
                                     + boxes + "}\n"), text, count=1, flags=re.S)
        if self.mailstore:
            text = text.replace("mail_location = maildir:~/Maildir",
                                f"mail_location = maildir:~:INDEX={d}/index/%u")
            text = text.replace(f"home={d}/mail/%u", f"home={self.mailstore}/%u")
        return text + "mail_plugins = $mail_plugins listescape\n"

    def login(self, user, password=None):
        m = imaplib.IMAP4(self.host, self.plain_port, timeout=120)
        if self.tls_mode == "starttls":
            import ssl
            ctx = ssl.create_default_context(cafile=self.certs.ca_bundle)
            m.starttls(ssl_context=ctx)
        m.login(user, password if password is not None else self.users[user])
        return m


def traversable_dir(parent, prefix):
    """A new directory under parent that Dovecot's unprivileged processes can
    traverse (parent must be traversable too)."""
    d = tempfile.mkdtemp(prefix=prefix, dir=parent)
    os.chmod(d, 0o711)
    return d


def _chown_nobody(path):
    uid, gid = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for n in files:
            os.chown(os.path.join(root, n), uid, gid)


@contextlib.contextmanager
def serve_local_store(data_dir, parent, users):
    """A stock Dovecot serving <data_dir>/mailstore/<user>/ for each user
    (password "pw"); yields the MailDovecot (use .login(user))."""
    store = os.path.join(data_dir, "mailstore")
    assert os.path.isdir(store), f"no local store at {store}"
    for p in (data_dir, store):
        os.chmod(p, os.stat(p).st_mode | 0o011)
    for u in users:
        if os.path.isdir(os.path.join(store, u)):
            _chown_nobody(os.path.join(store, u))
    d = MailDovecot(tempfile.mkdtemp(prefix="store-dovecot-", dir=parent),
                    users={u: "pw" for u in users}, master=None, mailstore=store)
    os.chmod(d.directory, 0o755)
    d.start()
    try:
        yield d
    finally:
        d.stop()


# ---- mail ---------------------------------------------------------------------------

def _msg(n, subject=None, mid=True, body=b""):
    head = (f"From: Bob Example <bob@example.test>\r\nTo: alice@example.test\r\n"
            f"Subject: {subject or f'bob message {n}'}\r\n"
            f"Date: Tue, 0{1 + n % 9} Apr 2024 10:00:00 +0200\r\n").encode()
    if mid:
        head += f"Message-ID: <bob-{n}@example.test>\r\n".encode()
    return head + b"\r\n" + f"Body of bob's message {n}.\r\n".encode() + body


BOB_BIG_SIZE = 150 * 1024


def bob_folders():
    """A few messages for bob: flags, keywords, dates, a folder with a dot in
    its name, one message of about 150 KB, an empty unsubscribed folder, a
    folder whose parent does not exist."""
    import datetime as dt
    tz = dt.timezone(dt.timedelta(hours=2))
    big_body = (b"0123456789abcdef" * 4 + b"\r\n") * (BOB_BIG_SIZE // 66)
    inbox = [
        corpus.Message(data=_msg(1), flags=("\\Seen",), keywords=("$Label1",),
                       internaldate=dt.datetime(2024, 4, 1, 9, 0, 0, tzinfo=tz)),
        corpus.Message(data=_msg(2, mid=False), flags=("\\Answered", "\\Flagged"),
                       internaldate=dt.datetime(2019, 6, 30, 23, 59, 59, tzinfo=dt.timezone.utc)),
        corpus.Message(data=_msg(3, subject="bob big attachment", body=big_body),
                       flags=("\\Seen",), keywords=("Work",),
                       internaldate=dt.datetime(2023, 1, 2, 3, 4, 5, tzinfo=tz)),
    ]
    return [
        corpus.Folder("INBOX", inbox),
        corpus.Folder("Sent", [corpus.Message(
            data=_msg(4), flags=("\\Seen",), keywords=("$Forwarded",),
            internaldate=dt.datetime(2022, 2, 2, 2, 2, 2, tzinfo=tz))], "\\Sent"),
        corpus.Folder("Projects.2024", [corpus.Message(
            data=_msg(5), flags=("\\Draft", "\\Deleted"),
            internaldate=dt.datetime(2024, 2, 29, 12, 0, 0, tzinfo=tz))]),
        corpus.Folder("Leer", [], subscribed=False),
        # Created without its parent: the source lists "Kunden" as \Noselect.
        corpus.Folder("Kunden/Übersicht", [corpus.Message(
            data=_msg(6, subject="Übersicht"), flags=("\\Seen",),
            internaldate=dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=tz))]),
    ]


def count(folders):
    return sum(len(f.messages) for f in folders)


def load(server, user, folders, password=None):
    """APPEND folders (corpus.Folder list) to user's account; returns the
    LoadResult (messages the server refused are in .refused)."""
    return corpus.load_imap(server.host, server.plain_port, user,
                            password or server.users[user], folders,
                            starttls=getattr(server, "tls_mode", "none") == "starttls",
                            ssl_context=_ctx(server))


def _ctx(server):
    certs = getattr(server, "certs", None)
    if not certs:
        return None
    import ssl
    return ssl.create_default_context(cafile=certs.ca_bundle)


# ---- mailferry ----------------------------------------------------------------------

def new_endpoint(run, name, server, admin=MASTER, security=None, extra=()):
    """`endpoint new NAME` for a test server on 127.0.0.1 with its admin."""
    if security is None:
        security = "starttls" if getattr(server, "tls_mode", "none") == "starttls" else "none"
    args = ["endpoint", "new", name, "--type", "imap", "--server", "127.0.0.1",
            "--port", server.plain_port, "--security", security, *extra]
    pw = None
    if admin:
        args += ["--admin-user", admin[0], "--password-stdin"]
        pw = admin[1] + "\n"
    r = run(args, input=pw)
    assert r.rc == 0, r.describe()
    return name


def write_csv(path, rows, header=("EmailAddress", "UserName", "Password")):
    """rows: tuples of field values (written without quoting unless needed)."""
    def field(v):
        v = "" if v is None else str(v)
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\r\n') else v
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(header) + "\r\n")
        for row in rows:
            f.write(",".join(field(v) for v in row) + "\r\n")
    return str(path)


def _rows(doc):
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and not doc:
        return []
    if isinstance(doc, dict):
        for v in doc.values():
            if isinstance(v, list):
                return v
    raise AssertionError(f"expected a list of rows, got {json.dumps(doc)[:2000]}")


def batch_report(run, name):
    """{EmailAddress: row} from `batch report NAME --format json`."""
    r = run(["batch", "report", name, "--format", "json"])
    assert r.rc == 0, r.describe()
    return {jget(row, "EmailAddress"): row for row in _rows(r.json())}


def batch_status(run, name):
    r = run(["batch", "show", name, "--json"])
    assert r.rc == 0, r.describe()
    return jget(r.json(), "Status")


def batch_list(run):
    r = run(["batch", "list", "--json"])
    assert r.rc == 0, r.describe()
    return _rows(r.json())


def user_list(run):
    r = run(["user", "list", "--json"])
    assert r.rc == 0, r.describe()
    return _rows(r.json())


def user_show(run, email, skipped=False):
    args = ["user", "show", email, "--json"]
    if skipped:
        args.append("--skipped-items")
    r = run(args)
    assert r.rc == 0, r.describe()
    return r.json()


def skipped_items(doc):
    """The skipped items of a `user show --skipped-items --json` document."""
    if isinstance(doc, list):
        return doc
    for k, v in doc.items():
        if "skipped" in k.lower() and isinstance(v, list):
            return v
    raise AssertionError(f"no skipped-item list in {json.dumps(doc)[:2000]}")


def row_summary(rows):
    return "\n".join(f"  {e}: {jget(r, 'Status')} total {jget(r, 'TotalItemsInSourceMailboxCount')}"
                     f" synced {jget(r, 'SyncedItemCount')} skipped {jget(r, 'SkippedItemCount')}"
                     f" error {jget(r, 'LastError', None)!r}" for e, r in rows.items())


def start_wait(run, name, timeout=300):
    return run(["batch", "start", name, "--wait"], timeout=timeout)


# ---- verification ---------------------------------------------------------------------

def check_migrated(src, dst, expect_messages, folder_map=None, drop=None):
    """verify.compare(src, dst) must be ok, with expect_messages source
    messages all matched (bytes, flags, keywords, INTERNALDATE, folder) and
    no extra message or duplicate on the target. drop: sha256 values of
    source messages to leave out (ones the target refused). Returns the
    report."""
    s = verify.snapshot(src)
    if drop:
        drop = set(drop)
        for f in s.folders.values():
            f.messages = [m for m in f.messages if m.sha256 not in drop]
    rep = verify.compare(s, dst, folder_map=folder_map)
    assert rep.ok, str(rep)
    n_src = sum(r.source_count for r in rep.folders)
    n_matched = sum(r.matched for r in rep.folders)
    assert n_src == expect_messages, str(rep)
    assert n_matched == n_src, str(rep)
    assert sum(r.target_count for r in rep.folders) == n_src, str(rep)
    assert not rep.extra and not rep.duplicates, str(rep)
    return rep


def logout(*conns):
    for c in conns:
        try:
            c.logout()
        except Exception:  # noqa: BLE001
            pass


# ---- resources ------------------------------------------------------------------------

def is_asan(binary):
    if os.environ.get("MAILFERRY_ASAN") == "1":
        return True
    try:
        r = subprocess.run(["nm", "-D", binary], capture_output=True, text=True, timeout=30)
        if "__asan_init" in r.stdout:
            return True
        r = subprocess.run(["nm", binary], capture_output=True, text=True, timeout=30)
        return "__asan_init" in r.stdout
    except OSError:
        with open(binary, "rb") as f:
            return b"__asan_init" in f.read()


def run_measured(mf, args, timeout=600):
    """Run mailferry under /usr/bin/time -v (or, without it, poll VmHWM);
    returns (Result-like (rc, out, err), peak RSS in kB)."""
    from tests.servers.mfrun import Result
    args = [str(a) for a in args]
    if os.access("/usr/bin/time", os.X_OK):
        p = subprocess.run(["/usr/bin/time", "-v", mf.binary, *args], env=mf.env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           errors="replace", timeout=timeout)
        mo = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        assert mo, p.stderr
        res = Result(p.returncode, p.stdout, p.stderr)
        res.args = tuple(args)
        return res, int(mo.group(1))
    # Fallback: poll the process' VmHWM.
    out_f, err_f = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    p = subprocess.Popen([mf.binary, *args], env=mf.env, stdin=subprocess.DEVNULL,
                         stdout=out_f, stderr=err_f)
    hwm = 0
    deadline = time.monotonic() + timeout
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                mo = re.search(r"VmHWM:\s+(\d+)", f.read())
                if mo:
                    hwm = max(hwm, int(mo.group(1)))
        except OSError:
            pass
        if time.monotonic() > deadline:
            p.kill()
        time.sleep(0.02)
    out_f.seek(0)
    err_f.seek(0)
    res = Result(p.returncode, out_f.read().decode(errors="replace"),
                 err_f.read().decode(errors="replace"))
    res.args = tuple(args)
    return res, hwm
