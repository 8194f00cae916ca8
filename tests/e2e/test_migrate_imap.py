"""Migration batches with an IMAP server on either side (issue 3):
Dovecot -> Dovecot, Dovecot -> Cyrus, Cyrus -> local store.

Servers (one of each per module, on 127.0.0.1):
  - the source Dovecot: alice (corpus "small"), bob (a few messages),
    carol (one plain message and one with an invalid header line);
  - a target Dovecot whose special-use folders have other names ("Sent
    Messages", "Deleted Messages", "Junk E-mail"), created at first login:
    mailferry must map Sent, Trash and Junk onto them;
  - a Cyrus 3.6 (munge8bit off) with alice, bob, carol as targets and dave
    (corpus "small", minus what Cyrus refuses at load time) and erin (a few
    messages) as sources.

Every migration is checked with verify.compare() (bytes, flags, keywords,
INTERNALDATE, folder, subscriptions) against the source, read independently
with imaplib.

What Cyrus refuses: messages reach it as Dovecot serves them (FETCH
BODY[]: bare LF as CRLF, NUL as 0x80), so of the corpus only the messages
with an invalid header line (tag bad-header) are refused, with "Message
contains invalid header". mailferry must record exactly those as skipped
items with Cyrus' reason, and copy everything else.
"""

import collections
import os

import pytest

from tests.corpus import corpus
from tests.e2e.migrate_helpers import (
    ALICE, BOB, MailDovecot, batch_report, batch_status, bob_folders, check_migrated, count,
    load, logout, new_endpoint, row_summary, serve_local_store, skipped_items, start_wait,
    traversable_dir, user_show, write_csv)
from tests.servers.cyrus import CyrusServer
from tests.servers.mfrun import jget

WAIT = 300
CAROL, DAVE, ERIN = "carol@example.test", "dave@example.test", "erin@example.test"
TARGET_HEADER = ("EmailAddress", "UserName", "Password", "TargetUserName", "TargetPassword")
CYRUS_USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw", "dave": "davepw",
               "erin": "erinpw"}
TARGET_SPECIAL = {"Drafts": "\\Drafts", "Sent Messages": "\\Sent",
                  "Deleted Messages": "\\Trash", "Junk E-mail": "\\Junk"}

BAD_HEADER_MSG = (b"From: carol@example.test\r\nSubject: invalid header line\r\n"
                  b"Message-ID: <carol-bad@example.test>\r\n"
                  b"this line is no header field\r\n\r\nbody\r\n")
GOOD_MSG = (b"From: carol@example.test\r\nSubject: a good one\r\n"
            b"Message-ID: <carol-good@example.test>\r\n\r\nbody\r\n")


@pytest.fixture
def data_dir(server_root):
    return traversable_dir(server_root, "data-")


@pytest.fixture(scope="module")
def source(server_root):
    users = {ALICE: "alicepw", BOB: "bobpw", CAROL: "carolpw"}
    d = MailDovecot(os.path.join(server_root, "mig-imap-src"), users=users)
    d.start()
    try:
        alice = corpus.build("small")
        res = load(d, ALICE, alice)
        assert not res.refused, str(res)
        bob = bob_folders()
        assert not load(d, BOB, bob).refused
        d.add_message(CAROL, "INBOX", GOOD_MSG, flags=("\\Seen",), internaldate=1_700_000_000)
        d.add_message(CAROL, "INBOX", BAD_HEADER_MSG, internaldate=1_700_000_100)
        d.counts = {ALICE: count(alice), BOB: count(bob), CAROL: 2}
        d.alice_folders = alice
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def cyrus(server_root):
    c = CyrusServer()
    directory = os.path.join(server_root, "mig-cyrus")
    c.start(directory, users=CYRUS_USERS, extra_conf={"munge8bit": "no"})
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def cyrus_source(cyrus):
    """dave: the corpus as far as Cyrus takes it; erin: bob's few messages."""
    dave = corpus.build("small")
    res = load(cyrus, "dave", dave)
    refused = collections.Counter(t for _, m, _ in res.refused for t in m.tags)
    for _, m, _ in res.refused:
        assert m.tags & {"bare-lf", "nul", "bad-header"}, str(res)
    assert refused["bad-header"] and refused["bare-lf"] and refused["nul"], str(res)
    erin = bob_folders()
    assert not load(cyrus, "erin", erin).refused
    return {DAVE: len(res.appended), ERIN: count(erin)}


