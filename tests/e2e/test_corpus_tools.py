"""The test-mail tools work, without mailferry: tests/corpus/corpus.py builds the
same mailboxes every time and loads them into a real Dovecot byte for byte;
tests/e2e/verify.py passes a faithful copy (made here with plain imaplib) and
names every kind of damage done to it; the big message streams in bounded
memory. Also with Cyrus as the copy's target."""

import datetime as dt
import email
import email.policy
import hashlib
import os
import shutil
import sys
import tempfile
import time
import tracemalloc

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.corpus import corpus  # noqa: E402
from tests.e2e import verify  # noqa: E402
from tests.servers.dovecot import Dovecot  # noqa: E402

USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw", "dave": "davepw"}
UTC = dt.timezone.utc


def _tmpdir(name):
    # World-traversable (the servers' unprivileged processes must reach it).
    d = tempfile.mkdtemp(prefix=f"mf-{name}-", dir="/tmp")
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="module")
def small():
    return corpus.build("small")


@pytest.fixture(scope="module")
def corpus_dovecot():
    d = _tmpdir("corpus-dovecot")
    server = Dovecot(d, tls_mode="none", users=USERS)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(d, ignore_errors=True)


def _connect(server, user):
    return corpus.connect(server.host, server.plain_port, user, USERS[user])


@pytest.fixture(scope="module")
def loaded_alice(corpus_dovecot, small):
    """alice's account loaded with "small"; yields (LoadResult, t0, t1)."""
    t0 = dt.datetime.now(UTC).replace(microsecond=0)
    res = corpus.load_imap(corpus_dovecot.host, corpus_dovecot.plain_port, "alice",
                           USERS["alice"], small)
    t1 = dt.datetime.now(UTC)
    return res, t0, t1


def naive_copy(src, dst):
    """Copy every folder of src to dst with plain IMAP (FETCH + raw APPEND with
    flags and INTERNALDATE; CREATE with the source's special-use where the
    target can; SUBSCRIBE as on the source). Returns [(folder, text)] of
    APPENDs the target refused."""
    snap_folders = verify._list(src, "LIST")
    subs = {verify._decode_name(w, d) for w, d, _ in verify._list(src, "LSUB")}
    caps = corpus.capabilities(dst)
    delim = corpus.server_delimiter(dst)
    refused = []
    for wire, sdelim, attrs in snap_folders:
        name = verify._decode_name(wire, sdelim)
        target = corpus.server_name(name, delim)
        su = next((s for s in verify.SPECIAL_USES if s.lower() in attrs), None)
        if target != "INBOX":
            corpus._create(dst, target, su, caps)
        if name in subs:
            dst.subscribe(corpus.imap_quote(target))
        if {"\\noselect", "\\nonexistent"} & attrs:
            continue
        typ, dat = src.select(corpus.imap_quote(wire), readonly=True)
        assert typ == "OK", dat
        if int(dat[0]) == 0:
            continue
        typ, dat = src.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
        assert typ == "OK", dat
        for _, d in sorted(verify.parse_fetch(dat), key=lambda x: int(x[1][b"UID"])):
            flags = [f.decode() for f in d[b"FLAGS"] if f.lower() != b"\\recent"]
            when = verify.parse_internaldate(d[b"INTERNALDATE"])
            typ, res = corpus.append_raw(dst, target, flags, when, data=bytes(d[b"BODY[]"]))
            if typ != "OK":
                refused.append((name, res[0].decode(errors="replace")))
    return refused


# ---- no server -------------------------------------------------------------------

def test_mutf7():
    vectors = {"INBOX": "INBOX", "Entwürfe/Übersicht": "Entw&APw-rfe/&ANw-bersicht",
               "日本語": "&ZeVnLIqe-", "R&D Notes": "R&-D Notes",
               "~peter/mail/台北/日本語": "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
               "a\u00e9\U0001F600b": "a&AOnYPd4A-b"}
    for text, wire in vectors.items():
        assert corpus.mutf7_encode(text) == wire
        assert corpus.mutf7_decode(wire) == text
        assert corpus.mutf7_decode(wire.encode()) == text
    for bad in ("&Jjo", "&Jjo!-", "a\u00e9"):
        with pytest.raises(ValueError):
            corpus.mutf7_decode(bad)


