"""Independent check of a migration: what one IMAP account holds against another.

    from tests.e2e import verify
    report = verify.compare(src, dst)     # two logged-in imaplib connections
    assert report.ok, str(report)

Nothing here asks mailferry anything: both sides are read with Python's
imaplib (EXAMINE, so \\Deleted messages are never expunged and \\Seen never
set). For every selectable source folder (names decoded from modified UTF-7,
hierarchy as "/"-separated paths whatever each server's separator) the target
folder is: folder_map[name] if given; else the target's only folder with the
same special-use (\\Sent, \\Drafts, \\Trash, \\Junk, \\Archive, \\All,
\\Flagged); else the folder of the same name (INBOX in any case).

Messages are compared as multisets keyed by the sha256 of BODY.PEEK[] (every
byte): each source message needs one target message with the same bytes, the
same system flags and keywords (\\Recent ignored) and the same INTERNALDATE as
a UTC instant. A target message with bytes that no source message has is
"extra", one more copy than the source has is a "duplicate". A missing and an
extra message of one folder with the same Message-ID are reported together as
a "bytes mismatch". Subscriptions (LSUB) of the mapped folders must match.
Target folders that no source folder maps to are listed but do not fail.

Memory: bodies are fetched in batches of at most 8 MiB (and 200 messages) by
their RFC822.SIZE, a larger message alone; only hashes are kept. imaplib reads a
literal whole (no copy is made here), so a big message is in memory while it
is hashed: about twice its size at the peak of imaplib's read.

compare() also accepts Snapshot objects for either side: snapshot(conn) reads
an account, Snapshot.from_folders(corpus.build(...)) describes what a corpus
load should give.
"""

import dataclasses
import datetime as dt
import hashlib
import os
import re
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.corpus.corpus import capabilities, imap_quote, mutf7_decode  # noqa: E402

SYSTEM_FLAGS = {"\\seen": "\\Seen", "\\answered": "\\Answered", "\\flagged": "\\Flagged",
                "\\deleted": "\\Deleted", "\\draft": "\\Draft"}
SPECIAL_USES = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
BATCH_BYTES = 8 * 1024 * 1024
BATCH_COUNT = 200
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


class VerifyError(RuntimeError):
    pass


# ---- a small IMAP response parser ---------------------------------------------

class Atom(bytes):
    """An unquoted IMAP atom (NIL, flags, numbers, section names)."""


class _Literal:
    """A literal's bytes, carried through the parser without a copy."""
    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


_TOKEN = re.compile(rb'[ \t\r\n]*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|'
                    rb'((?:[^\s()"\[]|\[[^\]]*\])+))', re.S)
_LITERAL_END = re.compile(rb'~?\{(\d+)\+?\}\Z')


def _tokens(data):
    """Tokens of imaplib response data: a list whose items are bytes or
    (bytes ending in {n}, literal) tuples."""
    out = []
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            text, lit = item
            mo = _LITERAL_END.search(text)
            if mo:
                text = text[:mo.start()]
            out.extend(_lex(text))
            out.append(_Literal(lit))
        else:
            out.extend(_lex(item))
    return out


def _lex(text):
    out, pos = [], 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        mo = _TOKEN.match(text, pos)
        if not mo or mo.end() == pos:
            raise VerifyError(f"cannot parse IMAP response near {text[pos:pos + 60]!r}")
        pos = mo.end()
        if mo.group(1):
            out.append("(")
        elif mo.group(2):
            out.append(")")
        elif mo.group(3) is not None:
            out.append(re.sub(rb"\\(.)", rb"\1", mo.group(3)))
        else:
            out.append(Atom(mo.group(4)))
    return out


def _parse(tokens):
    """Nested lists from tokens: returns the list of top-level values."""
    stack = [[]]
    for t in tokens:
        if t == "(":          # str tokens are the parentheses; strings are bytes
            stack.append([])
        elif t == ")":
            if len(stack) == 1:
                raise VerifyError("unbalanced ) in IMAP response")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(t.data if isinstance(t, _Literal) else t)
    if len(stack) != 1:
        raise VerifyError("unbalanced ( in IMAP response")
    return stack[0]


def parse_fetch(data):
    """imaplib FETCH response data -> [(seq, {ITEM: value})]; ITEM names upper
    case bytes (b"UID", b"FLAGS", b"BODY[]", ...); values are bytes (an Atom
    for an atom, the very bytes object imaplib read for a literal), or lists."""
    values = _parse(_tokens(data))
    out = []
    i = 0
    while i < len(values):
        seq, items = values[i], values[i + 1] if i + 1 < len(values) else None
        if not isinstance(seq, Atom) or not seq.isdigit() or not isinstance(items, list):
            raise VerifyError(f"unexpected FETCH data: {values[i:i + 2]!r}")
        d = {}
        for k in range(0, len(items) - 1, 2):
            d[bytes(items[k]).upper()] = items[k + 1]
        out.append((int(seq), d))
        i += 2
    return out


