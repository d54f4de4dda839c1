// converse.js in headless Chromium (Debian's, driven by playwright-core): log in over WebSocket,
// add the TCP echo bot as a contact, see its presence once the subscription is mutual, send a
// message and read the bot's answer. Takes a screenshot either way. Exits non-zero on failure.
//
// Usage: node converse.mjs PAGE_URL JID PASSWORD CONTACT_JID SCREENSHOT
import { chromium } from "playwright-core";

const [url, jid, password, contact, screenshot] = process.argv.slice(2);
const T = { timeout: 20000 };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const page = await browser.newPage();
let ok = false;
try {
  await page.goto(url);
  await page.fill("input[name=jid]", jid, T);
  await page.fill("input[name=password]", password, T);
  await page.click("input[type=submit], button[type=submit]", T);
  console.log("logging in");
  await page.click("a.add-contact", T);
  await page.fill("form.add-xmpp-contact input[name=jid]", contact, T);
  await page.fill("form.add-xmpp-contact input[name=name]", "Echo", T);
  await page.click("form.add-xmpp-contact button[type=submit]", T);
  // The bot approves and subscribes back; converse.js approves (it asks first, below).
  const item = `li.current-xmpp-contact[data-status=online]:has(a[title*="${contact}"])`;
  const deadline = Date.now() + 20000;
  while (!(await page.$(item))) {
    const accept = await page.$("a.accept-xmpp-request, button.accept-xmpp-request");
    if (accept) await accept.click();
    if (Date.now() > deadline) throw new Error(`${contact} never shown online`);
    await page.waitForTimeout(250);
  }
  console.log(`${contact} is online in the roster`);
  // Close the add-contact dialog if it is still open.
  for (let i = 0; i < 10 && (await page.$(".modal.show")); i++) {
    const close = await page.$(".modal.show button.close, .modal.show .btn-close");
    if (close) await close.click().catch(() => {});
    else await page.keyboard.press("Escape");
    await page.waitForTimeout(300);
  }
  await page.click(`${item} a.open-chat`, T);
  const body = `hello from converse.js ${Date.now()}`;
  await page.fill("textarea.chat-textarea", body, T);
  await page.press("textarea.chat-textarea", "Enter");
  await page.waitForSelector(`.chat-msg__text:has-text("echo: ${body}")`, T);
  console.log("the echo arrived");
  ok = true;
} catch (e) {
  console.error(`FAIL: ${e.message}`);
} finally {
  await page.screenshot({ path: screenshot });
  await browser.close();
}
if (!ok) process.exit(1);
console.log("OK: converse.js in Chromium");