def test_fetch_parser():
    data = [(b'1 (UID 7 RFC822.SIZE 5 BODY[] {5}', b'a)"\r\n'),
            b' FLAGS (\\Seen $Forwarded \\Recent) INTERNALDATE " 2-Jan-2024 03:04:05 +0100")',
            (b'2 (UID 9 BODY[HEADER.FIELDS (MESSAGE-ID)] {3}', b'x\r\n'), b' FLAGS ())']
    out = verify.parse_fetch(data)
    assert [seq for seq, _ in out] == [1, 2]
    one = out[0][1]
    assert one[b"UID"] == b"7" and one[b"BODY[]"] == b'a)"\r\n'
    assert one[b"FLAGS"] == [b"\\Seen", b"$Forwarded", b"\\Recent"]
    assert verify.parse_internaldate(one[b"INTERNALDATE"]) == \
        dt.datetime(2024, 1, 2, 2, 4, 5, tzinfo=UTC)
    assert out[1][1][b"BODY[HEADER.FIELDS (MESSAGE-ID)]"] == b"x\r\n"
    assert out[1][1][b"FLAGS"] == []


def test_small_is_deterministic_and_covers_the_cases(small):
    again = corpus.build("small")
    assert corpus.fingerprint(again) == corpus.fingerprint(small)
    names = [f.name for f in small]
    for n in ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive/2024", "Entwürfe/Übersicht",
              "日本語", "Empty"):
        assert n in names
    by = {f.name: f for f in small}
    assert not by["Empty"].messages and not by["Empty"].subscribed
    msgs = [m for f in small for m in f.messages]
    assert 280 <= len(msgs) <= 340, len(msgs)
    used = {fl for m in msgs for fl in m.all_flags}
    assert set(corpus.SYSTEM_FLAGS) <= used and set(corpus.KEYWORDS) <= used
    tags = {t for m in msgs for t in m.tags}
    for t in ("bare-lf", "bare-cr", "nul", "8bit-header", "no-msgid", "dup-msgid", "dup-bytes",
              "cross-folder", "bad-header", "mbox-split", "future-date"):
        assert t in tags, t
    dates = [m.internaldate for m in msgs]
    assert all(d.tzinfo is not None and d.microsecond == 0 for d in dates)
    assert min(dates).year == 1998 and max(dates).year == 2030
    assert len({d.utcoffset() for d in dates}) >= 10
    # Line endings: CRLF except the bare-lf messages.
    for m in msgs:
        if "bare-lf" in m.tags:
            assert m.data != m.expected
        else:
            assert m.data == m.expected, m.source
    # Byte-identical copies inside a folder and across folders.
    inbox = [m.sha256 for m in by["INBOX"].messages]
    assert len(inbox) > len(set(inbox))
    cross = {m.sha256 for m in msgs if "cross-folder" in m.tags}
    assert len(cross) == 1
    # Every MIME edge-case file is in (the empty one aside).
    sources = {m.source.split("!")[0] for m in msgs}
    d = corpus.ensure_fetched()
    assert {s for s, _ in corpus.mime_edge_cases(d)} <= sources


