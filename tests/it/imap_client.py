"""Independent IMAP client for mailroom's end-to-end tests: Python's imaplib (and a raw
socket for transcripts imaplib will not send).

usage: imap_client.py SCENARIO IMAP_HOSTPORT IMAPS_HOSTPORT CERT PASSWORD SMTP_HOSTPORT HTTP_HOSTPORT
Each scenario asserts and exits non-zero with a message on the first failure; "ok" at the end.
"""
import base64
import http.client
import imaplib
import json
import re
import select
import smtplib
import socket
import ssl
import sys
import time

scenario, imap_hp, imaps_hp, cert, password, smtp_hp, http_hp = sys.argv[1:8]


def hp(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


IMAP = hp(imap_hp)
IMAPS = hp(imaps_hp)
ALICE = "alice@example.test"
BOB = "bob@example.test"


def fail(msg):
    print("FAIL: " + str(msg), file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def ok(res, what):
    typ, data = res
    check(typ == "OK", f"{what}: {typ} {data}")
    return data


def no(fn, *args, code=None):
    """The command must fail with NO (imaplib raises `error`), with `code` when given."""
    try:
        typ, data = fn(*args)
    except imaplib.IMAP4.error as e:
        text = str(e)
        check(code is None or f"[{code}" in text, f"expected [{code}] in {text}")
        return text
    text = " ".join(d.decode() if isinstance(d, bytes) else str(d) for d in data)
    check(typ == "NO", f"expected NO for {fn.__name__}{args}, got {typ} {data}")
    check(code is None or f"[{code}" in text, f"expected [{code}] in {text}")
    return text


def login(user=ALICE):
    m = imaplib.IMAP4(*IMAP)
    ok(m.login(user, password), "login")
    return m


def tls_context():
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False  # the certificate names the configured host, not 127.0.0.1
    return ctx


MESSAGE = (
    b"From: Carol Example <carol@other.example>\r\n"
    b"To: Alice <alice@example.test>\r\n"
    b"Subject: quarterly report\r\n"
    b"Message-ID: <report-1@other.example>\r\n"
    b"Date: Mon, 02 Nov 2026 09:30:00 +0100\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Numbers attached.\r\n"
    b"Second line.\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: dave@other.example\r\n"
    b"Subject: forwarded inner\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--outer--\r\n"
)


def jmap(calls, user=ALICE, using=("urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail")):
    c = http.client.HTTPConnection(*hp(http_hp), timeout=10)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    body = json.dumps({
        "using": list(using),
        "methodCalls": calls,
    })
    c.request("POST", "/jmap/api", body=body,
              headers={"Authorization": "Basic " + auth, "Content-Type": "application/json"})
    r = c.getresponse()
    data = json.loads(r.read())
    check(r.status == 200, f"JMAP {r.status} {data}")
    return data["methodResponses"]


def account_id(user=ALICE):
    c = http.client.HTTPConnection(*hp(http_hp), timeout=10)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    c.request("GET", "/jmap/session", headers={"Authorization": "Basic " + auth})
    s = json.loads(c.getresponse().read())
    return s["primaryAccounts"]["urn:ietf:params:jmap:mail"]


def send_smtp(subject):
    s = smtplib.SMTP(*hp(smtp_hp), timeout=10)
    s.sendmail("carol@other.example", [ALICE],
               f"From: carol@other.example\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\npushed\r\n".encode())
    s.quit()


def fetch_one(m, seq, what):
    data = ok(m.fetch(seq, what), f"FETCH {seq} {what}")
    return data


def scenario_session():
    # Authentication: a wrong password, then AUTHENTICATE PLAIN (SASL-IR).
    m = imaplib.IMAP4(*IMAP)
    check("AUTH=PLAIN" in m.capabilities and "LOGINDISABLED" not in m.capabilities, m.capabilities)
    no(m.login, ALICE, "wrong password", code="AUTHENTICATIONFAILED")
    ok(m.authenticate("PLAIN", lambda _: f"\0{ALICE}\0{password}".encode()), "AUTHENTICATE PLAIN")
    caps = m.capability()[1][0].decode()
    for c in ["IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE", "NAMESPACE", "UNSELECT"]:
        check(c in caps.split(), f"{c} missing from {caps}")
    check("STARTTLS" not in caps.split(), caps)

    # Mailboxes: the special-use ones, creating a hierarchy, renaming, UTF-7, subscriptions.
    lst = [l.decode() for l in ok(m.list(), "LIST")]
    check(any(l.endswith('"/" INBOX') for l in lst), lst)
    check(any("\\Sent" in l and l.endswith(" Sent") for l in lst), lst)
    check(any("\\Trash" in l for l in lst), lst)
    ok(m.create("Work/Projects"), "CREATE Work/Projects")
    lst = [l.decode() for l in ok(m.list('""', "Work*"), "LIST Work*")]
    check(any("\\HasChildren" in l and l.endswith('"/" Work') for l in lst), lst)
    check(any(l.endswith('"/" Work/Projects') for l in lst), lst)
    lst = [l.decode() for l in ok(m.list('""', "%"), "LIST %")]
    check(not any("Work/Projects" in l for l in lst), f"% matched a second level: {lst}")
    no(m.create, "Work/Projects", code="ALREADYEXISTS")
    no(m.create, "Work/../x", code="CANNOT")
    ok(m.rename("Work/Projects", "Work/Done"), "RENAME")
    lst = [l.decode() for l in ok(m.list("Work/", "*"), "LIST Work/ *")]
    check(lst == ['(\\HasNoChildren) "/" Work/Done'], lst)
    ok(m.create("Entw&APw-rfe"), "CREATE UTF-7")  # Entwürfe
    ok(m.unsubscribe("Work/Done"), "UNSUBSCRIBE")
    lsub = [l.decode() for l in ok(m.lsub(), "LSUB")]
    check(not any("Work/Done" in l for l in lsub) and any("Entw&APw-rfe" in l for l in lsub), lsub)
    ok(m.delete("Work/Done"), "DELETE")
    no(m.delete, "INBOX", code="CANNOT")
    no(m.select, "No/Such", code="NONEXISTENT")
    ns = ok(m.namespace(), "NAMESPACE")[0].decode()
    check(ns.startswith('(("" "/")) NIL NIL'), ns)

    # APPEND: APPENDUID, flags and the internal date kept, bytes intact.
    typ, data = m.append("INBOX", "(\\Flagged $Forwarded)", '"02-Nov-2026 09:30:00 +0100"', MESSAGE)
    check(typ == "OK", f"APPEND {data}")
    code = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
    check(code, data)
    appended_uid = int(code.group(2))
    exists = int(ok(m.select("INBOX"), "SELECT")[0])
    check(exists == 4, f"3 delivered + 1 appended, got {exists}")
    check(m.untagged_responses.get("UIDVALIDITY", [b"0"])[0] == code.group(1),
          m.untagged_responses)
    flags = ok(m.fetch("1:*", "(UID FLAGS RFC822.SIZE)"), "FETCH 1:*")
    uids = [int(re.search(rb"UID (\d+)", f).group(1)) for f in flags]
    check(uids == sorted(uids) and len(set(uids)) == 4 and uids[-1] == appended_uid, uids)
    last = f"{exists}"
    d = fetch_one(m, last, "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
    head, body = d[0]
    check(body == MESSAGE, f"BODY[] differs: {body!r}")
    check(f"RFC822.SIZE {len(MESSAGE)}".encode() in head, head)
    check(b"\\Flagged" in head and b"$forwarded" in head.lower(), head)
    check(b'INTERNALDATE "02-Nov-2026 08:30:00 +0000"' in head, head)
    env = fetch_one(m, last, "(ENVELOPE BODYSTRUCTURE)")[0].decode()
    check('"quarterly report"' in env and '("Carol Example" NIL "carol" "other.example")' in env, env)
    check('"<report-1@other.example>"' in env, env)
    check('"MIXED"' in env and '"MESSAGE" "RFC822"' in env and '"forwarded inner"' in env, env)
    parts = fetch_one(m, last, "(BODY.PEEK[1] BODY.PEEK[2.HEADER] BODY.PEEK[2.1] "
                                "BODY.PEEK[HEADER.FIELDS (SUBJECT DATE)] BODY.PEEK[1]<10.7> BODY.PEEK[2.MIME])")
    got = {re.search(rb"(BODY\[[^\]]*\](<\d+>)?) \{", p[0]).group(1).decode(): p[1]
           for p in parts if isinstance(p, tuple)}
    check(got.get("BODY[1]") == b"Numbers attached.\r\nSecond line.", got)
    check(got.get("BODY[2.HEADER]") == b"From: dave@other.example\r\nSubject: forwarded inner\r\n\r\n", got)
    check(got.get("BODY[2.1]") == b"inner body", got)
    check(got.get("BODY[HEADER.FIELDS (SUBJECT DATE)]")
          == b"Subject: quarterly report\r\nDate: Mon, 02 Nov 2026 09:30:00 +0100\r\n\r\n", got)
    check(got.get("BODY[1]<10>") == b"tached.", got)
    check(got.get("BODY[2.MIME]") == b"Content-Type: message/rfc822\r\n\r\n", got)
    check(b"\\Seen" not in fetch_one(m, last, "(FLAGS)")[0], "PEEK set \\Seen")
    # A non-PEEK body fetch sets \Seen, and says so.
    d = fetch_one(m, last, "(BODY[1])")
    check(b"\\Seen" in b"".join(x if isinstance(x, bytes) else x[0] for x in d), d)

    # SEARCH.
    def search(*crit, uid=False):
        r = m.uid("SEARCH", *crit) if uid else m.search(None, *crit)
        return [int(x) for x in ok(r, f"SEARCH {crit}")[0].split()]
    check(search("ALL") == [1, 2, 3, 4], search("ALL"))
    check(search("SUBJECT", "two") == [2], search("SUBJECT", "two"))
    check(search("FROM", "other.example") == [4], search("FROM", "other.example"))
    # Case does not matter; LIKE's wildcards are plain characters here.
    check(search("FROM", '"CAROL EXAMPLE"') == [4], "FROM by name, any case")
    check(search("FROM", '"%"') == [] and search("SUBJECT", "_") == [], "% and _ are literal")
    check(search("TO", "alice") == [4] and search("CC", "alice") == [], "TO/CC")
    check(search("SEEN") == [4] and search("UNSEEN") == [1, 2, 3], (search("SEEN"), search("UNSEEN")))
    check(search("FLAGGED", "KEYWORD", "$Forwarded") == [4], search("FLAGGED"))
    check(search("OR", "SUBJECT", "one", "SUBJECT", "three") == [1, 3], "OR")
    check(search("NOT", "SUBJECT", "one") == [2, 3, 4], "NOT")
    check(search("2:3") == [2, 3] and search("UID", f"{appended_uid}") == [4], "sets")
    check(search("HEADER", "Message-ID", "report-1") == [4], "HEADER")
    # TEXT looks in every header field and the body.
    check(search("TEXT", "report-1@other") == [4], search("TEXT", "report-1@other"))
    check(search("TEXT", '"Numbers attached"') == [4], "TEXT in the body")
    check(search("BODY", '"second LINE"') == [4], "BODY")
    # Inside the attached message: its body for BODY, its header fields too for TEXT.
    check(search("BODY", '"inner body"') == [4], "BODY in an attached message")
    check(search("TEXT", '"forwarded inner"') == [4], "TEXT in an attached message's header")
    check(search("SENTBEFORE", "3-Nov-2026", "SENTSINCE", "1-Nov-2026") == [4], "SENT*")
    check(search("LARGER", str(len(MESSAGE) - 1)) == [4], "LARGER")
    check(search("SUBJECT", "two", uid=True) == [uids[1]], "UID SEARCH")
    check(search("NOT", "ALL") == [], "nothing")
    no(m.search, "ISO-8859-99", "ALL", code="BADCHARSET")

    # STORE: add, remove, replace, .SILENT; stored as keywords JMAP sees.
    d = [x for x in ok(m.store("1", "+FLAGS", "(\\Flagged \\Answered)"), "STORE +FLAGS")
         if x.startswith(b"1 (")]
    check(len(d) == 1 and b"\\Flagged" in d[0] and b"\\Answered" in d[0], d)
    d = [x for x in ok(m.store("1", "-FLAGS", "(\\Answered)"), "STORE -FLAGS") if x.startswith(b"1 (")]
    check(len(d) == 1 and b"\\Answered" not in d[0] and b"\\Flagged" in d[0], d)
    d = ok(m.store("2", "FLAGS.SILENT", "(\\Seen $label1)"), "STORE FLAGS.SILENT")
    check(d == [None], f".SILENT answered {d}")
    check(search("KEYWORD", "$label1") == [2], "keyword stored")

    # COPY (COPYUID) and MOVE (COPYUID, then EXPUNGE).
    typ, data = m.copy("1", "Work")
    check(typ == "OK" and b"COPYUID" in data[0], data)
    st = ok(m.status("Work", "(MESSAGES UIDNEXT UNSEEN)"), "STATUS")[0].decode()
    check("MESSAGES 1" in st and "UNSEEN 1" in st, st)
    no(m.copy, "1", "Nowhere", code="TRYCREATE")
    typ, data = m.uid("MOVE", str(uids[2]), "Work")
    check(typ == "OK", data)
    check(m.untagged_responses.pop("EXPUNGE", None) == [b"3"], m.untagged_responses)
    check(int(ok(m.select("Work"), "SELECT Work")[0]) == 2, "two in Work")
    ok(m.select("INBOX"), "SELECT INBOX")
    check(search("ALL") == [1, 2, 3], search("ALL"))

    # EXPUNGE: only messages marked \Deleted; UID EXPUNGE only those named.
    ok(m.store("2:3", "+FLAGS.SILENT", "(\\Deleted)"), "STORE \\Deleted")
    typ, data = m.uid("EXPUNGE", str(uids[1]))
    check(typ == "OK" and m.untagged_responses.pop("EXPUNGE", None) == [b"2"], (data, m.untagged_responses))
    typ, data = m.expunge()
    check(typ == "OK" and data == [b"2"], data)
    check(search("ALL") == [1], search("ALL"))

    # EXAMINE is read-only.
    typ, data = m.select("INBOX", readonly=True)
    no(m.store, "1", "+FLAGS", "(\\Seen)")
    ok(m.close(), "CLOSE")
    m.logout()

    # Another user sees only their own mailboxes, by any name.
    b = login(BOB)
    lst = [l.decode() for l in ok(b.list('""', "*"), "bob LIST")]
    check(not any("Work" in l or "Entw" in l for l in lst), lst)
    for name in ["Work", "../alice@example.test/Work", "#shared/Work", "~alice/Work"]:
        no(b.select, name, code="NONEXISTENT")
    check(int(ok(b.select("INBOX"), "bob SELECT")[0]) == 0, "bob's INBOX is his")
    b.logout()

    # Bad input over a raw socket: BAD and the session goes on; a literal too large is refused
    # before it is sent.
    s = socket.create_connection(IMAP, timeout=10)
    f = s.makefile("rb")
    check(f.readline().startswith(b"* OK"), "greeting")

    def cmd(line):
        s.sendall(line + b"\r\n")
        out = []
        while True:
            l = f.readline()
            check(l, "connection closed")
            out.append(l)
            if not l.startswith(b"*"):
                return out
    check(cmd(b"a0 SELECT INBOX")[-1].startswith(b"a0 BAD"), "SELECT before LOGIN")
    check(cmd(b"a1 FROB")[-1].startswith(b"a1 BAD"), "unknown command")
    check(cmd(b"a2 FETCH")[-1].startswith(b"a2 BAD"), "missing arguments")
    check(cmd(b"a3 LOGIN " + ALICE.encode() + b' "' + password.encode() + b'"')[-1].startswith(b"a3 OK"), "login")
    check(cmd(b"a4 FETCH 1 (FLAGS)")[-1].startswith(b"a4 BAD"), "FETCH without SELECT")
    r = cmd(b"a5 APPEND INBOX {999999999}")
    check(r[-1].startswith(b"a5 NO [TOOBIG]") and not any(l.startswith(b"+") for l in r), r)
    check(cmd(b"a6 NOOP")[-1].startswith(b"a6 OK"), "NOOP after TOOBIG")
    r = cmd(b"a7 APPEND INBOX {5+}\r\nhello")
    check(r[-1].startswith(b"a7 NO"), f"not a message: {r}")
    check(cmd(b"a8 LOGOUT")[0].startswith(b"* BYE"), "LOGOUT")
    s.close()
    print("ok")


def read_until(sock_file, sock, pattern, timeout):
    """Reads lines until one matches; returns (line, seconds waited)."""
    start = time.time()
    while time.time() - start < timeout:
        r, _, _ = select.select([sock], [], [], 0.1)
        if not r:
            continue
        line = sock_file.readline()
        if not line:
            fail("connection closed while idling")
        if re.search(pattern, line):
            return line, time.time() - start
    fail(f"nothing matched {pattern!r} within {timeout}s")


def scenario_idle():
    # A session IDLEs on INBOX; an SMTP delivery, a JMAP keyword change and a JMAP destroy
    # each show up as they happen.
    s = socket.create_connection(IMAP, timeout=10)
    f = s.makefile("rb", buffering=0)
    f.readline()

    def cmd(line):
        s.sendall(line + b"\r\n")
        out = []
        while True:
            l = f.readline()
            out.append(l)
            if not l.startswith(b"*") and not l.startswith(b"+"):
                return out
    cmd(b"a1 LOGIN " + ALICE.encode() + b' "' + password.encode() + b'"')
    r = cmd(b"a2 SELECT INBOX")
    exists = int([l for l in r if l.endswith(b"EXISTS\r\n")][0].split()[1])
    s.sendall(b"a3 IDLE\r\n")
    check(f.readline().startswith(b"+"), "IDLE continuation")
    send_smtp("while idling")
    line, waited = read_until(f, s, rb"^\* %d EXISTS" % (exists + 1), 5)
    print(f"EXISTS after SMTP delivery: {waited * 1000:.0f} ms", file=sys.stderr)
    check(waited < 3, f"EXISTS took {waited:.1f}s")
    acc = account_id()
    q = jmap([["Email/query", {"accountId": acc, "filter": {"subject": "while idling"}}, "q"]])
    email = q[0][1]["ids"][0]
    jmap([["Email/set", {"accountId": acc, "update": {email: {"keywords/$flagged": True}}}, "s"]])
    line, waited = read_until(f, s, rb"^\* %d FETCH .*\\Flagged" % (exists + 1), 5)
    print(f"FETCH after JMAP keyword change: {waited * 1000:.0f} ms", file=sys.stderr)
    check(waited < 3, f"FETCH took {waited:.1f}s")
    jmap([["Email/set", {"accountId": acc, "destroy": [email]}, "d"]])
    line, waited = read_until(f, s, rb"^\* %d EXPUNGE" % (exists + 1), 5)
    s.sendall(b"DONE\r\n")
    check(f.readline().startswith(b"a3 OK"), "IDLE ended")

    # An IMAP MOVE is a JMAP change: Email/changes from before it names the email.
    state = jmap([["Email/get", {"accountId": acc, "ids": []}, "g"]])[0][1]["state"]
    before = jmap([["Email/query", {"accountId": acc, "filter": {"subject": "one"}}, "q"]])[0][1]["ids"]
    r = cmd(b"a4 MOVE 1 Trash")
    check(r[-1].startswith(b"a4 OK"), r)
    ch = jmap([["Email/changes", {"accountId": acc, "sinceState": state}, "c"]])[0][1]
    check(before[0] in ch["updated"], ch)
    got = jmap([["Email/get", {"accountId": acc, "ids": before, "properties": ["mailboxIds"]}, "g"],
                ["Mailbox/query", {"accountId": acc, "filter": {"role": "trash"}}, "m"]])
    trash = got[1][1]["ids"][0]
    check(list(got[0][1]["list"][0]["mailboxIds"]) == [trash], got)
    cmd(b"a5 LOGOUT")
    print("ok")


class Raw:
    """A transcript client: each command's untagged lines and tagged reply."""

    def __init__(self, user=ALICE):
        self.s = socket.create_connection(IMAP, timeout=10)
        self.f = self.s.makefile("rb")
        self.n = 0
        check(self.f.readline().startswith(b"* OK"), "greeting")
        self.ok(f'LOGIN {user} "{password}"')

    def cmd(self, line):
        self.n += 1
        tag = f"t{self.n}".encode()
        self.s.sendall(tag + b" " + line.encode() + b"\r\n")
        untagged = []
        while True:
            l = self.f.readline()
            check(l, "connection closed")
            if l.startswith(tag + b" "):
                return untagged, l
            untagged.append(l.rstrip(b"\r\n").decode())

    def ok(self, line):
        untagged, done = self.cmd(line)
        check(b" OK" in done, f"{line}: {done}")
        return untagged


def scenario_two_sessions():
    # What one session does, another sees at the points RFC 9051 allows: EXPUNGE never
    # during a FETCH/STORE/SEARCH by sequence number, always by the next NOOP.
    a, b = Raw(), Raw()
    # IMAP4rev1 \Recent: the first session to see a message gets it.
    sel = a.ok("SELECT INBOX")
    check("* 3 EXISTS" in sel and "* 3 RECENT" in sel, sel)
    sel = b.ok("SELECT INBOX")
    check("* 3 EXISTS" in sel and "* 0 RECENT" in sel, sel)
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    check(a.ok("EXPUNGE") == ["* 1 EXPUNGE"], "a expunge")
    got = b.ok("FETCH 1:3 (FLAGS)")
    check(not any("EXPUNGE" in l for l in got) and len(got) == 3, f"EXPUNGE during FETCH: {got}")
    check(not any("EXPUNGE" in l for l in b.ok("STORE 2 +FLAGS (\\Seen)")), "EXPUNGE during STORE")
    got = b.ok("NOOP")
    check(got == ["* 1 EXPUNGE"], f"b NOOP after the expunge: {got}")
    uids = b.ok("UID FETCH 1:* (FLAGS)")
    check(len(uids) == 2 and "\\Seen" in uids[0], uids)
    # A flag set in one session reaches the other as FETCH FLAGS; the one who set it hears
    # it once (its own STORE answer), not again.
    got = a.ok("STORE 2 +FLAGS (\\Flagged)")
    check(len(got) == 1 and got[0].startswith("* 2 FETCH") and "\\Flagged" in got[0], got)
    # a hears b's \Seen (on its message 1), and not its own \Flagged again.
    got = a.ok("NOOP")
    check(len(got) == 1 and got[0].startswith("* 1 FETCH") and "\\Seen" in got[0]
          and "\\Flagged" not in got[0], f"a's NOOP: {got}")
    got = b.ok("NOOP")
    check(len(got) == 1 and got[0].startswith("* 2 FETCH") and "\\Flagged" in got[0], got)
    # A new message: EXISTS in the other session, then its UID.
    a.s.sendall(b"t99 APPEND INBOX {30+}\r\nFrom: x@y.test\r\nSubject: n\r\n\r\n\r\n")
    line = a.f.readline()
    check(line == b"* 3 EXISTS\r\n", f"append into the selected mailbox: {line}")
    # IMAP4rev1 \Recent: a saw it first (as it did the two older ones).
    line = a.f.readline()
    check(line == b"* 3 RECENT\r\n", f"recent for the first to see it: {line}")
    line = a.f.readline()
    check(line.startswith(b"t99 OK [APPENDUID"), f"append: {line}")
    got = b.ok("NOOP")
    check(got == ["* 3 EXISTS", "* 0 RECENT"], f"b NOOP after the append: {got}")
    check(any("\\Recent" in l for l in a.ok("FETCH 3 (FLAGS)")), "\\Recent in a")
    check(not any("\\Recent" in l for l in b.ok("FETCH 3 (FLAGS)")), "no \\Recent in b")
    got = a.ok("SEARCH RECENT")
    check(got == ["* SEARCH 1 2 3"], got)
    check(b.ok("SEARCH RECENT") == ["* SEARCH"], "b has none recent")
    check(a.ok("SEARCH NEW") == ["* SEARCH 2 3"], "new = recent and unseen (b read 1)")
    check(len(b.ok("FETCH 3 (UID FLAGS)")) == 1, "fetch the new one")
    # Moved away in one session: expunged in the other.
    a.ok("MOVE 1 Trash")
    check(b.ok("NOOP") == ["* 1 EXPUNGE"], "b after a move")
    check("* 2 EXISTS" in b.ok("SELECT INBOX"), "b reselects")
    # An APPEND to another mailbox answers at once; what changed meanwhile comes with the
    # next command.
    b.ok("STORE 1 +FLAGS.SILENT (\\Answered)")
    a.s.sendall(b"t98 APPEND Trash {30+}\r\nFrom: x@y.test\r\nSubject: n\r\n\r\n\r\n")
    line = a.f.readline()
    check(line.startswith(b"t98 OK [APPENDUID"), f"append elsewhere: {line}")
    got = a.ok("NOOP")
    check(len(got) == 1 and got[0].startswith("* 1 FETCH") and "\\Answered" in got[0], got)
    # \Recent is per message within one listing: c sees x first, a sees y first; neither
    # has a flag of its own, so only \Recent tells their FLAGS apart.
    d = Raw()
    msg = "APPEND INBOX {30+}\r\nFrom: x@y.test\r\nSubject: n\r\n\r\n"
    d.ok(msg)
    c = Raw()
    c.ok("SELECT INBOX")
    d.ok(msg)
    a.ok("NOOP")
    c.ok("NOOP")
    got = c.ok("FETCH 1:* (FLAGS)")
    check(len(got) >= 2 and "FLAGS (\\Recent)" in got[-2] and "FLAGS ()" in got[-1], got)
    print("ok")


def scenario_condstore():
    # RFC 7162 CONDSTORE: modseqs in FETCH, CHANGEDSINCE, UNCHANGEDSINCE with [MODIFIED],
    # SEARCH MODSEQ, HIGHESTMODSEQ in SELECT and STATUS.
    a, b = Raw(), Raw()
    check(a.ok("ENABLE CONDSTORE") == ["* ENABLED CONDSTORE"], "enable")
    sel = a.ok("SELECT INBOX")
    hm = [l for l in sel if "HIGHESTMODSEQ" in l]
    check(len(hm) == 1, sel)
    n0 = int(re.search(r"HIGHESTMODSEQ (\d+)", hm[0]).group(1))
    got = a.ok("FETCH 1:* (MODSEQ)")
    mods = [int(re.search(r"MODSEQ \((\d+)\)", l).group(1)) for l in got]
    check(len(mods) == 3 and all(0 < m <= n0 for m in mods), (mods, n0))
    got = a.ok("STORE 1 +FLAGS (\\Flagged)")
    check(len(got) == 1 and "MODSEQ" in got[0], got)
    m1 = int(re.search(r"MODSEQ \((\d+)\)", got[0]).group(1))
    check(m1 > n0, (m1, n0))
    got = a.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % n0)
    check(len(got) == 1 and got[0].startswith("* 1 FETCH") and "MODSEQ" in got[0], got)
    uids = [int(re.search(r"UID (\d+)", l).group(1)) for l in a.ok("FETCH 1:* (UID)")]
    b.ok("SELECT INBOX")
    b.ok("STORE 2 +FLAGS (\\Seen)")
    untagged, done = a.cmd("UID STORE %d,%d (UNCHANGEDSINCE %d) +FLAGS (\\Answered)" % (uids[1], uids[2], m1))
    check(b"[MODIFIED %d]" % uids[1] in done, (untagged, done))
    got = a.ok("UID FETCH %d (FLAGS)" % uids[1])
    check(not any("\\Answered" in l for l in got), f"a refused STORE was applied: {got}")
    got = a.ok("UID FETCH %d (FLAGS)" % uids[2])
    check(any("\\Answered" in l for l in got), f"an allowed STORE was not applied: {got}")
    got = a.ok("SEARCH MODSEQ %d" % (m1 + 1))
    found = [l for l in got if l.startswith("* SEARCH")]
    check(len(found) == 1 and re.search(r"\(MODSEQ \d+\)$", found[0]), got)
    check(found[0].split()[2:4] == ["2", "3"], found)
    st = a.ok("STATUS Trash (HIGHESTMODSEQ MESSAGES)")
    check(any("HIGHESTMODSEQ" in l for l in st), st)
    print("ok")


def scenario_qresync():
    # RFC 7162 QRESYNC: VANISHED instead of EXPUNGE, SELECT (QRESYNC …) replaying what
    # changed and what vanished since the client's modseq, UID FETCH (CHANGEDSINCE … VANISHED).
    a, b = Raw(), Raw()
    _, done = a.cmd("SELECT INBOX (QRESYNC (1 1))")
    check(b" BAD " in done, f"QRESYNC before ENABLE: {done}")
    check(a.ok("ENABLE QRESYNC") == ["* ENABLED QRESYNC"], "enable")
    sel = " ".join(a.ok("SELECT INBOX"))
    v = int(re.search(r"UIDVALIDITY (\d+)", sel).group(1))
    h = int(re.search(r"HIGHESTMODSEQ (\d+)", sel).group(1))
    uids = [int(re.search(r"UID (\d+)", l).group(1)) for l in a.ok("FETCH 1:* (UID)")]
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS (\\Flagged)")
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    got = a.ok("NOOP")
    check("* VANISHED %d" % uids[1] in got and not any("EXPUNGE" in l for l in got), got)
    check(any(l.startswith("* 1 FETCH") and "\\Flagged" in l and "MODSEQ" in l for l in got), got)
    # A client that was away: one SELECT brings it up to date.
    c = Raw()
    c.ok("ENABLE QRESYNC")
    got = c.ok("SELECT INBOX (QRESYNC (%d %d))" % (v, h))
    check("* VANISHED (EARLIER) %d" % uids[1] in got, got)
    fetched = [l for l in got if " FETCH " in l]
    check(len(fetched) == 1 and "UID %d" % uids[0] in fetched[0] and "\\Flagged" in fetched[0], got)
    # A wrong UIDVALIDITY: nothing replayed.
    got = c.ok("SELECT INBOX (QRESYNC (%d %d))" % (v + 1, h))
    check(not any("VANISHED" in l or " FETCH " in l for l in got), got)
    got = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % h)
    check(got[0] == "* VANISHED (EARLIER) %d" % uids[1], got)
    check(len([l for l in got if " FETCH " in l]) == 1, got)
    _, done = c.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % h)
    check(b" BAD " in done, f"VANISHED without UID: {done}")
    print("ok")