def _target_dovecot(server_root):
    d = MailDovecot(os.path.join(server_root, "mig-imap-dst"),
                    users={ALICE: "alice-target", BOB: "bob-target"},
                    master=("tmaster", "tmasterpw"), special_use=TARGET_SPECIAL)
    d.start()
    return d


def test_dovecot_to_dovecot(run, source, server_root, tmp_path):
    dst = _target_dovecot(server_root)
    try:
        new_endpoint(run, "src", source)
        new_endpoint(run, "dst", dst, admin=("tmaster", "tmasterpw"),
                     extra=("--impersonation", "master-user"))
        # Source: alice by impersonation, bob with his password. Target:
        # alice with her target credentials, bob by the target's admin.
        csv = write_csv(tmp_path / "users.csv",
                        [(ALICE, "", "", ALICE, "alice-target"), (BOB, BOB, "bobpw", "", "")],
                        header=TARGET_HEADER)
        r = run(["batch", "new", "dd", "--source", "src", "--target", "dst", "--csv", csv])
        assert r.rc == 0, r.describe()
        r = start_wait(run, "dd", WAIT)
        assert r.rc == 0, r.describe()
        assert batch_status(run, "dd") == "Synced"
        rows = batch_report(run, "dd")
        for u in (ALICE, BOB):
            assert jget(rows[u], "Status") == "Synced", row_summary(rows)
            assert jget(rows[u], "SyncedItemCount") == source.counts[u], row_summary(rows)
            assert jget(rows[u], "TotalItemsInSourceMailboxCount") == source.counts[u]
        reps = {}
        for u in (ALICE, BOB):
            s, t = source.login(u), dst.login(u)
            try:
                reps[u] = check_migrated(s, t, source.counts[u])
            finally:
                logout(s, t)
        rep = reps[ALICE]
        mapping = {f.source: f.target for f in rep.folders}
        # Special-use folders land in the target's own ones; no "Sent" is
        # made beside "Sent Messages".
        assert mapping["Sent"] == "Sent Messages", str(rep)
        assert mapping["Trash"] == "Deleted Messages", str(rep)
        assert mapping["Junk"] == "Junk E-mail", str(rep)
        assert mapping["Drafts"] == "Drafts", str(rep)
        assert rep.extra_folders == [], str(rep)
        assert mapping["日本語"] == "日本語" and mapping["Empty"] == "Empty"
        assert {f.source: f.target for f in reps[BOB].folders}["Projects.2024"] == "Projects.2024"

        # Again: nothing new is copied.
        r = start_wait(run, "dd", WAIT)
        assert r.rc == 0, r.describe()
        s, t = source.login(ALICE), dst.login(ALICE)
        try:
            check_migrated(s, t, source.counts[ALICE])
        finally:
            logout(s, t)
    finally:
        dst.stop()


def _bad_header_sources(folders):
    return [(f.name, m) for f in folders for m in f.messages if "bad-header" in m.tags]


