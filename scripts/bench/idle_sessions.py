#!/usr/bin/env python3
"""Holds N idle, authenticated XMPP sessions open against a server.

Each session: STARTTLS (unless --no-tls), in-band registration of user<i> (XEP-0077, so the
server needs registration on), SASL PLAIN, bind, initial presence; then it stays connected
and silent. Prints "READY <n>" when all are up, then waits until stdin closes or --hold
seconds pass. Standard library only; it does not depend on cordial's internals.
"""
import argparse
import asyncio
import base64
import ssl
import sys

HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='{d}' version='1.0'>")


async def read_until(reader, marker, buf):
    while marker not in buf[0]:
        chunk = await reader.read(65536)
        if not chunk:
            raise ConnectionError(f"closed while waiting for {marker!r}: {buf[0][-300:]!r}")
        buf[0] += chunk.decode()
    i = buf[0].index(marker) + len(marker)
    got, buf[0] = buf[0][:i], buf[0][i:]
    return got


async def read_element(reader, buf):
    """Reads one top-level element: up to its '/>' or its closing tag."""
    head = await read_until(reader, ">", buf)
    if head.endswith("/>"):
        return head
    name = head[head.index("<") + 1:].split()[0].rstrip(">")
    return head + await read_until(reader, f"</{name}>", buf)


async def session(args, i, ctx, sessions):
    reader, writer = await asyncio.open_connection(args.host, args.port, local_addr=(args.source, 0) if args.source else None)
    buf = [""]
    d = args.domain
    writer.write(HEADER.format(d=d).encode())
    await read_until(reader, "</stream:features>", buf)
    if not args.no_tls:
        writer.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await read_until(reader, "<proceed", buf)
        await read_until(reader, ">", buf)
        await writer.start_tls(ctx, server_hostname=d)
        buf = [""]
        writer.write(HEADER.format(d=d).encode())
        await read_until(reader, "</stream:features>", buf)
    user, pw = f"{args.prefix}{i}", "idle-pw"
    if args.register:
        writer.write((f"<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>{user}</username>"
                      f"<password>{pw}</password></query></iq>").encode())
        reply = await read_element(reader, buf)
        if "type='error'" in reply or 'type="error"' in reply:
            if "conflict" not in reply:
                raise RuntimeError(f"registration of {user} failed: {reply}")
    token = base64.b64encode(f"\0{user}\0{pw}".encode()).decode()
    writer.write(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>".encode())
    got = await read_element(reader, buf)
    if "<success" not in got:
        raise RuntimeError(f"auth of {user} failed: {got}")
    buf = [""]
    writer.write(HEADER.format(d=d).encode())
    await read_until(reader, "</stream:features>", buf)
    writer.write(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>idle</resource></bind></iq>")
    await read_element(reader, buf)
    writer.write(b"<presence/>")
    await read_until(reader, "presence", buf)
    sessions.append((reader, writer))


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5222)
    p.add_argument("--domain", default="localhost")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--prefix", default="idle")
    p.add_argument("--no-tls", action="store_true")
    p.add_argument("--register", action="store_true", help="create each account in band first")
    p.add_argument("--source", default=None, help="local source address")
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--hold", type=float, default=3600)
    args = p.parse_args()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sessions = []
    sem = asyncio.Semaphore(args.concurrency)

    async def one(i):
        async with sem:
            for attempt in range(3):
                try:
                    return await asyncio.wait_for(session(args, i, ctx, sessions), 60)
                except (ConnectionError, OSError, asyncio.TimeoutError) as e:
                    if attempt == 2:
                        raise RuntimeError(f"session {i}: {e}")

    await asyncio.gather(*(one(i) for i in range(args.n)))
    print(f"READY {len(sessions)}", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    await asyncio.wait([asyncio.ensure_future(stdin_closed), asyncio.ensure_future(asyncio.sleep(args.hold))],
                       return_when=asyncio.FIRST_COMPLETED)
    for _, w in sessions:
        w.close()


if __name__ == "__main__":
    asyncio.run(main())
