"""Small scripted servers on 127.0.0.1 for the negative connection tests.

Each TCP server listens on a free port (server.port), serves every
connection in its own thread and records what it received
(server.received: all bytes; server.connections: bytes per connection), so
a test can assert that no password was sent.

    silent()            accepts and never answers
    garbage(payload)    sends a non-IMAP greeting (default an HTTP error line)
    junk()              sends binary junk as greeting
    truncated()         sends "* OK [CAPAB" and closes
    close_mid_capability()
                        greets properly, answers CAPABILITY partially, closes
    fake_imap(...)      a minimal IMAP server: LOGIN / AUTHENTICATE PLAIN
                        accepted on a plain port, optional STARTTLS answer
    ClosedPort()        a port bound but not listening (connection refused)
    DnsServer(mode)     UDP DNS on 127.0.0.1: "nxdomain" answers every query
                        with NXDOMAIN, "silent" never answers

Use them as context managers or call stop().
"""

import socket
import struct
import threading
import time

GARBAGE_HTTP = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
JUNK = bytes([0x16, 0x03, 0x01, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x80, 0x1b]) + bytes(range(256))


class Conn:
    """One accepted connection, as seen by a script."""

    def __init__(self, server, sock, addr):
        self.server = server
        self.sock = sock
        self.addr = addr
        self.received = bytearray()
        self._buf = bytearray()
        self.closed = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def _fill(self, timeout):
        """Read once (up to timeout); False when the peer closed or we stop."""
        deadline = time.monotonic() + timeout
        while not self.server.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(min(0.2, left))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return False
            if not data:
                return False
            self.received += data
            self._buf += data
            return True
        return False

    def recv_line(self, timeout=30):
        """The next CRLF/LF-terminated line (bytes, without the ending), or
        None when the peer closed, time ran out or the server stops."""
        while b"\n" not in self._buf:
            r = self._fill(timeout)
            if not r:
                return None
        i = self._buf.index(b"\n")
        line = bytes(self._buf[:i]).rstrip(b"\r")
        del self._buf[:i + 1]
        return line

    def drain(self, timeout=30):
        """Record whatever arrives until the peer closes (or timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self._fill(deadline - time.monotonic())
            if r is False:
                return
            if r is None:
                return
            self._buf.clear()

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()


class ScriptedServer:
    """A TCP server on 127.0.0.1 running script(conn) for every connection."""

    def __init__(self, script, name="scripted"):
        self.name = name
        self.script = script
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.conns = []
        self.threads = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.host = "127.0.0.1"
        self.port = self.listener.getsockname()[1]
        self._accepted = threading.Condition(self.lock)
        self.accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                              name=f"{name}-accept")
        self.accept_thread.start()

    @property
    def received(self):
        with self.lock:
            return b"".join(bytes(c.received) for c in self.conns)

    @property
    def connections(self):
        with self.lock:
            return [bytes(c.received) for c in self.conns]

    @property
    def connection_count(self):
        with self.lock:
            return len(self.conns)

    def reset(self):
        """Forget the connections recorded so far (open ones keep running)."""
        with self.lock:
            self.conns = [c for c in self.conns if not c.closed]
            for c in self.conns:
                c.received.clear()

    def wait_for_connections(self, n, timeout=10):
        with self._accepted:
            return self._accepted.wait_for(lambda: len(self.conns) >= n, timeout)

    def _accept_loop(self):
        self.listener.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                sock, addr = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn = Conn(self, sock, addr)
            with self._accepted:
                self.conns.append(conn)
                self._accepted.notify_all()
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                 name=f"{self.name}-conn")
            with self.lock:
                self.threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            self.script(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopping.set()
        try:
            self.listener.close()
        except OSError:
            pass
        self.accept_thread.join(5)
        with self.lock:
            conns = list(self.conns)
            threads = list(self.threads)
        for c in conns:
            c.close()
        for t in threads:
            t.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---- the scripts ---------------------------------------------------------

def silent():
    """Accepts and never answers (records what the client sends)."""
    def script(conn):
        conn.drain(timeout=600)
    return ScriptedServer(script, "silent")


def garbage(payload=GARBAGE_HTTP, close=False):
    """Sends payload instead of an IMAP greeting; then records until the
    client closes (or closes at once with close=True)."""
    def script(conn):
        conn.send(payload)
        if not close:
            conn.drain(timeout=120)
    return ScriptedServer(script, "garbage")


def junk():
    return garbage(JUNK)


def truncated(payload=b"* OK [CAPAB"):
    """Sends the start of a greeting and closes."""
    def script(conn):
        conn.send(payload)
        time.sleep(0.05)
    return ScriptedServer(script, "truncated")


def close_mid_capability(greeting=b"* OK Fake IMAP server ready\r\n",
                         partial=b"* CAPABILITY IMAP4rev1 LITERAL+ AUTH=PL"):
    """Greets (without a CAPABILITY response code), answers the CAPABILITY
    command with a partial line and closes. ID and NOOP are answered; any
    other command gets BAD."""
    def script(conn):
        conn.send(greeting)
        while True:
            line = conn.recv_line()
            if line is None:
                return
            parts = line.split(b" ", 2)
            tag = parts[0]
            cmd = parts[1].upper() if len(parts) > 1 else b""
            if cmd == b"CAPABILITY":
                conn.send(partial)
                time.sleep(0.05)
                return
            if cmd == b"ID":
                conn.send(b"* ID NIL\r\n" + tag + b" OK ID completed\r\n")
            elif cmd == b"NOOP":
                conn.send(tag + b" OK NOOP completed\r\n")
            elif cmd == b"LOGOUT":
                conn.send(b"* BYE\r\n" + tag + b" OK LOGOUT completed\r\n")
                return
            else:
                conn.send(tag + b" BAD unexpected command\r\n")
    return ScriptedServer(script, "close-mid-capability")


def fake_imap(users=None, starttls=None, capabilities=None, greeting_capability=False):
    """A minimal IMAP4rev1 server on a plain port.

    users: {name: password} accepted by LOGIN and AUTHENTICATE PLAIN (default
    alice/alicepw). starttls: None (not advertised; the command gets BAD),
    "no" or "bad" (advertised, but refused with NO / BAD). Records everything
    it receives (server.received)."""
    import base64
    users = dict(users or {"alice": "alicepw"})
    caps = list(capabilities or ["IMAP4rev1", "LITERAL+", "ID", "AUTH=PLAIN", "AUTH=LOGIN"])
    if starttls and "STARTTLS" not in caps:
        caps.append("STARTTLS")
    capline = " ".join(caps).encode()

    def script(conn):
        if greeting_capability:
            conn.send(b"* OK [CAPABILITY " + capline + b"] Fake IMAP ready\r\n")
        else:
            conn.send(b"* OK Fake IMAP ready\r\n")
        authed = False
        while True:
            line = conn.recv_line()
            if line is None:
                return
            parts = line.split(b" ")
            tag = parts[0]
            cmd = parts[1].upper() if len(parts) > 1 else b""
            args = parts[2:]
            if cmd == b"CAPABILITY":
                conn.send(b"* CAPABILITY " + capline + b"\r\n" + tag + b" OK done\r\n")
            elif cmd == b"NOOP":
                conn.send(tag + b" OK done\r\n")
            elif cmd == b"ID":
                conn.send(b'* ID ("name" "fake")\r\n' + tag + b" OK done\r\n")
            elif cmd == b"LOGOUT":
                conn.send(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                return
            elif cmd == b"STARTTLS":
                if starttls == "no":
                    conn.send(tag + b" NO TLS is not available\r\n")
                else:
                    conn.send(tag + b" BAD STARTTLS not supported\r\n")
            elif cmd == b"LOGIN" and len(args) >= 2:
                user = args[0].strip(b'"').decode(errors="replace")
                pw = args[1].strip(b'"').decode(errors="replace")
                if users.get(user) == pw:
                    authed = True
                    conn.send(tag + b" OK [CAPABILITY " + capline + b"] Logged in\r\n")
                else:
                    conn.send(tag + b" NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
            elif cmd == b"AUTHENTICATE" and args and args[0].upper() == b"PLAIN":
                if len(args) > 1 and args[1] != b"=":
                    resp = args[1]
                else:
                    conn.send(b"+ \r\n")
                    resp = conn.recv_line()
                    if resp is None:
                        return
                try:
                    authz, authc, pw = base64.b64decode(resp).split(b"\0")
                    ok = users.get(authc.decode()) == pw.decode() and authz in (b"", authc)
                except ValueError:
                    ok = False
                if ok:
                    authed = True
                    conn.send(tag + b" OK Logged in\r\n")
                else:
                    conn.send(tag + b" NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
            elif cmd in (b"SELECT", b"EXAMINE") and authed:
                conn.send(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                          b"* 0 EXISTS\r\n* 0 RECENT\r\n"
                          b"* OK [UIDVALIDITY 1] UIDs valid\r\n"
                          b"* OK [UIDNEXT 1] Predicted next UID\r\n" + tag +
                          (b" OK [READ-ONLY] done\r\n" if cmd == b"EXAMINE"
                           else b" OK [READ-WRITE] done\r\n"))
            else:
                conn.send(tag + b" BAD unknown or unexpected command\r\n")
    return ScriptedServer(script, "fake-imap")


class ClosedPort:
    """A 127.0.0.1 TCP port that refuses connections: bound (so that no one
    else takes it) but not listening."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.host = "127.0.0.1"
        self.port = self.sock.getsockname()[1]
        self.received = b""

    def stop(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class DnsServer:
    """UDP DNS server on 127.0.0.1 that answers NXDOMAIN to every query
    (mode "nxdomain") or never answers (mode "silent"). Records the query
    names (server.queries). server.address is "127.0.0.1:PORT"."""

    def __init__(self, mode="nxdomain"):
        if mode not in ("nxdomain", "silent"):
            raise ValueError("mode must be nxdomain or silent")
        self.mode = mode
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.host = "127.0.0.1"
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name=f"dns-{mode}")
        self.thread.start()

    @staticmethod
    def _qname(packet):
        labels = []
        i = 12
        while i < len(packet):
            n = packet[i]
            if n == 0:
                return ".".join(labels), i + 1
            if n & 0xC0:
                break
            labels.append(packet[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        return ".".join(labels), None

    def _loop(self):
        self.sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                packet, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(packet) < 12:
                continue
            name, end = self._qname(packet)
            self.queries.append(name)
            if self.mode == "silent" or end is None or end + 4 > len(packet):
                continue
            qid, flags = struct.unpack("!HH", packet[:4])
            rd = flags & 0x0100
            opcode = flags & 0x7800
            rflags = 0x8000 | opcode | rd | 0x0080 | 3  # QR, RA, NXDOMAIN
            reply = struct.pack("!HHHHHH", qid, rflags, 1, 0, 0, 0) + packet[12:end + 4]
            try:
                self.sock.sendto(reply, addr)
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def unused_udp_port():
    """A UDP port on 127.0.0.1 with nothing behind it (a dead DNS server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
