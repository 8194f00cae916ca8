#!/bin/sh
# Demo: a real migration. Start a throwaway Dovecot (STARTTLS, certificate
# from a test CA) on 127.0.0.1 with sample mail for two users, create a
# mailferry endpoint with its administrator, run a migration batch into the
# local store with progress shown, and print the batch report. Everything
# lives in a temporary directory that is removed, and the server stopped,
# on exit.
#
#   sh scripts/demo.sh BINARY        (make demo does this, as root)
#
# Sample mail: part of the third-party test corpus (tests/corpus/fetch.sh,
# idempotent; about 20 s the first time) when it can be fetched, else a
# handful of generated messages.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: sh scripts/demo.sh path/to/mailferry" >&2
	exit 2
fi
case "$1" in
/*) bin=$1 ;;
*) bin=$(pwd)/$1 ;;
esac
if [ ! -x "$bin" ]; then
	echo "demo: $bin is not an executable (build it first: make build)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (the test Dovecot instance needs it)" >&2
	exit 1
fi
root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3

# Under /tmp, mode 0755: Dovecot's unprivileged processes must reach it.
tmp=$(mktemp -d /tmp/mailferry-demo.XXXXXX)
chmod 755 "$tmp"
started=""
cleanup() {
	status=$?
	trap - EXIT INT TERM
	if [ -n "$started" ]; then
		echo
		echo "==> stopping the test server"
		(cd "$root" && "$py" -m tests.servers.dovecot stop "$tmp/dovecot") || true
	fi
	rm -rf "$tmp"
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() {
	echo
	echo "==> $*"
}

step "starting a throwaway Dovecot (STARTTLS, test CA) in $tmp/dovecot"
(cd "$root" && "$py" -m tests.servers.dovecot start "$tmp/dovecot" --tls-mode starttls) \
	>"$tmp/server.json"
started=yes
field() {
	"$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
		"$tmp/server.json" "$1"
}
port=$(field plain_port)
SSL_CERT_FILE=$(field ca_bundle)
MAILFERRY_DATA_DIR=$tmp/data
export SSL_CERT_FILE MAILFERRY_DATA_DIR
echo "    IMAP with STARTTLS on 127.0.0.1:$port"
echo "    users alice/alicepw, bob/bobpw; administrator master/masterpw"
echo "    MAILFERRY_DATA_DIR=$MAILFERRY_DATA_DIR"

step "loading sample mail for alice and bob"
corpus=""
if [ -z "${MAILFERRY_DEMO_NO_CORPUS:-}" ]; then
	echo "    fetching the test corpus (tests/corpus/fetch.sh; about 20 s the first time)"
	if sh "$root/tests/corpus/fetch.sh" >"$tmp/fetch.out" 2>"$tmp/fetch.log"; then
		corpus=yes
	else
		echo "    could not fetch it (see below); using generated messages instead"
		tail -n 3 "$tmp/fetch.log" | sed 's/^/      /'
	fi
fi
(cd "$root" && "$py" - "$port" "$SSL_CERT_FILE" "$corpus") <<'EOF'
import datetime as dt
import ssl
import sys

from tests.corpus import corpus

port, ca, use_corpus = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "yes"
ctx = ssl.create_default_context(cafile=ca)


def generated(user, n):
    msgs = []
    for i in range(1, n + 1):
        data = (f"From: Demo Sender <sender{i}@example.test>\r\nTo: {user}@example.test\r\n"
                f"Subject: demo message {i} for {user}\r\n"
                f"Date: Mon, {i:02d} Jan 2024 10:00:00 +0000\r\n"
                f"Message-ID: <demo-{user}-{i}@example.test>\r\n\r\n"
                f"Hello {user}, this is demo message {i}.\r\n").encode()
        msgs.append(corpus.Message(
            data=data, flags=("\\Seen",) if i % 2 else (), keywords=("$Label1",) if i % 3 == 0 else (),
            internaldate=dt.datetime(2024, 1, i, 10, 0, 0, tzinfo=dt.timezone.utc)))
    return msgs


if use_corpus:
    # A part of the corpus "small": up to 12 messages of each folder.
    alice = corpus.build("small")
    for f in alice:
        f.messages = f.messages[:12]
else:
    alice = [corpus.Folder("INBOX", generated("alice", 8)),
             corpus.Folder("Sent", generated("alice-sent", 3), "\\Sent"),
             corpus.Folder("Archiv/2024", generated("alice-archive", 4)),
             corpus.Folder("Empty", [], subscribed=False)]
bob = [corpus.Folder("INBOX", generated("bob", 5)),
       corpus.Folder("Projekte/Übersicht", generated("bob-projects", 3))]
for user, folders in (("alice", alice), ("bob", bob)):
    res = corpus.load_imap("127.0.0.1", port, user, user + "pw", folders, starttls=True,
                           ssl_context=ctx)
    n = sum(len(f.messages) for f in folders)
    print(f"    {user}: {len(res.appended)} messages in {len(folders)} folders"
          + (f" ({len(res.refused)} refused by the server)" if res.refused else "")
          + (" [from the SpamAssassin and MIME edge-case corpus]" if use_corpus and user == "alice"
             else ""))
EOF

step "mailferry endpoint new demo-src --type imap --server 127.0.0.1 --port $port" \
	"--security starttls --admin-user master --password-stdin   (password on stdin)"
if ! printf '%s\n' masterpw | "$bin" endpoint new demo-src --type imap --server 127.0.0.1 \
	--port "$port" --security starttls --admin-user master --password-stdin >"$tmp/ep.out"; then
	cat "$tmp/ep.out"
	exit 1
fi
echo "    the connection test passed; the endpoint is stored with its sealed password:"
"$bin" endpoint list | sed 's/^/    /'

csv=$tmp/users.csv
cat >"$csv" <<'EOF'
EmailAddress,UserName,Password
alice@example.test,alice,
bob@example.test,bob,bobpw
EOF
step "the users (CSV): alice through the administrator (no password), bob with his own"
sed 's/^/    /' "$csv"

step "mailferry batch new demo --source demo-src --target local --csv users.csv"
"$bin" batch new demo --source demo-src --target local --csv "$csv"

step "mailferry batch start demo --wait   (copies into $MAILFERRY_DATA_DIR/mailstore/)"
rc=0
"$bin" batch start demo --wait || rc=$?

step "mailferry batch report demo"
"$bin" batch report demo

step "mailferry user show alice@example.test"
"$bin" user show alice@example.test

step "the local store (Dovecot-compatible Maildir++): folders and messages"
(cd "$root" && "$py" - "$MAILFERRY_DATA_DIR/mailstore") <<'EOF'
import os
import re
import sys

from tests.corpus.corpus import mutf7_decode

store = sys.argv[1]
for user in sorted(os.listdir(store)):
    print(f"    {user}/")
    top = os.path.join(store, user)
    for d in ["."] + sorted(x for x in os.listdir(top) if x.startswith(".")):
        path = os.path.join(top, d)
        if not os.path.isdir(os.path.join(path, "cur")):
            continue
        n = sum(len(os.listdir(os.path.join(path, s))) for s in ("cur", "new"))
        if d == ".":
            name = "INBOX"
        else:  # Maildir++ levels in modified UTF-7, with listescape's \2e
            levels = [re.sub(r"\\([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), x)
                      for x in d[1:].split(".")]
            name = "/".join(mutf7_decode(x) for x in levels)
        print(f"      {name:<24} {n:>4} messages   ({d}/)")
EOF

echo
if [ "$rc" -eq 0 ]; then
	echo "==> demo finished: both mailboxes migrated into the local store."
else
	echo "==> demo finished: the batch ended with errors (exit $rc; see the report above)."
fi
exit "$rc"
