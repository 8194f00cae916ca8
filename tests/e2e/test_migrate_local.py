"""Migration batches from a Dovecot into the local store (issue 3).

A Dovecot (STARTTLS, certificate from the test CA) holds alice, loaded with
the corpus "small" (SpamAssassin and MIME edge cases: non-ASCII folder
names, every flag, keywords, varied INTERNALDATEs, duplicate and missing
Message-IDs, an empty unsubscribed folder, special-use folders), and bob
(a few messages, a folder with a dot in its name, one of about 150 KB).
mailferry migrates them with `batch new` / `batch start --wait` into
<data-dir>/mailstore/<address>/, which a stock Dovecot then serves so that
verify.compare() can check every message against the source: bytes,
flags, keywords, INTERNALDATE, folder, subscriptions.

Also here: re-running a batch copies nothing; bad CSVs are refused with
their line and nothing is stored; a wrong password fails that user with the
server's words; --max-message-size with LargeItemLimit; the cmdlet names.
"""

import os

import pytest

from tests.corpus import corpus
from tests.e2e import verify
from tests.e2e.migrate_helpers import (
    ALICE, BOB, BOB_BIG_SIZE, MailDovecot, batch_list, batch_report, batch_status,
    bob_folders, check_migrated, count, load, logout, new_endpoint, row_summary,
    serve_local_store, skipped_items, start_wait, traversable_dir, user_list, user_show,
    write_csv)
from tests.servers.mfrun import jget

WAIT = 300


@pytest.fixture
def data_dir(server_root):
    """Under a traversable directory: a Dovecot serves the local store."""
    return traversable_dir(server_root, "data-")


@pytest.fixture(scope="module")
def source(server_root, test_certs):
    d = MailDovecot(os.path.join(server_root, "mig-local-src"), tls_mode="starttls",
                    certs_dir=test_certs.directory)
    d.start()
    try:
        alice = corpus.build("small")
        res = load(d, ALICE, alice)
        assert not res.refused, str(res)
        bob = bob_folders()
        res_b = load(d, BOB, bob)
        assert not res_b.refused, str(res_b)
        d.counts = {ALICE: count(alice), BOB: count(bob)}
        d.alice_folders = alice
        yield d
    finally:
        d.stop()


def _files(root):
    n = 0
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) in ("cur", "new"):
            n += len(files)
    return n


def _verify_store(source, data_dir, server_root, users, drop=None):
    """verify.compare every user's source account with its local store."""
    reports = {}
    with serve_local_store(data_dir, server_root, users) as store:
        for u in users:
            src, dst = source.login(u), store.login(u)
            try:
                n = source.counts[u] - len((drop or {}).get(u, ()))
                reports[u] = check_migrated(src, dst, n, drop=(drop or {}).get(u))
            finally:
                logout(src, dst)
    return reports


def test_dovecot_to_local_store(run, data_dir, server_root, source, tmp_path):
    new_endpoint(run, "src", source)
    # alice by impersonation (empty UserName/Password), bob with his own.
    csv = write_csv(tmp_path / "users.csv", [(ALICE, "", ""), (BOB, BOB, "bobpw")])
    r = run(["batch", "new", "b1", "--source", "src", "--csv", csv])
    assert r.rc == 0, r.describe()
    assert batch_status(run, "b1") == "Created"

    r = start_wait(run, "b1", WAIT)
    assert r.rc == 0, r.describe()
    assert batch_status(run, "b1") == "Synced"
    rows = batch_report(run, "b1")
    assert set(rows) == {ALICE, BOB}, rows
    for u, row in rows.items():
        assert jget(row, "Status") == "Synced", row_summary(rows)
        assert jget(row, "TotalItemsInSourceMailboxCount") == source.counts[u], row_summary(rows)
        assert jget(row, "SyncedItemCount") == source.counts[u], row_summary(rows)
        assert jget(row, "SkippedItemCount") == 0, row_summary(rows)
        assert jget(row, "PercentageComplete") == 100, row_summary(rows)
        assert jget(row, "BytesTransferred") > 0, row_summary(rows)

    reports = _verify_store(source, data_dir, server_root, [ALICE, BOB])
    rep = reports[ALICE]
    targets = {f.target for f in rep.folders}
    # Non-ASCII names, hierarchy, "&" in a name; the empty folder exists
    # (and stays unsubscribed: extra_subscriptions would fail the report).
    for name in ("Entwürfe/Übersicht", "日本語", "R&D Notes", "Archive/2024", "Empty", "Sent"):
        assert name in targets, str(rep)
    assert dict((f.target, f.target_count) for f in rep.folders)["Empty"] == 0
    assert "Projects.2024" in {f.target for f in reports[BOB].folders}
    # The quirks the corpus promises were part of what was compared.
    tags = {t for f in source.alice_folders for m in f.messages for t in m.tags}
    assert {"no-msgid", "dup-msgid", "dup-bytes", "cross-folder", "8bit-header", "nul",
            "bare-lf", "bare-cr"} <= tags

    # A second run copies nothing: no new file, still no extra or duplicate.
    store = os.path.join(data_dir, "mailstore")
    before = _files(store)
    r = start_wait(run, "b1", WAIT)
    assert r.rc == 0, r.describe()
    assert _files(store) == before
    rows2 = batch_report(run, "b1")
    for u in (ALICE, BOB):
        assert jget(rows2[u], "Status") == "Synced", row_summary(rows2)
        assert jget(rows2[u], "SyncedItemCount") == source.counts[u], row_summary(rows2)
    _verify_store(source, data_dir, server_root, [ALICE, BOB])


