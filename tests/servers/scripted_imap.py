"""A small scripted IMAP server (asyncio, in-memory) for throttling and quota tests.

    s = ScriptedImap(users={"alice@example.test": "alicepw"}).start()
    s.add_message("alice@example.test", "INBOX", b"Subject: x\\r\\n\\r\\nbody\\r\\n",
                  flags=("\\\\Seen",), internaldate=1_700_000_000)
    s.fault("LOGIN", times=2, reply="NO [UNAVAILABLE] Try again later")
    s.fault("UID FETCH", times=1, reply="BYE Connection limit exceeded", after=3)
    s.fault("GREETING", times=1, reply="BYE [UNAVAILABLE] Too many connections")
    s.quota_messages = 10            # APPEND beyond 10 messages: NO [OVERQUOTA]
    s.port ... s.stop()

It speaks enough IMAP4rev1 to be a migration source or target for mailferry
and for imaplib (the verifier): CAPABILITY, NOOP, ID, LOGIN, AUTHENTICATE
PLAIN (SASL-IR too; the administrator may act for a user with an
authorization identity, or log in as "user*admin"), NAMESPACE, LIST / LSUB
(patterns with * and %, RETURN options ignored), CREATE [(USE (...))],
DELETE, SUBSCRIBE, UNSUBSCRIBE, STATUS, SELECT / EXAMINE (a trailing
(CONDSTORE) is ignored; CONDSTORE is not announced), [UID] FETCH (UID,
FLAGS, INTERNALDATE, RFC822.SIZE, BODY[] / BODY.PEEK[] / RFC822, FAST, ALL),
[UID] STORE, [UID] SEARCH (ALL, UID set), APPEND (synchronising literals and
LITERAL+; APPENDUID, as UIDPLUS is announced), EXPUNGE, UID EXPUNGE, CLOSE,
UNSELECT, CHECK, ENABLE, LOGOUT. Folders use "/" as their separator;
special-use folders (Sent, Drafts, Trash, Junk) exist for every user; they
and INBOX start unsubscribed, as on a fresh Dovecot account (folders made
by add_message() are subscribed, those made by CREATE are not).

Faults (fault()): the first `times` commands that match (after `after`
matching commands went through normally) get `reply` instead of their
answer: "NO ..." as the tagged answer, "BAD ...", or "BYE ..." (an
untagged BYE, then the connection is closed). The command "GREETING"
matches a new connection (its greeting is then "* BYE ..." or, for NO,
"* NO ..." and a close); "AUTH" matches LOGIN and AUTHENTICATE. Every
command is logged in s.log as (monotonic time, connection, command, outcome,
key) where outcome is "ok", "no", "bad", "logout" or "fault:<kind>" and key
is a digest of the command's arguments (an APPEND's: of its message), so a
test can find the retry of a refused command and how long the client
waited (greetings are logged too, as "GREETING"; see retry_pauses()).

Quota: quota_messages (or quota_bytes) caps the messages (bytes) a user's
account may hold; an APPEND beyond it gets quota_reply
("NO [OVERQUOTA] Quota exceeded (mailbox for user is full)") and stores
nothing. Set it to None to lift the limit.
"""

import asyncio
import base64
import datetime as dt
import hashlib
import re
import threading
import time

DEFAULT_ADMIN = ("master", "masterpw")
CAPABILITIES = ("IMAP4rev1", "LITERAL+", "UIDPLUS", "SASL-IR", "AUTH=PLAIN", "ID",
                "NAMESPACE", "UNSELECT", "SPECIAL-USE", "ENABLE")
SPECIAL = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk"}
SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
QUOTA_REPLY = "NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MAX_LITERAL = 512 * 1024 * 1024


class ImapSyntaxError(Exception):
    pass


class _Closed(Exception):
    pass


class Message:
    __slots__ = ("uid", "data", "flags", "internaldate")

    def __init__(self, uid, data, flags, internaldate):
        self.uid = uid
        self.data = data
        self.flags = set(flags)
        self.internaldate = internaldate   # aware datetime


class Mailbox:
    def __init__(self, name, uidvalidity, special_use=None, subscribed=True):
        self.name = name
        self.uidvalidity = uidvalidity
        self.uidnext = 1
        self.messages = []
        self.special_use = special_use
        self.subscribed = subscribed

    def add(self, data, flags=(), internaldate=None):
        m = Message(self.uidnext, data, flags, internaldate)
        self.uidnext += 1
        self.messages.append(m)
        return m


