#!/usr/bin/env python3
"""Interop check with a real client library (slixmpp), not written here.

Two accounts log in over STARTTLS with SCRAM-SHA-256 (the certificate is the server's
self-signed development one, so verification is off), exchange messages both ways, then one
logs out, receives a message while offline, logs in again and must get it with a XEP-0203
delay stamp. Last, a client limited to TLS 1.2 logs in with slixmpp's own choice of
mechanism, which must be SCRAM-SHA-256-PLUS bound with tls-unique (Python's ssl has no other
channel binding type). Exits non-zero with a reason on any failure.

Usage: slixmpp_chat.py HOST PORT DOMAIN USER1 PASS1 USER2 PASS2
"""
import asyncio
import logging
import ssl
import sys

import slixmpp

TIMEOUT = 20


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, sasl_mech="SCRAM-SHA-256"):
        super().__init__(jid, password, sasl_mech=sasl_mech)
        self.inbox = asyncio.Queue()
        self.mechanism = None
        self.ready = asyncio.Event()
        self.ssl_context = ssl.create_default_context()
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.register_plugin("xep_0203")  # delayed delivery
        self.register_plugin("xep_0199")  # ping
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", lambda m: self.inbox.put_nowait(m))
        self.add_event_handler("auth_success", self.on_auth)
        self.add_event_handler("failed_auth", lambda _: print("FAIL: authentication failed", file=sys.stderr))

    def on_auth(self, _):
        self.mechanism = self.plugin["feature_mechanisms"].mech.name

    async def on_start(self, _):
        self.send_presence()
        await self.get_roster()
        self.ready.set()


async def login(host, port, jid, password, tls_1_2=False, wanted="SCRAM-SHA-256"):
    # With TLS 1.2 only, slixmpp picks the mechanism itself.
    c = Client(jid, password, sasl_mech=None if tls_1_2 else wanted)
    if tls_1_2:
        c.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
    c.enable_starttls = True
    c.enable_direct_tls = False
    c.enable_plaintext = False
    c.connect(host=host, port=port)
    await asyncio.wait_for(c.ready.wait(), TIMEOUT)
    if not c.is_connected() or not c.authenticated:
        raise SystemExit(f"FAIL: {jid} is not connected")
    if c.mechanism != wanted:
        raise SystemExit(f"FAIL: {jid} authenticated with {c.mechanism}, wanted {wanted}")
    return c


async def expect_body(client, body):
    msg = await asyncio.wait_for(client.inbox.get(), TIMEOUT)
    if msg["body"] != body:
        raise SystemExit(f"FAIL: {client.boundjid} got {msg['body']!r}, wanted {body!r}")
    return msg


async def main():
    host, port, domain, u1, p1, u2, p2 = sys.argv[1:8]
    port = int(port)
    alice = await login(host, port, f"{u1}@{domain}/interop", p1)
    bob = await login(host, port, f"{u2}@{domain}/interop", p2)
    print(f"both logged in over STARTTLS with {alice.mechanism}")

    alice.send_message(mto=f"{u2}@{domain}", mbody="hello bob", mtype="chat")
    m = await expect_body(bob, "hello bob")
    if m["from"].bare != f"{u1}@{domain}":
        raise SystemExit(f"FAIL: from is {m['from']}")
    bob.send_message(mto=str(alice.boundjid), mbody="hello alice", mtype="chat")
    await expect_body(alice, "hello alice")
    print("messages exchanged both ways")

    # Roster (RFC 6121 §2): alice adds bob; the push reaches her client; bob is in her roster.
    await alice.update_roster(f"{u2}@{domain}", name="Bob", groups=["Friends"])
    await asyncio.sleep(0.3)
    item = alice.client_roster[f"{u2}@{domain}"]
    if item["name"] != "Bob" or item["groups"] != ["Friends"]:
        raise SystemExit(f"FAIL: roster item is {item['name']!r} {item['groups']!r}")
    print("roster item added and pushed")

    # Subscriptions (RFC 6121 §3, the blog walk-through): alice subscribes (ask), bob's client
    # approves (slixmpp auto-authorizes) and subscribes back (auto-subscribe), ending in "both"
    # on both sides with each seeing the other's presence.
    bob_jid, alice_jid = f"{u2}@{domain}", f"{u1}@{domain}"
    alice.send_presence(pto=bob_jid, ptype="subscribe")
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        a = alice.client_roster[bob_jid]["subscription"]
        b = bob.client_roster[alice_jid]["subscription"]
        seen = alice.client_roster.presence(bob_jid) and bob.client_roster.presence(alice_jid)
        if a == "both" and b == "both" and seen:
            break
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit(f"FAIL: subscriptions are {a!r} / {b!r}, presence seen: {bool(seen)}")
        await asyncio.sleep(0.1)
    print("mutual subscription: both sides 'both', presence exchanged")

    bob.disconnect()
    await asyncio.wait_for(bob.disconnected, TIMEOUT)
    await asyncio.sleep(0.5)
    alice.send_message(mto=f"{u2}@{domain}", mbody="while you were away", mtype="chat")
    await asyncio.sleep(0.5)
    bob = await login(host, port, f"{u2}@{domain}/interop", p2)
    m = await expect_body(bob, "while you were away")
    stamp = m["delay"]["stamp"]
    if not stamp:
        raise SystemExit("FAIL: the offline message has no delay stamp")
    print(f"offline message delivered with delay stamp {stamp.isoformat()}")

    # Removing a mutual contact (RFC 6121 §2.5, §3.3): slixmpp's del_roster_item sends
    # `unsubscribe`, then the roster removal, without waiting. The contact's unavailable (its
    # server's answer to the unsubscribe) must reach alice before the removal push, or slixmpp
    # re-creates the contact from that presence. A ping to the server is answered only after
    # everything her earlier stanzas caused (RFC 6120 §10.1).
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not alice.client_roster.presence(bob_jid):
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit("FAIL: alice never saw bob's presence after he came back")
        await asyncio.sleep(0.1)
    await alice.del_roster_item(bob_jid)
    await alice.plugin["xep_0199"].ping(jid=domain, timeout=TIMEOUT)
    if alice.client_roster.has_jid(bob_jid):
        sub = alice.client_roster[bob_jid]["subscription"]
        raise SystemExit(f"FAIL: bob is back in alice's client roster ({sub!r}) after removal")
    stored = await alice.get_roster()
    if any(i["jid"].bare == bob_jid for i in stored["roster"]["items"].values()):
        raise SystemExit("FAIL: bob is still in alice's stored roster after removal")
    print("contact removed with del_roster_item stays removed")

    alice.disconnect()
    bob.disconnect()

    # Channel binding as slixmpp does it on TLS 1.2: SCRAM-SHA-256-PLUS with tls-unique.
    bound = await login(host, port, f"{u1}@{domain}/bound", p1, tls_1_2=True, wanted="SCRAM-SHA-256-PLUS")
    version = bound.socket.version()
    if version != "TLSv1.2":
        raise SystemExit(f"FAIL: the TLS 1.2 client negotiated {version}")
    print("logged in over TLS 1.2 with SCRAM-SHA-256-PLUS (tls-unique)")
    bound.disconnect()
    print("OK")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main())
