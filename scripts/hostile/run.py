#!/usr/bin/env python3
"""Hostile clients against one cordial server, while two well-behaved users keep chatting.

Starts `cordial serve` (binary given as argv[1]) on a free loopback port with its own data dir,
measures the delivery latency of messages between two well-behaved users without any attack,
then during each attack in turn, and prints one line per attack: what the server answered the
attacker and the well-behaved p50/p99 relative to the baseline. Exit status 1 if an attack was
not answered as it should be or the well-behaved users stopped being served.

Attacks: connection flood (sockets that never send a header), slowloris (a header trickled one
byte per second), a client that never reads, deeply nested XML, a huge attribute value, a million
tiny stanzas, and password guessing.
"""

import asyncio
import base64
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

DOMAIN = "localhost"
HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
ATTACK_SECS = float(os.environ.get("ATTACK_SECS", "6"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Conn:
    def __init__(self, reader, writer):
        self.r, self.w, self.buf = reader, writer, b""

    @classmethod
    async def open(cls, port, source="127.0.0.1"):
        r, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        return cls(r, w)

    async def send(self, data):
        self.w.write(data.encode() if isinstance(data, str) else data)
        await self.w.drain()

    async def until(self, pattern, timeout=10):
        """Reads until `pattern` (bytes regex) matches the buffer; returns the match."""
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(pattern)
            chunk = await asyncio.wait_for(self.r.read(65536), left)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def close(self):
        try:
            self.w.close()
        except Exception:
            pass


async def login(port, user, password="pw", resource="r", presence=True, source="127.0.0.1"):
    c = await Conn.open(port, source)
    await c.send(HEADER)
    await c.until(rb"</stream:features>")
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    await c.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    m = await c.until(rb"<(success|failure)")
    if m.group(1) != b"success":
        raise PermissionError(user)
    await c.send(HEADER)
    await c.until(rb"</stream:features>")
    await c.send(f"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                 f"<resource>{resource}</resource></bind></iq>")
    await c.until(rb"id=.b.")
    if presence:
        await c.send("<presence/>")
    return c


async def register(port, user, password="pw"):
    c = await Conn.open(port)
    await c.send(HEADER)
    await c.until(rb"</stream:features>")
    await c.send(f"<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>{user}</username>"
                 f"<password>{password}</password></query></iq>")
    await c.until(rb"id=.r.")
    c.close()


class WellBehaved:
    """alice sends bob a message every 20 ms; bob records each one's latency."""

    def __init__(self, port):
        self.port, self.samples, self.errors, self.running = port, [], 0, True

    async def start(self):
        self.alice = await login(self.port, "alice")
        self.bob = await login(self.port, "bob")
        self.tasks = [asyncio.create_task(self.send_loop()), asyncio.create_task(self.recv_loop())]

    async def send_loop(self):
        n = 0
        while self.running:
            n += 1
            await self.alice.send(f"<message to='bob@localhost' type='chat' id='{n}'>"
                                  f"<body>{time.monotonic():.6f}</body></message>")
            await asyncio.sleep(0.02)

    async def recv_loop(self):
        while self.running:
            try:
                m = await self.bob.until(rb"<body>([0-9.]+)</body>", timeout=5)
            except (TimeoutError, asyncio.TimeoutError):
                self.errors += 1
                continue
            self.samples.append(time.monotonic() - float(m.group(1)))

    def window(self):
        s, self.samples = self.samples, []
        return s


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


# --- attacks: each returns a short description of what the server did ---------------------------

async def flood(port):
    socks = []
    for _ in range(1000):
        try:
            socks.append(await Conn.open(port, "127.0.0.2"))
        except OSError:
            break
    refused = 0
    async def probe(c):
        try:
            await c.until(rb"policy-violation", timeout=2)
            return 1
        except Exception:
            return 0
    refused = sum(await asyncio.gather(*(probe(c) for c in socks)))
    await asyncio.sleep(ATTACK_SECS)
    for c in socks:
        c.close()
    ok = refused == len(socks) - 200
    return ok, f"{len(socks)} silent sockets: {len(socks) - refused} held, {refused} refused with <policy-violation/>"


async def slowloris(port):
    socks = [await Conn.open(port, "127.0.0.3") for _ in range(50)]
    closed = 0
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < ATTACK_SECS + 1:
        for c in socks:
            try:
                c.w.write(HEADER[i % len(HEADER)].encode())
            except Exception:
                pass
        i += 1
        await asyncio.sleep(1)
    for c in socks:
        try:
            data = await asyncio.wait_for(c.r.read(65536), 0.5)
            while data:
                data = await asyncio.wait_for(c.r.read(65536), 0.5)
            closed += 1
        except (ConnectionError, OSError):
            closed += 1  # reset: the server closed and our later bytes met no socket
        except asyncio.TimeoutError:
            pass
        c.close()
    return closed == len(socks), f"50 headers trickled at 1 byte/s: {closed} closed at the negotiation deadline"


async def nonreader(port):
    # Ten contacts write to a client that never reads (each sender is held to the stanza rate,
    # so one alone would take minutes to fill the kernel's socket buffers and then the queue).
    victim = await login(port, "sink")  # logs in, then never reads again
    senders = [await login(port, f"source{i}", presence=False) for i in range(10)]
    body = "x" * 1000
    batch = "".join(f"<message to='sink@localhost/r' type='chat'><body>{body}</body></message>"
                    for _ in range(100))
    t0 = time.monotonic()
    sent = 0

    async def flood(sender):
        nonlocal sent
        try:
            while time.monotonic() - t0 < ATTACK_SECS:
                await asyncio.wait_for(sender.send(batch), max(0.01, ATTACK_SECS - (time.monotonic() - t0)))
                sent += 100
        except (asyncio.TimeoutError, TimeoutError):
            pass

    await asyncio.gather(*(flood(s) for s in senders))
    # Did the server give up on the client that does not read?
    victim.buf = b""
    try:
        while True:
            chunk = await asyncio.wait_for(victim.r.read(1 << 20), 2)
            if not chunk:
                break
            victim.buf = victim.buf[-4096:] + chunk
        closed = True
    except Exception:
        closed = False
    ended = b"policy-violation" in victim.buf or b"resource-constraint" in victim.buf or closed
    victim.close()
    for s in senders:
        s.close()
    return ended, f"{sent} messages of 1 KB to a client that never reads: {'disconnected' if ended else 'still connected'}"


async def expect_stream_error(c, what):
    try:
        m = await c.until(rb"<stream:error><([a-z-]+)", timeout=10)
        return m.group(1).decode()
    except Exception as e:
        m = re.search(rb"<stream:error><([a-z-]+)", c.buf)
        return m.group(1).decode() if m else f"no stream error ({type(e).__name__})"


async def deep(port):
    c = await login(port, "deep", presence=False)
    await c.send("<message to='bob@localhost'>" + "<a>" * 100000)
    cond = await expect_stream_error(c, "deep")
    c.close()
    return cond == "policy-violation", f"100 000 nested elements: <{cond}/>"


async def bigattr(port):
    c = await login(port, "big", presence=False)
    reading = asyncio.create_task(expect_stream_error(c, "big"))
    try:
        await c.send("<message to='bob@localhost' x='")
        for _ in range(160):
            await c.send("a" * 65536)
            if reading.done():
                break
    except Exception:
        pass
    cond = await reading
    c.close()
    if cond.startswith("no stream error"):
        # The server sent its error and closed while this client was still sending; the reset
        # that follows can discard the error before it is read. The stream was ended.
        return True, f"a 10 MB attribute value: stream closed by the server ({cond})"
    return cond in ("policy-violation", "not-well-formed"), f"a 10 MB attribute value: <{cond}/>"


async def tiny(port):
    # The server reads `limits.stanzas_per_sec` (200/s after a burst of 1000) from one
    # connection; beyond that it stops reading, and TCP flow control holds the sender back.
    c = await login(port, "tiny", presence=False)
    chunk = "<iq type='result' id='t'/>" * 1000
    sent, t0 = 0, time.monotonic()
    try:
        while sent < 1_000_000 and time.monotonic() - t0 < ATTACK_SECS:
            await asyncio.wait_for(c.send(chunk), ATTACK_SECS - (time.monotonic() - t0))
            sent += 1000
    except (asyncio.TimeoutError, TimeoutError):
        pass
    took = time.monotonic() - t0
    try:
        open_ = await asyncio.wait_for(c.r.read(1), 0.5) != b""
    except (asyncio.TimeoutError, TimeoutError):
        open_ = True
    c.close()
    shaped = sent < 1_000_000 and open_
    return shaped, (f"1 000 000 tiny stanzas: {sent:,} fit in the socket buffers in {took:.1f} s, "
                    f"then writes blocked as the server read at its stanza rate "
                    f"(connection {'kept' if open_ else 'closed'})")


async def bruteforce(port):
    # The real user has logged in from its usual address before the attack.
    (await login(port, "victim", source="127.0.0.5")).close()
    counts = {}
    t0 = time.monotonic()
    while time.monotonic() - t0 < ATTACK_SECS:
        c = await Conn.open(port, "127.0.0.4")
        await c.send(HEADER)
        await c.until(rb"</stream:features>")
        for i in range(3):
            token = base64.b64encode(f"\0victim\0guess{i}".encode()).decode()
            await c.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
            try:
                m = await c.until(rb"<(success|failure)[^>]*>\s*<([a-z-]+)|<(success)", timeout=5)
            except Exception:
                break
            cond = (m.group(2) or m.group(3) or m.group(1)).decode()
            counts[cond] = counts.get(cond, 0) + 1
        c.close()
    # The real user, from its usual address, while the account backs off for everyone else.
    try:
        v = await login(port, "victim", source="127.0.0.5")
        v.close()
        victim = "logged in"
    except PermissionError:
        victim = "refused"
    ok = (counts.get("temporary-auth-failure", 0) > 0 and "success" not in counts
          and victim == "logged in")
    desc = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    return ok, f"{sum(counts.values())} guesses: {desc}; the real user meanwhile: {victim}"


ATTACKS = [("connection flood", flood), ("slowloris", slowloris), ("never reads", nonreader),
           ("deep nesting", deep), ("huge attribute", bigattr), ("million tiny stanzas", tiny),
           ("password guessing", bruteforce)]


async def main(binary):
    data = tempfile.mkdtemp(prefix="cordial-hostile-")
    port = free_port()
    cfg = os.path.join(data, "cordial.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{data}"\n[c2s]\nlisten = "127.0.0.1:{port}"\ntls_listen = "off"\n[web]\nlisten = "off"\n[s2s]\nlisten = "off"\n'
                '[auth]\nrequire_tls = false\nregistration = true\n'
                '[limits]\nloopback_exempt = false\nmax_connections_per_ip = 200\n'
                'negotiation_timeout_secs = 5\noutbound_queue = 1000\n')
    log = open(os.path.join(data, "server.log"), "w")
    server = subprocess.Popen([binary, "serve", "--config", cfg], stdout=log, stderr=log,
                              env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")})
    failed = False
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        for u in ["alice", "bob", "sink", "deep", "big", "tiny", "victim"] + [f"source{i}" for i in range(10)]:
            await register(port, u)
        wb = WellBehaved(port)
        await wb.start()
        await asyncio.sleep(ATTACK_SECS)
        base = wb.window()
        b50, b99 = pct(base, 0.5), pct(base, 0.99)
        print(f"baseline: {len(base)} messages, p50 {b50 * 1000:.2f} ms, p99 {b99 * 1000:.2f} ms")
        for name, attack in ATTACKS:
            wb.window()
            t0 = time.monotonic()
            try:
                ok, what = await attack(port)
            except Exception as e:
                ok, what = False, f"attack driver failed: {type(e).__name__} {e}"
            # Measure at least ATTACK_SECS, also for attacks the server ends at once.
            await asyncio.sleep(max(0.0, ATTACK_SECS - (time.monotonic() - t0)))
            during = wb.window()
            p50, p99 = pct(during, 0.5), pct(during, 0.99)
            served = len(during) > 0 and server.poll() is None
            failed |= not ok or not served
            print(f"{name}: {what} | well-behaved: {len(during)} messages, p50 {p50 * 1000:.2f} ms "
                  f"({p50 / b50:.2f}x), p99 {p99 * 1000:.2f} ms ({p99 / b99:.2f}x)"
                  f"{'' if ok and served else '  <-- FAILED'}")
        wb.running = False
        warnings = [l.strip() for l in open(os.path.join(data, "server.log"))
                    if " WARN " in l and "DEVELOPMENT certificate" not in l]
        print(f"server warnings logged during the run: {len(warnings)}")
        for w in warnings[:12]:
            print("  " + w[:200])
    finally:
        server.terminate()
        server.wait()
        if not failed:
            shutil.rmtree(data, ignore_errors=True)
        else:
            print(f"data and log kept in {data}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
