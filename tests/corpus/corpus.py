"""Deterministic test mailboxes built from third-party mail, and an IMAP loader.

The material comes from tests/corpus/fetch.sh (run on demand by build()): the
SpamAssassin public corpus and the MIME edge cases of enmime, Python's email
package and MIME::Explode, cached under $MAILFERRY_CORPUS_DIR or
/var/cache/mailferry-test/corpus.

    from tests.corpus import corpus
    folders = corpus.build("small")          # list of Folder, same every run
    corpus.load_imap("127.0.0.1", port, "alice", "alicepw", folders)
    big = corpus.build("big", size=200 * corpus.MiB)   # one message, on disk
    corpus.load_big("127.0.0.1", port, "alice", "alicepw", big[0].messages[0])

A Folder has a Unicode name with "/" as the hierarchy separator ("Archive/2024",
"Entwürfe/Übersicht"), an optional special_use ("\\Sent"), subscribed, and
messages. A Message has data (bytes as they are APPENDed) or path (the big
message), flags (system flags), keywords, internaldate (an aware datetime,
whole seconds), source (where it came from), tags (its quirks, below) and
expected (the bytes an IMAP server gives back: CRLF line endings).

"small" (about 300 messages): a fixed sample of the SpamAssassin corpus, every
MIME edge-case file, and a few messages made here for what the third-party mail
lacks. Tags name the quirks:
  bare-lf       kept with LF (or mixed) line endings; every other message is
                normalised to CRLF before loading (IMAP servers deliver CRLF)
  bare-cr       contains a lone CR
  nul           contains NUL bytes (in the body, or in a header)
  8bit-header   raw 8-bit bytes in the header (UTF-8 or Latin-1)
  no-msgid      no Message-ID header
  dup-msgid     shares its Message-ID with a different message of the folder
  dup-bytes     byte-identical to another message of the same folder
  cross-folder  byte-identical copies in several folders
  bad-header    a header line that is no field, no continuation, and no
                leading mbox "From " line
  mbox-from-line  starts with an mbox "From " line (MIME edge-case files that
                have it keep it: it is part of their test)
  future-date   INTERNALDATE in 2030 (every other date is 1998-2025)
  mbox-split    one message of an mbox file, its "From " line removed

What the servers do with them on APPEND (raw bytes; seen with Dovecot 2.3.19
and Cyrus 3.6.1 here; imaplib's own append() is not used because it rewrites
every CR and LF to CRLF):
  bare LF        Dovecot stores the message and FETCH gives CRLF line endings;
                 Cyrus refuses: NO "Message contains bare newlines"
  lone CR        both keep it as it is
  NUL            Dovecot stores it and FETCH gives 0x80 in place of each NUL;
                 Cyrus refuses: NO "Message contains NUL characters"
  8-bit header   Dovecot keeps the bytes; Cyrus replaces each 8-bit byte of the
                 header with "X" unless munge8bit: no (then it keeps them)
  bad header     Dovecot stores it; Cyrus refuses: NO "Message contains invalid
                 header" (a leading "From " line and a leading space pass)
  future date    Dovecot stores the time of the APPEND instead of an
                 INTERNALDATE in the future; Cyrus keeps it
  zero bytes     both refuse (enmime's empty part-empty.golden is left out)
So load_imap() by default records a refused APPEND in LoadResult.refused and
goes on (skip_refused=True); tests check that only tagged messages were refused.

"big": one multipart message of exactly `size` bytes (default 200 MiB) with a
base64 attachment of deterministic pseudo-random bytes, written to disk in
1 MiB chunks and cached; load_big() streams it to the server from the file.
"""

import base64
import dataclasses
import datetime as dt
import hashlib
import imaplib
import json
import os
import random
import re
import ssl as ssl_mod
import subprocess
import sys

MiB = 1024 * 1024
HERE = os.path.dirname(os.path.abspath(__file__))
FETCH_SCRIPT = os.path.join(HERE, "fetch.sh")
DEFAULT_DIR = "/var/cache/mailferry-test/corpus"
SEED = 20240501
BIG_DEFAULT_SIZE = 200 * MiB
CRLF = b"\r\n"

SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
KEYWORDS = ("$Forwarded", "$Junk", "$NotJunk", "$MDNSent", "$Label1", "Work", "todo",
            "Project_X")