def scenario_sort_thread():
    # SORT (RFC 5256, RFC 5957) and THREAD=REFERENCES / ORDEREDSUBJECT on a mailbox built for it.
    m = login()
    ok(m.create("Threads"), "CREATE")
    msgs = [
        ("a", "", "plan", "Sun, 01 Nov 2026 10:00:00 +0000", "Zed <zed@x.test>"),
        ("b", "In-Reply-To: <a@x.test>\r\n", "Re: plan", "Mon, 02 Nov 2026 10:00:00 +0000", "amy@x.test"),
        ("c", "References: <a@x.test> <b@x.test>\r\n", "Re: plan", "Tue, 03 Nov 2026 10:00:00 +0000", "bob@x.test"),
        ("d", "References: <a@x.test>\r\n", "RE: [team] plan", "Wed, 04 Nov 2026 10:00:00 +0000", "Al <cy@x.test>"),
        ("e", "", "other", "Fri, 30 Oct 2026 10:00:00 +0000", "dan@x.test"),
        ("f", "", "Re: other", "Thu, 05 Nov 2026 10:00:00 +0000", "eve@x.test"),
    ]
    for mid, refs, subject, date, frm in msgs:
        raw = (f"From: {frm}\r\nTo: alice@example.test\r\nSubject: {subject}\r\nDate: {date}\r\n"
               f"Message-ID: <{mid}@x.test>\r\n{refs}\r\nbody {mid}\r\n").encode()
        ok(m.append("Threads", None, None, raw), "APPEND")
    ok(m.select("Threads"), "SELECT")
    caps = m.capability()[1][0].decode().split()
    check("SORT" in caps and "THREAD=REFERENCES" in caps, caps)

    def sort(crit):
        return [int(x) for x in ok(m.sort(crit, "UTF-8", "ALL"), f"SORT {crit}")[0].split()]
    check(sort("(SUBJECT)") == [5, 6, 1, 2, 3, 4], sort("(SUBJECT)"))
    check(sort("(REVERSE DATE)") == [6, 4, 3, 2, 1, 5], sort("(REVERSE DATE)"))
    check(sort("(ARRIVAL)") == [1, 2, 3, 4, 5, 6], sort("(ARRIVAL)"))
    check(sort("(FROM)") == [2, 3, 4, 5, 6, 1], sort("(FROM)"))  # amy bob cy dan eve zed
    check(sort("(DISPLAYFROM)") == [4, 2, 3, 5, 6, 1], sort("(DISPLAYFROM)"))  # al amy bob dan eve zed
    check(sort("(SUBJECT REVERSE DATE)") == [6, 5, 4, 3, 2, 1], sort("(SUBJECT REVERSE DATE)"))
    uids = [int(x) for x in ok(m.uid("SORT", "(SIZE)", "UTF-8", "ALL"), "UID SORT")[0].split()]
    check(len(uids) == 6, uids)
    t = ok(m.thread("REFERENCES", "UTF-8", "ALL"), "THREAD")[0]
    check(t == b"(5 6)(1 (2 3)(4))", t)
    t = ok(m.thread("ORDEREDSUBJECT", "UTF-8", "ALL"), "THREAD")[0]
    check(t == b"(5 6)(1 (2)(3)(4))", t)
    t = ok(m.thread("REFERENCES", "UTF-8", "SUBJECT", "plan"), "THREAD subset")[0]
    check(t == b"(1 (2 3)(4))", t)
    m.logout()
    print("ok")


