#!/usr/bin/env python3
"""Federation interop: a user on cordial and a user on another XMPP server (Prosody in
scripts/interop/prosody_s2s.sh), each logged in to their own server with slixmpp, talk across
the server-to-server link.

Checks, in order (each named in the output as PASS or FAIL with the reason):
  login          both users log in to their own servers (STARTTLS)
  subscribe      A adds B to her roster and subscribes; B's client sees the request, approves
                 it and subscribes back; A approves; both rosters end in 'both' and each sees
                 the other's presence
  chat           A -> B (bare JID) and B -> A (full JID), the sender's address intact
  offline-B      B logs out (A sees him go unavailable), A sends, B logs in again and gets it
                 with a XEP-0203 delay stamp (B's server's offline store)
  offline-A      the same the other way: A's server (cordial) stores and stamps it
The checks after a failed one still run where they can, so that one run shows everything that
works and everything that does not; the exit status is 1 when any check failed.

Usage: slixmpp_s2s.py A_HOST A_PORT A_JID A_PASS B_HOST B_PORT B_JID B_PASS
"""
import asyncio
import logging
import ssl
import sys

import slixmpp

TIMEOUT = 10  # seconds for any one thing to arrive across the link (loopback: milliseconds)


class Check(Exception):
    """A check failed; the message says why."""


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.inbox = asyncio.Queue()
        self.subscribe_requests = asyncio.Queue()
        self.unavailable_from = asyncio.Queue()
        self.mechanism = None
        self.ready = asyncio.Event()
        self.auth_failed = False
        self.ssl_context = ssl.create_default_context()
        # Both servers use self-signed certificates for their test domains.
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.enable_starttls = True
        self.enable_direct_tls = False
        self.enable_plaintext = False
        # Subscriptions are answered by the test, step by step, not by slixmpp's defaults.
        self.auto_authorize = None
        self.auto_subscribe = False
        self.register_plugin("xep_0203")  # delayed delivery
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", lambda m: self.inbox.put_nowait(m))
        self.add_event_handler("presence_subscribe", lambda p: self.subscribe_requests.put_nowait(p))
        self.add_event_handler("presence_unavailable", lambda p: self.unavailable_from.put_nowait(p))
        self.add_event_handler("auth_success", self.on_auth)
        self.add_event_handler("failed_auth", self.on_failed_auth)

    def on_auth(self, _):
        self.mechanism = self.plugin["feature_mechanisms"].mech.name

    def on_failed_auth(self, _):
        self.auth_failed = True

    async def on_start(self, _):
        await self.get_roster()
        self.send_presence()
        self.ready.set()


async def login(host, port, jid, password):
    c = Client(jid, password)
    c.connect(host=host, port=port)
    try:
        await asyncio.wait_for(c.ready.wait(), TIMEOUT)
    except asyncio.TimeoutError:
        c.disconnect()
        why = "authentication failed" if c.auth_failed else "no session within %ds" % TIMEOUT
        raise Check(f"{jid} could not log in to {host}:{port}: {why}") from None
    return c


async def logout(c):
    c.disconnect()
    try:
        await asyncio.wait_for(c.disconnected, TIMEOUT)
    except asyncio.TimeoutError:
        raise Check(f"{c.boundjid} did not disconnect within {TIMEOUT}s") from None


def describe_error(stanza):
    err = stanza["error"]
    return f"error type={err['type']!r} condition={err['condition']!r} text={err['text']!r} from {stanza['from']}"


def bounced(sender):
    """The error messages waiting in the sender's inbox (a bounce says why nothing arrived)."""
    if sender is None or not sender.is_connected():
        return ""
    errors = []
    while not sender.inbox.empty():
        m = sender.inbox.get_nowait()
        if m["type"] == "error":
            errors.append(describe_error(m))
    return "; the sender got " + " and ".join(errors) if errors else "; the sender got no error back"


