"""The bench corpus: a reproducible mailbox written as Maildir++ files.

    info = corpus.ensure(cache_dir, messages=10000, seed=20240611)
    info["maildir"]      # Maildir++ root (INBOX = cur/, folder A/B = .A.B/)
    info["manifest"]     # tab-separated list for bench/ref-append.c
    info["bytes"], info["messages"], info["folders"]

Same seed and count, same bytes: the tree is generated once into
<cache_dir>/corpus-v<VERSION>-s<seed>-n<messages>/ and reused by later runs.

What it holds (for 10,000 messages):
  - 8 folders with messages plus an empty one ("Leer", not subscribed):
    INBOX, Sent, Drafts, Archive/2023, Archive/2024, Projekte/Übersicht,
    日本語, Café & Co; Archive and Projekte are parents only (\\NoSelect);
  - sizes: log-normal, median 8 KiB (sigma 1.0, 600 B to 900 KiB), plus
    0.25 % of messages (25) of 1-20 MiB; about 400 MB in all;
  - text/plain bodies (some 8-bit UTF-8, some RFC 2047 subjects); larger
    ones multipart/mixed with a base64 attachment of random bytes;
  - flags: \\Seen 70 %, \\Answered 12 %, \\Flagged 6 %, \\Deleted 1 %,
    \\Draft in Drafts; keywords ($Forwarded, $Label1, Work, ...) on about
    a fifth of the messages;
  - INTERNALDATE (the file's mtime) spread over 2008-2024, Date: header a
    little earlier and in various time zones;
  - Message-ID missing on 3 %, reused from an earlier message (different
    bytes) on 2 %, and 0.5 % exact copies of an earlier message of the
    same folder.

Run as a script to (re)build the cache and print its description:
    /usr/bin/python3 bench/corpus.py [--messages N] [--seed S] [--cache DIR]
"""

import argparse
import base64
import datetime as dt
import json
import math
import os
import random
import shutil
import sys

VERSION = 3
DEFAULT_SEED = 20240611
USER = "alice@example.test"

# (name, share of the messages, special use, subscribed)
FOLDERS = [
    ("INBOX", 0.40, None, True),
    ("Sent", 0.15, "\\Sent", True),
    ("Drafts", 0.01, "\\Drafts", True),
    ("Archive/2023", 0.15, None, True),
    ("Archive/2024", 0.10, None, True),
    ("Projekte/Übersicht", 0.08, None, True),
    ("日本語", 0.06, None, True),
    ("Café & Co", 0.05, None, True),
    ("Leer", 0.0, None, False),
]
KEYWORDS = ["$Forwarded", "$Label1", "$Label2", "Work", "Personal", "$MDNSent", "Important"]
BIG_SHARE = 0.0025
MEDIAN = 8192
SIGMA = 1.0

_WORDS = ("the of and to in is for on that with as was at by be this from are or an have "
          "meeting project report invoice budget migration server mailbox folder review draft "
          "quarterly deadline schedule customer support update please attached regards thanks "
          "question answer release version backup archive message calendar contract order "
          "delivery payment account network storage") .split()
_UTF8_WORDS = ("Grüße Übersicht Straße Kündigung café naïve résumé 日本語 東京 メール "
               "Ελληνικά русский привет façade smörgåsbord").split()
_ZONES = ["+0000", "+0100", "+0200", "-0500", "-0800", "+0530", "+0900", "-0300"]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_FLAG_LETTER = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S",
                "\\Deleted": "T"}


def mutf7_encode(name):
    """IMAP modified UTF-7 of one mailbox name component."""
    out, pend = [], []

    def flush():
        if pend:
            b = base64.b64encode("".join(pend).encode("utf-16-be")).decode()
            out.append("&" + b.rstrip("=").replace("/", ",") + "-")
            pend.clear()
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pend.append(ch)
    flush()
    return "".join(out)


def wire_name(name):
    """The name as the source Dovecot (separator "/") shows it."""
    return "/".join(mutf7_encode(p) for p in name.split("/"))


def maildir_dir(name):
    """Maildir++ directory of a folder, relative to the root."""
    if name == "INBOX":
        return ""
    return "." + ".".join(mutf7_encode(p) for p in name.split("/"))


def cache_path(cache_dir, messages, seed):
    return os.path.join(cache_dir, f"corpus-v{VERSION}-s{seed}-n{messages}")


def _rfc2822_date(when, zone):
    sign = 1 if zone[0] == "+" else -1
    off = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
    local = when.astimezone(dt.timezone(off))
    return (f"{_DAYS[local.weekday()]}, {local.day} {_MONTHS[local.month - 1]} {local.year} "
            f"{local:%H:%M:%S} {zone}")


def imap_date(ts):
    d = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    return f"{d.day:2d}-{_MONTHS[d.month - 1]}-{d.year} {d:%H:%M:%S} +0000"