class Account:
    def __init__(self, server):
        self.mailboxes = {}
        for name in ("INBOX", *SPECIAL):
            self.create(server, name, SPECIAL.get(name)).subscribed = False

    def create(self, server, name, special_use=None):
        mb = Mailbox(name, server.next_uidvalidity(), special_use)
        self.mailboxes[name] = mb
        return mb

    def count(self):
        return sum(len(mb.messages) for mb in self.mailboxes.values())

    def size(self):
        return sum(len(m.data) for mb in self.mailboxes.values() for m in mb.messages)


class Fault:
    def __init__(self, commands, times, reply, after=0, user=None):
        self.commands = commands
        self.times = times
        self.reply = reply
        self.after = after
        self.user = user
        self.seen = 0
        self.fired = 0

    def kind(self):
        return self.reply.split(" ", 1)[0].upper()


# ---- parsing --------------------------------------------------------------------

class Literal(bytes):
    """A literal argument (its bytes)."""


_TOKEN = re.compile(rb'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([^\s()"]+))', re.S)


def tokenize(parts):
    """parts: list of bytes (command text) and Literal. Returns a nested list:
    bytes for atoms, Literal for literals and quoted strings (both are
    strings, not atoms), sub-lists for parentheses."""
    out = [[]]
    for part in parts:
        if isinstance(part, Literal):
            out[-1].append(part)
            continue
        pos = 0
        while pos < len(part):
            if not part[pos:].strip():
                break
            mo = _TOKEN.match(part, pos)
            if not mo or mo.end() == pos:
                raise ImapSyntaxError(f"cannot parse near {part[pos:pos + 30]!r}")
            pos = mo.end()
            if mo.group(1):
                out.append([])
            elif mo.group(2):
                if len(out) == 1:
                    raise ImapSyntaxError("unbalanced )")
                inner = out.pop()
                out[-1].append(inner)
            elif mo.group(3) is not None:
                out[-1].append(Literal(re.sub(rb"\\(.)", rb"\1", mo.group(3))))
            else:
                atom = mo.group(4)
                # An atom glued to brackets such as BODY.PEEK[] or BODY[]<0.10>.
                out[-1].append(atom)
    if len(out) != 1:
        raise ImapSyntaxError("unbalanced (")
    return out[0]


def _astr(tok):
    if isinstance(tok, list):
        raise ImapSyntaxError("string expected")
    return bytes(tok).decode("utf-8", "replace")


def parse_set(text, maximum):
    """A sequence set ("1:3,7,9:*") as a predicate over numbers."""
    ranges = []
    for part in text.split(","):
        if ":" in part:
            a, b = part.split(":", 1)
        else:
            a = b = part
        a = maximum if a == "*" else int(a)
        b = maximum if b == "*" else int(b)
        if a > b:
            a, b = b, a
        ranges.append((a, b))
    return lambda n: any(a <= n <= b for a, b in ranges)


def imap_date(when):
    """INTERNALDATE text of an aware datetime."""
    off = when.utcoffset() or dt.timedelta(0)
    mins = int(off.total_seconds() // 60)
    sign = "+" if mins >= 0 else "-"
    mins = abs(mins)
    return (f"{when.day:02d}-{_MONTHS[when.month - 1]}-{when.year:04d} "
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} "
            f"{sign}{mins // 60:02d}{mins % 60:02d}")


def parse_imap_date(text):
    mo = re.match(r"\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) "
                  r"([+-])(\d\d)(\d\d)", text)
    if not mo:
        raise ImapSyntaxError(f"bad date-time {text!r}")
    month = [m.lower() for m in _MONTHS].index(mo.group(2).lower()) + 1
    tz = dt.timezone((1 if mo.group(7) == "+" else -1)
                     * dt.timedelta(hours=int(mo.group(8)), minutes=int(mo.group(9))))
    return dt.datetime(int(mo.group(3)), month, int(mo.group(1)), int(mo.group(4)),
                       int(mo.group(5)), int(mo.group(6)), tzinfo=tz)


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _norm_flag(f):
    for s in SYSTEM_FLAGS:
        if f.lower() == s.lower():
            return s
    return f


# ---- the server ---------------------------------------------------------------------