def scenario_compress():
    # COMPRESS=DEFLATE (RFC 4978): raw DEFLATE both ways after the tagged OK.
    import zlib
    r = Raw()
    check(r.ok("SELECT INBOX")[0].startswith("* FLAGS"), "select")
    plain = r.ok("FETCH 1 (BODY.PEEK[])")
    untagged, done = r.cmd("COMPRESS DEFLATE")
    check(done.split()[1] == b"OK", done)
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    unz = zlib.decompressobj(-15)
    pending = b""

    def zcmd(tag, line):
        nonlocal pending
        r.s.sendall(z.compress(tag + b" " + line + b"\r\n") + z.flush(zlib.Z_SYNC_FLUSH))
        lines = []
        while True:
            while b"\r\n" not in pending:
                chunk = r.s.recv(65536)
                check(chunk, "closed while compressed")
                pending += unz.decompress(chunk)
            line, pending = pending.split(b"\r\n", 1)
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines
    got = zcmd(b"z1", b"NOOP")
    check(got[-1].startswith(b"z1 OK"), got)
    got = zcmd(b"z2", b"FETCH 1 (BODY.PEEK[])")
    check(got[-1].startswith(b"z2 OK") and len(got) >= 2, got)
    # The literal's bytes, line by line, match the uncompressed FETCH's.
    check(b"Subject: one" in b"\r\n".join(got), got)
    got = zcmd(b"z3", b"COMPRESS DEFLATE")
    check(got[-1].startswith(b"z3 NO [COMPRESSIONACTIVE]"), got)
    got = zcmd(b"z4", b"LOGOUT")
    check(got[0].startswith(b"* BYE"), got)
    print("ok")