def test_big_message_is_exact_streamed_and_valid(tmp_path):
    size = 3 * corpus.MiB + 17
    path = str(tmp_path / "big.eml")
    tracemalloc.start()
    try:
        msg = corpus.big_message(size=size, path=path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6 * corpus.MiB, peak
    assert os.path.getsize(path) == size == msg.size
    with open(path, "rb") as f:
        data = f.read()
    assert hashlib.sha256(data).hexdigest() == msg.file_sha256
    assert b"\n" not in data.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    parts = list(parsed.iter_attachments())
    assert len(parts) == 1 and len(parts[0].get_content()) > 2 * corpus.MiB
    # The same bytes again, and reused from the cache.
    assert corpus.write_big(str(tmp_path / "again.eml"), size) == msg.file_sha256
    assert corpus.big_message(size=size, path=path).file_sha256 == msg.file_sha256


def _snap(name, special_use=None, subscribed=True, msgs=()):
    return verify.FolderInfo(name, special_use=special_use, subscribed=subscribed,
                             messages=list(msgs))


def _info(n, flags=("\\Seen",), when=1_000_000_000):
    return verify.MessageInfo(hashlib.sha256(b"m%d" % n).hexdigest(), 10,
                              *verify._norm_flags(flags),
                              dt.datetime.fromtimestamp(when, UTC), b"<%d@x>" % n)


def test_compare_maps_special_use_and_folder_map():
    src = verify.Snapshot({"INBOX": _snap("INBOX", msgs=[_info(1)]),
                           "Sent": _snap("Sent", "\\Sent", msgs=[_info(2)]),
                           "日本語": _snap("日本語", msgs=[_info(3)])},
                          {"INBOX", "Sent", "日本語"})
    dst = verify.Snapshot({"INBOX": _snap("INBOX", msgs=[_info(1)]),
                           "Sent Items": _snap("Sent Items", "\\Sent", msgs=[_info(2)]),
                           "Japanese": _snap("Japanese", msgs=[_info(3)])},
                          {"INBOX", "Sent Items", "Japanese"})
    r = verify.compare(src, dst)
    assert r.missing_folders == ["日本語"] and len(r.missing) == 1 and not r.ok
    assert ("Sent", "Sent Items") in [(f.source, f.target) for f in r.folders]
    r = verify.compare(src, dst, folder_map={"日本語": "Japanese"})
    assert r.ok, str(r)
    r = verify.compare(src, dst, ignore_folders=("日本語",))
    assert r.ok and r.extra_folders == ["Japanese"]


# ---- with Dovecot -----------------------------------------------------------------

def test_load_gives_the_corpus_byte_for_byte(corpus_dovecot, small, loaded_alice):
    res, t0, t1 = loaded_alice
    assert not res.refused, str(res)
    assert res.count() == sum(len(f.messages) for f in small)

    def expected(m):
        if "future-date" in m.tags:
            return None
        return m.expected.replace(b"\0", b"\x80")  # Dovecot's FETCH shows NUL as 0x80

    m = _connect(corpus_dovecot, "alice")
    try:
        snap = verify.snapshot(m)
    finally:
        m.logout()
    r = verify.compare(verify.Snapshot.from_folders(small, expected), snap)
    # Only the message dated 2030: Dovecot stored the time of the APPEND.
    assert not (r.missing or r.duplicates or r.bytes_mismatch or r.flag_mismatch
                or r.date_mismatch or r.missing_folders or r.missing_subscriptions
                or r.extra_subscriptions), str(r)
    assert len(r.extra) == 1, str(r)
    assert t0 <= r.extra[0].dst.internaldate <= t1 + dt.timedelta(seconds=1)
    assert snap.folders["Sent"].special_use == "\\Sent"
    assert snap.folders["Entwürfe/Übersicht"].wire == "Entw&APw-rfe/&ANw-bersicht"
    assert not snap.folders["Empty"].subscribed and "Empty" not in snap.subscriptions


def test_naive_copy_verifies_ok(corpus_dovecot, loaded_alice):
    src, dst = _connect(corpus_dovecot, "alice"), _connect(corpus_dovecot, "bob")
    try:
        assert naive_copy(src, dst) == []
        t = time.monotonic()
        r = verify.compare(src, dst)
        elapsed = time.monotonic() - t
    finally:
        src.logout()
        dst.logout()
    assert r.ok, str(r)
    assert sum(f.matched for f in r.folders) == loaded_alice[0].count()
    assert "verify: OK" in str(r)
    assert elapsed < 10


def _uid_of(m, folder, pick):
    """UID, flags, data of the first message of folder for which pick(data, flags)."""
    m.select(corpus.imap_quote(corpus.mutf7_encode(folder)))
    typ, dat = m.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
    for _, d in verify.parse_fetch(dat):
        flags = [f.decode() for f in d[b"FLAGS"] if f.lower() != b"\\recent"]
        if pick(bytes(d[b"BODY[]"]), flags):
            return int(d[b"UID"]), flags, bytes(d[b"BODY[]"]), \
                verify.parse_internaldate(d[b"INTERNALDATE"])
    raise AssertionError(f"no message to pick in {folder}")


def _expunge(m, uid):
    typ, dat = m.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
    assert typ == "OK", dat
    typ, dat = m.uid("EXPUNGE", str(uid))
    assert typ == "OK", dat


def test_damage_is_reported(corpus_dovecot, loaded_alice):
    src, dst = _connect(corpus_dovecot, "alice"), _connect(corpus_dovecot, "carol")
    try:
        assert naive_copy(src, dst) == []
        assert verify.compare(src, dst).ok

        def unflagged(data, flags):
            """Not \\Deleted, with a Message-ID."""
            return "\\Deleted" not in flags and verify.header_value(data, b"message-id")

        # 1. a flag changed (Sent)
        uid, flags, _, _ = _uid_of(dst, "Sent", unflagged)
        dst.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Flagged)")
        # 2. a message deleted (Junk)
        uid, _, gone, _ = _uid_of(dst, "Junk", unflagged)
        _expunge(dst, uid)
        # 3. a duplicate appended (Drafts)
        uid, flags, data, when = _uid_of(dst, "Drafts", unflagged)
        assert corpus.append_raw(dst, "Drafts", flags, when, data=data)[0] == "OK"
        # 4. other bytes, same Message-ID (Archive/2024)
        uid, flags, data, when = _uid_of(dst, "Archive/2024", unflagged)
        _expunge(dst, uid)
        corpus.append_raw(dst, "Archive/2024", flags, when, data=data.replace(b"\r\n\r\n",
                          b"\r\nX-Changed: yes\r\n\r\n", 1))
        # 5. another INTERNALDATE (日本語)
        uid, flags, data, when = _uid_of(dst, "日本語", unflagged)
        _expunge(dst, uid)
        corpus.append_raw(dst, corpus.mutf7_encode("日本語"), flags,
                          when + dt.timedelta(hours=1), data=data)
        # 6. an extra message (INBOX), 7. a folder gone, 8. a subscription gone
        corpus.append_raw(dst, "INBOX", (), None, data=b"Subject: stray\r\n\r\nx\r\n")
        assert dst.delete("Empty")[0] == "OK"
        assert dst.unsubscribe(corpus.imap_quote("R&-D Notes"))[0] == "OK"
        r = verify.compare(src, dst)
    finally:
        src.logout()
        dst.logout()
    assert not r.ok
    text = str(r)
    assert [p.folder for p in r.flag_mismatch] == ["Sent"], text
    assert "\\Flagged" in str(r.flag_mismatch[0])
    assert [p.folder for p in r.missing] == ["Junk"], text
    assert r.missing[0].src.sha256 == hashlib.sha256(gone).hexdigest()
    assert [p.folder for p in r.duplicates] == ["Drafts"], text
    assert [p.folder for p in r.bytes_mismatch] == ["Archive/2024"], text
    assert [p.folder for p in r.date_mismatch] == ["日本語"], text
    assert [p.folder for p in r.extra] == ["INBOX"], text
    assert r.missing_folders == ["Empty"], text
    assert r.missing_subscriptions == ["R&D Notes (target R&D Notes)"], text
    assert not r.extra_subscriptions, text
    for title in ("missing messages: 1", "duplicate messages: 1", "bytes mismatches: 1",
                  "flag mismatches: 1", "date mismatches: 1", "extra messages: 1",
                  "missing folders: 1"):
        assert title in text, text


