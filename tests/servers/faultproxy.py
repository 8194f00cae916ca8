"""A TCP proxy on 127.0.0.1 that injects faults between mailferry and a server.

    p = FaultProxy(upstream_port).start()        # p.port: where mailferry connects
    p.cut(S2C, literal=3)                         # cut in the middle of the 3rd literal
    p.stall(C2S, at_byte=10000, seconds=5)        # stop forwarding for 5 s (socket open)
    p.stall(S2C, literal=1, seconds=None)         # ... or for ever (until a side closes)
    p.slow(S2C, rate=200_000)                     # from now on at most 200 kB/s
    p.bye("Server shutting down", at_byte=500)    # "* BYE ..." at the next line end, close
    r = p.on(S2C, callback, literal=40, scope="total")   # call callback(info) there
    r.wait(10)                                    # True once the rule fired
    p.connections, p.open_connections, p.bytes[S2C], p.literals[S2C]
    p.stop()

Directions: C2S is what the client (mailferry) sends to the server (commands,
APPEND literals); S2C is what the server sends back (greeting, FETCH
literals).

Each connection has two forwarding pipes. A pipe's reader task only reads
from its socket and queues the chunk with its arrival time; its writer task
takes chunks from the queue and applies the rules, the rate limit and the
added latency (set_delay), so a stalled or slowed direction never blocks the
reading of either direction (no sleeping in a read loop). Writes are flushed
to the kernel before a fault is applied, so "N bytes, then cut" is exact.

Rules fire once (at most one connection), at a point given by one trigger:
  at_byte=N      after the pipe forwarded N bytes of this connection
                 (scope="conn", counted from the connection's start), or N
                 bytes of this direction over all connections since the rule
                 was added (scope="total");
  literal=K      inside the K-th IMAP literal of at least min_literal bytes
                 (of this connection, or over all with scope="total") seen
                 since the rule was added, after `offset` bytes of it
                 (default: half of it); the pipe follows IMAP framing
                 ("{n}" / "{n+}" at a line end) to find literals;
  neither        at the next byte forwarded (or, for bye, the next line end).
conn=I limits a rule to the I-th connection accepted (1-based, counted from
the proxy's start; reset_counters() sets connections, bytes and literals
back to 0 but not this numbering).

Actions: cut (close both sides after flushing; how="rst" resets instead),
stall (stop forwarding this direction for `seconds`, or until a side closes
when None; the sockets stay open and the reader keeps reading), slow (this
direction of that connection at most `rate` bytes/s from there on), bye
(S2C only: "* BYE text" at the next line end outside a literal, then
close), call (run callback(info) in the proxy's thread, then go on).

Everything runs on an asyncio loop in a daemon thread; the methods above are
safe to call from the test's thread.
"""

import asyncio
import re
import socket
import struct
import threading
import time

C2S = "c2s"
S2C = "s2c"
DIRECTIONS = (C2S, S2C)

_LITERAL_AT_END = re.compile(rb"\{(\d+)[+-]?\}\r?\n\Z")
_TAIL = 48


class ProxyError(RuntimeError):
    pass