def test_dovecot_to_cyrus(run, source, cyrus, tmp_path):
    new_endpoint(run, "src", source)
    new_endpoint(run, "cyr", cyrus, admin=cyrus.admin)
    # Target: alice by Cyrus' admin (SASL authorization identity), bob with
    # his own password.
    csv = write_csv(tmp_path / "users.csv",
                    [(ALICE, "", "", "alice", ""), (BOB, "", "", "bob", "bobpw")],
                    header=TARGET_HEADER)
    r = run(["batch", "new", "dc", "--source", "src", "--target", "cyr", "--csv", csv,
             "--bad-item-limit", "20"])
    assert r.rc == 0, r.describe()
    r = start_wait(run, "dc", WAIT)
    # Skipped items (within the limit): users Synced, batch SyncedWithErrors.
    assert r.rc == 1, r.describe()
    assert batch_status(run, "dc") == "SyncedWithErrors"
    refused = _bad_header_sources(source.alice_folders)
    assert len(refused) == 5
    rows = batch_report(run, "dc")
    assert jget(rows[ALICE], "Status") == "Synced", row_summary(rows)
    assert jget(rows[ALICE], "SkippedItemCount") == len(refused), row_summary(rows)
    assert jget(rows[ALICE], "SyncedItemCount") == source.counts[ALICE] - len(refused)
    assert jget(rows[BOB], "Status") == "Synced", row_summary(rows)
    assert jget(rows[BOB], "SyncedItemCount") == source.counts[BOB], row_summary(rows)
    assert jget(rows[BOB], "SkippedItemCount") == 0, row_summary(rows)

    # The skipped items are exactly the messages Cyrus refuses, with its words.
    items = skipped_items(user_show(run, ALICE, skipped=True))
    got = collections.Counter((jget(i, "Folder"), int(jget(i, "Size"))) for i in items)
    want = collections.Counter((f, len(m.expected)) for f, m in refused)
    assert got == want, items
    for i in items:
        assert jget(i, "Kind").lower() == "bad", i
        assert "Message contains invalid header" in jget(i, "Reason"), i

    for u, login in ((ALICE, "alice"), (BOB, "bob")):
        s, t = source.login(u), cyrus.connect(login)
        try:
            drop = {m.sha256 for _, m in refused} if u == ALICE else None
            n = source.counts[u] - (len(refused) if u == ALICE else 0)
            check_migrated(s, t, n, drop=drop)
        finally:
            logout(s, t)


def test_bad_item_limit_exceeded(run, source, cyrus, tmp_path):
    new_endpoint(run, "src", source)
    new_endpoint(run, "cyr", cyrus, admin=cyrus.admin)
    csv = write_csv(tmp_path / "users.csv", [(CAROL, "", "", "carol", "")],
                    header=TARGET_HEADER)
    r = run(["batch", "new", "lim", "--source", "src", "--target", "cyr", "--csv", csv])
    assert r.rc == 0, r.describe()
    r = start_wait(run, "lim", WAIT)
    assert r.rc == 1, r.describe()
    assert batch_status(run, "lim") == "Failed"
    rows = batch_report(run, "lim")
    assert jget(rows[CAROL], "Status") == "Failed", row_summary(rows)
    assert "BadItemLimit" in (jget(rows[CAROL], "LastError") or ""), row_summary(rows)
    items = skipped_items(user_show(run, CAROL, skipped=True))
    assert len(items) == 1, items
    assert jget(items[0], "Subject") == "invalid header line", items
    assert "invalid header" in jget(items[0], "Reason"), items


def test_cyrus_to_local_store(run, cyrus, cyrus_source, data_dir, server_root, tmp_path):
    new_endpoint(run, "cyr", cyrus, admin=cyrus.admin)
    # dave with his password, erin by Cyrus' admin.
    csv = write_csv(tmp_path / "users.csv", [(DAVE, "dave", "davepw"), (ERIN, "erin", "")])
    r = run(["batch", "new", "cl", "--source", "cyr", "--csv", csv])
    assert r.rc == 0, r.describe()
    r = start_wait(run, "cl", WAIT)
    assert r.rc == 0, r.describe()
    assert batch_status(run, "cl") == "Synced"
    rows = batch_report(run, "cl")
    for u in (DAVE, ERIN):
        assert jget(rows[u], "Status") == "Synced", row_summary(rows)
        assert jget(rows[u], "SyncedItemCount") == cyrus_source[u], row_summary(rows)
    with serve_local_store(data_dir, server_root, [DAVE, ERIN]) as store:
        for u, login in ((DAVE, "dave"), (ERIN, "erin")):
            s, t = cyrus.connect(login), store.login(u)
            try:
                rep = check_migrated(s, t, cyrus_source[u])
            finally:
                logout(s, t)
            if u == DAVE:
                targets = {f.target for f in rep.folders}
                assert {"Entwürfe/Übersicht", "日本語", "R&D Notes", "Empty"} <= targets