def test_cmdlets(run, data_dir, server_root, source, tmp_path):
    new_endpoint(run, "src", source)
    csv_b = write_csv(tmp_path / "bob.csv", [(BOB, BOB, "bobpw")])
    r = run(["New-MigrationBatch", "-Name", "c1", "-SourceEndpoint", "src", "-CSVData", csv_b,
             "-AutoStart"], timeout=WAIT)
    assert r.rc == 0, r.describe()
    r = run(["Get-MigrationUserStatistics", "-Identity", BOB, "-Json"])
    assert r.rc == 0, r.describe()
    doc = r.json()
    assert jget(doc, "Status") == "Synced", r.describe()
    assert jget(doc, "SyncedItemCount") == source.counts[BOB], r.describe()
    assert jget(doc, "TotalItemsInSourceMailboxCount") == source.counts[BOB], r.describe()

    csv_a = write_csv(tmp_path / "alice.csv", [(ALICE, "", "")])
    r = run(["New-MigrationBatch", "-Name", "c2", "-SourceEndpoint", "src", "-CSVData", csv_a])
    assert r.rc == 0, r.describe()
    r = run(["Get-MigrationBatch", "-Identity", "c2", "-Json"])
    assert r.rc == 0 and jget(r.json(), "Status") == "Created", r.describe()
    r = run(["Start-MigrationBatch", "-Identity", "c2", "-Wait"], timeout=WAIT)
    assert r.rc == 0, r.describe()
    r = run(["Get-MigrationBatch", "-Identity", "c2", "-Json"])
    assert r.rc == 0 and jget(r.json(), "Status") == "Synced", r.describe()
    r = run(["Get-MigrationUserStatistics", ALICE, "-Json"])
    assert r.rc == 0 and jget(r.json(), "SyncedItemCount") == source.counts[ALICE], r.describe()
    _verify_store(source, data_dir, server_root, [ALICE, BOB])


def test_noselect_parent_not_made_a_folder(run, data_dir, server_root, source, tmp_path):
    """bob's "Kunden/Übersicht" has no parent on the source ("Kunden" is
    \\Noselect there). Maildir++ can say the same (no .Kunden directory, as
    Dovecot's own CREATE leaves it): the local store must not gain an empty
    selectable "Kunden" the user never had."""
    new_endpoint(run, "src", source)
    csv = write_csv(tmp_path / "bob.csv", [(BOB, BOB, "bobpw")])
    assert run(["batch", "new", "k", "--source", "src", "--csv", csv]).rc == 0
    r = start_wait(run, "k", WAIT)
    assert r.rc == 0, r.describe()
    s = source.login(BOB)
    try:
        src = verify.snapshot(s)
    finally:
        logout(s)
    assert not src.folders["Kunden"].selectable
    with serve_local_store(data_dir, server_root, [BOB]) as store:
        t = store.login(BOB)
        try:
            dst = verify.snapshot(t)
        finally:
            logout(t)
    assert "Kunden/Übersicht" in dst.folders
    made = "Kunden" in dst.folders and dst.folders["Kunden"].selectable
    assert not made, ("Kunden is \\Noselect on the source, but the local store has it as a "
                      "selectable folder")


