"""A private DNS server for tests: dnsmasq on 127.0.0.1:PORT (UDP and TCP).

    dns = DnsWorld(directory)
    dns.host("imap.srv.test", "127.0.0.5")            # A record (exact name)
    dns.srv("_imaps._tcp.srv.test", "imap.srv.test", 993)
    dns.srv("_imaps._tcp.srvdot.test", None)          # target "." (not offered)
    dns.mx("mx.test", "mx1.mxhost.test", 10)
    dns.start()
    dns.address                                       # "127.0.0.1:PORT"
    query(dns.address, "imap.srv.test", "A")          # a tiny client for checks
    dns.queries()                                     # [(type, name)] seen so far
    dns.stop()

Nothing leaks out: --no-resolv --no-hosts and no upstream server, no
configuration file, and every name not given here is answered locally
(NXDOMAIN for names under .test; other names get no answer from elsewhere).
dnsmasq runs as root in the foreground, in its own session, and dies with
the process that started it (PR_SET_PDEATHSIG), so an aborted test run
leaves no DNS server behind. Queries are logged to DIR/dnsmasq.log.

Command line: python3 -m tests.servers.dnsworld query 127.0.0.1:PORT NAME [TYPE]
"""

import ctypes
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time

DNSMASQ = "/usr/sbin/dnsmasq"

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
         "AAAA": 28, "SRV": 33}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


class DnsWorldError(RuntimeError):
    pass


def _free_port():
    """A port free on 127.0.0.1 for both UDP and TCP a moment ago."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise DnsWorldError("no free UDP+TCP port on 127.0.0.1")


def _die_with_parent():
    """preexec_fn: SIGTERM when the starting thread's process dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class DnsWorld:
    def __init__(self, directory):
        self.directory = os.path.abspath(directory)
        self.hosts = []      # (name, ip)
        self.srvs = []       # (name, target or None, port, priority, weight)
        self.mxs = []        # (domain, host, preference)
        self.txts = []       # (name, text)
        self.proc = None
        self.port = None
        self.log_file = os.path.join(self.directory, "dnsmasq.log")

    # ---- records ---------------------------------------------------------

    def host(self, name, ip):
        self.hosts.append((name.rstrip("."), ip))

    def srv(self, name, target, port=0, priority=0, weight=0):
        """target None: the "." target (service decidedly not offered)."""
        self.srvs.append((name, target, port, priority, weight))

    def mx(self, domain, host, preference=10):
        self.mxs.append((domain, host, preference))

    def txt(self, name, text):
        self.txts.append((name, text))

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    # ---- process -----------------------------------------------------------

    def _args(self):
        a = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=",
             f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces",
             "--no-resolv", "--no-hosts", "--no-poll", "--user=root", "--group=root",
             "--cache-size=0", "--log-queries=extra", f"--log-facility={self.log_file}",
             # Everything is answered here: NXDOMAIN for unknown names in any
             # domain (no upstream exists anyway).
             "--local=/test/", "--local=/#/"]
        for name, ip in self.hosts:
            a.append(f"--host-record={name},{ip}")
        for name, target, port, prio, weight in self.srvs:
            a.append(f"--srv-host={name}" if target is None
                     else f"--srv-host={name},{target},{port},{prio},{weight}")
        for domain, host, pref in self.mxs:
            a.append(f"--mx-host={domain},{host},{pref}")
        for name, text in self.txts:
            a.append(f"--txt-record={name},{text}")
        return a

    def start(self, timeout=10):
        os.makedirs(self.directory, exist_ok=True)
        last = ""
        for _attempt in range(5):
            self.port = _free_port()
            open(self.log_file, "a").close()
            err = open(os.path.join(self.directory, "dnsmasq.err"), "wb")
            self.proc = subprocess.Popen(self._args(), stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, start_new_session=True,
                                         preexec_fn=_die_with_parent, close_fds=True)
            err.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    query(self.address, "ready-probe.test", "A", timeout=0.3)
                    return self
                except (OSError, DnsWorldError):
                    time.sleep(0.05)
            with open(os.path.join(self.directory, "dnsmasq.err"), errors="replace") as f:
                last = f.read()
            self.stop()
            if "in use" not in last:
                break
        raise DnsWorldError(f"dnsmasq did not start:\n{last}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.stop()

    def queries(self):
        """[(TYPE, name)] of the queries logged so far, in order."""
        out = []
        try:
            with open(self.log_file, errors="replace") as f:
                for line in f:
                    # "... query[SRV] _imaps._tcp.srv.test from 127.0.0.1"
                    i = line.find(" query[")
                    if i < 0:
                        continue
                    rest = line[i + 7:]
                    qtype, _, rest = rest.partition("] ")
                    out.append((qtype, rest.split(" ", 1)[0]))
        except OSError:
            pass
        return out


# ---- a tiny DNS client (for checks; mailferry uses c-ares) -------------------

def _encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def _read_name(msg, i, depth=0):
    labels = []
    while True:
        if i >= len(msg) or depth > 20:
            raise DnsWorldError("malformed name in answer")
        n = msg[i]
        if n & 0xC0 == 0xC0:
            ptr = struct.unpack("!H", msg[i:i + 2])[0] & 0x3FFF
            name, _ = _read_name(msg, ptr, depth + 1)
            labels.append(name)
            return ".".join(x for x in labels if x), i + 2
        if n == 0:
            return ".".join(labels), i + 1
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n


def query(server, name, qtype="A", timeout=2.0):
    """Ask server ("IP:PORT") for name over UDP. Returns (rcode name,
    [(type, value)]): A -> "1.2.3.4", MX -> (pref, host), SRV -> (prio,
    weight, port, target) with target "" for ".", CNAME -> name."""
    host, _, port = server.rpartition(":")
    qid = random.randrange(1 << 16)
    packet = (struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + _encode_name(name)
              + struct.pack("!HH", TYPES[qtype], 1))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (host, int(port)))
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg, _ = s.recvfrom(65535)
            except socket.timeout:
                raise DnsWorldError(f"no answer from {server} for {name} {qtype}") from None
            if len(msg) >= 12 and struct.unpack("!H", msg[:2])[0] == qid:
                break
    _, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", msg[:12])
    i = 12
    for _ in range(qd):
        _, i = _read_name(msg, i)
        i += 4
    answers = []
    for _ in range(an):
        _, i = _read_name(msg, i)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", msg[i:i + 10])
        i += 10
        rdata_at = i
        i += rdlen
        if rtype == 1:
            answers.append(("A", socket.inet_ntoa(msg[rdata_at:rdata_at + 4])))
        elif rtype == 15:
            pref = struct.unpack("!H", msg[rdata_at:rdata_at + 2])[0]
            answers.append(("MX", (pref, _read_name(msg, rdata_at + 2)[0])))
        elif rtype == 33:
            prio, weight, port = struct.unpack("!HHH", msg[rdata_at:rdata_at + 6])
            answers.append(("SRV", (prio, weight, port, _read_name(msg, rdata_at + 6)[0])))
        elif rtype == 5:
            answers.append(("CNAME", _read_name(msg, rdata_at)[0]))
        else:
            answers.append((TYPE_NAMES.get(rtype, str(rtype)), msg[rdata_at:i]))
    return RCODES.get(flags & 0xF, str(flags & 0xF)), answers


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "query":
        sys.exit("usage: python3 -m tests.servers.dnsworld query IP:PORT NAME [TYPE]")
    rc, ans = query(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "A")
    print(rc)
    for t, v in ans:
        print(t, v)