def parse_internaldate(value):
    """An IMAP date-time ("17-Jul-1996 02:44:25 -0700") as an aware UTC datetime."""
    if isinstance(value, bytes):
        value = value.decode("ascii")
    mo = re.fullmatch(r"\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)",
                      value)
    if not mo:
        raise VerifyError(f"bad INTERNALDATE {value!r}")
    day, mon, year, hh, mm, ss, sign, zh, zm = mo.groups()
    off = dt.timedelta(hours=int(zh), minutes=int(zm)) * (-1 if sign == "-" else 1)
    when = dt.datetime(int(year), _MONTHS[mon.lower()], int(day), int(hh), int(mm), int(ss),
                       tzinfo=dt.timezone(off))
    return when.astimezone(dt.timezone.utc)


def header_value(data, name):
    """First value of a header field (bytes) of a message, unfolded, or None."""
    mo = re.search(rb"(?:\A|\r?\n)\r?\n", data)
    head = data[:mo.end()] if mo else data
    mo = re.search(rb"(?im)^" + re.escape(name) + rb"[ \t]*:(.*(?:\r?\n[ \t].*)*)", head)
    return re.sub(rb"\r?\n", b"", mo.group(1)).strip() if mo else None


# ---- snapshots ------------------------------------------------------------------

@dataclasses.dataclass
class MessageInfo:
    sha256: str
    size: int
    flags: frozenset           # canonical system flags, no \Recent
    keywords: frozenset
    internaldate: dt.datetime  # UTC
    message_id: bytes = None
    uid: int = None
    reported_size: int = None  # RFC822.SIZE

    def describe(self):
        mid = self.message_id.decode(errors="replace") if self.message_id else "(no Message-ID)"
        uid = f"uid {self.uid} " if self.uid is not None else ""
        return f"{uid}{mid} {self.size} B sha256 {self.sha256[:12]}"


@dataclasses.dataclass
class FolderInfo:
    name: str                   # Unicode, "/"-separated
    wire: str = None            # as the server names it
    delimiter: str = "/"
    attributes: frozenset = frozenset()  # lower case, e.g. "\\noselect"
    special_use: str = None
    subscribed: bool = False
    selectable: bool = True
    messages: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Snapshot:
    folders: dict               # name -> FolderInfo
    subscriptions: set          # Unicode names (also of folders that do not exist)
    notes: list = dataclasses.field(default_factory=list)

    @classmethod
    def from_folders(cls, folders, transform=None):
        """What loading corpus folders should give: transform(message) may
        return the expected bytes (default message.expected) or None to leave
        the message out (e.g. one the server refuses)."""
        out, subs = {}, set()
        for f in folders:
            infos = []
            for m in f.messages:
                if m.data is None:
                    sha, size, mid = m.file_sha256, m.file_size, None
                else:
                    data = transform(m) if transform else m.expected
                    if data is None:
                        continue
                    sha, size = hashlib.sha256(data).hexdigest(), len(data)
                    mid = header_value(data, b"message-id")
                system, kws = _norm_flags(m.flags + m.keywords)
                infos.append(MessageInfo(sha, size, system, kws,
                                         m.internaldate.astimezone(dt.timezone.utc), mid))
            name = "INBOX" if f.name.upper() == "INBOX" else f.name
            out[name] = FolderInfo(name, special_use=f.special_use, subscribed=f.subscribed,
                                   messages=infos)
            if f.subscribed:
                subs.add(name)
        return cls(out, subs)


def _norm_flags(flags):
    system, kws = set(), set()
    for f in flags:
        if isinstance(f, bytes):
            f = f.decode("utf-8", "replace")
        low = f.lower()
        if low == "\\recent":
            continue
        if low in SYSTEM_FLAGS:
            system.add(SYSTEM_FLAGS[low])
        else:
            kws.add(f)
    return frozenset(system), frozenset(kws)


def _decode_name(wire, delimiter):
    try:
        name = mutf7_decode(wire)
    except (ValueError, UnicodeDecodeError):
        name = wire if isinstance(wire, str) else wire.decode("utf-8", "replace")
    if delimiter and delimiter != "/":
        name = "/".join(name.split(delimiter))
    if name.upper() == "INBOX":
        name = "INBOX"
    return name