def test_wrong_password_fails_that_user(run, data_dir, server_root, source, tmp_path):
    new_endpoint(run, "src", source)
    csv = write_csv(tmp_path / "users.csv", [(ALICE, "", ""), (BOB, BOB, "not-bobs-password")])
    r = run(["batch", "new", "wp", "--source", "src", "--csv", csv])
    assert r.rc == 0, r.describe()
    r = start_wait(run, "wp", WAIT)
    assert r.rc == 1, r.describe()
    assert batch_status(run, "wp") == "SyncedWithErrors"
    rows = batch_report(run, "wp")
    assert jget(rows[ALICE], "Status") == "Synced", row_summary(rows)
    assert jget(rows[ALICE], "SyncedItemCount") == source.counts[ALICE], row_summary(rows)
    assert jget(rows[BOB], "Status") == "Failed", row_summary(rows)
    err = jget(rows[BOB], "LastError") or ""
    # Dovecot's own words.
    assert "Authentication failed" in err, row_summary(rows)
    assert "not-bobs-password" not in "".join(x.out + x.err for x in run.history)
    assert jget(rows[BOB], "SyncedItemCount") == 0, row_summary(rows)
    doc = user_show(run, BOB)
    assert jget(doc, "Status") == "Failed"
    # Get-MigrationUserStatistics calls it Error (the report: LastError).
    assert "Authentication failed" in (jget(doc, "Error", None) or jget(doc, "LastError", None)
                                       or ""), doc
    _verify_store(source, data_dir, server_root, [ALICE])


def test_large_item_limit_exceeded(run, source, tmp_path):
    new_endpoint(run, "src", source)
    csv = write_csv(tmp_path / "bob.csv", [(BOB, BOB, "bobpw")])
    r = run(["batch", "new", "big", "--source", "src", "--csv", csv,
             "--max-message-size", "100K", "--large-item-limit", "0"])
    assert r.rc == 0, r.describe()
    r = start_wait(run, "big", WAIT)
    assert r.rc == 1, r.describe()
    assert batch_status(run, "big") == "Failed"
    rows = batch_report(run, "big")
    assert jget(rows[BOB], "Status") == "Failed", row_summary(rows)
    assert "LargeItemLimit" in (jget(rows[BOB], "LastError") or ""), row_summary(rows)
    items = skipped_items(user_show(run, BOB, skipped=True))
    assert len(items) == 1, items
    it = items[0]
    assert jget(it, "Kind").lower() == "large", it
    # "Each skipped item records folder, date, subject, size and reason."
    assert jget(it, "Subject") == "bob big attachment", (
        f"a message skipped for --max-message-size is recorded without its subject: {it}")
    assert jget(it, "Folder") == "INBOX", it
    assert int(jget(it, "Size")) > BOB_BIG_SIZE - 2048, it
    assert jget(it, "Reason"), it


def test_large_item_within_limit(run, data_dir, server_root, source, tmp_path):
    new_endpoint(run, "src", source)
    csv = write_csv(tmp_path / "bob.csv", [(BOB, BOB, "bobpw")])
    r = run(["batch", "new", "big", "--source", "src", "--csv", csv,
             "--max-message-size", "100K", "--large-item-limit", "1"])
    assert r.rc == 0, r.describe()
    r = start_wait(run, "big", WAIT)
    # Skipped items within the limit: the user is Synced, the batch has errors.
    assert r.rc == 1, r.describe()
    assert batch_status(run, "big") == "SyncedWithErrors"
    rows = batch_report(run, "big")
    assert jget(rows[BOB], "Status") == "Synced", row_summary(rows)
    assert jget(rows[BOB], "SkippedItemCount") == 1, row_summary(rows)
    assert jget(rows[BOB], "SyncedItemCount") == source.counts[BOB] - 1, row_summary(rows)
    big = next(m for f in bob_folders() for m in f.messages if len(m.data) > 100 * 1024)
    _verify_store(source, data_dir, server_root, [BOB], drop={BOB: {big.sha256}})


BAD_CSVS = {
    "unknown-column": ("EmailAddress,UserName,Password,Colour\r\n"
                       f"{ALICE},,,blue\r\n", 1, "Colour"),
    "duplicate-address": ("EmailAddress,UserName,Password\r\n"
                          f"{ALICE},,\r\n{BOB},,\r\nALICE@example.test,,\r\n", 4, ""),
    "ragged-row": ("EmailAddress,UserName,Password\r\n"
                   f"{ALICE},,\r\n{BOB},bob\r\n", 3, ""),
    "malformed-address": ("EmailAddress,UserName,Password\r\n"
                          f"{ALICE},,\r\nbob.example.test,,\r\n", 3, "bob.example.test"),
    "missing-column": ("UserName,Password\r\nalice,alicepw\r\n", 1, "EmailAddress"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSVS))
def test_bad_csv_refused(run, source, tmp_path, case):
    text, line, word = BAD_CSVS[case]
    new_endpoint(run, "src", source)
    path = tmp_path / "bad.csv"
    path.write_bytes(text.encode())
    r = run(["batch", "new", "bad", "--source", "src", "--csv", path])
    assert r.rc == 2, r.describe()
    assert f"line {line}" in r.err, r.describe()
    assert word in r.err, r.describe()
    assert batch_list(run) == []
    assert user_list(run) == []
    assert run(["batch", "show", "bad"]).rc == 3


def test_unknown_batch(run):
    r = run(["batch", "start", "nosuch", "--wait"])
    assert r.rc == 3, r.describe()