class ScriptedImap:
    def __init__(self, users=None, admin=DEFAULT_ADMIN, capabilities=CAPABILITIES,
                 host="127.0.0.1"):
        if not host.startswith("127."):
            raise ValueError("the scripted server listens on 127.0.0.0/8 only")
        self.host = host
        self.users = dict(users or {"alice@example.test": "alicepw"})
        self.admin = admin
        self.capabilities = list(capabilities)
        self.port = None
        self.plain_port = None
        self.tls_mode = "none"
        self.faults = []
        self.faults_enabled = True
        self.quota_messages = None
        self.quota_bytes = None
        self.quota_reply = QUOTA_REPLY
        self.log = []
        self.connections = 0
        self.lock = threading.RLock()
        self._uidvalidity = int(time.time()) % 1_000_000_000
        self.accounts = {}
        for u in self.users:
            self.accounts[u] = Account(self)
        self._loop = None
        self._thread = None
        self._server = None
        self._writers = set()

    def next_uidvalidity(self):
        self._uidvalidity += 1
        return self._uidvalidity

    # ---- test-side API -------------------------------------------------------

    def account(self, user):
        return self.accounts[user]

    def mailbox(self, user, name):
        return self.accounts[user].mailboxes[name]

    def create_folder(self, user, name, special_use=None, subscribed=True):
        """The folder, created (subscribed or not) if it does not exist."""
        with self.lock:
            acc = self.accounts[user]
            mb = acc.mailboxes.get(name)
            if mb is None:
                mb = acc.create(self, name, special_use)
                mb.subscribed = subscribed
            return mb

    def add_message(self, user, folder, data, flags=(), internaldate=None):
        if isinstance(data, str):
            data = data.encode()
        if internaldate is None:
            internaldate = time.time()
        if not isinstance(internaldate, dt.datetime):
            internaldate = dt.datetime.fromtimestamp(int(internaldate), dt.timezone.utc)
        with self.lock:
            mb = self.create_folder(user, folder)
            return mb.add(data, [_norm_flag(f) for f in flags], internaldate.replace(microsecond=0))

    def fault(self, command, times=1, reply="NO [UNAVAILABLE] Server busy, try again later",
              after=0, user=None):
        """Answer the first `times` matching commands (after `after` of them
        went through) with reply. command: "LOGIN", "AUTH" (LOGIN and
        AUTHENTICATE), "SELECT", "EXAMINE", "UID FETCH", "APPEND", "LIST",
        "GREETING", ... or a tuple of them. user: only for this user
        (commands after login)."""
        cmds = (command,) if isinstance(command, str) else tuple(command)
        expanded = set()
        for c in cmds:
            c = c.upper()
            expanded.update(("LOGIN", "AUTHENTICATE") if c == "AUTH" else (c,))
        f = Fault(expanded, times, reply, after, user)
        with self.lock:
            self.faults.append(f)
        return f

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def outcomes(self, command):
        """[(time, outcome)] of the logged commands named command."""
        with self.lock:
            return [(t, o) for t, _c, name, o, _k in self.log if name == command.upper()]

    def retry_pauses(self, commands):
        """For each fault answer to one of commands: seconds until the same
        command (same arguments; a new connection for GREETING) came again,
        or None when it never did."""
        names = set()
        for c in commands:
            c = c.upper()
            names.update(("LOGIN", "AUTHENTICATE") if c == "AUTH" else (c,))
        with self.lock:
            log = [e for e in self.log if e[2] in names]
        out = []
        for i, (t, _c, name, outcome, key) in enumerate(log):
            if not outcome.startswith("fault:"):
                continue
            nxt = next((e for e in log[i + 1:] if e[2] == name and e[4] == key), None)
            out.append(None if nxt is None else nxt[0] - t)
        return out

    # ---- life cycle ---------------------------------------------------------

    def start(self):
        ready = threading.Event()
        errors = []

        def main():
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, self.host, 0))
                self.port = self.plain_port = self._server.sockets[0].getsockname()[1]
            except Exception as e:  # noqa: BLE001
                errors.append(e)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="scripted-imap", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise RuntimeError(f"scripted IMAP server did not start: {errors[0]}")
        return self

    def stop(self):
        if self._loop is None:
            return

        async def shutdown():
            self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            await self._server.wait_closed()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if pending:
                await asyncio.wait(pending, timeout=2)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        except Exception:  # noqa: BLE001
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self):
        return self.start() if self._loop is None else self

    def __exit__(self, *exc):
        self.stop()

    # ---- faults ---------------------------------------------------------------

    def _match_fault(self, command, user):
        if not self.faults_enabled:
            return None
        with self.lock:
            for f in self.faults:
                if command not in f.commands or f.fired >= f.times:
                    continue
                if f.user is not None and f.user != user:
                    continue
                f.seen += 1
                if f.seen <= f.after:
                    continue
                f.fired += 1
                return f
        return None

    def _log(self, conn, command, outcome, key=None):
        with self.lock:
            self.log.append((time.monotonic(), conn, command, outcome, key))

    # ---- connections ----------------------------------------------------------

    async def _handle(self, reader, writer):
        with self.lock:
            self.connections += 1
            index = self.connections
        self._writers.add(writer)
        session = _Session(self, index, reader, writer)
        try:
            await session.run()
        except (_Closed, ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            try:
                writer.close()
            except (OSError, RuntimeError):
                pass


class _Session:
    def __init__(self, server, index, reader, writer):
        self.s = server
        self.index = index
        self.reader = reader
        self.writer = writer
        self.user = None
        self.selected = None      # Mailbox
        self.readonly = False
        self.view = []            # UIDs in sequence order, as this session knows them

    async def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.writer.write(data)
        await self.writer.drain()

    async def readline(self):
        line = await self.reader.readuntil(b"\n")
        if len(line) > 1 << 20:
            raise _Closed()
        return line

    async def read_command(self):
        """(tag, [parts]) with literals read; None at EOF."""
        parts = []
        try:
            line = await self.readline()
        except asyncio.IncompleteReadError:
            return None
        while True:
            body = line.rstrip(b"\r\n")
            mo = re.search(rb"\{(\d+)(\+?)\}\Z", body)
            if not mo:
                parts.append(body)
                return parts
            parts.append(body[:mo.start()])
            n = int(mo.group(1))
            if n > _MAX_LITERAL:
                raise _Closed()
            if not mo.group(2):
                await self.send(b"+ Ready for literal data\r\n")
            data = await self.reader.readexactly(n)
            parts.append(Literal(data))
            line = await self.readline()

    async def run(self):
        s = self.s
        f = s._match_fault("GREETING", None)
        if f is not None:
            s._log(self.index, "GREETING", "fault:" + f.kind().lower())
            kind, _, text = f.reply.partition(" ")
            await self.send(f"* {kind.upper()} {text}\r\n")
            return
        s._log(self.index, "GREETING", "ok")
        await self.send("* OK [CAPABILITY " + " ".join(s.capabilities)
                        + "] Scripted IMAP ready\r\n")
        while True:
            parts = await self.read_command()
            if parts is None:
                return
            first = parts[0]
            head = first.split(b" ", 2)
            if len(head) < 2:
                await self.send(b"* BAD missing command\r\n")
                continue
            tag = head[0].decode(errors="replace")
            name = head[1].decode(errors="replace").upper()
            rest = [head[2] if len(head) > 2 else b"", *parts[1:]]
            if name == "UID":
                sub = rest[0].split(b" ", 1)
                name = "UID " + sub[0].decode(errors="replace").upper()
                rest = [sub[1] if len(sub) > 1 else b"", *rest[1:]]
            key = hashlib.sha1(b"\0".join(bytes(p) for p in rest)).hexdigest()[:16]
            f = s._match_fault(name, self.user)
            if f is not None:
                kind = f.kind()
                s._log(self.index, name, "fault:" + kind.lower(), key)
                if kind == "BYE":
                    await self.send(f"* {f.reply}\r\n")
                    return
                await self.send(f"{tag} {f.reply}\r\n")
                continue
            try:
                args = tokenize(rest)
                outcome = await self.dispatch(tag, name, args)
            except ImapSyntaxError as e:
                await self.send(f"{tag} BAD {e}\r\n")
                outcome = "bad"
            except (ValueError, IndexError, KeyError, TypeError) as e:
                await self.send(f"{tag} BAD invalid arguments ({type(e).__name__})\r\n")
                outcome = "bad"
            s._log(self.index, name, outcome, key)
            if outcome == "logout":
                return

    # ---- commands -------------------------------------------------------------

    async def dispatch(self, tag, name, args):
        handler = getattr(self, "cmd_" + name.replace(" ", "_").lower(), None)
        if handler is None:
            await self.send(f"{tag} BAD unknown command {name}\r\n")
            return "bad"
        auth_free = name in ("CAPABILITY", "NOOP", "ID", "LOGIN", "AUTHENTICATE", "LOGOUT")
        if not auth_free and self.user is None:
            await self.send(f"{tag} BAD log in first\r\n")
            return "bad"
        needs_selected = name in ("FETCH", "UID FETCH", "STORE", "UID STORE", "SEARCH",
                                  "UID SEARCH", "EXPUNGE", "UID EXPUNGE", "CLOSE", "UNSELECT",
                                  "CHECK")
        if needs_selected and self.selected is None:
            await self.send(f"{tag} BAD no mailbox selected\r\n")
            return "bad"
        return await handler(tag, args)

    async def ok(self, tag, text="done", code=None):
        await self.send(f"{tag} OK {'[' + code + '] ' if code else ''}{text}\r\n")
        return "ok"

    async def no(self, tag, text):
        await self.send(f"{tag} NO {text}\r\n")
        return "no"

    async def cmd_capability(self, tag, args):
        await self.send("* CAPABILITY " + " ".join(self.s.capabilities) + "\r\n")
        return await self.ok(tag)

    async def cmd_noop(self, tag, args):
        await self._notify()
        return await self.ok(tag)

    async def cmd_check(self, tag, args):
        return await self.ok(tag)

    async def cmd_enable(self, tag, args):
        await self.send("* ENABLED\r\n")
        return await self.ok(tag)

    async def cmd_id(self, tag, args):
        await self.send('* ID ("name" "scripted-imap")\r\n')
        return await self.ok(tag)

    async def cmd_logout(self, tag, args):
        await self.send(f"* BYE Logging out\r\n{tag} OK Logout completed\r\n")
        return "logout"

    def _login_as(self, authz, authc, password):
        s = self.s
        if s.admin and authc == s.admin[0] and password == s.admin[1]:
            target = authz or authc
            if target in s.users or target == s.admin[0]:
                return target
            return None
        if "*" in authc and s.admin:
            user, _, admin = authc.rpartition("*")
            if admin == s.admin[0] and password == s.admin[1] and user in s.users \
                    and authz in ("", user):
                return user
            return None
        if s.users.get(authc) == password and authz in ("", authc):
            return authc
        return None

    async def _logged_in(self, tag, user):
        if user is None:
            await self.send(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
            return "no"
        if user not in self.s.accounts:
            with self.s.lock:
                self.s.accounts[user] = Account(self.s)
        self.user = user
        return await self.ok(tag, "Logged in",
                             "CAPABILITY " + " ".join(self.s.capabilities))

    async def cmd_login(self, tag, args):
        return await self._logged_in(tag, self._login_as("", _astr(args[0]), _astr(args[1])))

    async def cmd_authenticate(self, tag, args):
        if bytes(args[0]).upper() != b"PLAIN":
            return await self.no(tag, "[CANNOT] unsupported mechanism")
        if len(args) > 1 and bytes(args[1]) != b"=":
            resp = bytes(args[1])
        else:
            await self.send(b"+ \r\n")
            resp = (await self.readline()).strip()
        if resp == b"*":
            await self.send(f"{tag} BAD authentication cancelled\r\n")
            return "bad"
        try:
            authz, authc, pw = base64.b64decode(resp, validate=True).split(b"\0")
        except ValueError:
            await self.send(f"{tag} BAD invalid SASL PLAIN message\r\n")
            return "bad"
        return await self._logged_in(tag, self._login_as(authz.decode(), authc.decode(),
                                                          pw.decode()))

    async def cmd_namespace(self, tag, args):
        await self.send('* NAMESPACE (("" "/")) NIL NIL\r\n')
        return await self.ok(tag)

    def _acc(self):
        return self.s.accounts[self.user]

    @staticmethod
    def _pattern(ref, pat):
        rx = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c)
                     for c in ref + pat)
        return re.compile(rx + r"\Z", re.I if (ref + pat).upper().startswith("INBOX") else 0)

    def _names(self):
        acc = self._acc()
        names = {}
        for name, mb in acc.mailboxes.items():
            names[name] = mb
            parts = name.split("/")
            for i in range(1, len(parts)):
                names.setdefault("/".join(parts[:i]), None)
        return names

    async def _list(self, tag, args, lsub, subscribed_attr=False):
        ref, pat = _astr(args[0]), _astr(args[1])
        if pat == "":
            await self.send('* LIST (\\Noselect) "/" ""\r\n')
            return await self.ok(tag)
        rx = self._pattern(ref, pat)
        with self.s.lock:
            names = ({n: mb for n, mb in self._acc().mailboxes.items() if mb.subscribed}
                     if lsub else self._names())
            all_names = set(self._acc().mailboxes)
            out = []
            for name in sorted(names, key=lambda n: (n != "INBOX", n)):
                if not rx.match(name):
                    continue
                mb = names[name]
                attrs = []
                if mb is None:
                    attrs.append("\\Noselect")
                kids = any(n.startswith(name + "/") for n in all_names)
                attrs.append("\\HasChildren" if kids else "\\HasNoChildren")
                if mb is not None and mb.special_use and not lsub:
                    attrs.append(mb.special_use)
                if mb is not None and mb.subscribed and subscribed_attr:
                    attrs.append("\\Subscribed")
                cmd = "LSUB" if lsub else "LIST"
                out.append(f"* {cmd} ({' '.join(attrs)}) \"/\" {_quote(name)}\r\n")
        await self.send("".join(out))
        return await self.ok(tag)

    async def cmd_list(self, tag, args):
        # LIST [(selection options)] ref pattern [RETURN (...)]
        if args and isinstance(args[0], list):
            args = args[1:]
        ret = any(not isinstance(a, list) and bytes(a).upper() == b"RETURN" for a in args[2:])
        return await self._list(tag, args[:2], lsub=False, subscribed_attr=ret)

    async def cmd_lsub(self, tag, args):
        return await self._list(tag, args[:2], lsub=True)

    async def cmd_create(self, tag, args):
        name = _astr(args[0]).rstrip("/")
        if name.upper() == "INBOX":
            name = "INBOX"
        use = None
        if len(args) > 1 and isinstance(args[1], list) and len(args[1]) >= 2:
            uses = args[1][1]
            if isinstance(uses, list) and uses:
                use = bytes(uses[0]).decode()
        with self.s.lock:
            acc = self._acc()
            if name in acc.mailboxes:
                return await self.no(tag, "[ALREADYEXISTS] Mailbox already exists")
            mb = acc.create(self.s, name, use)
            mb.subscribed = False
        return await self.ok(tag, "Create completed")

    async def cmd_delete(self, tag, args):
        name = _astr(args[0])
        with self.s.lock:
            acc = self._acc()
            if name not in acc.mailboxes or name == "INBOX":
                return await self.no(tag, "[NONEXISTENT] No such mailbox")
            del acc.mailboxes[name]
        return await self.ok(tag)

    async def _subscribe(self, tag, args, on):
        name = _astr(args[0])
        with self.s.lock:
            mb = self._acc().mailboxes.get("INBOX" if name.upper() == "INBOX" else name)
            if mb is None:
                return await self.no(tag, "[NONEXISTENT] No such mailbox")
            mb.subscribed = on
        return await self.ok(tag)

    async def cmd_subscribe(self, tag, args):
        return await self._subscribe(tag, args, True)

    async def cmd_unsubscribe(self, tag, args):
        return await self._subscribe(tag, args, False)

    def _mb(self, name):
        return self._acc().mailboxes.get("INBOX" if name.upper() == "INBOX" else name)

    async def cmd_status(self, tag, args):
        name = _astr(args[0])
        with self.s.lock:
            mb = self._mb(name)
            if mb is None:
                return await self.no(tag, "[NONEXISTENT] No such mailbox")
            vals = []
            for item in args[1]:
                item = bytes(item).decode().upper()
                v = {"MESSAGES": len(mb.messages), "UIDNEXT": mb.uidnext,
                     "UIDVALIDITY": mb.uidvalidity, "RECENT": 0,
                     "UNSEEN": sum(1 for m in mb.messages if "\\Seen" not in m.flags),
                     "SIZE": sum(len(m.data) for m in mb.messages)}.get(item)
                if v is not None:
                    vals.append(f"{item} {v}")
        await self.send(f"* STATUS {_quote(name)} ({' '.join(vals)})\r\n")
        return await self.ok(tag)

    async def _select(self, tag, args, readonly):
        name = _astr(args[0])
        self.selected = None
        with self.s.lock:
            mb = self._mb(name)
            if mb is None:
                return await self.no(tag, "[NONEXISTENT] No such mailbox")
            self.view = [m.uid for m in mb.messages]
            kws = sorted({f for m in mb.messages for f in m.flags if not f.startswith("\\")})
            flags = " ".join(list(SYSTEM_FLAGS) + kws)
            lines = (f"* FLAGS ({flags})\r\n"
                     f"* {len(mb.messages)} EXISTS\r\n* 0 RECENT\r\n"
                     f"* OK [UIDVALIDITY {mb.uidvalidity}] UIDs valid\r\n"
                     f"* OK [UIDNEXT {mb.uidnext}] Predicted next UID\r\n"
                     f"* OK [PERMANENTFLAGS ({flags} \\*)] Limited\r\n")
        self.selected = mb
        self.readonly = readonly
        await self.send(lines)
        return await self.ok(tag, "Select completed", "READ-ONLY" if readonly else "READ-WRITE")

    async def cmd_select(self, tag, args):
        return await self._select(tag, args, False)

    async def cmd_examine(self, tag, args):
        return await self._select(tag, args, True)

    async def cmd_unselect(self, tag, args):
        self.selected = None
        return await self.ok(tag)

    async def cmd_close(self, tag, args):
        if not self.readonly:
            await self._expunge(None, notify=False)
        self.selected = None
        return await self.ok(tag)

    async def _notify(self):
        """Tell this session about messages that arrived (EXISTS)."""
        if self.selected is None:
            return
        with self.s.lock:
            known = set(self.view)
            new = [m.uid for m in self.selected.messages if m.uid not in known]
            self.view.extend(new)
            n = len(self.view)
        if new:
            await self.send(f"* {n} EXISTS\r\n")

    def _targets(self, setspec, uid):
        """[(seq, Message)] addressed by a sequence or UID set."""
        mb = self.selected
        by_uid = {m.uid: m for m in mb.messages}
        view = [(i + 1, by_uid[u]) for i, u in enumerate(self.view) if u in by_uid]
        if not view:
            return []
        if uid:
            maximum = max(m.uid for _, m in view)
            pred = parse_set(setspec, maximum)
            sel = [(s, m) for s, m in view if pred(m.uid)]
            if not sel and "*" in setspec:
                sel = [view[-1]]
            return sel
        pred = parse_set(setspec, len(self.view))
        return [(s, m) for s, m in view if pred(s)]

    async def _fetch(self, tag, args, uid):
        setspec = bytes(args[0]).decode()
        items = args[1] if isinstance(args[1], list) else args[1:]
        names = []
        for it in items:
            t = bytes(it).decode().upper()
            if t == "FAST":
                names += ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
            elif t == "ALL":
                names += ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
            elif t == "FULL":
                names += ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
            else:
                names.append(t)
        if uid and "UID" not in names:
            names.insert(0, "UID")
        await self._notify()
        with self.s.lock:
            sel = self._targets(setspec, uid)
            out = []
            for seq, m in sel:
                parts = []
                set_seen = False
                for n in names:
                    if n == "UID":
                        parts.append(f"UID {m.uid}".encode())
                    elif n == "FLAGS":
                        pass
                    elif n == "INTERNALDATE":
                        parts.append(f'INTERNALDATE "{imap_date(m.internaldate)}"'.encode())
                    elif n == "RFC822.SIZE":
                        parts.append(f"RFC822.SIZE {len(m.data)}".encode())
                    elif n in ("BODY[]", "BODY.PEEK[]", "RFC822", "BINARY.PEEK[]"):
                        label = "RFC822" if n == "RFC822" else "BODY[]"
                        parts.append(f"{label} {{{len(m.data)}}}\r\n".encode() + m.data)
                        if n != "BODY.PEEK[]" and not self.readonly:
                            set_seen = True
                    else:
                        raise ImapSyntaxError(f"unsupported FETCH item {n}")
                if set_seen and "\\Seen" not in m.flags:
                    m.flags.add("\\Seen")
                    if "FLAGS" not in names:
                        names.append("FLAGS")
                if "FLAGS" in names:
                    parts.insert(1 if uid else 0,
                                 f"FLAGS ({' '.join(sorted(m.flags))})".encode())
                out.append(f"* {seq} FETCH (".encode() + b" ".join(parts) + b")\r\n")
        for chunk in out:
            await self.send(chunk)
        return await self.ok(tag, "Fetch completed")

    async def cmd_fetch(self, tag, args):
        return await self._fetch(tag, args, False)

    async def cmd_uid_fetch(self, tag, args):
        return await self._fetch(tag, args, True)

    async def _store(self, tag, args, uid):
        if self.readonly:
            return await self.no(tag, "[READ-ONLY] Mailbox is read-only")
        setspec = bytes(args[0]).decode()
        op = bytes(args[1]).decode().upper()
        flags = args[2] if isinstance(args[2], list) else args[2:]
        flags = {_norm_flag(bytes(f).decode()) for f in flags}
        silent = op.endswith(".SILENT")
        op = op.replace(".SILENT", "")
        out = []
        with self.s.lock:
            for seq, m in self._targets(setspec, uid):
                if op == "+FLAGS":
                    m.flags |= flags
                elif op == "-FLAGS":
                    m.flags -= flags
                elif op == "FLAGS":
                    m.flags = set(flags)
                else:
                    raise ImapSyntaxError(f"bad STORE operation {op}")
                if not silent:
                    u = f"UID {m.uid} " if uid else ""
                    out.append(f"* {seq} FETCH ({u}FLAGS ({' '.join(sorted(m.flags))}))\r\n")
        await self.send("".join(out))
        return await self.ok(tag, "Store completed")

    async def cmd_store(self, tag, args):
        return await self._store(tag, args, False)

    async def cmd_uid_store(self, tag, args):
        return await self._store(tag, args, True)

    async def _search(self, tag, args, uid):
        words = [bytes(a).decode().upper() if not isinstance(a, list) else "" for a in args]
        with self.s.lock:
            sel = self._targets("1:*", False)
            if "UID" in words:
                spec = bytes(args[words.index("UID") + 1]).decode()
                sel = [(s, m) for s, m in sel if m.uid in
                       {mm.uid for _, mm in self._targets(spec, True)}]
            elif words and words[0] not in ("ALL", "CHARSET"):
                if words[0][:1].isdigit() or words[0][:1] == "*":
                    keep = {mm.uid for _, mm in self._targets(words[0], False)}
                    sel = [(s, m) for s, m in sel if m.uid in keep]
                else:
                    raise ImapSyntaxError(f"unsupported SEARCH key {words[0]}")
            nums = [str(m.uid if uid else s) for s, m in sel]
        await self.send("* SEARCH" + "".join(" " + n for n in nums) + "\r\n")
        return await self.ok(tag, "Search completed")

    async def cmd_search(self, tag, args):
        return await self._search(tag, args, False)

    async def cmd_uid_search(self, tag, args):
        return await self._search(tag, args, True)

    async def _expunge(self, uids, notify=True):
        out = []
        with self.s.lock:
            mb = self.selected
            gone = {m.uid for m in mb.messages if "\\Deleted" in m.flags
                    and (uids is None or m.uid in uids)}
            mb.messages = [m for m in mb.messages if m.uid not in gone]
            for u in list(self.view)[::-1]:
                if u in gone:
                    seq = self.view.index(u) + 1
                    self.view.pop(seq - 1)
                    out.append(f"* {seq} EXPUNGE\r\n")
        if notify and out:
            await self.send("".join(out))

    async def cmd_expunge(self, tag, args):
        if self.readonly:
            return await self.no(tag, "[READ-ONLY] Mailbox is read-only")
        await self._expunge(None)
        return await self.ok(tag, "Expunge completed")

    async def cmd_uid_expunge(self, tag, args):
        if self.readonly:
            return await self.no(tag, "[READ-ONLY] Mailbox is read-only")
        spec = bytes(args[0]).decode()
        with self.s.lock:
            uids = {m.uid for _, m in self._targets(spec, True)}
        await self._expunge(uids)
        return await self.ok(tag, "Expunge completed")

    async def cmd_append(self, tag, args):
        name = _astr(args[0])
        rest = args[1:]
        flags, date = [], None
        if rest and isinstance(rest[0], list):
            flags = [_norm_flag(bytes(f).decode()) for f in rest[0]]
            rest = rest[1:]
        if len(rest) >= 2:
            date = parse_imap_date(bytes(rest[0]).decode())
            rest = rest[1:]
        if len(rest) != 1 or not isinstance(rest[0], Literal):
            raise ImapSyntaxError("APPEND needs one message literal (MULTIAPPEND is not offered)")
        data = bytes(rest[0])
        if not data:
            return await self.no(tag, "Can't save a zero byte message")
        s = self.s
        with s.lock:
            mb = self._mb(name)
            if mb is None:
                return await self.no(tag, "[TRYCREATE] Mailbox doesn't exist")
            acc = self._acc()
            over = ((s.quota_messages is not None and acc.count() + 1 > s.quota_messages)
                    or (s.quota_bytes is not None and acc.size() + len(data) > s.quota_bytes))
            if not over:
                if date is None:
                    date = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
                m = mb.add(data, [f for f in flags if f.lower() != "\\recent"], date)
        if over:
            await self.send(f"{tag} {s.quota_reply}\r\n")
            return "no"
        if self.selected is mb:
            await self._notify()
        return await self.ok(tag, "Append completed", f"APPENDUID {mb.uidvalidity} {m.uid}")
