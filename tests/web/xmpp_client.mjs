// @xmpp/client (a real web-client library, not written here) in Node, over WebSocket
// (RFC 7395): log in, set and fetch the roster, send a message to a TCP client (the slixmpp echo
// bot) and wait for its answer. Exits non-zero with a reason on any failure.
//
// Usage: node xmpp_client.mjs WS_URL DOMAIN USER PASSWORD PEER_BARE_JID
import { client, xml } from "@xmpp/client";
import { WebSocket as NodeWebSocket } from "ws";

// Node 20 has no WebSocket global (browsers and Node 22 do).
globalThis.WebSocket ??= NodeWebSocket;

const [service, domain, username, password, peer] = process.argv.slice(2);
const TIMEOUT = 20000;
const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), TIMEOUT * 2).unref();

const xmpp = client({ service, domain, username, password, resource: "node" });
xmpp.on("error", (e) => fail(`client error: ${e}`));

const replies = [];
let wake = null;
xmpp.on("stanza", (s) => {
  if (s.is("message") && s.getChildText("body")) {
    replies.push(s);
    if (wake) wake();
  }
});

const online = new Promise((resolve) => xmpp.on("online", resolve));
await xmpp.start();
const jid = await online;
console.log(`online as ${jid}`);
if (jid.toString() !== `${username}@${domain}/node`) fail(`bound ${jid}`);

// Roster: add the peer, then read it back.
await xmpp.iqCaller.set(
  xml("query", { xmlns: "jabber:iq:roster" }, xml("item", { jid: peer, name: "TCP peer" })),
);
const roster = await xmpp.iqCaller.get(xml("query", { xmlns: "jabber:iq:roster" }));
const items = roster.getChildren("item").map((i) => i.attrs.jid);
console.log(`roster: ${items.join(", ")}`);
if (!items.includes(peer)) fail(`the roster lacks ${peer}: ${roster}`);

await xmpp.send(xml("presence"));
const body = `hello over WebSocket ${Date.now()}`;
await xmpp.send(xml("message", { to: peer, type: "chat" }, xml("body", {}, body)));
const deadline = Date.now() + TIMEOUT;
for (;;) {
  const got = replies.find((m) => m.getChildText("body") === `echo: ${body}`);
  if (got) {
    if (!got.attrs.from.startsWith(`${peer}/`)) fail(`reply from ${got.attrs.from}`);
    console.log(`reply from ${got.attrs.from}: ${got.getChildText("body")}`);
    break;
  }
  if (Date.now() > deadline) fail(`no echo; got ${replies.map(String).join(" ")}`);
  await new Promise((r) => {
    wake = r;
    setTimeout(r, 500);
  });
}
await xmpp.stop();
console.log("OK: @xmpp/client over WebSocket");