def _list(m, command, extended=False):
    """[(wire name, delimiter, attributes)] from LIST or LSUB."""
    if extended:
        typ, dat = m._simple_command(command, '""', '"*"', "RETURN", "(SPECIAL-USE SUBSCRIBED)")
    else:
        typ, dat = m._simple_command(command, '""', '"*"')
    typ, dat = m._untagged_response(typ, dat, command)
    if typ != "OK":
        raise VerifyError(f"{command}: {typ} {dat}")
    out = []
    for item in dat:
        if item is None:
            continue
        vals = _parse(_tokens([item]))
        if len(vals) < 3:
            raise VerifyError(f"unexpected {command} data {item!r}")
        attrs = frozenset(bytes(a).decode().lower() for a in vals[0])
        delim = vals[1]
        delim = None if isinstance(delim, Atom) and delim.upper() == b"NIL" else delim.decode()
        wire = bytes(vals[2]).decode("utf-8", "replace")
        out.append((wire, delim, attrs))
    return out


def _fetch(m, uid_set, items):
    typ, dat = m.uid("FETCH", uid_set, items)
    if typ != "OK":
        raise VerifyError(f"UID FETCH {uid_set} {items}: {typ} {dat}")
    return parse_fetch([d for d in dat if d is not None])


def _uid_set(uids):
    return ",".join(str(u) for u in uids)


def read_folder(m, wire, batch_bytes=BATCH_BYTES, batch_count=BATCH_COUNT):
    """MessageInfo for every message of a folder (EXAMINEd: nothing changes)."""
    typ, dat = m.select(imap_quote(wire), readonly=True)
    if typ != "OK":
        raise VerifyError(f"EXAMINE {wire}: {typ} {dat}")
    if int(dat[0] or 0) == 0:
        return []
    meta = {}
    for _, d in _fetch(m, "1:*", "(UID RFC822.SIZE FLAGS INTERNALDATE)"):
        if b"UID" in d:  # (earlier unsolicited FETCH responses come first)
            meta.setdefault(int(d[b"UID"]), {}).update(d)
    uids = sorted(meta)
    batches, cur, cur_bytes = [], [], 0
    for uid in uids:
        size = int(meta[uid].get(b"RFC822.SIZE", 0))
        if cur and (cur_bytes + size > batch_bytes or len(cur) >= batch_count):
            batches.append(cur)
            cur, cur_bytes = [], 0
        cur.append(uid)
        cur_bytes += size
    if cur:
        batches.append(cur)
    infos = {}
    for batch in batches:
        for _, d in _fetch(m, _uid_set(batch), "(UID BODY.PEEK[])"):
            if b"UID" not in d or b"BODY[]" not in d:
                continue
            uid = int(d[b"UID"])
            body = d[b"BODY[]"]
            md = meta[uid]
            system, kws = _norm_flags(md.get(b"FLAGS", []))
            infos[uid] = MessageInfo(
                sha256=hashlib.sha256(body).hexdigest(), size=len(body), flags=system,
                keywords=kws, internaldate=parse_internaldate(md[b"INTERNALDATE"]),
                message_id=header_value(body, b"message-id"), uid=uid,
                reported_size=int(md[b"RFC822.SIZE"]) if b"RFC822.SIZE" in md else None)
            del body, d
    missing = [u for u in uids if u not in infos]
    if missing:
        raise VerifyError(f"{wire}: no BODY[] returned for UIDs {missing[:10]}")
    return [infos[u] for u in uids]


def snapshot(m, ignore_folders=(), batch_bytes=BATCH_BYTES):
    """Read a whole account (folders, subscriptions, messages) from a logged-in
    imaplib connection."""
    caps = capabilities(m)
    extended = "LIST-EXTENDED" in caps and "SPECIAL-USE" in caps
    try:
        listed = _list(m, "LIST", extended=extended)
    except Exception:
        if not extended:
            raise
        listed = _list(m, "LIST")
    folders = {}
    for wire, delim, attrs in listed:
        name = _decode_name(wire, delim)
        if name in ignore_folders:
            continue
        su = [s for s in SPECIAL_USES if s.lower() in attrs]
        selectable = not ({"\\noselect", "\\nonexistent"} & attrs)
        folders[name] = FolderInfo(name, wire, delim or "/", attrs, su[0] if su else None,
                                   selectable=selectable)
    subs = set()
    for wire, delim, attrs in _list(m, "LSUB"):
        subs.add(_decode_name(wire, delim))
    notes = []
    for f in folders.values():
        f.subscribed = f.name in subs
        if f.selectable:
            f.messages = read_folder(m, f.wire, batch_bytes=batch_bytes)
            for i in f.messages:
                if i.reported_size is not None and i.reported_size != i.size:
                    notes.append(f"{f.name}: uid {i.uid} RFC822.SIZE {i.reported_size} "
                                 f"but BODY[] has {i.size} bytes")
    try:
        m.unselect()
    except Exception:  # noqa: BLE001 - UNSELECT is optional
        pass
    return Snapshot(folders, subs, notes)