# Folders of "small", parents before children: (name, special-use, subscribed).
SMALL_FOLDERS = (
    ("INBOX", None, True),
    ("Sent", "\\Sent", True),
    ("Drafts", "\\Drafts", True),
    ("Trash", "\\Trash", True),
    ("Junk", "\\Junk", True),
    ("Archive", None, True),
    ("Archive/2024", None, True),
    ("Entwürfe", None, True),
    ("Entwürfe/Übersicht", None, True),
    ("日本語", None, True),
    ("R&D Notes", None, True),
    ("Empty", None, False),
)
# Where the messages go (weights); Junk takes half of the spam besides.
_FOLDER_WEIGHTS = (("INBOX", 34), ("Sent", 9), ("Drafts", 5), ("Trash", 7), ("Junk", 4),
                   ("Archive", 4), ("Archive/2024", 14), ("Entwürfe", 2),
                   ("Entwürfe/Übersicht", 7), ("日本語", 7), ("R&D Notes", 7))
SA_PER_GROUP = 24
# Offsets (minutes) of the INTERNALDATE time zones.
_ZONES = (0, 60, 120, -300, -480, 330, 345, -210, 540, 840, -720, 600, 630, -600, 13 * 60)
_DATE_MIN = int(dt.datetime(1998, 1, 1, tzinfo=dt.timezone.utc).timestamp())
# Dovecot replaces an INTERNALDATE in the future by the time of the APPEND:
# generated dates stay in the past; one message (tag future-date) has 2030.
_DATE_MAX = int(dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc).timestamp())


class CorpusError(RuntimeError):
    pass


class LoadError(RuntimeError):
    pass


# ---- modified UTF-7 (RFC 3501 5.1.3) ----------------------------------------

def mutf7_encode(name):
    """Modified UTF-7 of a mailbox name (str -> str of printable ASCII)."""
    out, run = [], []

    def flush():
        if run:
            raw = "".join(run).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=")
                       .replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(name):
    """The Unicode name of a modified UTF-7 mailbox name (str or bytes).
    Raises ValueError on malformed input."""
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name).decode("ascii")
    out, i = [], 0
    while i < len(name):
        ch = name[i]
        if ord(ch) < 0x20 or ord(ch) > 0x7E:
            raise ValueError(f"non-ASCII byte in modified UTF-7: {name!r}")
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i + 1)
        if end < 0:
            raise ValueError(f"unterminated shift in {name!r}")
        b64 = name[i + 1:end]
        if not b64:
            out.append("&")
        else:
            if not re.fullmatch(r"[A-Za-z0-9+,]+", b64):
                raise ValueError(f"bad modified base64 in {name!r}")
            raw = base64.b64decode(b64.replace(",", "/") + "=" * (-len(b64) % 4))
            if len(raw) % 2:
                raise ValueError(f"odd UTF-16 length in {name!r}")
            out.append(raw.decode("utf-16-be"))
        i = end + 1
    return "".join(out)


# ---- data model ---------------------------------------------------------------

@dataclasses.dataclass
class Message:
    data: bytes = None               # the bytes to APPEND (None for a file)
    flags: tuple = ()                # system flags, e.g. ("\\Seen", "\\Draft")
    keywords: tuple = ()             # e.g. ("$Forwarded", "Work")
    internaldate: dt.datetime = None  # aware, whole seconds
    source: str = ""                 # provenance, e.g. "spamassassin/spam-1/00012.x.eml"
    tags: frozenset = frozenset()
    path: str = None                 # the big message: its file
    file_size: int = None
    file_sha256: str = None

    @property
    def all_flags(self):
        return tuple(self.flags) + tuple(self.keywords)

    @property
    def size(self):
        return len(self.data) if self.data is not None else self.file_size

    @property
    def expected(self):
        """The bytes an IMAP server returns for this message (line endings as
        CRLF; NUL bytes are server-specific, see the module doc)."""
        if self.data is None:
            raise CorpusError("expected of a file-backed message: use file_sha256")
        return to_crlf(self.data)

    @property
    def sha256(self):
        """sha256 (hex) of expected."""
        if self.data is None:
            return self.file_sha256
        return hashlib.sha256(self.expected).hexdigest()

    @property
    def message_id(self):
        return header_value(self.data, b"message-id") if self.data is not None else None


@dataclasses.dataclass
class Folder:
    name: str                        # Unicode, "/" separated
    messages: list = dataclasses.field(default_factory=list)
    special_use: str = None          # "\\Sent", ...
    subscribed: bool = True