class Rule:
    """One fault. Read .fired (threading.Event), .info (dict, once fired)."""

    def __init__(self, action, direction, at_byte=None, literal=None, offset=None,
                 min_literal=1, scope="conn", conn=None, seconds=None, rate=None,
                 text=None, callback=None, how="fin"):
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be {C2S!r} or {S2C!r}")
        if scope not in ("conn", "total"):
            raise ValueError("scope must be 'conn' or 'total'")
        if at_byte is not None and literal is not None:
            raise ValueError("give at_byte or literal, not both")
        if literal is not None and literal < 1:
            raise ValueError("literal counts from 1")
        self.action = action
        self.direction = direction
        self.at_byte = at_byte
        self.literal = literal
        self.offset = offset
        self.min_literal = max(1, min_literal)
        self.scope = scope
        self.conn = conn
        self.seconds = seconds
        self.rate = rate
        self.text = text
        self.callback = callback
        self.how = how
        self.line_aligned = action == "bye"
        self.fired = threading.Event()
        self.info = None
        self.done = False
        # scope="total" counters (loop thread only)
        self._total_bytes = 0
        self._total_literals = 0

    def wait(self, timeout=None):
        return self.fired.wait(timeout)

    def __repr__(self):
        trig = (f"at_byte={self.at_byte}" if self.at_byte is not None else
                f"literal={self.literal}" if self.literal is not None else "next")
        return f"<Rule {self.action} {self.direction} {trig} scope={self.scope} fired={self.done}>"

    # ---- evaluation (proxy loop thread) -------------------------------------

    def applies(self, pipe):
        return (not self.done and pipe.direction == self.direction
                and (self.conn is None or self.conn == pipe.conn.index))

    def _state(self, pipe):
        st = pipe.rule_state.get(id(self))
        if st is None:
            st = {"lits": 0, "target": None, "armed_at": pipe.pos}
            if (self.line_aligned and self.literal is None and self.at_byte is None
                    and pipe.at_boundary):
                st["target"] = pipe.pos      # between two responses: at once
            pipe.rule_state[id(self)] = st
        return st

    def observe(self, pipe, pos, kind, size):
        """An event of the pipe's stream at absolute position pos: a literal
        of size bytes starting there ("lit"), or a line end ("line")."""
        st = self._state(pipe)
        if st["target"] is not None:
            return
        if kind == "lit" and self.literal is not None and size >= self.min_literal:
            if self.scope == "total":
                self._total_literals += 1
                n = self._total_literals
            else:
                st["lits"] += 1
                n = st["lits"]
            if n == self.literal:
                st["literal_size"] = size
                if self.line_aligned:
                    st["line_after"] = pos + size
                else:
                    off = self.offset if self.offset is not None else size // 2
                    st["target"] = pos + max(0, min(off, size - 1))
        elif kind == "line" and self.line_aligned:
            if self.literal is not None:
                threshold = st.get("line_after")
            elif self.at_byte is not None:
                threshold = self.at_byte if self.scope == "conn" else None
            else:
                threshold = st["armed_at"]
            if threshold is not None and pos >= threshold:
                st["target"] = pos

    def fire_pos(self, pipe, start, length):
        """Relative position in [0, length] where the rule fires within the
        bytes [start, start+length) of the pipe, or None."""
        st = self._state(pipe)
        if self.line_aligned or self.literal is not None:
            t = st["target"]
        elif self.at_byte is None:
            return 0
        elif self.scope == "total":
            left = self.at_byte - self._total_bytes
            return max(0, left) if left <= length else None
        else:
            t = self.at_byte
        if t is None:
            return None
        rel = t - start
        if rel <= length:
            return max(0, rel)
        return None

    def forwarded(self, n):
        if self.scope == "total":
            self._total_bytes += n


class _Tracker:
    """Follows IMAP framing in one direction: reports literal starts and the
    line ends that are outside literals."""

    def __init__(self):
        self.lit_left = 0
        self.tail = b""

    def scan(self, chunk, base):
        events = []
        i, n = 0, len(chunk)
        while i < n:
            if self.lit_left:
                k = min(self.lit_left, n - i)
                i += k
                self.lit_left -= k
                continue
            j = chunk.find(b"\n", i)
            if j < 0:
                self.tail = (self.tail + chunk[i:])[-_TAIL:]
                break
            line_end = (self.tail + chunk[i:j + 1])[-_TAIL:]
            self.tail = b""
            mo = _LITERAL_AT_END.search(line_end)
            if mo:
                size = int(mo.group(1))
                events.append((base + j + 1, "lit", size))
                self.lit_left = size
            else:
                events.append((base + j + 1, "line", 0))
            i = j + 1
        return events