async def expect_message(client, body, what, sender=None):
    """The next message with a body (chat states and the like are skipped); an error stanza
    fails the check with its condition, and so does a bounce the sender got instead."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        left = deadline - loop.time()
        try:
            msg = await asyncio.wait_for(client.inbox.get(), max(left, 0.01))
        except asyncio.TimeoutError:
            raise Check(f"{what}: {client.boundjid.bare} got nothing within {TIMEOUT}s{bounced(sender)}") from None
        if msg["type"] == "error":
            raise Check(f"{what}: {client.boundjid.bare} got an {describe_error(msg)}")
        if not msg["body"]:
            continue
        if msg["body"] != body:
            raise Check(f"{what}: {client.boundjid.bare} got {msg['body']!r}, wanted {body!r}")
        return msg


async def expect_presence(queue, sender, what):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        left = deadline - loop.time()
        try:
            p = await asyncio.wait_for(queue.get(), max(left, 0.01))
        except asyncio.TimeoutError:
            raise Check(f"{what}: nothing from {sender} within {TIMEOUT}s") from None
        if p["from"].bare == sender:
            return p


async def wait_until(cond, what):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not cond():
        if loop.time() > deadline:
            raise Check(what())
        await asyncio.sleep(0.1)


def drain(queue):
    while not queue.empty():
        queue.get_nowait()


class Run:
    def __init__(self, a, b):
        (self.a_host, self.a_port, self.a_jid, self.a_pw) = a
        (self.b_host, self.b_port, self.b_jid, self.b_pw) = b
        self.alice = None
        self.bob = None
        self.results = []

    async def step(self, name, coro):
        try:
            detail = await coro
            self.results.append((name, True, detail or ""))
            print(f"PASS {name}: {detail or 'ok'}", flush=True)
            return True
        except Check as e:
            self.results.append((name, False, str(e)))
            print(f"FAIL {name}: {e}", flush=True)
            return False

    async def login(self):
        self.alice = await login(self.a_host, self.a_port, self.a_jid + "/interop", self.a_pw)
        self.bob = await login(self.b_host, self.b_port, self.b_jid + "/interop", self.b_pw)
        return f"{self.a_jid} with {self.alice.mechanism}, {self.b_jid} with {self.bob.mechanism}"

    async def subscribe(self):
        alice, bob, a, b = self.alice, self.bob, self.a_jid, self.b_jid
        await alice.update_roster(b, name="Bob", groups=["Remote"])
        alice.send_presence(pto=b, ptype="subscribe")
        await wait_until(
            lambda: alice.client_roster[b]["pending_out"] or alice.client_roster[b]["subscription"] != "none",
            lambda: f"alice's roster never showed her request to {b} as pending (ask='subscribe')",
        )
        req = await expect_presence(bob.subscribe_requests, a, f"{b} waiting for {a}'s subscription request")
        # Approve and subscribe back, as a user clicking "accept and add" does.
        bob.send_presence(pto=req["from"].bare, ptype="subscribed")
        bob.send_presence(pto=a, ptype="subscribe")
        back = await expect_presence(alice.subscribe_requests, b, f"{a} waiting for {b}'s subscription request")
        alice.send_presence(pto=back["from"].bare, ptype="subscribed")

        def state():
            sa = alice.client_roster[b]["subscription"]
            sb = bob.client_roster[a]["subscription"]
            pa = bool(alice.client_roster.presence(b))
            pb = bool(bob.client_roster.presence(a))
            return sa, sb, pa, pb

        await wait_until(
            lambda: state() == ("both", "both", True, True),
            lambda: "subscriptions {!r} (alice's item for bob) / {!r} (bob's item for alice), "
            "presence seen by alice: {}, by bob: {}".format(*state()),
        )
        return "both rosters 'both', each sees the other's presence"

    async def chat(self):
        alice, bob, a, b = self.alice, self.bob, self.a_jid, self.b_jid
        alice.send_message(mto=b, mbody="hello bob, from a.test", mtype="chat")
        m = await expect_message(bob, "hello bob, from a.test", f"{a} -> {b}", alice)
        if m["from"] != alice.boundjid:
            raise Check(f"{a} -> {b}: from is {m['from']}, wanted {alice.boundjid}")
        bob.send_message(mto=alice.boundjid, mbody="hello alice, from b.test", mtype="chat")
        m = await expect_message(alice, "hello alice, from b.test", f"{b} -> {alice.boundjid}", bob)
        if m["from"] != bob.boundjid:
            raise Check(f"{b} -> {a}: from is {m['from']}, wanted {bob.boundjid}")
        return "both ways, full sender JIDs kept"

    async def offline(self, which):
        """`which` ('bob' or 'alice') logs out, the other sends, `which` logs in again."""
        if which == "bob":
            away, stays, jid, host, port, pw = self.bob, self.alice, self.b_jid, self.b_host, self.b_port, self.b_pw
        else:
            away, stays, jid, host, port, pw = self.alice, self.bob, self.a_jid, self.a_host, self.a_port, self.a_pw
        drain(stays.unavailable_from)
        drain(stays.inbox)
        await logout(away)
        notes = []
        try:
            await expect_presence(stays.unavailable_from, jid, f"{stays.boundjid.bare} waiting for {jid}'s unavailable")
            notes.append(f"{stays.boundjid.bare} saw {jid} go unavailable")
        except Check as e:
            # Reported, but the offline delivery is still worth checking.
            notes.append(f"WARNING: {e}")
            print(f"FAIL unavailable-{which}: {e} (the offline check goes on)", flush=True)
            self.results.append((f"unavailable-{which}", False, str(e)))
        await asyncio.sleep(0.3)
        body = f"while you were away, {jid.split('@')[0]}"
        stays.send_message(mto=jid, mbody=body, mtype="chat")
        # Give the stanza time to cross and be stored before the recipient is back.
        await asyncio.sleep(1.0)
        back = await login(host, port, jid + "/interop", pw)
        if which == "bob":
            self.bob = back
        else:
            self.alice = back
        m = await expect_message(back, body, f"offline message to {jid}", stays)
        stamp = m["delay"]["stamp"]
        if not stamp:
            raise Check(f"offline message to {jid} has no XEP-0203 delay stamp: {m}")
        if m["from"].bare != stays.boundjid.bare:
            raise Check(f"offline message to {jid} is from {m['from']}, wanted {stays.boundjid.bare}")
        notes.append(f"delivered with delay stamp {stamp.isoformat()} (from {m['delay']['from'] or '-'})")
        return "; ".join(notes)

    async def run(self):
        if not await self.step("login", self.login()):
            return
        await self.step("subscribe", self.subscribe())
        await self.step("chat", self.chat())
        # Each offline check needs both users to be logged in to start.
        if await self.step("offline-B", self.offline("bob")):
            await self.step("offline-A", self.offline("alice"))
        else:
            if not self.bob or not self.bob.is_connected():
                self.bob = await login(self.b_host, self.b_port, self.b_jid + "/interop", self.b_pw)
            await self.step("offline-A", self.offline("alice"))

    async def close(self):
        for c in (self.alice, self.bob):
            if c and c.is_connected():
                c.disconnect()
                try:
                    await asyncio.wait_for(c.disconnected, 5)
                except asyncio.TimeoutError:
                    pass


async def main():
    if len(sys.argv) != 9:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    a = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    b = sys.argv[5], int(sys.argv[6]), sys.argv[7], sys.argv[8]
    run = Run(a, b)
    try:
        await run.run()
    except Check as e:
        run.results.append(("setup", False, str(e)))
        print(f"FAIL setup: {e}", flush=True)
    finally:
        await run.close()
    failed = [r for r in run.results if not r[1]]
    if failed:
        print(f"FAILED: {len(failed)} check(s): " + ", ".join(r[0] for r in failed), file=sys.stderr)
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main())