def to_crlf(data):
    """Every bare LF turned into CRLF (what IMAP servers deliver; a lone CR
    stays as it is)."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def split_header(data):
    """(header, body) of a message; header ends with its blank line."""
    m = re.search(rb"(?:\A|\r?\n)\r?\n", data)
    if not m:
        return data, b""
    return data[:m.end()], data[m.end():]


def header_value(data, name):
    """The first value of header field name (bytes, lowercase), unfolded and
    stripped, or None."""
    head, _ = split_header(data)
    m = re.search(rb"(?im)^" + re.escape(name) + rb"[ \t]*:(.*(?:\r?\n[ \t].*)*)", head)
    if not m:
        return None
    return re.sub(rb"\r?\n", b"", m.group(1)).strip()


# ---- the cached material -------------------------------------------------------

def corpus_dir(directory=None):
    return os.path.abspath(directory or os.environ.get("MAILFERRY_CORPUS_DIR") or DEFAULT_DIR)


_STAMPS = ("spamassassin", "mime/enmime", "mime/python-email", "mime/mime-explode")


def ensure_fetched(directory=None):
    """Run fetch.sh unless every source is in the cache; returns the cache dir."""
    d = corpus_dir(directory)
    if all(os.path.exists(os.path.join(d, s, ".complete")) for s in _STAMPS):
        return d
    r = subprocess.run(["sh", FETCH_SCRIPT, d], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=900)
    if r.returncode != 0:
        raise CorpusError(f"{FETCH_SCRIPT} failed ({r.returncode}):\n"
                          f"{r.stderr.decode(errors='replace')[-4000:]}")
    return d


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _files(root, pattern=None):
    """Sorted relative paths of the regular files under root."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in sorted(filenames):
            if n.startswith("."):
                continue
            rel = os.path.relpath(os.path.join(dirpath, n), root)
            if pattern is None or re.search(pattern, rel):
                out.append(rel)
    return sorted(out)


def split_mbox(data):
    """Messages of an mbox file ("From " lines at the start or after a blank
    line separate them; the separator lines are removed)."""
    lines = data.splitlines(keepends=True)
    msgs, cur, prev_blank = [], None, True
    for line in lines:
        if line.startswith(b"From ") and prev_blank:
            if cur is not None:
                msgs.append(b"".join(cur))
            cur = []
        elif cur is not None:
            cur.append(line)
        prev_blank = line.strip() == b""
    if cur is not None:
        msgs.append(b"".join(cur))
    # The blank line before the next "From " belongs to the mbox format.
    return [re.sub(rb"(\r?\n)\r?\n\Z", rb"\1", m) if m.endswith((b"\n\n", b"\n\r\n")) else m
            for m in msgs]


def spamassassin_sample(directory, per_group=SA_PER_GROUP, seed=SEED):
    """[(source, bytes)]: per_group messages of each SpamAssassin group."""
    root = os.path.join(directory, "spamassassin")
    rng = random.Random(f"sa-{seed}")
    out = []
    for group in sorted(os.listdir(root)):
        gdir = os.path.join(root, group)
        if not os.path.isdir(gdir):
            continue
        names = _files(gdir, r"\.eml$")
        for n in sorted(rng.sample(names, min(per_group, len(names)))):
            out.append((f"spamassassin/{group}/{n}", _read(os.path.join(gdir, n))))
    return out


def mime_edge_cases(directory):
    """[(source, bytes)]: every MIME edge-case message (mboxes split, the
    empty file and non-message files left out)."""
    root = os.path.join(directory, "mime")
    out = []
    for rel in _files(os.path.join(root, "enmime")):
        if rel.startswith("attach/"):
            continue  # fake.png: not a message
        data = _read(os.path.join(root, "enmime", rel))
        if not data:
            continue  # part-empty.golden: IMAP servers refuse a 0-byte APPEND
        out.append((f"enmime/{rel}", data))
    for rel in _files(os.path.join(root, "python-email"), r"^msg_.*\.txt$"):
        out.append((f"python-email/{rel}", _read(os.path.join(root, "python-email", rel))))
    for rel in _files(os.path.join(root, "mime-explode")):
        data = _read(os.path.join(root, "mime-explode", rel))
        if rel.endswith(".mbx"):
            for i, m in enumerate(split_mbox(data), 1):
                out.append((f"mime-explode/{rel}#{i}", m))
        else:
            out.append((f"mime-explode/{rel}", data))
    return out


# ---- building "small" ------------------------------------------------------------

def _auto_tags(data):
    tags = set()
    head, _ = split_header(data)
    if re.search(rb"[\x80-\xff]", head):
        tags.add("8bit-header")
    if b"\x00" in data:
        tags.add("nul")
    if header_value(data, b"message-id") is None:
        tags.add("no-msgid")
    if data.startswith(b"From "):
        tags.add("mbox-from-line")
    if _bad_header(head):
        tags.add("bad-header")
    return tags


def _bad_header(head):
    """True if a line of the header section is neither a field ("Name:"), a
    continuation (leading white space), nor a leading mbox "From " line: what
    Cyrus refuses with "Message contains invalid header"."""
    lines = re.split(rb"\r?\n", head)
    for i, line in enumerate(lines):
        if line in (b"", b"\r"):
            continue
        if line[:1] in (b" ", b"\t"):
            continue
        if i == 0 and line.startswith(b"From "):
            continue
        if not re.match(rb"[!-9;-~]+[ \t]*:", line):
            return True
    return False


