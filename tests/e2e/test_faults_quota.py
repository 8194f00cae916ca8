"""A target that runs out of quota (issue 4, part 3: "A target that runs out
of space or quota ([OVERQUOTA], ENOSPC) stops that user with a clear error
and loses nothing").

Two targets that answer APPEND with NO [OVERQUOTA] once an account holds
25 messages: the scripted IMAP server (quota_messages), and a real Dovecot
with its quota plugin (count backend, quota_rule = *:messages=25). The
source is a Dovecot account with 40 messages (INBOX 30, Lists/ops 10).

Expected: `batch start --wait` ends with exit 1 and the user Failed, its
error naming the quota; the refused messages are not skipped items (they
were not bad, the target was full); the target holds only messages of the
source, once each, byte-identical. After the quota is raised, a second
`batch start --wait` copies the rest: the target then equals the source
(verify.compare), with no duplicate: nothing was lost.
"""

import os
import random
import types

import pytest

from tests.e2e import verify
from tests.e2e.migrate_helpers import MailDovecot, traversable_dir, write_csv
from tests.servers.mfrun import jget

QUOTA = 25
HEADER = ("EmailAddress", "UserName", "Password", "TargetUserName", "TargetPassword")
SOURCES = [f"q{i}@example.test" for i in range(1, 4)]
FLAGS = [(), ("\\Seen",), ("\\Seen", "\\Flagged"), ("Work",)]


class QuotaDovecot(MailDovecot):
    """A Dovecot target with the quota plugin: at most `messages` messages
    per account (quota_rule), raised by set_quota()."""

    def __init__(self, directory, messages, **kw):
        super().__init__(directory, **kw)
        self.quota_messages = messages

    def _config_text(self):
        return super()._config_text() + (
            "mail_plugins = $mail_plugins quota\n"
            "plugin {\n"
            "  quota = count:User quota\n"
            "  quota_vsizes = yes\n"
            f"  quota_rule = *:messages={self.quota_messages}\n"
            "}\n")

    def set_quota(self, messages):
        self.quota_messages = messages
        self._write(self.config, self._config_text())
        self.doveadm("reload")


def _message(tag, n, size):
    head = (f"From: Quota <q@example.test>\r\nSubject: {tag} {n}\r\n"
            f"Message-ID: <quota-{tag}-{n}@example.test>\r\n\r\n").encode()
    line = f"{tag} {n} ".encode().ljust(66, b"#") + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


@pytest.fixture(scope="module")
def quota_src(server_root, fill_maildir):
    rng = random.Random(41)
    d = MailDovecot(os.path.join(server_root, "quota-src"), users={u: "pw" for u in SOURCES})
    d.start()
    for u in SOURCES:
        fill_maildir(d, u, "INBOX", [(_message(u, n, rng.randint(500, 4000)), rng.choice(FLAGS),
                                      1_700_000_000 + rng.randrange(10**6)) for n in range(30)])
        fill_maildir(d, u, "Lists/ops", [(_message(u + "-ops", n, 900), ("\\Seen",),
                                          1_700_000_000 + n) for n in range(10)])
    d.free = list(SOURCES)
    yield d
    d.stop()


@pytest.fixture
def data_dir(server_root):
    return traversable_dir(server_root, "quota-data-")


@pytest.fixture
def quota_target(request, scripted_imap, server_root, quota_src):
    """(kind, server, raise_quota()) for the user about to be migrated."""
    user = quota_src.free[0]
    if request.param == "scripted":
        s = scripted_imap(users={user: "pw"})
        s.quota_messages = QUOTA

        def lift():
            s.quota_messages = None
        yield types.SimpleNamespace(kind="scripted", server=s, lift=lift,
                                    login=lambda: _imap(s.port, user))
    else:
        d = QuotaDovecot(traversable_dir(server_root, "quota-dst-"), QUOTA, users={user: "pw"})
        d.start()
        try:
            yield types.SimpleNamespace(kind="dovecot", server=d,
                                        lift=lambda: d.set_quota(10_000),
                                        login=lambda: d.login(user, "pw"))
        finally:
            d.stop()


def _imap(port, user):
    import imaplib
    m = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    m.login(user, "pw")
    return m


def _compare(src, user, target):
    s, t = src.login(user, "pw"), target.login()
    try:
        return verify.compare(s, t)
    finally:
        s.logout()
        t.logout()


@pytest.mark.parametrize("quota_target", ["scripted", "dovecot"], indirect=True)
def test_target_over_quota_stops_the_user_and_loses_nothing(issue4, quota_src, quota_target,
                                                            tmp_path):
    src = quota_src
    user = src.free.pop(0)
    issue4.endpoint("src", src.plain_port)
    issue4.endpoint("dst", quota_target.server.plain_port)
    csv = write_csv(tmp_path / "q.csv", [(user, "", "", user, "")], header=HEADER)
    issue4.batch_new("quota", "src", csv, target="dst")

    r = issue4.start_wait("quota", rc=1)
    doc = issue4.user(user)
    assert jget(doc, "Status") in ("Failed",), doc
    err = jget(doc, "Error") or ""
    assert "quota" in err.lower(), f"the error does not say the target is over quota: {err!r}"
    assert "quota" in (r.out + r.err).lower(), r.describe()
    assert jget(doc, "SkippedItemCount") == 0, \
        f"messages refused for quota became skipped items: {doc}"

    rep = _compare(src, user, quota_target)
    assert not (rep.extra or rep.duplicates or rep.bytes_mismatch or rep.flag_mismatch
                or rep.date_mismatch), str(rep)
    landed = sum(f.target_count for f in rep.folders)
    assert landed == QUOTA, f"{landed} messages on the target, quota {QUOTA}:\n{rep}"

    quota_target.lift()
    issue4.start_wait("quota")
    assert issue4.field(user, "Status") == "Synced"
    rep = _compare(src, user, quota_target)
    assert rep.ok, str(rep)
    for f in rep.folders:
        assert f.source_count == f.target_count == f.matched, str(rep)
    assert sum(f.matched for f in rep.folders) == 40