class _Pipe:
    def __init__(self, conn, direction, reader, writer):
        self.conn = conn
        self.proxy = conn.proxy
        self.direction = direction
        self.reader = reader
        self.writer = writer
        self.queue = asyncio.Queue()
        self.pos = 0
        self.rate = None
        self.stalled = False
        self.at_boundary = True
        self.tracker = _Tracker()
        self.rule_state = {}
        self.literals = 0

    async def read_loop(self):
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.queue.put_nowait((time.monotonic(), data))
        except (ConnectionError, OSError):
            pass
        finally:
            self.queue.put_nowait((time.monotonic(), None))

    async def write_loop(self):
        try:
            while True:
                ts, data = await self.queue.get()
                delay = self.proxy.delay
                if delay:
                    wait = ts + delay - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                if data is None:
                    await self.conn.peer_closed(self)
                    return
                if not await self._forward(data):
                    return
        except (ConnectionError, OSError):
            self.conn.close("fin")

    async def _write(self, data):
        if not data:
            return
        if self.rate:
            step = max(1, int(self.rate * 0.05))
            for k in range(0, len(data), step):
                piece = data[k:k + step]
                self.writer.write(piece)
                await self.writer.drain()
                await asyncio.sleep(len(piece) / self.rate)
        else:
            self.writer.write(data)
            await self.writer.drain()

    def _account(self, n):
        self.pos += n
        self.conn.bytes[self.direction] += n
        self.proxy.bytes[self.direction] += n
        for r in self.proxy.rules:
            if r.direction == self.direction and not r.done:
                r.forwarded(n)

    async def _forward(self, chunk):
        """Forward chunk, applying rules; False once the connection is gone."""
        base = self.pos
        self.at_boundary = self.tracker.lit_left == 0 and not self.tracker.tail
        for r in self.proxy.rules:
            if r.applies(self):
                r._state(self)
        for pos, kind, size in self.tracker.scan(chunk, base):
            if kind == "lit":
                self.literals += 1
                self.proxy.literals[self.direction] += 1
            for r in self.proxy.rules:
                if r.applies(self):
                    r.observe(self, pos, kind, size)
        off = 0
        while True:
            if self.conn.closed.is_set():
                return False
            best, best_pos = None, None
            for r in self.proxy.rules:
                if not r.applies(self):
                    continue
                p = r.fire_pos(self, base + off, len(chunk) - off)
                if p is not None and (best_pos is None or p < best_pos):
                    best, best_pos = r, p
            if best is None:
                await self._write(chunk[off:])
                self._account(len(chunk) - off)
                return True
            await self._write(chunk[off:off + best_pos])
            self._account(best_pos)
            off += best_pos
            if not await self._apply(best):
                return False

    async def _apply(self, r):
        r.done = True
        st = self.rule_state.get(id(r), {})
        r.info = {"conn": self.conn.index, "direction": self.direction, "pos": self.pos,
                  "action": r.action, "literal_size": st.get("literal_size"),
                  "time": time.monotonic()}
        r.fired.set()
        self.proxy.fired.append(r)
        if r.action == "cut":
            self.conn.close(r.how)
            return False
        if r.action == "bye":
            text = r.text or "Connection closed by the fault proxy"
            try:
                self.writer.write(b"* BYE " + text.encode() + b"\r\n")
                await self.writer.drain()
            except (ConnectionError, OSError):
                pass
            self.conn.close("fin")
            return False
        if r.action == "stall":
            self.stalled = True
            try:
                if r.seconds is None:
                    await self.conn.closed.wait()
                else:
                    try:
                        await asyncio.wait_for(self.conn.closed.wait(), r.seconds)
                    except asyncio.TimeoutError:
                        pass
            finally:
                self.stalled = False
            return not self.conn.closed.is_set()
        if r.action == "slow":
            self.rate = r.rate
            return True
        if r.action == "call":
            try:
                r.callback(dict(r.info))
            except Exception as e:  # noqa: BLE001 - reported on the rule
                r.info["error"] = repr(e)
            return True
        raise ProxyError(f"unknown action {r.action}")


class _Conn:
    def __init__(self, proxy, index, creader, cwriter, sreader, swriter):
        self.proxy = proxy
        self.index = index
        self.cwriter = cwriter
        self.swriter = swriter
        self.closed = asyncio.Event()
        self.bytes = {C2S: 0, S2C: 0}
        self.opened_at = time.monotonic()
        self.closed_at = None
        self.how = None
        for w in (cwriter, swriter):
            w.transport.set_write_buffer_limits(high=0)
        self.pipes = {C2S: _Pipe(self, C2S, creader, swriter),
                      S2C: _Pipe(self, S2C, sreader, cwriter)}
        for d, p in self.pipes.items():
            p.rate = proxy.default_rate.get(d)

    async def run(self):
        tasks = []
        for p in self.pipes.values():
            tasks.append(asyncio.ensure_future(p.read_loop()))
            tasks.append(asyncio.ensure_future(p.write_loop()))
        await self.closed.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def peer_closed(self, pipe):
        """The sender of pipe closed its side and everything it sent was
        forwarded. A closing client ends the connection; a closing server's
        EOF goes on to the client, which then closes (or we do, after 2 s)."""
        if pipe.direction == C2S:
            self.close("fin")
            return
        try:
            if self.cwriter.can_write_eof():
                self.cwriter.write_eof()
        except (ConnectionError, OSError):
            pass
        try:
            await asyncio.wait_for(self.closed.wait(), 2)
        except asyncio.TimeoutError:
            self.close("fin")

    def close(self, how="fin"):
        if self.closed.is_set():
            return
        self.how = how
        self.closed_at = time.monotonic()
        for w in (self.cwriter, self.swriter):
            t = w.transport
            try:
                if how == "rst":
                    sock = t.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                    t.abort()
                else:
                    t.close()
            except (OSError, RuntimeError):
                pass
        self.closed.set()
        self.proxy.open_connections -= 1