def _date(rng):
    ts = rng.randint(_DATE_MIN, _DATE_MAX)
    off = rng.choice(_ZONES)
    return dt.datetime.fromtimestamp(ts, dt.timezone(dt.timedelta(minutes=off)))


def _flags_for(folder, rng):
    flags, kws = set(), set()
    r = rng.random
    if folder == "Sent":
        flags.add("\\Seen")
        if r() < 0.2:
            kws.add("$Forwarded")
    elif folder == "Drafts":
        flags.add("\\Draft")
        if r() < 0.5:
            flags.add("\\Seen")
    elif folder == "Trash":
        if r() < 0.6:
            flags.add("\\Deleted")
        if r() < 0.8:
            flags.add("\\Seen")
    elif folder == "Junk":
        kws.add("$Junk")
        if r() < 0.4:
            flags.add("\\Seen")
    else:
        if r() < 0.7:
            flags.add("\\Seen")
        if r() < 0.15:
            flags.add("\\Answered")
        if r() < 0.12:
            flags.add("\\Flagged")
        if r() < 0.04:
            flags.add("\\Deleted")
        if r() < 0.03:
            flags.add("\\Draft")
        for kw in KEYWORDS:
            if kw != "$Junk" and r() < 0.07:
                kws.add(kw)
    return flags, kws


def _ordered(flags, kws):
    return (tuple(f for f in SYSTEM_FLAGS if f in flags),
            tuple(k for k in KEYWORDS if k in kws) + tuple(sorted(kws - set(KEYWORDS))))


def _with_header(data, line):
    """data with one header line (bytes, no line end) put first, using the
    message's own line ending."""
    nl = b"\r\n" if b"\r\n" in data[:2000] else b"\n"
    return line + nl + data


def _without_message_id(data):
    return re.sub(rb"(?im)^message-id[ \t]*:.*\r?\n(?:[ \t].*\r?\n)*", b"", data, count=1)


