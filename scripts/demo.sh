#!/bin/sh
# Demo: start a throwaway Dovecot (STARTTLS, certificate from a test CA) on
# 127.0.0.1, create a mailferry endpoint with its administrator, and run the
# connection test with a test mailbox. Everything lives in a temporary
# directory that is removed, and the server stopped, on exit.
#
#   sh scripts/demo.sh BINARY        (make demo does this, as root)
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
echo "    SSL_CERT_FILE=$SSL_CERT_FILE (the test CA)"
echo "    MAILFERRY_DATA_DIR=$MAILFERRY_DATA_DIR"

step "mailferry endpoint new demo-src --type imap --server 127.0.0.1 --port $port" \
	"--security starttls --admin-user master --password-stdin   (password on stdin)"
printf '%s\n' masterpw | "$bin" endpoint new demo-src --type imap --server 127.0.0.1 \
	--port "$port" --security starttls --admin-user master --password-stdin

step "mailferry endpoint list"
"$bin" endpoint list

step "mailferry endpoint test demo-src --test-mailbox alice   (the administrator opens alice's mailbox)"
"$bin" endpoint test demo-src --test-mailbox alice

step "mailferry endpoint test demo-src --test-mailbox bob --password-stdin   (bob's own password)"
printf '%s\n' bobpw | "$bin" endpoint test demo-src --test-mailbox bob --password-stdin

step "mailferry endpoint show demo-src   (the password is sealed; the last test result is kept)"
"$bin" endpoint show demo-src

echo
echo "==> demo finished: endpoint created, verified and tested."