class _Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        r = self.rng
        self.lines = []
        for _ in range(4096):
            words = r.choices(_WORDS, k=r.randint(6, 14))
            self.lines.append((" ".join(words).capitalize() + ".").encode())
        self.utf8_lines = []
        for _ in range(512):
            words = r.choices(_WORDS + _UTF8_WORDS * 3, k=r.randint(6, 12))
            self.utf8_lines.append(" ".join(words).encode())

    def text(self, size, utf8=False):
        pool = self.utf8_lines if utf8 and self.rng.random() < 0.5 else self.lines
        n = max(1, size // 70)
        body = b"\r\n".join(self.rng.choices(pool, k=n)) + b"\r\n"
        if len(body) > size:
            # Cut at the size, never between CR and LF (no bare CR).
            body = body[:max(size, 2) - 2].rstrip(b"\r") + b"\r\n"
        return body

    def subject(self, i, utf8):
        r = self.rng
        words = " ".join(r.choices(_WORDS, k=r.randint(2, 6)))
        if utf8:
            raw = f"{r.choice(_UTF8_WORDS)} {words} #{i}".encode()
            return "=?UTF-8?B?" + base64.b64encode(raw).decode() + "?="
        return f"{words.capitalize()} #{i}"

    def size(self, big):
        r = self.rng
        if big:
            return r.randint(1 << 20, 20 << 20)
        s = int(math.exp(r.gauss(math.log(MEDIAN), SIGMA)))
        return min(max(s, 600), 900 * 1024)

    def message(self, i, size, when, mid, folder):
        r = self.rng
        utf8 = r.random() < 0.15
        zone = r.choice(_ZONES)
        sent = when - dt.timedelta(seconds=r.randint(0, 7200))
        frm = r.choice(["Bob Example <bob@example.test>", "carol@example.org",
                        "=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>",
                        "\"Dana, Ops\" <ops@example.net>", "alice@example.test"])
        to = "Alice Example <alice@example.test>" if folder != "Sent" else frm
        head = [f"Return-Path: <bounce-{i}@example.test>",
                f"Received: from mx{i % 7}.example.test "
                f"(mx{i % 7}.example.test [192.0.2.{i % 250}])"
                f"\r\n\tby mail.example.test with ESMTPS id {i:08x}; "
                f"{_rfc2822_date(when, '+0000')}",
                f"From: {frm}", f"To: {to}", f"Subject: {self.subject(i, utf8)}",
                f"Date: {_rfc2822_date(sent, zone)}"]
        if mid:
            head.append(f"Message-ID: {mid}")
        head.append("MIME-Version: 1.0")
        budget = max(size - sum(len(h) + 2 for h in head) - 200, 100)
        if size < 16 * 1024:
            cte = "8bit" if utf8 else "7bit"
            head += ["Content-Type: text/plain; charset=utf-8" if utf8 else
                     "Content-Type: text/plain; charset=us-ascii",
                     f"Content-Transfer-Encoding: {cte}"]
            body = self.text(budget, utf8)
        else:
            boundary = f"=_bench_{i:06d}_{r.getrandbits(32):08x}"
            head.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
            text = self.text(min(2000, budget // 4), utf8)
            att_len = max(budget - len(text) - 400, 64)
            raw_len = att_len * 3 // 4 * 76 // 78
            data = base64.encodebytes(r.randbytes(raw_len)).replace(b"\n", b"\r\n")
            body = b"".join([
                b"This is a multi-part message in MIME format.\r\n\r\n",
                f"--{boundary}\r\n".encode(),
                b"Content-Type: text/plain; charset=utf-8\r\n"
                b"Content-Transfer-Encoding: 8bit\r\n\r\n", text, b"\r\n",
                f"--{boundary}\r\n".encode(),
                f'Content-Type: application/octet-stream; name="file-{i}.bin"\r\n'.encode(),
                b"Content-Transfer-Encoding: base64\r\n",
                f'Content-Disposition: attachment; filename="file-{i}.bin"\r\n\r\n'.encode(),
                data, f"--{boundary}--\r\n".encode()])
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    def flags(self, folder):
        r = self.rng
        f = []
        if folder == "Drafts":
            f.append("\\Draft")
        elif r.random() < 0.70 or folder == "Sent":
            f.append("\\Seen")
        if r.random() < 0.12:
            f.append("\\Answered")
        if r.random() < 0.06:
            f.append("\\Flagged")
        if r.random() < 0.01:
            f.append("\\Deleted")
        kws = []
        if r.random() < 0.2:
            kws = r.sample(KEYWORDS, k=r.choice([1, 1, 1, 2, 3]))
        return f, kws


def _counts(messages):
    shares = [(name, share) for name, share, _, _ in FOLDERS if share > 0]
    counts = {name: int(messages * share) for name, share in shares}
    counts["INBOX"] += messages - sum(counts.values())
    return counts


def build(path, messages, seed, log=None):
    """Generate the corpus into path (replaced if it exists)."""
    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    root = os.path.join(tmp, "Maildir")
    g = _Gen(seed)
    r = g.rng
    counts = _counts(messages)
    n_big = max(1, round(messages * BIG_SHARE)) if messages >= 200 else 0
    order = []
    for name, _, _, _ in FOLDERS:
        order += [name] * counts.get(name, 0)
    big_idx = set(r.sample(range(messages), n_big)) if n_big else set()
    manifest = []
    for name, _, use, subscribed in FOLDERS:
        d = os.path.join(root, maildir_dir(name))
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        if name != "INBOX":
            open(os.path.join(d, "maildirfolder"), "w").close()
        with open(os.path.join(d, "dovecot-keywords"), "w") as f:
            f.write("".join(f"{k} {w}\n" for k, w in enumerate(KEYWORDS)))
        manifest.append(f"F\t{wire_name(name)}\t{1 if subscribed else 0}")
    with open(os.path.join(root, "subscriptions"), "w") as f:
        # Dovecot 2.3's format: a version line, then one name per line with
        # the hierarchy separator written as a tab.
        f.write("V\t2\n\n" + "".join(wire_name(n).replace("/", "\t") + "\n"
                                       for n, _, _, s in FOLDERS if s))

    start = dt.datetime(2008, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    end = dt.datetime(2024, 12, 31, tzinfo=dt.timezone.utc).timestamp()
    ids, per_folder, total = [], {}, 0
    for i, folder in enumerate(order):
        fdir = os.path.join(root, maildir_dir(folder))
        prev = per_folder.setdefault(folder, [])
        if prev and r.random() < 0.005:
            # An exact copy (bytes, flags, date) of an earlier message here.
            data, ts, flags, kws = r.choice(prev)
        else:
            ts = int(r.uniform(start, end))
            when = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
            x = r.random()
            if x < 0.03:
                mid = None
            elif x < 0.05 and ids:
                mid = r.choice(ids)
            else:
                mid = f"<{r.getrandbits(64):016x}.{i}@bench.example>"
                ids.append(mid)
            data = g.message(i, g.size(i in big_idx), when, mid, folder)
            flags, kws = g.flags(folder)
            prev.append((data, ts, flags, kws))
            if len(prev) > 50:
                prev.pop(0)
        letters = "".join(sorted(_FLAG_LETTER[f] for f in flags) +
                          sorted(chr(ord("a") + KEYWORDS.index(k)) for k in kws))
        base = f"{ts}.M{i}P1.bench,S={len(data)},W={len(data)}"
        rel = os.path.join(maildir_dir(folder), "cur", f"{base}:2,{letters}")
        p = os.path.join(root, rel)
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (ts, ts))
        total += len(data)
        flagtext = " ".join(flags + kws)
        manifest.append(f"M\t{wire_name(folder)}\t{flagtext}\t{imap_date(ts)}\t{len(data)}\t"
                        f"Maildir/{rel}")
        if log and (i + 1) % 2000 == 0:
            log(f"corpus: {i + 1}/{messages} messages, {total / 1e6:.0f} MB")
    with open(os.path.join(tmp, "manifest.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(manifest) + "\n")
    info = {"version": VERSION, "seed": seed, "messages": messages, "bytes": total,
            "big_messages": n_big, "user": USER,
            "folders": {n: counts.get(n, 0) for n, _, _, _ in FOLDERS},
            "special_use": {n: u for n, _, u, _ in FOLDERS if u}}
    with open(os.path.join(tmp, "info.json"), "w") as f:
        json.dump(info, f, indent=1, ensure_ascii=False)
    shutil.rmtree(path, ignore_errors=True)
    os.rename(tmp, path)


def ensure(cache_dir, messages, seed=DEFAULT_SEED, log=None):
    """The cached corpus (built when missing); returns its info dict plus
    paths."""
    path = cache_path(cache_dir, messages, seed)
    if not os.path.exists(os.path.join(path, "info.json")):
        os.makedirs(cache_dir, exist_ok=True)
        if log:
            log(f"corpus: generating {messages} messages (seed {seed}) into {path}")
        build(path, messages, seed, log)
    with open(os.path.join(path, "info.json")) as f:
        info = json.load(f)
    info["path"] = path
    info["maildir"] = os.path.join(path, "Maildir")
    info["manifest"] = os.path.join(path, "manifest.tsv")
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--cache", default="/var/cache/mailferry-bench")
    a = ap.parse_args()
    info = ensure(a.cache, a.messages, a.seed, log=lambda m: print(m, file=sys.stderr))
    print(json.dumps(info, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