def scenario_binary():
    # BINARY (RFC 3516): parts with their transfer encoding undone, sizes, literal8 APPEND.
    import base64 as b64
    blob = bytes(range(256)) * 3
    msg = (b"From: a@x.test\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           b"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           b"caf=E9 au lait, a long line that is soft=\r\n broken\r\n"
           b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + b"\r\n".join(b64.encodebytes(blob).split(b"\n")) +
           b"\r\n--b\r\nContent-Type: application/x-thing\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n--b--\r\n")
    r = Raw()
    r.s.sendall(b"b1 APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    line = r.f.readline()
    check(line.startswith(b"b1 OK"), line)
    n = int([l for l in r.ok("SELECT INBOX") if l.endswith("EXISTS")][0].split()[1])

    def fetch(what):
        r.n += 1
        tag = b"t%d" % r.n
        r.s.sendall(tag + b" FETCH %d %s\r\n" % (n, what))
        head = r.f.readline()
        m = re.search(rb"~?\{(\d+)\}\r\n$", head)
        data = r.f.read(int(m.group(1))) if m else None
        rest = head if not m else r.f.readline()
        while not rest.startswith(tag):
            rest = r.f.readline()
        return head, data, rest
    head, data, done = fetch(b"(BINARY.PEEK[2])")
    check(b"BINARY[2] ~{" in head and data == blob, (head, data[:40] if data else None))
    head, data, done = fetch(b"(BINARY.PEEK[1])")
    check(data == b"caf\xe9 au lait, a long line that is soft broken", data)
    head, _, done = fetch(b"(BINARY.SIZE[2] BINARY.SIZE[1])")
    check(b"BINARY.SIZE[2] %d" % len(blob) in head, head)
    head, _, done = fetch(b"(BINARY.PEEK[3])")
    check(b"NO [UNKNOWN-CTE]" in done, (head, done))
    # Partial BINARY (RFC 3516 §4.2): the decoded bytes from the origin, which the answer names.
    head, data, done = fetch(b"(BINARY.PEEK[2]<300.10>)")
    check(head.endswith(b"BINARY[2]<300> ~{10}\r\n") and data == blob[300:310], (head, data))
    check(done.startswith(b"t") and b" OK " in done, done)
    head, data, done = fetch(b"(UID BINARY.PEEK[2]<760.100>)")
    check(b"UID " in head and head.endswith(b"BINARY[2]<760> ~{8}\r\n") and data == blob[760:], (head, data))
    # An APPEND as literal8: bytes a literal may not carry (NUL) arrive intact.
    raw = b"From: a@x.test\r\nSubject: nul\r\n\r\nA\x00B\r\n"
    r.s.sendall(b"b2 APPEND INBOX ~{%d+}\r\n" % len(raw) + raw + b"\r\n")
    line = r.f.readline()
    while not line.startswith(b"b2 "):
        line = r.f.readline()
    check(line.startswith(b"b2 OK"), line)
    n += 1
    head, data, done = fetch(b"(BINARY.PEEK[])")
    check(data == raw, data)
    print("ok")


def scenario_limits():
    # Guessing locks the account (every protocol shares the limiter): even the right
    # password is refused afterwards. A silent unauthenticated session is dropped.
    m = imaplib.IMAP4(*IMAP)
    for _ in range(10):
        no(m.login, BOB, "guess", code="AUTHENTICATIONFAILED")
    no(m.login, BOB, password, code="UNAVAILABLE")
    m.shutdown()
    s = socket.create_connection(IMAP, timeout=10)
    f = s.makefile("rb")
    check(f.readline().startswith(b"* OK"), "greeting")
    start = time.time()
    line = f.readline()
    check(line.startswith(b"* BYE"), f"not dropped: {line}")
    check(f.readline() == b"", "still open after BYE")
    print(f"unauthenticated session dropped after {time.time() - start:.1f}s", file=sys.stderr)
    print("ok")


def scenario_utf8():
    # UTF8=ACCEPT (RFC 6855): names in UTF-8 for a client that enabled it, modified UTF-7
    # for one that did not; the stored name is the same.
    u, o = Raw(), Raw()
    check(u.ok("ENABLE UTF8=ACCEPT") == ["* ENABLED UTF8=ACCEPT"], "enable")
    u.s.sendall('t90 CREATE "Überweisungen/A&B"\r\n'.encode())
    line = u.f.readline()
    check(line.startswith(b"t90 OK"), line)
    got = u.ok('LIST "" "Über*"')
    check('* LIST (\\HasChildren) "/" "Überweisungen"' in got, got)
    check('* LIST (\\HasNoChildren) "/" "Überweisungen/A&B"' in got, got)
    got = o.ok('LIST "" "*berweisungen*"')
    check('* LIST (\\HasChildren) "/" &ANw-berweisungen' in got, got)
    check('* LIST (\\HasNoChildren) "/" &ANw-berweisungen/A&-B' in got, got)
    check(any(l.startswith("* 0 EXISTS") for l in o.ok("SELECT &ANw-berweisungen/A&-B")), "select by UTF-7")
    u.s.sendall('t91 SELECT "Überweisungen/A&B"\r\n'.encode())
    lines = []
    while not (l := u.f.readline()).startswith(b"t91 "):
        lines.append(l)
    check(l.startswith(b"t91 OK"), (lines, l))
    print("ok")


def scenario_concurrent_store():
    # Two sessions adding different flags to one message at the same time: every addition
    # stays (each is applied to the message as the write finds it), and an EXPUNGE racing a
    # COPY never destroys the copy.
    import threading
    a, b = Raw(), Raw()
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    errors = []

    def add(r, prefix):
        try:
            for i in range(40):
                r.ok("STORE 1 +FLAGS.SILENT (%s%d)" % (prefix, i))
        except SystemExit as e:
            errors.append(e)
    ts = [threading.Thread(target=add, args=(a, "$a")), threading.Thread(target=add, args=(b, "$b"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not errors, errors)
    c = Raw()
    c.ok("SELECT INBOX")
    flags = " ".join(c.ok("FETCH 1 (FLAGS)"))
    missing = [f"${p}{i}" for p in "ab" for i in range(40) if f"${p}{i}" not in flags]
    check(not missing, f"lost flag updates: {missing}")
    # EXPUNGE in one session while another copies the same message away: the copy survives.
    uid = int(re.search(r"UID (\d+)", a.ok("FETCH 2 (UID)")[0]).group(1))
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    results = []
    t1 = threading.Thread(target=lambda: results.append(a.cmd("EXPUNGE")))
    t2 = threading.Thread(target=lambda: results.append(b.cmd("UID COPY %d Archive" % uid)))
    t1.start(); t2.start(); t1.join(); t2.join()
    copied = any(b"[COPYUID" in done for _, done in results)
    st = a.ok("STATUS Archive (MESSAGES)")[0]
    if copied:
        check("MESSAGES 1" in st, f"the copy was destroyed by the expunge: {st}")
    print("ok")


def scenario_deep_mime():
    # A message nested 3,000 multiparts deep (one email anyone can send) is shown, over IMAP
    # and JMAP, with its nesting cut short — and the server keeps running.
    depth = 3000
    body = "".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=\"b{i + 1}\"\r\n\r\n" for i in range(depth))
    body += f"--b{depth}\r\nContent-Type: text/plain\r\n\r\nbottom\r\n--b{depth}--\r\n"
    body += "".join(f"--b{i}--\r\n" for i in range(depth - 1, -1, -1))
    raw = ("From: a@x.test\r\nTo: alice@example.test\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n' + body).encode()
    s = smtplib.SMTP(*hp(smtp_hp), timeout=30)
    s.sendmail("a@x.test", [ALICE], raw)
    s.quit()
    m = login()
    n = int(ok(m.select("INBOX"), "SELECT")[0])
    bs = ok(m.fetch(str(n), "(BODYSTRUCTURE BODY)"), "FETCH BODYSTRUCTURE")[0].decode()
    check("OCTET-STREAM" in bs, bs[:300])
    acc = account_id()
    got = jmap([["Email/query", {"accountId": acc, "filter": {"subject": "deep"}}, "q"],
                ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                               "properties": ["bodyStructure", "textBody", "attachments"]}, "g"]])
    check(got[1][0] == "Email/get" and len(got[1][1]["list"]) == 1, str(got)[:300])
    check(ok(m.noop(), "NOOP after") is not None, "server alive")
    m.logout()
    print("ok")


def scenario_tls():
    # Loopback is not trusted in this configuration: no password before STARTTLS.
    m = imaplib.IMAP4(*IMAP)
    check("LOGINDISABLED" in m.capabilities and "STARTTLS" in m.capabilities, m.capabilities)
    no(m.login, ALICE, password, code="PRIVACYREQUIRED")
    ok(m.starttls(ssl_context=tls_context()), "STARTTLS")
    check("LOGINDISABLED" not in m.capabilities and "STARTTLS" not in m.capabilities, m.capabilities)
    ok(m.login(ALICE, password), "login after STARTTLS")
    ok(m.select("INBOX"), "SELECT")
    m.logout()
    # Port 993's role: TLS from the first byte.
    m = imaplib.IMAP4_SSL(*IMAPS, ssl_context=tls_context())
    check("STARTTLS" not in m.capabilities, m.capabilities)
    ok(m.login(ALICE, password), "login over implicit TLS")
    check(int(ok(m.select("INBOX"), "SELECT")[0]) >= 1, "mail over TLS")
    m.logout()
    print("ok")

def scenario_rev2():
    # IMAP4rev2 (RFC 9051) and the extensions it folds in that imap-codec does not parse:
    # ESEARCH (RFC 4731), SEARCHRES (RFC 5182), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819).
    a = Raw()
    caps = " ".join(a.ok("CAPABILITY")).upper()
    for c in ["IMAP4REV1", "IMAP4REV2", "ESEARCH", "SEARCHRES", "LIST-EXTENDED", "LIST-STATUS"]:
        check(" " + c in caps, f"{c} not in {caps}")
    a.ok("SELECT INBOX")
    tag = lambda: f"t{a.n + 1}"
    t = tag()
    check(a.ok("SEARCH RETURN (MIN MAX COUNT) ALL") == [f'* ESEARCH (TAG "{t}") MIN 1 MAX 3 COUNT 3'], "esearch")
    uids = [int(re.search(r"UID (\d+)", l).group(1)) for l in a.ok("FETCH 1:* (UID)")]
    t = tag()
    got = a.ok("UID SEARCH RETURN () ALL")
    check(got == [f'* ESEARCH (TAG "{t}") UID ALL {uids[0]}:{uids[2]}'], got)
    t = tag()
    check(a.ok("SEARCH RETURN (MIN COUNT) SUBJECT no-such-subject") == [f'* ESEARCH (TAG "{t}") COUNT 0'], "count 0")
    _, done = a.cmd("SEARCH RETURN (BOGUS) ALL")
    check(b" BAD " in done, done)
    # SEARCHRES: `$` names what SEARCH RETURN (SAVE) found.
    check(a.ok("SEARCH RETURN (SAVE) 2:3") == [], "SAVE alone answers nothing")
    got = a.ok("FETCH $ (UID)")
    check([l.split()[1] for l in got] == ["2", "3"], got)
    got = a.ok("UID STORE $ +FLAGS.SILENT (\\Flagged)")
    check(got == [], got)
    t = tag()
    check(a.ok("SEARCH RETURN (ALL) FLAGGED NOT $") == [f'* ESEARCH (TAG "{t}")'], "nothing else flagged")
    t = tag()
    check(a.ok("UID SEARCH RETURN (ALL) UID $") == [f'* ESEARCH (TAG "{t}") UID ALL {uids[1]}:{uids[2]}'], "UID $")
    # SAVE with MIN alone keeps the lowest only.
    a.ok("SEARCH RETURN (SAVE MIN) ALL")
    check([l.split()[1] for l in a.ok("FETCH $ (FLAGS)")] == ["1"], "SAVE MIN")
    # An expunged message leaves the saved set; an empty set acts on nothing.
    a.ok("SEARCH RETURN (SAVE) 1")
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    a.ok("EXPUNGE")
    check(a.ok("FETCH $ (FLAGS)") == [], "expunged message left $")
    check(a.ok("UID MOVE $ Trash") == [], "empty $ moves nothing")
    a.ok("SEARCH RETURN (SAVE) SUBJECT no-such-subject")
    check(a.ok("SEARCH $") == ["* SEARCH"], "empty $ in SEARCH")
    _, done = a.cmd("FETCH $ (FLAGS")
    check(b" BAD " in done, done)
    a.ok("NOOP")
    # LIST-EXTENDED and LIST-STATUS.
    for name in ["Proj", "Proj/A", "Proj/B"]:
        a.ok(f'CREATE "{name}"')
    a.ok('UNSUBSCRIBE "Proj"')
    a.ok('UNSUBSCRIBE "Proj/B"')
    a.ok('SUBSCRIBE "Proj/A"')
    got = a.ok('LIST (SUBSCRIBED) "" "Proj*"')
    check(len(got) == 1 and "Proj/A" in got[0] and "\\Subscribed" in got[0], got)
    got = a.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    proj = [l for l in got if l.endswith('"/" Proj ("CHILDINFO" ("SUBSCRIBED"))')]
    check(len(proj) == 1 and "\\Subscribed" not in proj[0], got)
    _, done = a.cmd('LIST (RECURSIVEMATCH) "" "*"')
    check(b" BAD " in done, done)
    got = a.ok('LIST "" ("INBOX" "Proj/%") RETURN (SUBSCRIBED STATUS (MESSAGES UNSEEN DELETED))')
    check(len(got) == 6, got)
    check(got[0].startswith("* LIST") and got[0].endswith("INBOX"), got)
    check(re.match(r"\* STATUS INBOX \(MESSAGES 2 UNSEEN \d+ DELETED 0\)$", got[1]), got)
    check('"/" Proj/A' in got[2] and "\\Subscribed" in got[2], got)
    check(got[3].startswith('* STATUS Proj/A (MESSAGES 0'), got)
    check(got[4].endswith('"/" Proj/B') and "\\Subscribed" not in got[4], got)
    got = a.ok('LIST (SPECIAL-USE) "" "*"')
    check(got and all("\\" in l.split(")")[0] for l in got) and any("\\Trash" in l for l in got), got)
    check(not any("Proj" in l for l in got), got)
    # A parent listed only for a subscribed child gets no STATUS, and is not listed when
    # the patterns list that child anyway (RFC 5258 §3.5, RFC 5819 §2).
    got = a.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (STATUS (MESSAGES))')
    check(any(l.endswith('"/" Proj ("CHILDINFO" ("SUBSCRIBED"))') for l in got), got)
    check(not any(l.startswith("* STATUS Proj") for l in got), got)
    got = a.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "Proj*"')
    check(len(got) == 1 and "Proj/A" in got[0], got)
    # A pattern in a synchronising literal, options after it.
    a.s.sendall(b'x2 LIST "" {6}\r\n')
    check(a.f.readline().startswith(b"+ "), "continuation")
    a.s.sendall(b"Proj/% RETURN (SUBSCRIBED)\r\n")
    lines = [a.f.readline() for _ in range(3)]
    check(lines[2].startswith(b"x2 OK") and b"Proj/A" in lines[0] and b"\\Subscribed" in lines[0], lines)
    _, done = a.cmd("DELETE Proj")
    check(done.split()[1:3] == [b"NO", b"[HASCHILDREN]"], done)
    # Subscriptions outlive their mailbox and may come before it (RFC 9051 §6.3.9,
    # RFC 5258 §3: \NonExistent).
    a.ok('CREATE "Gone"')
    a.ok('DELETE "Gone"')
    got = a.ok('LSUB "" "Gone"')
    check(got == ['* LSUB (\\Noselect) "/" Gone'], got)
    got = a.ok('LIST (SUBSCRIBED) "" "Gone"')
    check(len(got) == 1 and "\\NonExistent" in got[0] and "\\Subscribed" in got[0], got)
    check(a.ok('LIST "" "Gone"') == [], "a deleted mailbox is listed")
    a.ok('SUBSCRIBE "Later/Box"')
    # Parents of subscribed names: "%" lists them, \NonExistent with CHILDINFO where there is
    # no mailbox (RFC 5258 §3.5), and LSUB \Noselect where not subscribed (RFC 3501 §6.3.9).
    got = a.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    check('* LIST (\\NonExistent) "/" Later ("CHILDINFO" ("SUBSCRIBED"))' in got, got)
    got = a.ok('LSUB "" "%"')
    check('* LSUB (\\Noselect) "/" Later' in got and '* LSUB (\\Noselect) "/" Proj' in got, got)
    check(not any("Later/Box" in l or "Proj/A" in l for l in got), got)
    got = a.ok('LSUB "" "*"')
    check('* LSUB (\\Noselect) "/" Later/Box' in got and not any(l.endswith(" Later") for l in got), got)
    got = a.ok('LIST (SUBSCRIBED) "" "Later/*"')
    check(len(got) == 1 and "\\NonExistent" in got[0] and got[0].endswith("Later/Box"), got)
    a.ok('CREATE "Later/Box"')
    got = a.ok('LIST (SUBSCRIBED) "" "Later/*"')
    check(len(got) == 1 and "\\NonExistent" not in got[0] and "\\Subscribed" in got[0], got)
    a.ok('UNSUBSCRIBE "Gone"')
    check(a.ok('LSUB "" "Gone"') == [], "still subscribed")
    _, done = a.cmd('UNSUBSCRIBE "Never"')
    check(done.split()[1:3] == [b"NO", b"[NONEXISTENT]"], done)
    # `$` in SORT.
    a.ok("SELECT INBOX")
    a.ok("SEARCH RETURN (SAVE) 2")
    got = a.ok("SORT (SUBJECT) UTF-8 $")
    check(got == ["* SORT 2"], got)
    # IMAP4rev2 on: SELECT names the mailbox with LIST, no RECENT, SEARCH answers ESEARCH,
    # STATUS DELETED, UTF-8 mailbox names.
    b = Raw()
    check(b.ok("ENABLE IMAP4rev2") == ["* ENABLED IMAP4rev2"], "enable")
    sel = b.ok("SELECT INBOX")
    check(any(l.startswith("* LIST (") and l.endswith('"/" INBOX') for l in sel), sel)
    check(not any("RECENT" in l for l in sel), sel)
    t = f"t{b.n + 1}"
    check(b.ok("SEARCH ALL") == [f'* ESEARCH (TAG "{t}") ALL 1:2'], "rev2 search")
    b.s.sendall(b"x1 APPEND INBOX {30+}\r\nFrom: x@y.test\r\nSubject: n\r\n\r\n\r\n")
    line = b.f.readline()
    check(line == b"* 3 EXISTS\r\n", line)
    line = b.f.readline()
    check(line.startswith(b"x1 OK [APPENDUID"), f"no RECENT under rev2: {line}")
    check(not any("\\Recent" in l for l in b.ok("FETCH 1:* (FLAGS)")), "no \\Recent under rev2")
    b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    got = b.ok("STATUS INBOX (DELETED MESSAGES)")
    check(got == ["* STATUS INBOX (DELETED 1 MESSAGES 3)"], got)
    b.ok('CREATE "Grüße"')
    got = b.ok('LIST "" "Gr*"')
    check(got == ['* LIST (\\HasNoChildren) "/" "Grüße"'], got)
    check(any("Gr&APwA3w-e" in l for l in a.ok('LIST "" "Gr*"')), "rev1 sessions see modified UTF-7")
    # An ASCII name with "&" is itself under UTF-8 names, "&-" in modified UTF-7.
    b.ok('CREATE "R&D"')
    check(b.ok('LIST "" "R*"') == ['* LIST (\\HasNoChildren) "/" R&D'], "R&D in UTF-8")
    b.ok('EXAMINE "R&D"')
    check(a.ok('LIST "" "R*"') == ['* LIST (\\HasNoChildren) "/" R&-D'], "R&D in UTF-7")
    print("ok")

def filler(size):
    head = "From: x@y.test\r\nSubject: filler\r\n\r\n"
    return head + "x" * (size - len(head) - 2) + "\r\n"


def scenario_recent_before():
    a = Raw()
    check("* 3 RECENT" in a.ok("SELECT INBOX"), "recent to the first session")
    print("ok")


def scenario_recent_after():
    # After a restart: what a session was shown before is recent to nobody; new mail is
    # recent to the first session that sees it, and STATUS counts what nobody saw.
    b, c = Raw(), Raw()
    sel = b.ok("SELECT INBOX")
    check("* 3 EXISTS" in sel and "* 0 RECENT" in sel, sel)
    check(c.ok("STATUS INBOX (RECENT)") == ["* STATUS INBOX (RECENT 0)"], "status")
    send_smtp("after the restart")
    check(c.ok("STATUS INBOX (RECENT)") == ["* STATUS INBOX (RECENT 1)"], "status: one new")
    got = b.ok("NOOP")
    check(got == ["* 4 EXISTS", "* 1 RECENT"], got)
    check(c.ok("STATUS INBOX (RECENT)") == ["* STATUS INBOX (RECENT 0)"], "status: claimed")
    print("ok")


def scenario_quota():
    # QUOTA (RFC 9208) with a limit 4 KiB above alice's use: the root "" reports STORAGE in
    # KiB; a message that does not fit is refused with [OVERQUOTA], one that fits is filed;
    # STATUS DELETED-STORAGE; EXPUNGE gives the bytes back.
    a = Raw()
    caps = " ".join(a.ok("CAPABILITY")).upper().split()
    check("QUOTA" in caps and "QUOTA=RES-STORAGE" in caps, caps)

    def quota():
        got = a.ok("GETQUOTAROOT INBOX")
        check(got[0] == '* QUOTAROOT INBOX ""', got)
        m = re.fullmatch(r'\* QUOTA "" \(STORAGE (\d+) (\d+)\)', got[1])
        check(m and len(got) == 2, got)
        check(a.ok('GETQUOTA ""') == [got[1]], "GETQUOTA agrees")
        return int(m[1]), int(m[2])

    used, limit = quota()
    check(limit - used in (3, 4), (used, limit))
    _, done = a.cmd('GETQUOTA "elsewhere"')
    check(done.split()[1:3] == [b"NO", b"[NONEXISTENT]"], done)
    _, done = a.cmd('SETQUOTA "" (STORAGE 1)')
    check(done.split()[1:3] == [b"NO", b"[NOPERM]"], done)
    big = filler(8000)
    _, done = a.cmd(f"APPEND INBOX {{{len(big)}+}}\r\n{big}")
    check(done.split()[1:3] == [b"NO", b"[OVERQUOTA]"], done)
    small = filler(1500)
    _, done = a.cmd(f"APPEND INBOX {{{len(small)}+}}\r\n{small}")
    check(b" OK [APPENDUID" in done, done)
    check(quota()[0] in (used + 1, used + 2), "1500 bytes more")
    a.ok("SELECT INBOX")
    a.ok("STORE 4 +FLAGS.SILENT (\\Deleted)")
    got = a.ok("STATUS INBOX (DELETED DELETED-STORAGE)")
    check(got == ["* STATUS INBOX (DELETED 1 DELETED-STORAGE 1500)"], got)
    a.ok("EXPUNGE")
    check(quota()[0] == used, "EXPUNGE gave the bytes back")
    # The same quota over JMAP (RFC 9425), in bytes.
    q = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:quota"]
    acc = account_id()
    got = jmap([["Quota/get", {"accountId": acc, "ids": None}, "g"],
                ["Quota/query", {"accountId": acc, "filter": {"type": "Mail"}}, "q"],
                ["Quota/changes", {"accountId": acc, "sinceState": "0"}, "c"]], using=q)
    lst = got[0][1]["list"]
    check(len(lst) == 1 and lst[0]["resourceType"] == "octets" and lst[0]["scope"] == "account"
          and lst[0]["types"] == ["Mail"], got)
    check(lst[0]["hardLimit"] // 1024 == limit and -(-lst[0]["used"] // 1024) == used, (lst, used, limit))
    check(got[1][1]["ids"] == ["storage"] and got[2][1]["updated"] == ["storage"], got)
    state = got[0][1]["state"]
    got = jmap([["Quota/changes", {"accountId": acc, "sinceState": state}, "c"]], using=q)
    check(got[0][1]["updated"] == [] and got[0][1]["newState"] == state, got)
    print("ok")


def scenario_quota_full():
    # alice's limit is what she uses: SMTP refuses her at RCPT with 452 4.2.2 (the sender
    # keeps the message), IMAP APPEND with [OVERQUOTA], JMAP Email/set with overQuota; bob,
    # on the same transaction, still gets his copy.
    a = Raw()
    msg = filler(200)
    _, done = a.cmd(f"APPEND INBOX {{{len(msg)}+}}\r\n{msg}")
    check(done.split()[1:3] == [b"NO", b"[OVERQUOTA]"], done)
    s = smtplib.SMTP(*hp(smtp_hp), timeout=10)
    refused = s.sendmail("carol@other.example", [ALICE, BOB], msg.encode())
    check(refused.get(ALICE, (0,))[0] == 452 and b"4.2.2" in refused[ALICE][1], refused)
    s.quit()
    acc = account_id()
    inbox = jmap([["Mailbox/query", {"accountId": acc, "filter": {"role": "inbox"}}, "q"]])[0][1]["ids"][0]
    got = jmap([["Email/set", {"accountId": acc, "create": {"n": {
        "mailboxIds": {inbox: True}, "subject": "s", "from": [{"email": ALICE}],
        "bodyValues": {"b": {"value": "hello"}}, "textBody": [{"partId": "b", "type": "text/plain"}]}}}, "s"]])
    check(got[0][1]["notCreated"]["n"]["type"] == "overQuota", got)
    print("ok")

# Messages whose From/To/Cc/Subject the text index must find as the exact check does:
# encoded words, the Kelvin sign (lowercase k), a capital I with a dot, quotes.
TEXT_INDEX_MESSAGES = [
    ("juergen", "From: =?UTF-8?Q?J=C3=BCrgen_=C3=9Cberall?= <juergen@example.org>\r\n"
                "To: Alice <alice@example.test>\r\nCc: Neil Brown <neilb@suse.example>\r\n"
                "Subject: RAID resync stalls\r\n"),
    ("kelvin", "From: =?UTF-8?Q?=E2=84=AAelvin_Smith?= <ks@example.org>\r\n"
               "To: Alice <alice@example.test>\r\nSubject: the \"quoted\" word\r\n"),
    ("istanbul", "From: =?UTF-8?Q?=C4=B0stanbul_Office?= <office@example.org>\r\n"
                 "To: ops@example.org, Alice <alice@example.test>\r\nSubject: Re: raid\r\n"),
    ("gone", "From: Kelvin Gone <gone@example.org>\r\nTo: alice@example.test\r\n"
             "Subject: to be expunged\r\n"),
]

TEXT_INDEX_SEARCHES = [
    (["FROM", "jürgen"], ["juergen"]),
    (["FROM", "ÜBERALL"], ["juergen"]),
    (["FROM", "ü"], ["juergen"]),
    (["CC", "neil brown"], ["juergen"]),
    (["CC", "ne"], ["juergen"]),
    (["FROM", "kelvin"], ["kelvin"]),
    (["SUBJECT", '"quoted"'], ["kelvin"]),
    (["FROM", "stanbul office"], ["istanbul"]),
    (["TO", "ops@example"], ["istanbul"]),
    (["SUBJECT", "raid"], ["istanbul", "juergen"]),
    (["OR", "FROM", "kelvin", "FROM", "office"], ["istanbul", "kelvin"]),
    (["FROM", "example.org", "NOT", "FROM", "kelvin"], ["istanbul", "juergen"]),
    (["FROM", "nobody-at-all"], []),
]


def text_index_found(m, crit):
    m.literal = crit[-1].encode()
    data = ok(m.uid("SEARCH", "CHARSET", "UTF-8", *crit[:-1]), f"SEARCH {crit}")
    uids = data[0].split()
    if not uids:
        return []
    data = ok(m.uid("FETCH", b",".join(uids), "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"), "FETCH ids")
    return sorted(re.search(rb"<([a-z]+)@index.test>", d[1])[1].decode() for d in data if isinstance(d, tuple))


def text_index_check():
    m = login()
    ok(m.select("INBOX"), "SELECT")
    for crit, want in TEXT_INDEX_SEARCHES:
        got = text_index_found(m, crit)
        check(got == want, f"SEARCH {crit}: {got}, expected {want}")
    # JMAP's filters go through the same index.
    acc = account_id()
    got = jmap([["Email/query", {"accountId": acc, "filter": {"from": "Jürgen"}}, "q"]])
    check(len(got[0][1]["ids"]) == 1, got)
    m.logout()


def scenario_text_index_fill():
    m = login()
    for name, head in TEXT_INDEX_MESSAGES:
        msg = f"{head}Message-ID: <{name}@index.test>\r\n\r\nbody\r\n".encode()
        ok(m.append("INBOX", None, None, msg), f"APPEND {name}")
    ok(m.select("INBOX"), "SELECT")
    uid = ok(m.uid("SEARCH", "HEADER", "Message-ID", "gone@index.test"), "SEARCH gone")[0]
    ok(m.uid("STORE", uid, "+FLAGS", "(\\Deleted)"), "STORE")
    ok(m.expunge(), "EXPUNGE")
    m.logout()
    text_index_check()
    print("ok")


def scenario_text_index_check():
    text_index_check()
    print("ok")


def scenario_many():
    # More messages than one read batch of the server's FETCH (256): every body comes back,
    # whole and in order, whatever batch it was read in.
    m = login()
    ok(m.create("Many"), "CREATE")
    bodies = [f"Subject: many {i}\r\n\r\n{'line of message %d ' % i * (i % 50 + 1)}\r\n".encode()
              for i in range(600)]
    for b in bodies:
        ok(m.append("Many", None, None, b), "APPEND")
    ok(m.select("Many", readonly=True), "EXAMINE")
    data = ok(m.fetch("1:*", "(BODY.PEEK[])"), "FETCH 1:* BODY.PEEK[]")
    got = [d[1] for d in data if isinstance(d, tuple)]
    check(len(got) == len(bodies), f"{len(got)} bodies of {len(bodies)}")
    for i, (g, b) in enumerate(zip(got, bodies)):
        check(g == b, f"message {i + 1} differs: {g[:60]!r}")
    m.logout()
    print("ok")


{"many": scenario_many, "text_index_fill": scenario_text_index_fill, "text_index_check": scenario_text_index_check,
 "session": scenario_session, "recent_before": scenario_recent_before,
 "recent_after": scenario_recent_after, "quota": scenario_quota, "quota_full": scenario_quota_full, "rev2": scenario_rev2, "idle": scenario_idle, "tls": scenario_tls,
 "two_sessions": scenario_two_sessions, "condstore": scenario_condstore,
 "qresync": scenario_qresync, "sort_thread": scenario_sort_thread,
 "compress": scenario_compress, "binary": scenario_binary,
 "limits": scenario_limits, "utf8": scenario_utf8,
 "concurrent_store": scenario_concurrent_store, "deep_mime": scenario_deep_mime}[scenario]()