class FaultProxy:
    """See the module documentation."""

    def __init__(self, upstream_port, upstream_host="127.0.0.1", listen_host="127.0.0.1"):
        if not upstream_host.startswith("127."):
            raise ValueError("the fault proxy only forwards to 127.0.0.0/8")
        self.upstream = (upstream_host, upstream_port)
        self.listen_host = listen_host
        self.port = None
        self.rules = []
        self.fired = []
        self.conns = []
        self.connections = 0        # accepted (since reset_counters)
        self._index = 0             # numbers connections (conn=I in rules)
        self.open_connections = 0
        self.bytes = {C2S: 0, S2C: 0}
        self.literals = {C2S: 0, S2C: 0}
        self.delay = 0.0
        self.default_rate = {}
        self.refusing = False
        self._loop = None
        self._thread = None
        self._server = None

    # ---- life cycle -----------------------------------------------------------

    def start(self):
        ready = threading.Event()
        errors = []

        def main():
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, self.listen_host, 0))
                self.port = self._server.sockets[0].getsockname()[1]
            except Exception as e:  # noqa: BLE001
                errors.append(e)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=main, name=f"faultproxy-{self.upstream[1]}",
                                        daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise ProxyError(f"fault proxy did not start: {errors[0]}")
        return self

    def stop(self):
        if self._loop is None:
            return

        async def shutdown():
            self._server.close()
            for c in list(self.conns):
                c.close("fin")
            await self._server.wait_closed()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if pending:
                await asyncio.wait(pending, timeout=2)

        try:
            self._call(shutdown())
        except Exception:  # noqa: BLE001
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self):
        return self.start() if self._loop is None else self

    def __exit__(self, *exc):
        self.stop()

    def _call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _run_in_loop(self, fn):
        async def wrapper():
            return fn()
        return self._call(wrapper())

    async def _handle(self, creader, cwriter):
        self.connections += 1
        self._index += 1
        index = self._index
        if self.refusing:
            cwriter.transport.abort()
            return
        try:
            sreader, swriter = await asyncio.open_connection(*self.upstream)
        except OSError:
            cwriter.transport.abort()
            return
        conn = _Conn(self, index, creader, cwriter, sreader, swriter)
        self.conns.append(conn)
        self.open_connections += 1
        await conn.run()

    # ---- rules ----------------------------------------------------------------

    def add(self, rule):
        """Arm rule. Also callable from a callback of an "on" rule (in the
        proxy's thread), to chain faults: p.on(C2S, lambda i: p.bye(),
        literal=100) sends a BYE once the 100th APPEND literal went by."""
        if threading.current_thread() is self._thread:
            self.rules.append(rule)
        else:
            self._run_in_loop(lambda: self.rules.append(rule))
        return rule

    def cut(self, direction=S2C, how="fin", **trigger):
        return self.add(Rule("cut", direction, how=how, **trigger))

    def stall(self, direction=S2C, seconds=None, **trigger):
        return self.add(Rule("stall", direction, seconds=seconds, **trigger))

    def slow(self, direction=S2C, rate=100_000, **trigger):
        return self.add(Rule("slow", direction, rate=rate, **trigger))

    def bye(self, text="Server shutting down", **trigger):
        return self.add(Rule("bye", S2C, text=text, **trigger))

    def on(self, direction, callback, **trigger):
        return self.add(Rule("call", direction, callback=callback, **trigger))

    def clear(self):
        """Forget every rule not yet fired (stalls in progress go on)."""
        def do():
            for r in self.rules:
                r.done = True
            self.rules = []
        self._run_in_loop(do)

    def set_rate(self, direction, rate):
        """Limit every connection (current and future) in direction to rate
        bytes/s; None lifts the limit."""
        def do():
            self.default_rate[direction] = rate
            for c in self.conns:
                c.pipes[direction].rate = rate
        self._run_in_loop(do)

    def set_delay(self, seconds):
        """Added one-way latency for every chunk in both directions."""
        self.delay = float(seconds)

    def refuse(self, on=True):
        """Close new connections at once (a server that is down)."""
        self.refusing = on

    def close_all(self, how="fin"):
        """Cut every open connection now."""
        def do():
            for c in self.conns:
                c.close(how)
        self._run_in_loop(do)

    def reset_counters(self):
        def do():
            self.bytes = {C2S: 0, S2C: 0}
            self.literals = {C2S: 0, S2C: 0}
            self.connections = 0
        self._run_in_loop(do)

    def wait_for(self, predicate, timeout=30, interval=0.02):
        """Poll predicate() until it is true (True) or timeout (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return bool(predicate())

    def summary(self):
        return (f"proxy :{self.port} -> :{self.upstream[1]}: {self.connections} connections "
                f"({self.open_connections} open), c2s {self.bytes[C2S]} B / "
                f"{self.literals[C2S]} literals, s2c {self.bytes[S2C]} B / "
                f"{self.literals[S2C]} literals, fired {self.fired}")