def _made_here(sample):
    """Messages made for the quirks the third-party mail lacks:
    [(folder or None, source, bytes, extra tags)]."""
    out = []
    date = b"Date: Mon, 15 Jan 2024 09:30:00 +0100\r\n"
    # 8-bit headers: raw UTF-8 (RFC 6532 style) and raw Latin-1.
    out.append(("Entwürfe/Übersicht", "made/8bit-utf8-header", (
        "From: Jörg Müller <joerg@example.test>\r\n"
        "To: Zoë <zoe@example.test>\r\n"
        "Subject: Grüße aus Köln – 日本語の件名\r\n").encode() + date +
        b"Message-ID: <8bit-utf8@mailferry.test>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
        "Schöne Grüße, 山田\r\n".encode(), {"8bit-header"}))
    out.append(("INBOX", "made/8bit-latin1-header", (
        "From: Fran\u00e7ois <francois@example.test>\r\nSubject: R\u00e9sum\u00e9 \u00e0 "
        "relire\r\n").encode("latin-1") + date +
        b"Message-ID: <8bit-latin1@mailferry.test>\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\n" +
        "Voil\u00e0.\r\n".encode("latin-1"), {"8bit-header"}))
    out.append(("日本語", "made/8bit-filename", (
        "From: a@example.test\r\nSubject: attachment with a raw 8-bit name\r\n").encode() +
        date + b"Message-ID: <8bit-filename@mailferry.test>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
        b"Content-Type: text/plain\r\n\r\nsee attachment\r\n--b1\r\n" +
        "Content-Type: application/pdf; name=\"Übersicht 報告.pdf\"\r\n"
        "Content-Disposition: attachment; filename=\"Übersicht 報告.pdf\"\r\n".encode() +
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n", set()))
    # Line endings kept as they are: LF only, mixed, a lone CR.
    lf = [d for s, d in sample if b"\r" not in d][:3]
    for i, d in enumerate(lf):
        out.append(("INBOX" if i < 2 else "Archive/2024", f"made/bare-lf-{i}",
                    _with_header(d, b"X-Mailferry-Corpus: bare-lf"), {"bare-lf"}))
    out.append(("INBOX", "made/mixed-endings",
                b"From: a@example.test\r\nSubject: mixed line endings\n" + date +
                b"Message-ID: <mixed@mailferry.test>\n\r\nline one\nline two\r\nline three\n",
                {"bare-lf"}))
    out.append(("R&D Notes", "made/lone-cr",
                b"From: a@example.test\r\nSubject: a lone CR\r\n" + date +
                b"Message-ID: <lone-cr@mailferry.test>\r\n\r\nbefore\rafter\r\n", {"bare-cr"}))
    # NUL bytes.
    out.append(("INBOX", "made/nul-body",
                b"From: a@example.test\r\nSubject: NUL in the body\r\n" + date +
                b"Message-ID: <nul-body@mailferry.test>\r\n\r\nbefore\x00after\r\n", {"nul"}))
    out.append(("Archive", "made/nul-header",
                b"From: a@example.test\r\nSubject: NUL\x00in a header\r\n" + date +
                b"Message-ID: <nul-header@mailferry.test>\r\n\r\nbody\r\n", {"nul"}))
    # A message longer than the 998-byte line limit, and one without a final CRLF.
    out.append(("Archive/2024", "made/long-line",
                b"From: a@example.test\r\nSubject: a 5000-byte line\r\n" + date +
                b"Message-ID: <long-line@mailferry.test>\r\n\r\n" + b"0123456789" * 500 +
                b"\r\n", set()))
    out.append(("Sent", "made/no-final-crlf",
                b"From: alice@example.test\r\nSubject: no final line end\r\n" + date +
                b"Message-ID: <no-final-crlf@mailferry.test>\r\n\r\nlast line", set()))
    return out


def build(kind="small", seed=SEED, directory=None, size=BIG_DEFAULT_SIZE, path=None):
    """The mailbox set of kind "small" or "big" as a list of Folder (same
    output for the same seed and cached material)."""
    if kind == "big":
        return [Folder("INBOX", [big_message(size=size, seed=seed, path=path,
                                             directory=directory)])]
    if kind != "small":
        raise ValueError(f"unknown corpus kind {kind!r}")
    d = ensure_fetched(directory)
    rng = random.Random(f"small-{seed}")
    folders = {name: Folder(name, [], su, sub) for name, su, sub in SMALL_FOLDERS}
    names, weights = zip(*_FOLDER_WEIGHTS)

    sample = spamassassin_sample(d, seed=seed)
    edges = mime_edge_cases(d)
    items = []  # (folder, source, data, tags)
    for source, data in sample + edges:
        tags = set()
        if "#" in source:
            tags.add("mbox-split")
        if source.startswith("spamassassin/spam") and rng.random() < 0.5:
            folder = "Junk"
        else:
            folder = rng.choices(names, weights)[0]
        items.append((folder, source, to_crlf(data), tags))
    # Remove the Message-ID of a few SpamAssassin messages.
    with_id = [i for i, it in enumerate(items)
               if it[1].startswith("spamassassin/") and header_value(it[2], b"message-id")]
    for i in rng.sample(with_id, 8):
        f, s, data, t = items[i]
        items[i] = (f, s + "!no-msgid", _without_message_id(data), t)
    for folder, source, data, tags in _made_here(sample):
        if "bare-lf" not in tags and "bare-cr" not in tags:
            data = to_crlf(data)
        items.append((folder, source, data, set(tags)))

    # Duplicates: byte-identical twice in INBOX; same Message-ID, other
    # bytes; the same message in three folders.
    inbox = [it for it in items if it[0] == "INBOX" and it[1].startswith("spamassassin/")
             and header_value(it[2], b"message-id")]
    a, b, c = inbox[0], inbox[1], inbox[2]
    items.append(("INBOX", a[1] + "!dup-bytes", a[2], {"dup-bytes"}))
    items.append(("INBOX", b[1] + "!dup-msgid",
                  _with_header(b[2], b"X-Mailferry-Corpus: same Message-ID, other bytes"),
                  {"dup-msgid"}))
    items.append(("Sent", b[1] + "!dup-msgid-sent",
                  _with_header(b[2], b"X-Mailferry-Corpus: same Message-ID in Sent"), set()))
    for f in ("Archive/2024", "Trash"):
        items.append((f, c[1] + "!cross-folder", c[2], {"cross-folder"}))

    msgs_by_source = {}
    for folder, source, data, tags in items:
        flags, kws = _flags_for(folder, rng)
        fl, kw = _ordered(flags, kws)
        tags = frozenset(tags | _auto_tags(data))
        m = Message(data=data, flags=fl, keywords=kw, internaldate=_date(rng), source=source,
                    tags=tags)
        folders[folder].messages.append(m)
        msgs_by_source[source] = m
    for key in (a[1], b[1], c[1]):
        tag = {a[1]: "dup-bytes", b[1]: "dup-msgid", c[1]: "cross-folder"}[key]
        m = msgs_by_source[key]
        m.tags = m.tags | {tag}

    # Every system flag and keyword somewhere; one message with all of them,
    # one with none; a few dates at the edges.
    inbox_msgs = folders["INBOX"].messages
    inbox_msgs[0].flags, inbox_msgs[0].keywords = SYSTEM_FLAGS, KEYWORDS
    inbox_msgs[1].flags, inbox_msgs[1].keywords = (), ()
    edges_dates = [
        dt.datetime(1998, 1, 1, 0, 0, 0, tzinfo=dt.timezone.utc),
        dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-12))),
        dt.datetime(2000, 2, 29, 12, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=45))),
        dt.datetime(2030, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=14))),
    ]
    for m, when in zip(folders["Archive/2024"].messages, edges_dates):
        m.internaldate = when
        if when.year == 2030:
            m.tags = m.tags | {"future-date"}

    for f in folders.values():
        rng.shuffle(f.messages)
    return [folders[name] for name, _, _ in SMALL_FOLDERS]


