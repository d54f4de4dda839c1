#!/usr/bin/env python3
"""A TCP client (slixmpp, STARTTLS + SCRAM-SHA-256) for the web-client tests: accepts every
subscription request and subscribes back, and answers each chat message with "echo: <body>".
Runs until killed. Prints READY once its session has started.

Usage: echo_bot.py HOST PORT JID PASSWORD
"""
import asyncio
import ssl
import sys

import slixmpp


class Echo(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password, sasl_mech="SCRAM-SHA-256")
        self.ssl_context = ssl.create_default_context()
        self.ssl_context.check_hostname = False  # the server's self-signed development cert
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.enable_starttls, self.enable_direct_tls, self.enable_plaintext = True, False, False
        self.auto_authorize = True
        self.auto_subscribe = True
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)

    async def on_start(self, _):
        self.send_presence()
        await self.get_roster()
        print("READY", flush=True)

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            msg.reply(f"echo: {msg['body']}").send()


async def main():
    host, port, jid, password = sys.argv[1:5]
    bot = Echo(jid, password)
    bot.connect(host=host, port=int(port))
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
