#!/bin/sh
# Install the Debian packages listed in scripts/debian-packages.txt that are
# missing. As root it runs apt-get; otherwise it prints the one command to run.
# Cyrus IMAP conflicts with Dovecot as a Debian package (both provide
# imap-server), so tests/servers/cyrus-fetch.sh unpacks it privately instead.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pkgs=$(grep -v '^[[:space:]]*#' "$here/debian-packages.txt" | grep -v '^[[:space:]]*$')
missing=""
for p in $pkgs; do
    st=$(dpkg-query -W -f '${Status}' "$p" 2>/dev/null || true)
    case "$st" in
    *"ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done
if [ -z "$missing" ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "mailferry: missing Debian packages. Run as root:" >&2
    echo "  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
echo "mailferry: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Never let a package's maintainer script start a system daemon (dovecot,
# dnsmasq): the tests start their own instances on private ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