def summary(folders):
    """{folder: count} plus totals: a quick look at a built set."""
    out = {f.name: len(f.messages) for f in folders}
    out["(total)"] = sum(len(f.messages) for f in folders)
    out["(bytes)"] = sum(m.size for f in folders for m in f.messages)
    return out


def fingerprint(folders):
    """sha256 over everything build() decided: equal for equal sets."""
    h = hashlib.sha256()
    for f in folders:
        h.update(f"F {f.name} {f.special_use} {f.subscribed}\n".encode())
        for m in f.messages:
            h.update(f"M {m.sha256 if m.data is not None else m.file_sha256} "
                     f"{' '.join(m.all_flags)} {m.internaldate.isoformat()}\n".encode())
    return h.hexdigest()


# ---- "big" -------------------------------------------------------------------

def _b64_len(raw):
    """Length of base64 in 76-character CRLF lines for raw bytes."""
    full, rem = divmod(raw, 57)
    return full * 78 + ((rem + 2) // 3 * 4 + 2 if rem else 0)


def big_message(size=BIG_DEFAULT_SIZE, seed=SEED, path=None, directory=None):
    """A Message backed by a file of exactly size bytes (written if missing;
    reused when its recorded size and hash match)."""
    if path is None:
        path = os.path.join(corpus_dir(directory), "big", f"big-{size}-{seed}.eml")
    meta_path = path + ".json"
    meta = None
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("size") != size or os.path.getsize(path) != size:
            meta = None
    except (OSError, ValueError):
        meta = None
    if meta is None:
        sha = write_big(path, size, seed)
        meta = {"size": size, "seed": seed, "sha256": sha}
        with open(meta_path, "w") as f:
            json.dump(meta, f)
    return Message(path=path, file_size=size, file_sha256=meta["sha256"],
                   flags=("\\Seen",), keywords=("$Big",),
                   internaldate=dt.datetime(2024, 1, 2, 3, 4, 5,
                                            tzinfo=dt.timezone(dt.timedelta(hours=1))),
                   source=f"made/big-{size}-{seed}", tags=frozenset({"big"}))


def write_big(path, size=BIG_DEFAULT_SIZE, seed=SEED, chunk=57 * 18396):
    """Write the big message (exactly size bytes, CRLF, valid MIME) to path in
    chunks; returns its sha256 (hex). Deterministic for (size, seed)."""
    if size < 4096:
        raise ValueError("the big message needs at least 4096 bytes")
    boundary = f"mf-big-{seed}-boundary"
    head1 = (f"From: Big Sender <big@example.test>\r\n"
             f"To: Alice <alice@example.test>\r\n"
             f"Subject: mailferry big test message ({size} bytes)\r\n"
             f"Date: Tue, 02 Jan 2024 03:04:05 +0100\r\n"
             f"Message-ID: <big-{size}-{seed}@mailferry.test>\r\n"
             f"MIME-Version: 1.0\r\n"
             f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n"
             f"\r\n"
             f"This is a multi-part message in MIME format.\r\n"
             f"--{boundary}\r\n"
             f"Content-Type: text/plain; charset=us-ascii\r\n"
             f"Content-Transfer-Encoding: 7bit\r\n"
             f"\r\n"
             f"A generated message with a large attachment of pseudo-random bytes\r\n"
             f"(SHAKE-256 of the seed {seed} and a chunk counter).\r\n").encode()
    head2 = (f"\r\n--{boundary}\r\n"
             f"Content-Type: application/octet-stream; name=\"big-{size}.bin\"\r\n"
             f"Content-Disposition: attachment; filename=\"big-{size}.bin\"\r\n"
             f"Content-Transfer-Encoding: base64\r\n"
             f"\r\n").encode()
    tail = f"--{boundary}--\r\n".encode()
    # head1 + filler line (dots + CRLF) + head2 + base64 + tail == size
    room = size - len(head1) - 2 - len(head2) - len(tail)
    raw = room // 78 * 57
    while _b64_len(raw + 1) <= room:
        raw += 1
    filler = room - _b64_len(raw)
    assert 0 <= filler < 160
    h = hashlib.sha256()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    written = 0
    with open(tmp, "wb") as f:
        def put(b):
            nonlocal written
            f.write(b)
            h.update(b)
            written += len(b)
        put(head1)
        put(b"." * filler + CRLF)
        put(head2)
        left, n = raw, 0
        while left > 0:
            k = min(chunk, left)   # chunk is a multiple of 57: whole lines
            data = hashlib.shake_256(f"mailferry-big-{seed}-{n}".encode()).digest(k)
            put(base64.encodebytes(data).replace(b"\n", CRLF))
            left -= k
            n += 1
        put(tail)
    if written != size:
        os.unlink(tmp)
        raise CorpusError(f"big message: wrote {written} bytes, wanted {size}")
    os.replace(tmp, path)
    return h.hexdigest()


# ---- loading into an IMAP server ---------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def imap_date(when):
    """An aware datetime as an IMAP date-time string (quoted)."""
    if when.tzinfo is None:
        raise ValueError("INTERNALDATE needs an aware datetime")
    off = int(when.utcoffset().total_seconds()) // 60
    sign = "-" if off < 0 else "+"
    off = abs(off)
    return (f'"{when.day:02d}-{_MONTHS[when.month - 1]}-{when.year:04d} '
            f'{when.hour:02d}:{when.minute:02d}:{when.second:02d} '
            f'{sign}{off // 60:02d}{off % 60:02d}"')


def imap_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect(host, port, user, password, ssl=False, starttls=False, ssl_context=None,
            timeout=60):
    """A logged-in imaplib connection."""
    if ssl:
        m = imaplib.IMAP4_SSL(host, port, ssl_context=ssl_context, timeout=timeout)
    else:
        m = imaplib.IMAP4(host, port, timeout=timeout)
    try:
        if starttls:
            m.starttls(ssl_context=ssl_context or ssl_mod.create_default_context())
        m.login(user, password)
    except Exception:
        m.shutdown()
        raise
    return m


def capabilities(m):
    """The server's capabilities now (imaplib keeps those from before login)."""
    typ, dat = m.capability()
    if typ != "OK" or not dat or not dat[-1]:
        return {c.upper() for c in m.capabilities}
    return {c.upper() for c in dat[-1].decode("ascii", "replace").split()}


def server_delimiter(m):
    """The hierarchy separator the server reports for the personal namespace."""
    typ, data = m.list('""', '""')
    if typ == "OK" and data and data[0]:
        mo = re.match(rb'\([^)]*\) (?:"((?:[^"\\]|\\.)*)"|NIL)', data[0])
        if mo and mo.group(1):
            return mo.group(1).replace(b"\\\\", b"\\").decode()
    return "/"


def server_name(name, delimiter="/"):
    """The wire (modified UTF-7) name of a "/"-separated Unicode folder name."""
    if name.upper() == "INBOX":
        return "INBOX"
    parts = name.split("/")
    if delimiter != "/" and any(delimiter in p for p in parts):
        raise LoadError(f"folder {name!r} contains the server's separator {delimiter!r}")
    return delimiter.join(mutf7_encode(p) for p in parts)


def append_raw(m, mailbox, flags, when, data=None, path=None, size=None,
               chunk_size=MiB):
    """APPEND exactly these bytes (data, or the file at path streamed in
    chunks) to mailbox (wire name) with flags (iterable) and INTERNALDATE
    (aware datetime or None). imaplib's append() is not used: it rewrites
    line endings and needs the whole message in memory. Returns (typ, data)
    of the tagged response (typ "OK" or "NO"; BAD raises imaplib.error)."""
    if path is not None:
        size = os.path.getsize(path) if size is None else size
    else:
        size = len(data)
    args = [imap_quote(mailbox)]
    flags = tuple(flags)
    args.append("(" + " ".join(flags) + ")")
    if when is not None:
        args.append(imap_date(when))
    tag = m._new_tag()  # registers tag in m.tagged_commands
    m.send(tag + b" APPEND " + " ".join(args).encode("ascii") + b" {%d}" % size + CRLF)
    # Wait for the continuation request (or an early tagged NO).
    while m._get_response():
        if m.tagged_commands[tag]:
            return m._command_complete("APPEND", tag)
    # The final CRLF goes out with the last bytes: a separate small write
    # would wait for the server's delayed ACK (Nagle), 40 ms per message.
    if path is None:
        m.send(bytes(data) + CRLF)
    else:
        sent = 0
        with open(path, "rb") as f:
            while sent < size:
                block = f.read(min(chunk_size, size - sent))
                if not block:
                    raise LoadError(f"{path} shrank while being sent")
                sent += len(block)
                m.send(block + CRLF if sent >= size else block)
    return m._command_complete("APPEND", tag)


@dataclasses.dataclass
class LoadResult:
    appended: list = dataclasses.field(default_factory=list)  # (folder, Message, uid|None)
    refused: list = dataclasses.field(default_factory=list)   # (folder, Message, text)
    created: list = dataclasses.field(default_factory=list)   # folder names

    def count(self, folder=None):
        return sum(1 for f, _, _ in self.appended if folder is None or f == folder)

    def __str__(self):
        s = f"{len(self.appended)} appended, {len(self.refused)} refused"
        for f, msg, text in self.refused:
            s += f"\n  refused in {f}: {msg.source} {sorted(msg.tags)}: {text}"
        return s


def _create(m, wire, special_use, caps):
    q = imap_quote(wire)
    if special_use and "CREATE-SPECIAL-USE" in caps:
        typ, dat = m._simple_command("CREATE", q, f"(USE ({special_use}))")
        if typ == "OK":
            return True
    typ, dat = m._simple_command("CREATE", q)
    text = (dat[0] or b"") if dat else b""
    if typ == "OK":
        return True
    if b"ALREADYEXISTS" in text.upper() or b"already exists" in text.lower():
        return False
    raise LoadError(f"CREATE {wire}: {typ} {text!r}")


def load_into(m, folders, skip_refused=True, subscribe=True):
    """Create and subscribe the folders and APPEND their messages on an open,
    logged-in imaplib connection. Returns a LoadResult."""
    res = LoadResult()
    caps = capabilities(m)
    delim = server_delimiter(m)
    for folder in folders:
        wire = server_name(folder.name, delim)
        if wire != "INBOX" and _create(m, wire, folder.special_use, caps):
            res.created.append(folder.name)
        if subscribe and folder.subscribed:
            m.subscribe(imap_quote(wire))
        for msg in folder.messages:
            typ, dat = append_raw(m, wire, msg.all_flags, msg.internaldate, data=msg.data,
                                  path=msg.path, size=msg.file_size)
            text = (dat[0] or b"").decode(errors="replace") if dat else ""
            if typ != "OK":
                if not skip_refused:
                    raise LoadError(f"APPEND {msg.source} to {folder.name}: {typ} {text}")
                res.refused.append((folder.name, msg, text))
                continue
            mo = re.search(r"APPENDUID \d+ (\d+)", text)
            res.appended.append((folder.name, msg, int(mo.group(1)) if mo else None))
    return res


def load_imap(host, port, user, password, folders, ssl=False, starttls=False,
              ssl_context=None, skip_refused=True):
    """Log in as user and load folders (from build()) with APPEND: flags,
    keywords and INTERNALDATE as built; folder names in modified UTF-7 with the
    server's separator, at the top of the personal namespace (as Dovecot and
    Cyrus with altnamespace have it; not "INBOX." prefixed); folders
    subscribed as built. A message the server
    refuses (NO) is recorded in the result's refused list, or raises LoadError
    with skip_refused=False. Returns a LoadResult."""
    m = connect(host, port, user, password, ssl=ssl, starttls=starttls,
                ssl_context=ssl_context)
    try:
        return load_into(m, folders, skip_refused=skip_refused)
    finally:
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def load_big(host, port, user, password, message=None, folder="INBOX", ssl=False,
             starttls=False, ssl_context=None, size=BIG_DEFAULT_SIZE):
    """APPEND the big message (a file-backed Message from build("big"), or
    the default one of size bytes) to folder, streaming it from its file in
    1 MiB chunks: the message is never held whole in memory. Returns the UID
    (from APPENDUID) or None; raises LoadError if refused."""
    if message is None:
        message = big_message(size=size)
    res = load_imap(host, port, user, password, [Folder(folder, [message])], ssl=ssl,
                    starttls=starttls, ssl_context=ssl_context, skip_refused=False)
    return res.appended[0][2]


# ---- command line ------------------------------------------------------------------

def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(description="mailferry test corpus")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summary", help="print what build(KIND) makes")
    s.add_argument("kind", choices=("small", "big"))
    s.add_argument("--size", type=int, default=BIG_DEFAULT_SIZE)
    ld = sub.add_parser("load", help="load KIND into an IMAP account")
    ld.add_argument("kind", choices=("small", "big"))
    ld.add_argument("--host", default="127.0.0.1")
    ld.add_argument("--port", type=int, required=True)
    ld.add_argument("--user", required=True)
    ld.add_argument("--password", required=True)
    ld.add_argument("--size", type=int, default=BIG_DEFAULT_SIZE)
    a = p.parse_args(argv)
    folders = build(a.kind, size=a.size)
    if a.cmd == "summary":
        for k, v in summary(folders).items():
            print(f"{v:>12}  {k}")
        print(f"fingerprint {fingerprint(folders)}")
        return 0
    res = load_imap(a.host, a.port, a.user, a.password, folders)
    print(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