def test_big_message_streams_in_and_verifies(corpus_dovecot, tmp_path):
    size = 24 * corpus.MiB + 5
    msg = corpus.big_message(size=size, path=str(tmp_path / "big.eml"))
    tracemalloc.start()
    try:
        uid = corpus.load_big(corpus_dovecot.host, corpus_dovecot.plain_port, "dave",
                              USERS["dave"], msg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * corpus.MiB, peak   # 1 MiB chunks, never the whole message
    assert uid == 1
    m = _connect(corpus_dovecot, "dave")
    try:
        snap = verify.snapshot(m)
    finally:
        m.logout()
    r = verify.compare(verify.Snapshot.from_folders([corpus.Folder("INBOX", [msg])]), snap)
    assert r.ok, str(r)
    assert snap.folders["INBOX"].messages[0].size == size


# ---- with Cyrus as the target -------------------------------------------------------

def test_naive_copy_to_cyrus(corpus_dovecot, loaded_alice):
    cyrus_mod = pytest.importorskip("tests.servers.cyrus")
    d = _tmpdir("corpus-cyrus")
    server = cyrus_mod.CyrusServer()
    try:
        server.start(d, users={"alice": "alicepw"}, extra_conf={"munge8bit": "no"})
        src = _connect(corpus_dovecot, "alice")
        dst = server.connect("alice")
        try:
            refused = naive_copy(src, dst)
            r = verify.compare(src, dst)
        finally:
            src.logout()
            dst.logout()
    finally:
        server.stop()
        shutil.rmtree(d, ignore_errors=True)
    # Cyrus refuses the messages whose header has a line that is no field;
    # everything else (8-bit headers, NUL shown as 0x80 by Dovecot, dates,
    # flags, keywords, folders, special-use, subscriptions) arrives intact.
    assert refused and all("invalid header" in t for _, t in refused), refused
    bad = [m for _, m, _ in loaded_alice[0].appended if "bad-header" in m.tags]
    assert len(refused) == len(bad), (refused, bad)
    assert len(r.missing) == len(refused) and not r.extra and not r.duplicates, str(r)
    assert not (r.flag_mismatch or r.date_mismatch or r.bytes_mismatch or r.missing_folders
                or r.missing_subscriptions or r.extra_subscriptions), str(r)
    assert ("Sent", "Sent") in [(f.source, f.target) for f in r.folders]
