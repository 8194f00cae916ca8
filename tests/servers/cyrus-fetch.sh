#!/bin/sh
# Make a private copy of Debian's Cyrus IMAP 3.6 for the tests, without
# installing the cyrus-imapd package (it conflicts with dovecot-imapd: both
# provide imap-server) and without cyrus-common's dependency on an MTA.
#
#   tests/servers/cyrus-fetch.sh [PREFIX]
#
# 1. installs (apt-get, as root) the Debian libraries that Cyrus' master,
#    imapd and ctl_cyrusdb link against, plus the SASL sasldb plugin and
#    saslpasswd2;
# 2. downloads cyrus-common and cyrus-imapd (`apt-get download`) and unpacks
#    them with `dpkg-deb -x` into PREFIX (default: $MAILFERRY_CYRUS_PREFIX or
#    /var/cache/mailferry-test/cyrus; kept outside the work tree so that the
#    binaries are reachable by the unprivileged user the server runs as).
# Idempotent: does nothing once both steps are done. Prints PREFIX.
set -eu

PREFIX=${1:-${MAILFERRY_CYRUS_PREFIX:-/var/cache/mailferry-test/cyrus}}
DEBS=$(dirname "$PREFIX")/debs

# Libraries needed by master, imapd, ctl_cyrusdb and libcyrus*.so from
# cyrus-common 3.6.1 (Debian 12). Left out on purpose: libclamav12
# (cyr_virusscan only) and libzephyr4 (notifyd only).
PKGS="libc6 libgcc-s1 libstdc++6 zlib1g libcom-err2 libssl3 libsasl2-2
libsasl2-modules libsasl2-modules-db sasl2-bin libical3 libicu72 libjansson4
libkrb5-3 libldap-2.5-0 libpcre3 libpq5 libsqlite3-0 libwrap0 libxapian30
libxml2"

say() { echo "cyrus-fetch: $*" >&2; }

apt_retry() {
    # Run an apt-get command; on failure refresh the package lists once.
    DEBIAN_FRONTEND=noninteractive apt-get -q "$@" >&2 && return 0
    say "apt-get $1 failed; running apt-get update and retrying"
    apt-get -q update >&2
    DEBIAN_FRONTEND=noninteractive apt-get -q "$@" >&2
}

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        say "missing Debian packages:$missing (run as root: apt-get install$missing)"
        exit 1
    fi
    say "installing$missing"
    # shellcheck disable=SC2086
    apt_retry install -y --no-install-recommends $missing
fi

BIN=$PREFIX/usr/lib/cyrus/bin
if [ ! -x "$BIN/imapd" ] || [ ! -f "$PREFIX/.complete" ]; then
    mkdir -p "$DEBS"
    rm -f "$DEBS"/cyrus-common_*.deb "$DEBS"/cyrus-imapd_*.deb
    say "downloading cyrus-common and cyrus-imapd into $DEBS"
    (cd "$DEBS" && apt_retry -o APT::Sandbox::User=root download cyrus-common cyrus-imapd)
    tmp=$PREFIX.tmp.$$
    rm -rf "$tmp"
    mkdir -p "$tmp"
    for deb in "$DEBS"/cyrus-common_*.deb "$DEBS"/cyrus-imapd_*.deb; do
        dpkg-deb -x "$deb" "$tmp"
    done
    # Record what was unpacked.
    for deb in "$DEBS"/cyrus-common_*.deb "$DEBS"/cyrus-imapd_*.deb; do
        # shellcheck disable=SC2016
        dpkg-deb --showformat='${Package} ${Version}\n' -W "$deb"
    done >"$tmp/.complete"
    chmod -R a+rX "$tmp"
    rm -rf "$PREFIX"
    mv "$tmp" "$PREFIX"
fi

# Check that the programs the tests run find all their libraries.
libdir=
for f in "$PREFIX"/usr/lib/*/libcyrus.so.0; do libdir=$(dirname "$f"); done
for prog in master imapd ctl_cyrusdb; do
    if LD_LIBRARY_PATH=$libdir ldd "$BIN/$prog" | grep 'not found' >&2; then
        say "$BIN/$prog: missing libraries (see above)"
        exit 1
    fi
done
echo "$PREFIX"
