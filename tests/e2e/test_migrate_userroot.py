"""UserRoot (issue 3, CSV column UserRoot): an administrator's login reaches
a user's mailbox below a path of the server's hierarchy, as Exchange's IMAP
migrations do with UserRoot.

The source is a Dovecot whose administrator ("master") sees other users'
mail in a shared namespace, "shared/<user>/" (ACL plugin; alice granted
master lookup and read on each of her folders): there alice's INBOX is
"shared/alice@example.test" itself, her "Sent" is
"shared/alice@example.test/Sent". The CSV row logs in as master with
UserRoot "shared/alice@example.test"; the migration into the local store
must give the folders without the prefix ("Sent", the root as INBOX) and
every message byte-exact with its flags, keywords and INTERNALDATE,
checked with verify.compare() against alice's own view of her account.
"""

import os
import subprocess

import pytest

from tests.e2e.migrate_helpers import (
    ALICE, MASTER, MailDovecot, batch_report, batch_status, bob_folders, count, load, logout,
    new_endpoint, row_summary, serve_local_store, start_wait, traversable_dir, write_csv)
from tests.e2e import verify
from tests.servers.mfrun import jget

WAIT = 300


class SharedDovecot(MailDovecot):
    """A MailDovecot with the ACL plugin and a shared namespace
    "shared/%u/" (subscriptions of the shared user's own)."""

    def _config_text(self):
        d = self.directory
        acldir = os.path.join(d, "acldict")
        os.makedirs(acldir, exist_ok=True)
        os.chown(acldir, self._uid, self._gid)
        return super()._config_text() + f"""
mail_plugins = $mail_plugins acl
protocol imap {{
  mail_plugins = $mail_plugins imap_acl
}}
plugin {{
  acl = vfile
  acl_shared_dict = file:{acldir}/shared-mailboxes.db
}}
namespace shared {{
  type = shared
  separator = /
  prefix = shared/%%u/
  location = maildir:%%h/Maildir:INDEX=~/shared/%%u
  subscriptions = yes
  list = children
}}
"""

    def grant(self, user, who):
        """who gets lookup and read on every folder of user."""
        r = self.doveadm("mailbox", "list", "-u", user)
        for box in r.stdout.splitlines():
            if box.strip():
                self.doveadm("acl", "set", "-u", user, box.strip(), f"user={who}", "lookup",
                             "read", check=False)


@pytest.fixture(scope="module")
def shared_source(server_root):
    d = SharedDovecot(os.path.join(server_root, "mig-userroot-src"))
    d.start()
    try:
        folders = bob_folders()
        assert not load(d, ALICE, folders).refused
        d.grant(ALICE, MASTER[0])
        d.expected = count(folders)
        yield d
    finally:
        d.stop()


@pytest.fixture
def data_dir(server_root):
    return traversable_dir(server_root, "data-")


def test_userroot_shared_namespace(run, data_dir, shared_source, server_root, tmp_path):
    mf = run
    new_endpoint(mf, "src", shared_source)
    csv = write_csv(tmp_path / "users.csv",
                    [(ALICE, MASTER[0], MASTER[1], f"/shared/{ALICE}/")],
                    header=("EmailAddress", "UserName", "Password", "UserRoot"))
    r = mf(["batch", "new", "ur", "--source", "src", "--csv", csv])
    assert r.rc == 0, r.describe()
    r = start_wait(mf, "ur", WAIT)
    assert r.rc == 0, r.describe()
    assert batch_status(mf, "ur") == "Synced"
    rows = batch_report(mf, "ur")
    assert jget(rows[ALICE], "Status") == "Synced", row_summary(rows)
    assert jget(rows[ALICE], "SyncedItemCount") == shared_source.expected, row_summary(rows)
    assert jget(rows[ALICE], "TotalItemsInSourceMailboxCount") == shared_source.expected

    with serve_local_store(data_dir, server_root, [ALICE]) as store:
        s, t = shared_source.login(ALICE), store.login(ALICE)
        try:
            rep = verify.compare(s, t)
        finally:
            logout(s, t)
    assert rep.ok, str(rep)
    assert sum(f.source_count for f in rep.folders) == shared_source.expected, str(rep)
    assert sum(f.matched for f in rep.folders) == shared_source.expected, str(rep)
    assert not rep.extra and not rep.duplicates, str(rep)
    # Nothing of the prefix on the target, nothing of master's own mail.
    assert rep.extra_folders == [], str(rep)
    names = {f.target for f in rep.folders}
    assert {"INBOX", "Sent", "Projects.2024", "Kunden/Übersicht"} <= names, names
    assert not any("shared" in n for n in names), names


def test_userroot_unknown_root(run, data_dir, shared_source, tmp_path):
    """A root below which the server lists nothing (wrong, or not visible
    to the login) fails the user with words that say so, rather than
    copying an empty mailbox (or anybody else's mail)."""
    mf = run
    new_endpoint(mf, "src", shared_source)
    csv = write_csv(tmp_path / "users.csv",
                    [(ALICE, MASTER[0], MASTER[1], "shared/nobody@example.test")],
                    header=("EmailAddress", "UserName", "Password", "UserRoot"))
    r = mf(["batch", "new", "ur2", "--source", "src", "--csv", csv])
    assert r.rc == 0, r.describe()
    r = start_wait(mf, "ur2", WAIT)
    assert r.rc == 1, r.describe()
    rows = batch_report(mf, "ur2")
    assert jget(rows[ALICE], "Status") == "Failed", row_summary(rows)
    assert "lists no folder there" in (jget(rows[ALICE], "LastError", None) or ""), \
        row_summary(rows)
    assert jget(rows[ALICE], "SyncedItemCount") == 0, row_summary(rows)
    store = os.path.join(data_dir, "mailstore", ALICE)
    if os.path.isdir(store):
        files = subprocess.run(["find", store, "-type", "f", "-path", "*/cur/*"],
                               capture_output=True, text=True).stdout.split()
        assert files == [], files
