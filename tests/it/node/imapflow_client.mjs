// imapflow (Node) against mailroom: list, open, fetch (envelope, structure, source), flags,
// search, append, move. Prints "ok" or fails with a message.
// usage: node imapflow_client.mjs HOST PORT USER PASSWORD
import { ImapFlow } from "imapflow";

const [host, port, user, pass] = process.argv.slice(2);
const fail = (msg) => {
  console.error("FAIL: " + msg);
  process.exit(1);
};
const check = (cond, msg) => cond || fail(typeof msg === "string" ? msg : JSON.stringify(msg));

const client = new ImapFlow({
  host,
  port: Number(port),
  secure: false,
  doSTARTTLS: false, // loopback counts as secure, as with Dovecot's defaults
  auth: { user, pass },
  logger: false,
});
await client.connect();

const boxes = await client.list();
const paths = boxes.map((b) => b.path);
check(paths.includes("INBOX") && paths.includes("Sent"), paths);
check(boxes.find((b) => b.path === "Sent").specialUse === "\\Sent", boxes);

let lock = await client.getMailboxLock("INBOX");
try {
  check(client.mailbox.exists === 3, `exists ${client.mailbox.exists}`);
  const seen = [];
  for await (const m of client.fetch("1:*", { uid: true, flags: true, envelope: true, bodyStructure: true, source: true, size: true })) {
    check(m.source.length === m.size, `size ${m.size} vs ${m.source.length}`);
    check(m.source.toString().includes(`Subject: ${m.envelope.subject}`), m.envelope);
    check(m.envelope.from[0].address === "carol@remote.test", m.envelope.from);
    check(m.bodyStructure.type === "text/plain", m.bodyStructure);
    seen.push(m.envelope.subject);
  }
  check(JSON.stringify(seen) === JSON.stringify(["one", "two", "three"]), seen);
  check(await client.messageFlagsAdd("2", ["\\Flagged"]), "flags add");
  const flagged = await client.search({ flagged: true });
  check(JSON.stringify(flagged) === "[2]", flagged);
  const unseen = await client.search({ seen: false, subject: "three" });
  check(JSON.stringify(unseen) === "[3]", unseen);
  const moved = await client.messageMove("1", "Archive");
  check(moved && moved.uidMap && moved.uidMap.size === 1, moved);
  check(client.mailbox.exists === 2, `after move ${client.mailbox.exists}`);
} finally {
  lock.release();
}

const appended = await client.append("Archive", "From: me@example.test\r\nSubject: via imapflow\r\n\r\nhello\r\n", ["\\Seen"]);
check(appended && appended.uid > 0, appended);
const status = await client.status("Archive", { messages: true, unseen: true, uidNext: true });
check(status.messages === 2 && status.unseen === 1, status);
await client.logout();
console.log("ok");