# ---- comparison -------------------------------------------------------------------

@dataclasses.dataclass
class Problem:
    kind: str          # missing, extra, duplicate, bytes, flags, date
    folder: str        # source folder (target folder for extra/duplicate)
    detail: str
    src: MessageInfo = None
    dst: MessageInfo = None

    def __str__(self):
        return f"[{self.folder}] {self.detail}"


@dataclasses.dataclass
class FolderResult:
    source: str
    target: str
    source_count: int = 0
    target_count: int = 0
    matched: int = 0   # same bytes, flags and date


class Report:
    def __init__(self):
        self.folders = []            # FolderResult
        self.missing = []            # Problem
        self.extra = []
        self.duplicates = []
        self.bytes_mismatch = []
        self.flag_mismatch = []
        self.date_mismatch = []
        self.missing_folders = []    # source names
        self.extra_folders = []      # target names no source folder maps to (informational)
        self.missing_subscriptions = []   # source names subscribed there, not on the target
        self.extra_subscriptions = []     # mapped target folders subscribed, source not
        self.notes = []

    @property
    def ok(self):
        return not (self.missing or self.extra or self.duplicates or self.bytes_mismatch
                    or self.flag_mismatch or self.date_mismatch or self.missing_folders
                    or self.missing_subscriptions or self.extra_subscriptions)

    @property
    def problems(self):
        return (self.missing + self.extra + self.duplicates + self.bytes_mismatch
                + self.flag_mismatch + self.date_mismatch)

    def counts(self):
        return {r.source: (r.source_count, r.target_count) for r in self.folders}

    def __str__(self, limit=20):
        lines = [f"verify: {'OK' if self.ok else 'DIFFERENCES FOUND'}: "
                 f"{sum(r.source_count for r in self.folders)} source messages in "
                 f"{len(self.folders)} folders, "
                 f"{sum(r.target_count for r in self.folders)} on the target"]
        w = max([len(r.source) for r in self.folders] + [6])
        lines.append(f"  {'folder':<{w}}  {'target':<{w}}  source  target  matched")
        for r in self.folders:
            lines.append(f"  {r.source:<{w}}  {r.target:<{w}}  {r.source_count:>6}  "
                         f"{r.target_count:>6}  {r.matched:>7}")
        for title, items in (("missing folders", self.missing_folders),
                             ("missing subscriptions", self.missing_subscriptions),
                             ("extra subscriptions", self.extra_subscriptions),
                             ("missing messages", self.missing),
                             ("extra messages", self.extra),
                             ("duplicate messages", self.duplicates),
                             ("bytes mismatches", self.bytes_mismatch),
                             ("flag mismatches", self.flag_mismatch),
                             ("date mismatches", self.date_mismatch),
                             ("target folders without a source (not an error)",
                              self.extra_folders),
                             ("notes", self.notes)):
            if not items:
                continue
            lines.append(f"  {title}: {len(items)}")
            for it in items[:limit]:
                lines.append(f"    {it}")
            if len(items) > limit:
                lines.append(f"    ... {len(items) - limit} more")
        return "\n".join(lines)

    __repr__ = __str__


def _flag_text(info):
    return " ".join(sorted(info.flags) + sorted(info.keywords)) or "(none)"


def _same_flags(a, b, keyword_case):
    if a.flags != b.flags:
        return False
    if keyword_case:
        return a.keywords == b.keywords
    return {k.lower() for k in a.keywords} == {k.lower() for k in b.keywords}


