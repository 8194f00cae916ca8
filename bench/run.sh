#!/bin/sh
# make bench: install the peers (bench/debian-packages.txt), build the
# reference programs and the delaying proxy against mailferry's static
# libraries in the build directory, then run bench/bench.py.
#   sh bench/run.sh [BUILD_DIR]        (options: BENCH_* variables, see bench.py)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac

# ---- packages ----------------------------------------------------------------
pkgs=$(grep -v '^[[:space:]]*#' "$here/debian-packages.txt" | grep -v '^[[:space:]]*$')
missing=""
for p in $pkgs; do
    st=$(dpkg-query -W -f '${Status}' "$p" 2>/dev/null || true)
    case "$st" in *"ok installed"*) ;; *) missing="$missing $p" ;; esac
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench: missing Debian packages. Run as root:" >&2
        echo "  apt-get update && apt-get install -y$missing" >&2
        exit 1
    fi
    echo "bench: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "bench: run as root (the test Dovecots serve mail as nobody)" >&2
    exit 1
fi

# ---- C helpers ------------------------------------------------------------------
for lib in libmf_proto.a libmf_net.a libmf_util.a; do
    if [ ! -f "$build/$lib" ]; then
        echo "bench: $build/$lib is missing: run 'make build' first" >&2
        exit 1
    fi
done
mkdir -p "$build/bench"
cflags="-O2 -g -std=gnu17 -Wall -Wextra -Werror -D_GNU_SOURCE -I$root/src"
libs="$build/libmf_proto.a $build/libmf_net.a $build/libmf_util.a -lssl -lcrypto -lcares -lsodium -lpthread"
for prog in ref-fetch ref-append; do
    if [ ! -x "$build/bench/$prog" ] || [ "$here/$prog.c" -nt "$build/bench/$prog" ] ||
       [ "$build/libmf_proto.a" -nt "$build/bench/$prog" ]; then
        cc $cflags -o "$build/bench/$prog" "$here/$prog.c" $libs
    fi
done
if [ ! -x "$build/bench/delayproxy" ] || [ "$here/delayproxy.c" -nt "$build/bench/delayproxy" ]; then
    cc -O2 -g -std=gnu17 -Wall -Wextra -Werror -o "$build/bench/delayproxy" "$here/delayproxy.c"
fi

cd "$root"
exec /usr/bin/python3 "$here/bench.py" --build "$build"