def _compare_messages(res, report, src_msgs, dst_msgs, keyword_case, date_tolerance):
    folder = res.source
    by_src, by_dst = {}, {}
    for i in src_msgs:
        by_src.setdefault(i.sha256, []).append(i)
    for i in dst_msgs:
        by_dst.setdefault(i.sha256, []).append(i)
    missing, extra = [], []

    def same_date(a, b):
        return abs((a.internaldate - b.internaldate).total_seconds()) <= date_tolerance

    for sha, srcs in by_src.items():
        dsts = list(by_dst.get(sha, []))
        left = []
        # Pair equal (flags, date) first, then the rest in date order.
        for s in srcs:
            hit = next((d for d in dsts if _same_flags(s, d, keyword_case) and same_date(s, d)),
                       None)
            if hit is not None:
                dsts.remove(hit)
                res.matched += 1
            else:
                left.append(s)
        left.sort(key=lambda i: i.internaldate)
        dsts.sort(key=lambda i: i.internaldate)
        for s in left:
            if not dsts:
                missing.append(s)
                continue
            d = dsts.pop(0)
            if not _same_flags(s, d, keyword_case):
                report.flag_mismatch.append(Problem(
                    "flags", folder, f"source {s.describe()}: source {_flag_text(s)}, "
                    f"target (uid {d.uid}) {_flag_text(d)}", s, d))
            if not same_date(s, d):
                report.date_mismatch.append(Problem(
                    "date", folder, f"source {s.describe()}: source {s.internaldate.isoformat()}, "
                    f"target (uid {d.uid}) {d.internaldate.isoformat()}", s, d))
        for d in dsts:
            report.duplicates.append(Problem(
                "duplicate", res.target, f"target {d.describe()}: {len(by_dst[sha])} copies on the "
                f"target, {len(srcs)} on the source", None, d))
    for sha, dsts in by_dst.items():
        if sha not in by_src:
            extra.extend(dsts)
    # A missing and an extra message with the same Message-ID: bytes changed.
    for s in list(missing):
        if not s.message_id:
            continue
        d = next((d for d in extra if d.message_id == s.message_id), None)
        if d is not None:
            missing.remove(s)
            extra.remove(d)
            report.bytes_mismatch.append(Problem(
                "bytes", folder, f"source {s.describe()}: target uid {d.uid} has other bytes "
                f"({d.size} B sha256 {d.sha256[:12]})", s, d))
    for s in missing:
        report.missing.append(Problem("missing", folder, "source " + s.describe(), s, None))
    for d in extra:
        report.extra.append(Problem("extra", res.target, "target " + d.describe(), None, d))


def _target_for(name, sfolder, dst, folder_map):
    if folder_map and name in folder_map:
        return folder_map[name]
    if sfolder.special_use:
        same = [f.name for f in dst.folders.values() if f.special_use == sfolder.special_use]
        if len(same) == 1:
            return same[0]
    return name


def compare(src, dst, folder_map=None, ignore_folders=(), keyword_case=False,
            date_tolerance=0):
    """Compare the source account with the target account. src and dst are
    logged-in imaplib connections (or Snapshots). folder_map: {source name:
    target name} ("/"-separated Unicode names). ignore_folders: source folder
    names to leave out. keyword_case: compare keywords case-sensitively.
    date_tolerance: seconds two INTERNALDATEs may differ by. Returns a Report."""
    s = src if isinstance(src, Snapshot) else snapshot(src, ignore_folders=ignore_folders)
    d = dst if isinstance(dst, Snapshot) else snapshot(dst)
    report = Report()
    report.notes = [f"source: {n}" for n in s.notes] + [f"target: {n}" for n in d.notes]
    ignore = set(ignore_folders)
    # Names that exist on the target, parents of listed folders included.
    dst_names = set(d.folders)
    for n in list(dst_names):
        parts = n.split("/")
        dst_names.update("/".join(parts[:i]) for i in range(1, len(parts)))

    groups = {}   # target name -> [source FolderInfo]
    mapped = {}
    for name in sorted(s.folders, key=lambda n: (n != "INBOX", n)):
        if name in ignore:
            continue
        sf = s.folders[name]
        target = _target_for(name, sf, d, folder_map)
        if target.upper() == "INBOX":
            target = "INBOX"
        mapped[name] = target
        if target not in dst_names:
            report.missing_folders.append(name)
        if sf.subscribed and target not in d.subscriptions:
            report.missing_subscriptions.append(f"{name} (target {target})")
        if sf.selectable:
            groups.setdefault(target, []).append(sf)

    for target, sfs in groups.items():
        df = d.folders.get(target)
        src_msgs = [m for sf in sfs for m in sf.messages]
        dst_msgs = df.messages if df is not None else []
        res = FolderResult(" + ".join(sf.name for sf in sfs), target, len(src_msgs),
                           len(dst_msgs))
        report.folders.append(res)
        _compare_messages(res, report, src_msgs, dst_msgs, keyword_case, date_tolerance)

    targets = set(mapped.values())
    for target in sorted(targets):
        srcs = [n for n, t in mapped.items() if t == target]
        if target in d.subscriptions and not any(s.folders[n].subscribed for n in srcs):
            report.extra_subscriptions.append(
                f"{target} (source {', '.join(srcs)} not subscribed)")
    report.extra_folders = sorted(n for n in d.folders if n not in targets)
    return report
