"""Independent JMAP/HTTP client for mailroom's end-to-end tests.

usage: jmap_client.py SCENARIO HOST:PORT ALICE_PASSWORD BOB_PASSWORD [ARGS...]
Each scenario asserts and exits non-zero with a message on the first failure.
Only the standard library, except the `jmapc` scenario (PyPI jmapc).
"""
import base64
import http.client
import json
import sys
import time

USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Http:
    def __init__(self, hostport, user=None, password=None):
        self.hostport = hostport
        self.auth = None
        if user is not None:
            self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection(self.hostport, timeout=10)
        h = dict(headers or {})
        if self.auth:
            h["Authorization"] = self.auth
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        headers = {}
        for k, v in r.getheaders():
            # Repeated headers (several WWW-Authenticate challenges) are joined, as RFC 9110 allows.
            headers[k.lower()] = headers[k.lower()] + ", " + v if k.lower() in headers else v
        return r.status, headers, data

    def api(self, calls, using=USING):
        status, headers, data = self.request("POST", "/jmap/api", {"using": using, "methodCalls": calls})
        check(status == 200, f"api status {status}: {data[:300]!r}")
        return json.loads(data)["methodResponses"]


def session(h):
    status, _, data = h.request("GET", "/jmap/session")
    check(status == 200, f"session status {status}")
    return json.loads(data)


def protocol(hostport, alice_pw, bob_pw, expected_subjects):
    anon = Http(hostport)
    status, _, body = anon.request("GET", "/healthz")
    check(status == 200 and body == b"ok\n", "healthz")
    status, _, body = anon.request("GET", "/readyz")
    check(status == 200, f"readyz {status}")
    status, headers, body = anon.request("GET", "/jmap/session")
    check(status == 401, f"no credentials: {status}")
    check(headers.get("content-type") == "application/problem+json", "401 is problem json")
    challenges = headers.get("www-authenticate", "")
    check(challenges.startswith("Basic") and "Bearer" in challenges, f"401 names Basic and Bearer: {challenges}")
    problem = json.loads(body)
    check(problem["status"] == 401 and problem["type"], f"problem body {problem}")
    status, _, _ = Http(hostport, "alice@example.test", "wrong password").request("GET", "/jmap/session")
    check(status == 401, "wrong password")
    status, headers, _ = anon.request("GET", "/.well-known/jmap")
    check(status in (301, 302, 307, 308) and headers.get("location") == "/jmap/session", "well-known redirect")
    status, _, _ = anon.request("GET", "/no/such/path")
    check(status == 404, "unknown path 404")

    alice = Http(hostport, "alice@example.test", alice_pw)
    s = session(alice)
    acc = s["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    check(acc in s["accounts"], "primary account listed")
    check(s["apiUrl"].endswith("/jmap/api"), "apiUrl")
    for cap in USING:
        check(cap in s["capabilities"], f"capability {cap}")
    check(s["username"] == "alice@example.test", "username")
    max_set = s["capabilities"]["urn:ietf:params:jmap:core"]["maxObjectsInSet"]
    check(max_set > 0, "Email/set exists, so maxObjectsInSet is not 0")

    # Request-level errors: problem JSON with the RFC's type.
    for body, kind in [("nope", "notJSON"), ('{"using": 1}', "notRequest")]:
        status, headers, data = alice.request("POST", "/jmap/api", body, {"Content-Type": "application/json"})
        check(status == 400 and json.loads(data)["type"] == f"urn:ietf:params:jmap:error:{kind}", f"{kind}: {status} {data!r}")
    status, _, data = alice.request("POST", "/jmap/api", {"using": ["urn:example:nope"], "methodCalls": []})
    check(status == 400 and json.loads(data)["type"] == "urn:ietf:params:jmap:error:unknownCapability", "unknownCapability")

    inbox = [m for m in alice.api([["Mailbox/get", {"accountId": acc}, "m"]])[0][1]["list"] if m["role"] == "inbox"][0]
    check(inbox["totalEmails"] == len(expected_subjects), f"totalEmails {inbox['totalEmails']}")
    check(inbox["unreadEmails"] == len(expected_subjects), "unreadEmails")

    r = alice.api([
        ["Email/query", {"accountId": acc, "filter": {"inMailbox": inbox["id"]},
                         "sort": [{"property": "receivedAt", "isAscending": False}], "limit": 50, "calculateTotal": True}, "q"],
        ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                       "properties": ["from", "subject", "preview", "receivedAt", "keywords", "hasAttachment"]}, "g"],
        ["Core/echo", {"hello": [1, 2]}, "e"],
        ["Email/frobnicate", {}, "u"],
        ["Email/get", {"accountId": acc, "ids": [], "properties": ["nonsense"]}, "p"],
        ["Email/get", {"accountId": acc, "#ids": {"resultOf": "zz", "name": "Email/query", "path": "/ids"}}, "r"],
        ["Email/query", {"accountId": acc, "filter": {"subjectish": "x"}}, "f"],
    ])
    check(r[0][1]["total"] == len(expected_subjects), "query total")
    subjects = [e["subject"] for e in r[1][1]["list"]]
    check(subjects == expected_subjects, f"subjects newest first: {subjects}")
    check(all("id" in e and "preview" in e for e in r[1][1]["list"]), "ids and previews present")
    check(r[2] == ["Core/echo", {"hello": [1, 2]}, "e"], "echo")
    check(r[3][0] == "error" and r[3][1]["type"] == "unknownMethod", "unknownMethod")
    check(r[4][0] == "error" and r[4][1]["type"] == "invalidArguments", "invalidArguments")
    check(r[5][0] == "error" and r[5][1]["type"] == "invalidResultReference", "invalidResultReference")
    check(r[6][0] == "error" and r[6][1]["type"] == "unsupportedFilter", "unsupportedFilter")

    # Download the raw message of the newest email.
    full = alice.api([["Email/get", {"accountId": acc, "ids": r[0][1]["ids"][:1], "properties": ["blobId"]}, "b"]])
    blob = full[0][1]["list"][0]["blobId"]
    status, headers, data = alice.request("GET", f"/jmap/download/{acc}/{blob}/m.eml?accept=message/rfc822")
    check(status == 200 and b"Subject: " + expected_subjects[0].encode() in data, f"download {status}")
    print("ok")


def isolation(hostport, alice_pw, bob_pw):
    alice = Http(hostport, "alice@example.test", alice_pw)
    bob = Http(hostport, "bob@example.test", bob_pw)
    a_acc = session(alice)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    b_acc = session(bob)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    check(a_acc != b_acc, "distinct accounts")
    a_boxes = alice.api([["Mailbox/get", {"accountId": a_acc}, "m"]])[0][1]["list"]
    a_inbox = [m["id"] for m in a_boxes if m["role"] == "inbox"][0]
    a_ids = alice.api([["Email/query", {"accountId": a_acc}, "q"]])[0][1]["ids"]
    check(len(a_ids) > 0, "alice has mail")
    a_blob = alice.api([["Email/get", {"accountId": a_acc, "ids": a_ids, "properties": ["blobId"]}, "g"]])[0][1]["list"][0]["blobId"]

    # Bob naming Alice's account: accountNotFound, whatever the method.
    for call in [["Mailbox/get", {"accountId": a_acc}, "1"], ["Email/query", {"accountId": a_acc}, "2"],
                 ["Email/get", {"accountId": a_acc, "ids": a_ids}, "3"]]:
        r = bob.api([call])[0]
        check(r[0] == "error" and r[1]["type"] == "accountNotFound", f"{call[0]} on alice's account: {r}")
    # Bob naming Alice's objects in his own account: not found, indistinguishable from absent.
    r = bob.api([["Email/get", {"accountId": b_acc, "ids": a_ids + ["e999999"], "properties": ["subject"]}, "1"],
                 ["Email/query", {"accountId": b_acc, "filter": {"inMailbox": a_inbox}, "calculateTotal": True}, "2"],
                 ["Mailbox/get", {"accountId": b_acc, "ids": [a_inbox]}, "3"]])
    check(r[0][1]["list"] == [] and sorted(r[0][1]["notFound"]) == sorted(a_ids + ["e999999"]), f"email get {r[0]}")
    check(r[1][1]["ids"] == [] and r[1][1]["total"] == 0, f"query {r[1]}")
    check(r[2][1]["list"] == [] and r[2][1]["notFound"] == [a_inbox], f"mailbox get {r[2]}")
    # Bob's own mailboxes are his.
    b_boxes = bob.api([["Mailbox/get", {"accountId": b_acc}, "m"]])[0][1]["list"]
    check(not set(m["id"] for m in b_boxes) & set(m["id"] for m in a_boxes), "no shared mailbox ids")
    # Blobs: Alice's blob is a 404 for Bob by any account id, same as a blob that does not exist.
    for acc in (a_acc, b_acc):
        status, _, _ = bob.request("GET", f"/jmap/download/{acc}/{a_blob}/x.eml")
        check(status == 404, f"bob downloading alice's blob via {acc}: {status}")
    status, _, _ = bob.request("GET", f"/jmap/download/{b_acc}/{'0' * 64}/x.eml")
    check(status == 404, "absent blob")
    status, _, _ = alice.request("GET", f"/jmap/download/{a_acc}/{a_blob}/x.eml")
    check(status == 200, "alice can")
    print("ok")


def eventsource(hostport, alice_pw, bob_pw):
    """Opens the event source as Alice, says 'listening', waits for a StateChange."""
    alice = Http(hostport, "alice@example.test", alice_pw)
    acc = session(alice)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    c = http.client.HTTPConnection(hostport, timeout=15)
    c.request("GET", "/jmap/eventsource?types=*&closeafter=no&ping=0", headers={"Authorization": alice.auth, "Accept": "text/event-stream"})
    r = c.getresponse()
    check(r.status == 200 and r.getheader("content-type", "").startswith("text/event-stream"), f"eventsource {r.status}")
    print("listening", flush=True)
    start = None
    event = None
    while True:
        line = r.fp.readline().decode()
        if start is None:
            start = time.monotonic()
        if not line:
            fail("event stream closed")
        line = line.rstrip("\r\n")
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == "state":
            data = json.loads(line.split(":", 1)[1])
            check(data["@type"] == "StateChange" and acc in data["changed"], f"state change {data}")
            check("Email" in data["changed"][acc], "Email type changed")
            print("state", flush=True)
            return


def changes(hostport, alice_pw, bob_pw, smtp_hostport):
    import smtplib
    alice = Http(hostport, "alice@example.test", alice_pw)
    acc = session(alice)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    s0 = alice.api([["Email/get", {"accountId": acc, "ids": []}, "s"]])[0][1]["state"]
    r = alice.api([["Email/changes", {"accountId": acc, "sinceState": s0}, "c"]])[0][1]
    check(r["created"] == [] and r["newState"] == s0 and not r["hasMoreChanges"], f"no changes yet: {r}")
    boxes = alice.api([["Mailbox/get", {"accountId": acc}, "m"]])[0][1]["list"]
    inbox_id = [m["id"] for m in boxes if m["role"] == "inbox"][0]
    empty_id = [m["id"] for m in boxes if m["role"] == "archive"][0]

    def list_states():
        # The list view reads the state with its page; an empty page must carry it too.
        got = alice.api([["Email/query", {"accountId": acc, "filter": {"inMailbox": inbox_id}, "limit": 5}, "a"],
                         ["Email/query", {"accountId": acc, "filter": {"inMailbox": empty_id}, "limit": 5}, "b"],
                         ["Email/query", {"accountId": acc, "limit": 5}, "c"]])
        check(got[1][1]["ids"] == [], f"archive is empty: {got[1]}")
        return [g[1]["queryState"] for g in got]
    check(list_states() == [s0] * 3, f"list view states at {s0}: {list_states()}")
    s_state = session(alice)["state"]

    host, port = smtp_hostport.rsplit(":", 1)
    smtp = smtplib.SMTP(host, int(port), timeout=10)
    for i, extra in enumerate(["Message-ID: <root@t.test>", "In-Reply-To: <root@t.test>", ""]):
        smtp.sendmail("carol@remote.test", ["alice@example.test"],
                      f"Subject: Re: thread {0 if i < 2 else 9}\r\n{extra}\r\n\r\nbody {i}\r\n".replace("\r\n\r\n\r\n", "\r\n\r\n"))
    smtp.quit()

    # All three at once, then the same in pages of two that end on whole states.
    r = alice.api([["Email/changes", {"accountId": acc, "sinceState": s0}, "c"]])[0][1]
    check(len(r["created"]) == 3 and r["updated"] == [] and r["destroyed"] == [] and not r["hasMoreChanges"], f"all: {r}")
    final = r["newState"]
    check(list_states() == [final] * 3, f"list view states at {final}: {list_states()}")
    # The Session did not change with the mail, so neither did sessionState.
    _, _, raw = alice.request("POST", "/jmap/api", {"using": USING, "methodCalls": []})
    check(json.loads(raw)["sessionState"] == session(alice)["state"] == s_state,
          "sessionState is the Session's state")
    p1 = alice.api([["Email/changes", {"accountId": acc, "sinceState": s0, "maxChanges": 2}, "c"]])[0][1]
    check(len(p1["created"]) == 2 and p1["hasMoreChanges"], f"page 1: {p1}")
    p2 = alice.api([["Email/changes", {"accountId": acc, "sinceState": p1["newState"], "maxChanges": 2}, "c"]])[0][1]
    check(len(p2["created"]) == 1 and not p2["hasMoreChanges"] and p2["newState"] == final, f"page 2: {p2}")
    check(sorted(p1["created"] + p2["created"]) == sorted(r["created"]), "pages add up")

    inbox = [m["id"] for m in alice.api([["Mailbox/get", {"accountId": acc}, "m"]])[0][1]["list"] if m["role"] == "inbox"][0]
    mc = alice.api([["Mailbox/changes", {"accountId": acc, "sinceState": s0}, "c"]])[0][1]
    check(mc["updated"] == [inbox] and mc["updatedProperties"] is None, f"mailbox changes: {mc}")

    # The reply joined the first message's thread; the third is its own.
    got = alice.api([["Email/get", {"accountId": acc, "ids": r["created"], "properties": ["threadId", "subject"]}, "g"],
                     ["Thread/get", {"accountId": acc, "#ids": {"resultOf": "g", "name": "Email/get", "path": "/list/*/threadId"}}, "t"],
                     ["Thread/changes", {"accountId": acc, "sinceState": s0}, "tc"]])
    threads = {t["id"]: t["emailIds"] for t in got[1][1]["list"]}
    check(len(threads) == 2 and sorted(len(v) for v in threads.values()) == [1, 2], f"threads: {threads}")
    check(len(got[2][1]["created"]) == 2, f"thread changes: {got[2][1]}")

    for bad in ["bogus", "99999999"]:
        e = alice.api([["Email/changes", {"accountId": acc, "sinceState": bad}, "c"]])[0]
        check(e[0] == "error" and e[1]["type"] == "cannotCalculateChanges", f"state {bad}: {e}")
    # Bob's log holds none of Alice's ids.
    bob = Http(hostport, "bob@example.test", bob_pw)
    b_acc = session(bob)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    b = bob.api([["Email/changes", {"accountId": b_acc, "sinceState": "0"}, "c"]])[0][1]
    check(not set(b["created"]) & set(r["created"]), "bob sees none of alice's changes")
    print("ok")


def email_set(hostport, alice_pw, bob_pw):
    alice = Http(hostport, "alice@example.test", alice_pw)
    acc = session(alice)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    boxes = {m["role"]: m for m in alice.api([["Mailbox/get", {"accountId": acc}, "m"]])[0][1]["list"]}
    inbox, archive = boxes["inbox"]["id"], boxes["archive"]["id"]
    ids = alice.api([["Email/query", {"accountId": acc, "filter": {"inMailbox": inbox}}, "q"]])[0][1]["ids"]
    check(len(ids) == 3, f"three in inbox: {ids}")
    first, second, third = ids
    s0 = alice.api([["Email/get", {"accountId": acc, "ids": []}, "s"]])[0][1]["state"]

    def counts():
        got = {m["role"]: m for m in alice.api([["Mailbox/get", {"accountId": acc}, "m"]])[0][1]["list"]}
        return got["inbox"]["totalEmails"], got["inbox"]["unreadEmails"], got["archive"]["totalEmails"]

    # Mark one read (patch path) and flag it; move another (whole mailboxIds).
    r = alice.api([["Email/set", {"accountId": acc, "ifInState": s0, "update": {
        first: {"keywords/$seen": True, "keywords/$flagged": True},
        second: {"mailboxIds": {archive: True}},
    }}, "u"]])[0]
    check(r[0] == "Email/set" and set(r[1]["updated"]) == {first, second} and r[1]["notUpdated"] is None, f"set: {r}")
    check(r[1]["oldState"] == s0 and r[1]["newState"] != s0, "state moved")
    check(counts() == (2, 1, 1), f"counts after: {counts()}")
    got = alice.api([["Email/get", {"accountId": acc, "ids": [first, second], "properties": ["keywords", "mailboxIds"]}, "g"]])[0][1]["list"]
    check(got[0]["keywords"] == {"$seen": True, "$flagged": True}, f"keywords {got[0]}")
    check(got[1]["mailboxIds"] == {archive: True}, f"moved {got[1]}")
    # Unset by patch; changes report exactly what moved.
    alice.api([["Email/set", {"accountId": acc, "update": {first: {"keywords/$flagged": None}}}, "u"]])
    got = alice.api([["Email/get", {"accountId": acc, "ids": [first], "properties": ["keywords"]}, "g"]])[0][1]["list"][0]
    check(got["keywords"] == {"$seen": True}, f"unflagged {got}")
    ch = alice.api([["Email/changes", {"accountId": acc, "sinceState": s0}, "c"],
                    ["Mailbox/changes", {"accountId": acc, "sinceState": s0}, "m"]])
    check(sorted(ch[0][1]["updated"]) == sorted([first, second]) and ch[0][1]["created"] == [], f"email changes {ch[0]}")
    check(set(ch[1][1]["updated"]) == {inbox, archive}, f"mailbox changes {ch[1]}")

    # The list view reads its emails with its page for the Email/get right after it; a write
    # in between must be seen, and a get right after the query gets the same facts.
    listq = ["Email/query", {"accountId": acc, "filter": {"inMailbox": inbox}}, "q"]
    getq = ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                          "properties": ["keywords", "mailboxIds", "subject", "threadId"]}, "g"]
    direct = alice.api([["Email/get", {"accountId": acc, "ids": [first, third],
                                       "properties": ["keywords", "mailboxIds", "subject", "threadId"]}, "g"]])[0][1]["list"]
    after = alice.api([listq, getq])[1][1]["list"]
    check(sorted(after, key=lambda e: e["id"]) == sorted(direct, key=lambda e: e["id"]), f"prefetched {after} vs {direct}")
    got = alice.api([listq, ["Email/set", {"accountId": acc, "update": {first: {"keywords/$answered": True}}}, "u"], getq])
    seen = {e["id"]: e["keywords"] for e in got[2][1]["list"]}
    check(seen[first] == {"$seen": True, "$answered": True}, f"write between query and get is seen: {got}")
    alice.api([["Email/set", {"accountId": acc, "update": {first: {"keywords/$answered": None}}}, "u"]])

    # Refusals, each for its own item; the request goes on.
    r = alice.api([["Email/set", {"accountId": acc, "ifInState": s0, "update": {third: {"keywords/$seen": True}}}, "a"],
                   ["Email/set", {"accountId": acc, "create": {"k1": {"mailboxIds": {}}}, "update": {
                       third: {"mailboxIds": {}}, "e999999": {"keywords/$seen": True}, second: {"subject": "new"},
                   }}, "b"]])
    check(r[0][0] == "error" and r[0][1]["type"] == "stateMismatch", f"ifInState: {r[0]}")
    nu = r[1][1]["notUpdated"]
    check(nu[third]["type"] == "invalidProperties" and nu["e999999"]["type"] == "notFound" and nu[second]["type"] == "invalidProperties", f"notUpdated {nu}")
    check(r[1][1]["notCreated"]["k1"]["type"] == "invalidProperties" and r[1][1]["updated"] is None, f"notCreated {r[1]}")

    # Bob cannot touch Alice's email, by any account id.
    bob = Http(hostport, "bob@example.test", bob_pw)
    b_acc = session(bob)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    r = bob.api([["Email/set", {"accountId": b_acc, "update": {third: {"keywords/$seen": True}}, "destroy": [third]}, "x"],
                 ["Email/set", {"accountId": acc, "destroy": [third]}, "y"]])
    check(r[0][1]["notUpdated"][third]["type"] == "notFound" and r[0][1]["notDestroyed"][third]["type"] == "notFound", f"bob: {r[0]}")
    check(r[1][0] == "error" and r[1][1]["type"] == "accountNotFound", f"bob on alice's account: {r[1]}")
    check(counts() == (2, 1, 1), "untouched by bob")

    # Past maxObjectsInSet the call is refused whole.
    limit = session(alice)["capabilities"]["urn:ietf:params:jmap:core"]["maxObjectsInSet"]
    r = alice.api([["Email/set", {"accountId": acc, "destroy": [f"e{900000 + i}" for i in range(limit + 1)]}, "big"]])[0]
    check(r[0] == "error" and r[1]["type"] == "requestTooLarge", f"over maxObjectsInSet: {r}")

    # Destroy.
    r = alice.api([["Email/set", {"accountId": acc, "destroy": [third, "e999999"]}, "d"]])[0][1]
    check(r["destroyed"] == [third] and r["notDestroyed"]["e999999"]["type"] == "notFound", f"destroy {r}")
    gone = alice.api([["Email/get", {"accountId": acc, "ids": [third]}, "g"],
                      ["Email/changes", {"accountId": acc, "sinceState": r["oldState"]}, "c"]])
    check(gone[0][1]["notFound"] == [third], "destroyed email is gone")
    check(gone[1][1]["destroyed"] == [third], f"destroy in changes {gone[1]}")
    check(counts() == (1, 0, 1), f"counts after destroy {counts()}")
    print("ok")


def login(hostport, alice_pw, bob_pw):
    anon = Http(hostport)

    def log_in(address, password):
        return anon.request("POST", "/api/v1/auth/login", {"address": address, "password": password})

    status, headers, body = log_in("alice@example.test", alice_pw)
    check(status == 200, f"login {status} {body!r}")
    t = json.loads(body)
    check(t["token_type"] == "Bearer" and t["expires_in"] == 900 and t["access_token"].count(".") == 2, f"token {t}")

    def with_token(token, path="/jmap/session"):
        return anon.request("GET", path, headers={"Authorization": "Bearer " + token})

    status, _, body = with_token(t["access_token"])
    check(status == 200 and json.loads(body)["username"] == "alice@example.test", f"bearer session {status}")

    status, headers, body = log_in("alice@example.test", "wrong password")
    check(status == 401 and headers.get("content-type") == "application/problem+json", f"wrong password {status}")
    status, _, _ = log_in("nobody@example.test", "whatever123")
    check(status == 401, "unknown user")
    status, _, body = anon.request("POST", "/api/v1/auth/login", "{not json", {"Content-Type": "application/json"})
    check(status == 400 and json.loads(body)["status"] == 400, f"malformed {status}")

    header, payload, sig = t["access_token"].split(".")
    forged = header + "." + payload + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    for bad in [forged, none_header + "." + payload + ".", "garbage", ""]:
        status, _, _ = with_token(bad)
        check(status == 401, f"bad token accepted: {bad[:20]}… → {status}")

    # Bob's token is Bob's: Alice's account is not found.
    status, _, body = log_in("bob@example.test", bob_pw)
    bob_token = json.loads(body)["access_token"]
    a_acc = session(Http(hostport, "alice@example.test", alice_pw))["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    c = http.client.HTTPConnection(hostport, timeout=10)
    c.request("POST", "/jmap/api", json.dumps({"using": USING, "methodCalls": [["Mailbox/get", {"accountId": a_acc}, "0"]]}),
              {"Authorization": "Bearer " + bob_token, "Content-Type": "application/json"})
    r = json.loads(c.getresponse().read())["methodResponses"][0]
    check(r[0] == "error" and r[1]["type"] == "accountNotFound", f"bob's token on alice's account: {r}")
    print("ok")


def ratelimit(hostport, alice_pw, bob_pw):
    anon = Http(hostport)

    def log_in(address, password):
        return anon.request("POST", "/api/v1/auth/login", {"address": address, "password": password})

    for i in range(10):
        status, _, _ = log_in("alice@example.test", f"wrong {i}")
        check(status == 401, f"failure {i}: {status}")
    status, headers, body = log_in("alice@example.test", alice_pw)
    check(status == 429, f"right password after 10 failures: {status}")
    check(int(headers.get("retry-after", "0")) > 0, f"Retry-After: {headers}")
    check(json.loads(body)["status"] == 429, "problem body")
    status, _, _ = Http(hostport, "alice@example.test", alice_pw).request("GET", "/jmap/session")
    check(status == 429, f"Basic is limited too: {status}")
    status, _, _ = log_in("bob@example.test", bob_pw)
    check(status == 200, f"another account from the same address: {status}")
    print("ok")


def jmapc_client(hostport, alice_pw, bob_pw):
    import functools
    import jmapc
    from jmapc.methods import EmailGet, EmailQuery, MailboxGet
    from jmapc.session import Session

    class PlainHttpClient(jmapc.Client):
        # jmapc assumes https; the test server is plain HTTP on loopback.
        @functools.cached_property
        def jmap_session(self):
            r = self.requests_session.get(f"http://{self._host}/.well-known/jmap", timeout=10)
            r.raise_for_status()
            return Session.from_dict(r.json())

    client = PlainHttpClient.create_with_password(hostport, "alice@example.test", alice_pw)
    boxes = client.request(MailboxGet(ids=None))
    inbox = [m for m in boxes.data if m.role == "inbox"][0]
    results = client.request([
        EmailQuery(filter=jmapc.EmailQueryFilterCondition(in_mailbox=inbox.id),
                   sort=[jmapc.Comparator(property="receivedAt", is_ascending=False)], limit=10),
        EmailGet(ids=jmapc.Ref("/ids"), properties=["subject", "receivedAt", "from"]),
    ])
    subjects = [e.subject for e in results[1].response.data]
    print(json.dumps({"inbox_total": inbox.total_emails, "subjects": subjects}))


def import_(hostport, alice_pw, bob_pw):
    alice = Http(hostport, "alice@example.test", alice_pw)
    bob = Http(hostport, "bob@example.test", bob_pw)
    sess = session(alice)
    acc = sess["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    check(sess["capabilities"]["urn:ietf:params:jmap:core"]["maxSizeUpload"] >= 10 * 1024 * 1024, "maxSizeUpload")
    upload = sess["uploadUrl"].replace("{accountId}", acc)
    path = upload.split(hostport, 1)[1]
    raw = b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: imported draft\r\n" \
          b"Message-ID: <draft-1@example.test>\r\n\r\nDraft body\r\n"
    status, _, data = alice.request("POST", path, raw, {"Content-Type": "message/rfc822"})
    check(status == 201, f"upload {status} {data!r}")
    up = json.loads(data)
    check(up["accountId"] == acc and up["size"] == len(raw) and up["type"] == "message/rfc822", f"upload {up}")
    # The uploaded blob downloads as it was sent.
    dl = sess["downloadUrl"].replace("{accountId}", acc).replace("{blobId}", up["blobId"]) \
        .replace("{name}", "d.eml").replace("{type}", "message/rfc822")
    status, _, got = alice.request("GET", dl.split(hostport, 1)[1])
    check(status == 200 and got == raw, f"download of the upload {status}")
    # Bob can neither upload to alice's account nor use alice's blob.
    status, _, _ = bob.request("POST", path, raw, {"Content-Type": "message/rfc822"})
    check(status == 404, f"bob uploads to alice's account: {status}")
    boxes = alice.api([["Mailbox/get", {"accountId": acc}, "0"]])[0][1]["list"]
    drafts = [m["id"] for m in boxes if m["role"] == "drafts"][0]
    archive = [m["id"] for m in boxes if m["role"] == "archive"][0]
    b_acc = session(bob)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    b_drafts = [m["id"] for m in bob.api([["Mailbox/get", {"accountId": b_acc}, "0"]])[0][1]["list"] if m["role"] == "drafts"][0]
    r = bob.api([["Email/import", {"accountId": b_acc, "emails": {"x": {"blobId": up["blobId"], "mailboxIds": {b_drafts: True}}}}, "0"]])
    check(r[0][1]["notCreated"]["x"]["type"] == "blobNotFound", f"bob imports alice's blob: {r}")

    status, _, data = alice.request("POST", path, b"not a message at all", {"Content-Type": "text/plain"})
    junk = json.loads(data)["blobId"]
    r = alice.api([["Email/import", {"accountId": acc, "emails": {
        "d": {"blobId": up["blobId"], "mailboxIds": {drafts: True, archive: True}, "keywords": {"$draft": True, "$seen": True},
              "receivedAt": "2024-01-02T03:04:05Z"},
        "badbox": {"blobId": up["blobId"], "mailboxIds": {"m999999": True}},
        "nobox": {"blobId": up["blobId"], "mailboxIds": {}},
        "junk": {"blobId": junk, "mailboxIds": {drafts: True}},
        "missing": {"blobId": "0" * 64, "mailboxIds": {drafts: True}},
    }}, "0"]])
    res = r[0][1]
    check(set(res["created"]) == {"d"}, f"created {res}")
    nc = res["notCreated"]
    check(nc["badbox"]["type"] == "invalidProperties" and nc["badbox"]["properties"] == ["mailboxIds"], f"badbox {nc}")
    check(nc["nobox"]["type"] == "invalidProperties", f"nobox {nc}")
    check(nc["junk"]["type"] == "invalidEmail", f"junk {nc}")
    check(nc["missing"]["type"] == "blobNotFound", f"missing {nc}")
    check(res["oldState"] != res["newState"], "state moved")
    got = alice.api([["Email/get", {"accountId": acc, "ids": [res["created"]["d"]["id"]],
                                     "properties": ["subject", "mailboxIds", "keywords", "receivedAt", "blobId", "size"]}, "1"]])
    e = got[0][1]["list"][0]
    check(e["subject"] == "imported draft" and e["mailboxIds"] == {drafts: True, archive: True}, f"email {e}")
    check(e["keywords"] == {"$draft": True, "$seen": True} and e["receivedAt"] == "2024-01-02T03:04:05Z", f"email {e}")
    check(e["blobId"] == up["blobId"] and e["size"] == len(raw), f"email {e}")
    print("ok")


SUB_USING = USING + ["urn:ietf:params:jmap:submission"]


def submission(hostport, alice_pw, bob_pw):
    """A draft is uploaded, imported, sent with EmailSubmission/set and filed by the implicit
    Email/set; bob receives it; the refusals of RFC 8621 7.5 come back as SetErrors."""
    alice = Http(hostport, "alice@example.test", alice_pw)
    bob = Http(hostport, "bob@example.test", bob_pw)
    sess = session(alice)
    acc = sess["primaryAccounts"]["urn:ietf:params:jmap:submission"]
    check(sess["accounts"][acc]["accountCapabilities"]["urn:ietf:params:jmap:submission"]["maxDelayedSend"] == 0, "caps")
    # Without the capability in `using`, the methods do not exist.
    r = alice.api([["Identity/get", {"accountId": acc}, "0"]])
    check(r[0][0] == "error" and r[0][1]["type"] == "unknownMethod", f"without using {r}")

    ids = alice.api([["Identity/get", {"accountId": acc}, "0"]], SUB_USING)[0][1]
    by_email = {i["email"]: i["id"] for i in ids["list"]}
    check(set(by_email) == {"alice@example.test", "team@example.test"}, f"identities {ids}")
    one = alice.api([["Identity/get", {"accountId": acc, "ids": [by_email["team@example.test"], "inope"]}, "0"]], SUB_USING)[0][1]
    check([i["email"] for i in one["list"]] == ["team@example.test"] and one["notFound"] == ["inope"], f"{one}")
    b_acc = session(bob)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    bob_identity = bob.api([["Identity/get", {"accountId": b_acc}, "0"]], SUB_USING)[0][1]["list"][0]["id"]

    boxes = alice.api([["Mailbox/get", {"accountId": acc}, "0"]])[0][1]["list"]
    role = {m["role"]: m["id"] for m in boxes if m["role"]}
    upload = sess["uploadUrl"].replace("{accountId}", acc).split(hostport, 1)[1]

    def draft(raw, name):
        status, _, data = alice.request("POST", upload, raw, {"Content-Type": "message/rfc822"})
        check(status == 201, f"upload {status}")
        r = alice.api([["Email/import", {"accountId": acc, "emails": {name: {
            "blobId": json.loads(data)["blobId"], "mailboxIds": {role["drafts"]: True}, "keywords": {"$draft": True}}}}, "0"]])
        return r[0][1]["created"][name]["id"]

    raw = b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nBcc: team@example.test\r\n" \
          b"Subject: sent over JMAP\r\nMessage-ID: <jmap-sub-1@example.test>\r\n\r\nHello Bob\r\n"
    status, _, data = alice.request("POST", upload, raw, {"Content-Type": "message/rfc822"})
    blob = json.loads(data)["blobId"]
    # One request: import the draft, submit it by creation id, file it in Sent on success.
    r = alice.api([
        ["Email/import", {"accountId": acc, "emails": {"d1": {
            "blobId": blob, "mailboxIds": {role["drafts"]: True}, "keywords": {"$draft": True}}}}, "0"],
        ["EmailSubmission/set", {"accountId": acc, "create": {"s1": {
            "identityId": by_email["alice@example.test"], "emailId": "#d1"}},
            "onSuccessUpdateEmail": {"#s1": {
                "mailboxIds/" + role["drafts"]: None, "mailboxIds/" + role["sent"]: True,
                "keywords/$draft": None, "keywords/$seen": True}}}, "1"],
    ], SUB_USING)
    check([x[0] for x in r] == ["Email/import", "EmailSubmission/set", "Email/set"], f"responses {r}")
    check(r[2][2] == "1", "the implicit Email/set has the submission's call id")
    email_id = r[0][1]["created"]["d1"]["id"]
    sub = r[1][1]["created"]["s1"]
    check(sub["undoStatus"] == "final" and sub["id"].startswith("s") and sub["threadId"], f"created {sub}")
    check(r[2][1]["updated"] == {email_id: None}, f"implicit update {r[2]}")
    e = alice.api([["Email/get", {"accountId": acc, "ids": [email_id], "properties": ["mailboxIds", "keywords"]}, "0"]])[0][1]["list"][0]
    check(e["mailboxIds"] == {role["sent"]: True} and e["keywords"] == {"$seen": True}, f"filed {e}")

    # Bob has it, without the Bcc header; team@ (alice and bob) got it as a Bcc recipient.
    b_inbox = [m["id"] for m in bob.api([["Mailbox/get", {"accountId": b_acc}, "0"]])[0][1]["list"] if m["role"] == "inbox"][0]
    got = bob.api([["Email/query", {"accountId": b_acc, "filter": {"inMailbox": b_inbox}}, "0"],
                   ["Email/get", {"accountId": b_acc, "#ids": {"resultOf": "0", "name": "Email/query", "path": "/ids"},
                                  "properties": ["subject", "blobId"]}, "1"]])[1][1]["list"]
    mine = [g for g in got if g["subject"] == "sent over JMAP"]
    check(len(mine) == 1, f"bob got it once (deduplicated across To and the team alias): {got}")
    dl = sess["downloadUrl"].replace("{accountId}", b_acc).replace("{blobId}", mine[0]["blobId"]) \
        .replace("{name}", "m.eml").replace("{type}", "message/rfc822")
    status, _, body = bob.request("GET", dl.split(hostport, 1)[1])
    check(status == 200 and b"Hello Bob" in body and b"Bcc:" not in body, f"bob's copy {body!r}")

    # The record: get, query, changes.
    r = alice.api([["EmailSubmission/get", {"accountId": acc, "ids": [sub["id"], "s999999"]}, "0"],
                   ["EmailSubmission/query", {"accountId": acc, "filter": {"emailIds": [email_id]}}, "1"]], SUB_USING)
    got = r[0][1]["list"][0]
    check(got["emailId"] == email_id and got["identityId"] == by_email["alice@example.test"], f"get {got}")
    rcpts = sorted(a["email"] for a in got["envelope"]["rcptTo"])
    check(rcpts == ["bob@example.test", "team@example.test"] and got["envelope"]["mailFrom"]["email"] == "alice@example.test", f"envelope {got}")
    check(got["deliveryStatus"]["bob@example.test"]["delivered"] == "yes", f"status {got}")
    check(r[0][1]["notFound"] == ["s999999"], f"notFound {r[0]}")
    check(r[1][1]["ids"] == [sub["id"]], f"query {r[1]}")
    state = r[0][1]["state"]

    # Sending as the team alias's identity with an explicit envelope; destroyed on success.
    d2 = draft(b"From: team@example.test\r\nTo: bob@example.test\r\nSubject: from the team\r\n\r\nx\r\n", "d2")
    r = alice.api([["EmailSubmission/set", {"accountId": acc, "create": {"t": {
        "identityId": by_email["team@example.test"], "emailId": d2,
        "envelope": {"mailFrom": {"email": "team@example.test"}, "rcptTo": [{"email": "bob@example.test"}]}}},
        "onSuccessDestroyEmail": ["#t"]}, "0"]], SUB_USING)
    check(r[0][1]["created"]["t"]["undoStatus"] == "final" and r[1][1]["destroyed"] == [d2], f"team send {r}")
    ch = alice.api([["EmailSubmission/changes", {"accountId": acc, "sinceState": state}, "0"]], SUB_USING)[0][1]
    check(ch["created"] == [r[0][1]["created"]["t"]["id"]], f"changes {ch}")

    # Refusals: each a SetError, nothing sent, no implicit Email/set.
    d3 = draft(b"From: bob@example.test\r\nTo: bob@example.test\r\nSubject: forged\r\n\r\nx\r\n", "d3")
    d4 = draft(b"From: alice@example.test\r\nSubject: nobody\r\n\r\nx\r\n", "d4")
    d5 = draft(b"From: alice@example.test\r\nTo: ghost@example.test\r\nSubject: ghost\r\n\r\nx\r\n", "d5")
    aid = by_email["alice@example.test"]
    r = alice.api([["EmailSubmission/set", {"accountId": acc, "create": {
        "forged": {"identityId": aid, "emailId": d3},
        "bobs": {"identityId": bob_identity, "emailId": d4},
        "mailfrom": {"identityId": aid, "emailId": d4,
                     "envelope": {"mailFrom": {"email": "bob@example.test"}, "rcptTo": [{"email": "bob@example.test"}]}},
        "nobody": {"identityId": aid, "emailId": d4},
        "ghost": {"identityId": aid, "emailId": d5},
        "noemail": {"identityId": aid, "emailId": "e999999"},
        "bad": {"identityId": aid, "emailId": d4, "sendAt": "2030-01-01T00:00:00Z"},
    }, "onSuccessDestroyEmail": ["#forged", "#ghost"]}, "0"]], SUB_USING)
    check(len(r) == 1, f"no implicit Email/set when nothing went: {r}")
    nc = r[0][1]["notCreated"]
    check(r[0][1]["created"] is None, f"nothing created {r}")
    expect = {"forged": "forbiddenFrom", "bobs": "invalidProperties", "mailfrom": "forbiddenMailFrom",
              "nobody": "noRecipients", "ghost": "invalidRecipients", "noemail": "invalidProperties",
              "bad": "invalidProperties"}
    for k, t in expect.items():
        check(nc[k]["type"] == t, f"{k}: expected {t}, got {nc[k]}")
    check(nc["ghost"]["invalidRecipients"] == ["ghost@example.test"], f"ghost {nc['ghost']}")
    # Bob cannot see alice's submissions nor submit alice's email.
    r = bob.api([["EmailSubmission/get", {"accountId": b_acc, "ids": [sub["id"]]}, "0"],
                 ["EmailSubmission/set", {"accountId": b_acc, "create": {"x": {"identityId": bob_identity, "emailId": email_id}}}, "1"],
                 ["EmailSubmission/get", {"accountId": acc, "ids": [sub["id"]]}, "2"]], SUB_USING)
    check(r[0][1]["notFound"] == [sub["id"]] and r[0][1]["list"] == [], f"bob get {r[0]}")
    check(r[1][1]["notCreated"]["x"]["type"] == "invalidProperties", f"bob submits alice's email {r[1]}")
    check(r[2][1]["type"] == "accountNotFound", f"bob in alice's account {r[2]}")
    # Submissions are final.
    r = alice.api([["EmailSubmission/set", {"accountId": acc, "update": {sub["id"]: {"undoStatus": "canceled"}},
                                             "destroy": [sub["id"], "s999999"]}, "0"]], SUB_USING)[0][1]
    check(r["notUpdated"][sub["id"]]["type"] == "cannotUnsend", f"cancel {r}")
    check(r["notDestroyed"]["s999999"]["type"] == "notFound", f"destroy {r}")

    # Identity/set: create for an own address, refuse another's, edit the default, destroy.
    s0 = alice.api([["Identity/get", {"accountId": acc, "ids": []}, "0"]], SUB_USING)[0][1]["state"]
    r = alice.api([["Identity/set", {"accountId": acc, "create": {
        "t": {"email": "team@example.test", "name": "The Team", "textSignature": "-- \nthe team",
              "replyTo": [{"name": None, "email": "team@example.test"}]},
        "b": {"email": "bob@example.test", "name": "not mine"},
        "x": {"email": "alice@example.test", "mayDelete": True}},
        "update": {by_email["alice@example.test"]: {"name": "Alice Liddell"},
                   by_email["team@example.test"]: {"email": "other@example.test"}},
        "destroy": [by_email["alice@example.test"], "j999999"]}, "0"]], SUB_USING)[0][1]
    check(set(r["created"]) == {"t"} and r["created"]["t"]["id"].startswith("j") and r["created"]["t"]["mayDelete"], f"created {r}")
    check(r["notCreated"]["b"]["type"] == "forbiddenFrom" and r["notCreated"]["x"]["type"] == "invalidProperties", f"{r}")
    check(r["updated"] == {by_email["alice@example.test"]: None}, f"updated {r}")
    check(r["notUpdated"][by_email["team@example.test"]]["type"] == "invalidProperties", f"{r}")
    check(r["notDestroyed"][by_email["alice@example.test"]]["type"] == "forbidden", f"{r}")
    check(r["notDestroyed"]["j999999"]["type"] == "notFound", f"{r}")
    tid = r["created"]["t"]["id"]
    got = {i["id"]: i for i in alice.api([["Identity/get", {"accountId": acc}, "0"]], SUB_USING)[0][1]["list"]}
    check(got[by_email["alice@example.test"]]["name"] == "Alice Liddell" and not got[by_email["alice@example.test"]]["mayDelete"], f"{got}")
    check(got[tid]["email"] == "team@example.test" and got[tid]["textSignature"] == "-- \nthe team"
          and got[tid]["replyTo"] == [{"name": None, "email": "team@example.test"}], f"{got[tid]}")
    ch = alice.api([["Identity/changes", {"accountId": acc, "sinceState": s0}, "0"]], SUB_USING)[0][1]
    check(ch["created"] == [tid] and ch["updated"] == [by_email["alice@example.test"]], f"identity changes {ch}")
    # The created identity sends.
    d6 = draft(b"From: team@example.test\r\nTo: bob@example.test\r\nSubject: from the created identity\r\n\r\nx\r\n", "d6")
    r = alice.api([["EmailSubmission/set", {"accountId": acc, "create": {"k": {"identityId": tid, "emailId": d6}}}, "0"]], SUB_USING)[0][1]
    check(r["created"]["k"]["undoStatus"] == "final", f"send as created identity {r}")
    # Bob can neither see nor change alice's identities.
    r = bob.api([["Identity/get", {"accountId": b_acc, "ids": [tid]}, "0"],
                 ["Identity/set", {"accountId": b_acc, "update": {tid: {"name": "x"}}, "destroy": [tid]}, "1"]], SUB_USING)
    check(r[0][1]["notFound"] == [tid] and r[1][1]["notUpdated"][tid]["type"] == "notFound"
          and r[1][1]["notDestroyed"][tid]["type"] == "notFound", f"bob {r}")
    r = alice.api([["Identity/set", {"accountId": acc, "destroy": [tid]}, "0"],
                   ["Identity/changes", {"accountId": acc, "sinceState": ch["newState"]}, "1"]], SUB_USING)
    check(r[0][1]["destroyed"] == [tid] and r[1][1]["destroyed"] == [tid], f"destroy {r}")
    print("ok")


def bodies(hostport, alice_pw, bob_pw, corpus_dir):
    """Body properties, header forms, part blobs and Email/parse, checked against Python's own
    email package reading the same bytes."""
    import email
    import email.policy
    from email.message import EmailMessage

    alice = Http(hostport, "alice@example.test", alice_pw)
    bob = Http(hostport, "bob@example.test", bob_pw)
    sess = session(alice)
    acc = sess["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    upload = sess["uploadUrl"].replace("{accountId}", acc).split(hostport, 1)[1]

    def download(h, a, blob):
        url = sess["downloadUrl"].replace("{accountId}", a).replace("{blobId}", blob) \
            .replace("{name}", "x").replace("{type}", "application/octet-stream")
        return h.request("GET", url.split(hostport, 1)[1])

    def up(raw):
        status, _, data = alice.request("POST", upload, raw, {"Content-Type": "message/rfc822"})
        check(status == 201, f"upload {status}")
        return json.loads(data)["blobId"]

    inner = EmailMessage()
    inner["From"] = "Carol <carol@example.net>"
    inner["Subject"] = "the forwarded one"
    inner.set_content("inner text\n")
    m = EmailMessage()
    m["From"] = "Alice Ä <alice@example.test>"
    m["To"] = "bob@example.test, Team: dave@example.net, erin@example.net;"
    m["Subject"] = "Grüße, bodies"
    m["Date"] = "Tue, 01 Jul 2003 10:52:37 +0200"
    m["Message-ID"] = "<bodies-1@example.test>"
    m["List-Unsubscribe"] = "<mailto:leave@example.test>, <https://example.test/leave>"
    m["X-Custom"] = "one"
    m.set_content("plain text body \u00e9\n" * 3)
    m.add_alternative("<p>html body</p><img src=\"cid:pic1\">", subtype="html")
    m.get_payload()[1].add_related(b"\x89PNG fake", maintype="image", subtype="png", cid="<pic1>")
    pdf = bytes(range(256)) * 10
    m.add_attachment(pdf, maintype="application", subtype="pdf", filename="r\u00e9port.pdf")
    m.add_attachment(inner)
    raw = m.as_bytes(policy=email.policy.SMTP)
    raw = raw.replace(b"X-Custom: one\r\n", b"X-Custom: one\r\nX-Custom: two\r\n")
    blob = up(raw)
    boxes = alice.api([["Mailbox/get", {"accountId": acc}, "0"]])[0][1]["list"]
    archive = [b["id"] for b in boxes if b["role"] == "archive"][0]
    eid = alice.api([["Email/import", {"accountId": acc, "emails": {"x": {"blobId": blob, "mailboxIds": {archive: True}}}}, "0"]])[0][1]["created"]["x"]["id"]

    props = ["bodyStructure", "textBody", "htmlBody", "attachments", "bodyValues", "headers", "sender", "bcc",
             "header:Subject:asText", "header:To:asGroupedAddresses", "header:To:asAddresses", "header:Date:asDate",
             "header:List-Unsubscribe:asURLs", "header:X-Custom:all", "header:x-custom", "header:Message-ID:asMessageIds",
             "header:X-Absent", "header:X-Absent:all", "header:From"]
    r = alice.api([["Email/get", {"accountId": acc, "ids": [eid], "properties": props, "fetchAllBodyValues": True,
                                  "bodyProperties": ["partId", "blobId", "size", "type", "name", "charset", "disposition", "cid", "header:Content-Type"]}, "0"]])
    e = r[0][1]["list"][0]
    py = email.message_from_bytes(raw, policy=email.policy.default)
    check(e["header:Subject:asText"] == "Grüße, bodies" == str(py["Subject"]), f"subject {e['header:Subject:asText']}")
    groups = e["header:To:asGroupedAddresses"]
    check(groups[0]["name"] is None and groups[0]["addresses"][0]["email"] == "bob@example.test", f"groups {groups}")
    check(groups[1]["name"] == "Team" and [a["email"] for a in groups[1]["addresses"]] == ["dave@example.net", "erin@example.net"], f"groups {groups}")
    check([a["email"] for a in e["header:To:asAddresses"]] == [a.addr_spec for a in py["To"].addresses], f"to {e['header:To:asAddresses']}")
    check(e["header:Date:asDate"] == "2003-07-01T10:52:37+02:00", f"date {e['header:Date:asDate']}")
    check(e["header:List-Unsubscribe:asURLs"] == ["mailto:leave@example.test", "https://example.test/leave"], "urls")
    check(e["header:X-Custom:all"] == [" one", " two"] and e["header:x-custom"] == " two", f"all {e['header:X-Custom:all']}")
    check(e["header:Message-ID:asMessageIds"] == ["bodies-1@example.test"], "msgid")
    check(e["header:X-Absent"] is None and e["header:X-Absent:all"] == [], "absent")
    check(e["sender"] is None and e["bcc"] is None, "sender/bcc")
    check([h["name"] for h in e["headers"]][:3] == [k for k, _ in py.items()][:3], f"headers {e['headers'][:3]}")
    check(e["header:From"].strip() == raw.split(b"From:", 1)[1].split(b"\r\n", 1)[0].decode().strip(), "raw From")

    # The leaves of bodyStructure, in order, against Python's walk (not into the attached message).
    def leaves(p):
        if p.get("subParts"):
            return [x for s in p["subParts"] for x in leaves(s)]
        return [p]
    ours = leaves(e["bodyStructure"])
    theirs = []
    def walk(p):
        # Python counts an attached message as multipart; JMAP keeps it a leaf.
        if p.is_multipart() and p.get_content_maintype() != "message":
            for s in p.iter_parts():
                walk(s)
        else:
            theirs.append(p)
    walk(py)
    check([p["type"] for p in ours] == [p.get_content_type() for p in theirs], f"leaves {[p['type'] for p in ours]}")
    check(e["bodyStructure"]["type"] == "multipart/mixed" and e["bodyStructure"]["partId"] is None, "root")
    check([p["partId"] for p in e["textBody"]] == [ours[0]["partId"]], f"textBody {e['textBody']}")
    check([p["type"] for p in e["htmlBody"]] == ["text/html"], f"htmlBody {e['htmlBody']}")
    check([p["type"] for p in e["attachments"]] == ["image/png", "application/pdf", "message/rfc822"], f"attachments {e['attachments']}")
    att = e["attachments"]
    check(att[0]["cid"] == "pic1" and att[1]["name"] == "r\u00e9port.pdf" and att[1]["disposition"] == "attachment", f"att {att}")
    check(att[1]["size"] == len(pdf) and att[1]["header:Content-Type"].strip().startswith("application/pdf"), f"att {att[1]}")
    check(ours[0]["charset"] == "utf-8", f"charset {ours[0]}")
    # Every leaf's blob downloads as Python decodes it.
    for o, t in zip(ours, theirs):
        status, _, got = download(alice, acc, o["blobId"])
        check(status == 200, f"part {o['partId']} {status}")
        if t.get_content_type() == "message/rfc822":
            check(email.message_from_bytes(got)["Subject"] == "the forwarded one", "attached message")
        elif t.get_content_maintype() == "text":
            check(got.decode(t.get_content_charset() or "ascii") == t.get_content(), f"text part {o['partId']}")
        else:
            check(got == t.get_payload(decode=True), f"binary part {o['partId']}")
        check(len(got) == o["size"] or t.get_content_maintype() == "text", f"size of {o['partId']}")
    status, _, _ = download(bob, session(bob)["primaryAccounts"]["urn:ietf:params:jmap:mail"], att[1]["blobId"])
    check(status == 404, f"bob downloads alice's part: {status}")
    status, _, _ = download(alice, acc, blob + "_9")
    check(status == 404, f"no such part: {status}")
    vals = e["bodyValues"]
    check(vals[ours[0]["partId"]]["value"] == py.get_body(("plain",)).get_content(), "text value")
    check(vals[ours[1]["partId"]]["value"].startswith("<p>html body</p>"), "html value")
    check(all(not v["isTruncated"] and not v["isEncodingProblem"] for v in vals.values()), "flags")

    r = alice.api([["Email/get", {"accountId": acc, "ids": [eid], "properties": ["bodyValues"],
                                  "fetchTextBodyValues": True, "maxBodyValueBytes": 7}, "0"]])
    v = r[0][1]["list"][0]["bodyValues"]
    check(list(v) == [ours[0]["partId"]] and v[ours[0]["partId"]] == {"value": "plain t", "isTruncated": True, "isEncodingProblem": False}, f"truncated {v}")
    # properties: null gives RFC 8621's default list, body lists included.
    r = alice.api([["Email/get", {"accountId": acc, "ids": [eid]}, "0"]])
    check({"textBody", "attachments", "bcc", "preview"} <= set(r[0][1]["list"][0]), "defaults")

    # Email/parse on the attached message's part blob and on an upload; not parsable; not found.
    junk = up(b"\x00\x01 not mail")
    r = alice.api([["Email/parse", {"accountId": acc, "blobIds": [att[2]["blobId"], blob, junk, "0" * 64],
                                    "fetchTextBodyValues": True}, "0"]])[0][1]
    inner_parsed = r["parsed"][att[2]["blobId"]]
    check(inner_parsed["subject"] == "the forwarded one" and inner_parsed["from"][0]["email"] == "carol@example.net", f"inner {inner_parsed}")
    tb = inner_parsed["textBody"][0]
    check(inner_parsed["bodyValues"][tb["partId"]]["value"] == "inner text\r\n", f"inner value {inner_parsed['bodyValues']}")
    status, _, got = download(alice, acc, tb["blobId"])
    check(status == 200 and got == b"inner text\r\n", f"nested part blob {status} {got!r}")
    outer = r["parsed"][blob]
    check(outer["sentAt"] == "2003-07-01T10:52:37+02:00" and outer["hasAttachment"] and "id" not in outer, f"outer {outer.keys()}")
    check(r["notParsable"] == [junk] and r["notFound"] == ["0" * 64], f"parse {r}")

    # Bad arguments are the RFC's errors.
    for args, what in [({"properties": ["header:Subject:asAddresses"]}, "form not allowed"),
                       ({"properties": ["header:From:asNothing"]}, "unknown form"),
                       ({"bodyProperties": ["partId", "nonsense"]}, "body property"),
                       ({"maxBodyValueBytes": 0}, "zero max"),
                       ({"fetchHTMLBodyValues": "yes"}, "not a boolean")]:
        r = alice.api([["Email/get", dict({"accountId": acc, "ids": [eid]}, **args), "0"]])
        check(r[0][0] == "error" and r[0][1]["type"] == "invalidArguments", f"{what}: {r}")

    # The corpus: every message parses; where Python finds no defect and the set is not about
    # broken boundaries (whose reading is a matter of taste), to the same leaves as Python.
    import glob
    lenient = ("/mime4j/", "/malformed/", "/thirdparty/", "/error_emails/")
    paths = sorted(p for p in glob.glob(corpus_dir + "/**/*", recursive=True)
                   if p.endswith((".eml", ".msg", ".txt")) and not any(x in p for x in ("mbox", "/tnef/", "/headers/", "COPYING", "README", "LICENSE")))
    checked = parsed = 0
    for path in paths:
        data = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        b = up(data)
        r = alice.api([["Email/parse", {"accountId": acc, "blobIds": [b], "properties": ["bodyStructure"]}, "0"]])[0][1]
        check(r["notFound"] == [], f"{path}: {r}")
        if r["parsed"] is None:
            continue
        parsed += 1
        py = email.message_from_bytes(data, policy=email.policy.default)
        theirs = []
        defects = []
        def walk2(p):
            defects.extend(p.defects)
            if p.is_multipart() and p.get_content_maintype() != "message":
                for s in p.iter_parts():
                    walk2(s)
            else:
                theirs.append(p.get_content_type())
        walk2(py)
        # An mbox "From " line first is not an RFC 5322 message (Python skips it as the unixfrom).
        if defects or not py.keys() or data.startswith(b"From ") or any(x in path for x in lenient):
            continue
        got = [p["type"] for p in leaves(r["parsed"][b]["bodyStructure"])]
        check(got == theirs, f"{path}: ours {got} python {theirs}")
        checked += 1
    check(parsed >= 350 and checked >= 150, f"only {parsed} parsed, {checked} compared")
    print("ok", parsed, checked)


def query(hostport, alice_pw, bob_pw):
    """Email/query filters, sorts, collapseThreads and windows, checked against a model of the
    same messages evaluated here."""
    import datetime
    alice = Http(hostport, "alice@example.test", alice_pw)
    sess = session(alice)
    acc = sess["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    upload = sess["uploadUrl"].replace("{accountId}", acc).split(hostport, 1)[1]
    boxes = {m["role"]: m["id"] for m in alice.api([["Mailbox/get", {"accountId": acc}, "0"]])[0][1]["list"] if m["role"]}
    people = [("Zoë Ünicode", "zoe@example.net"), ("", "bare@example.org"), ("Adam", "adam@example.test")]
    model = []
    for i in range(14):
        name, addr = people[i % 3]
        to = people[(i + 1) % 3][1]
        subject = ["Quarterly report", "Re: Quarterly report", "lunch", "Invoice 42", "zebra crossing", "Fwd: lunch", "Apples"][i % 7] + f" {i}"
        body = f"Body number {i}. " + ("needle in the haystack " if i % 4 == 0 else "nothing here ") + "x" * (i * 37)
        msgid = f"<q{i}@example.test>"
        hdrs = f"From: {name + ' ' if name else ''}<{addr}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {msgid}\r\n"
        if i % 5 == 1:
            hdrs += f"In-Reply-To: <q{i - 1}@example.test>\r\nReferences: <q{i - 1}@example.test>\r\n"
        if i % 3 == 0:
            hdrs += "Bcc: hidden@example.net\r\nX-Tag: special tag\r\n"
        sent = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(hours=(i * 7) % 13)
        hdrs += "Date: " + sent.strftime("%a, %d %b %Y %H:%M:%S +0000") + "\r\n"
        attach = i % 4 == 2
        if attach:
            raw = (hdrs + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
                   "Content-Type: text/plain\r\n\r\n" + body + "\r\n--zz\r\nContent-Type: application/pdf\r\n"
                   "Content-Disposition: attachment; filename=a.pdf\r\n\r\nPDF\r\n--zz--\r\n").encode()
        else:
            raw = (hdrs + "\r\n" + body + "\r\n").encode()
        keywords = {k: True for k, on in [("$seen", i % 2 == 0), ("$flagged", i % 3 == 1), ("work", i % 5 == 0)] if on}
        received = datetime.datetime(2024, 2, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(minutes=i * 10)
        box = boxes["archive"] if i % 2 == 0 else boxes["drafts"]
        status, _, data = alice.request("POST", upload, raw, {"Content-Type": "message/rfc822"})
        blob = json.loads(data)["blobId"]
        r = alice.api([["Email/import", {"accountId": acc, "emails": {"x": {
            "blobId": blob, "mailboxIds": {box: True}, "keywords": keywords,
            "receivedAt": received.strftime("%Y-%m-%dT%H:%M:%SZ")}}}, "0"]])[0][1]
        c = r["created"]["x"]
        model.append({"id": c["id"], "n": int(c["id"][1:]), "thread": c["threadId"], "from": (name, addr), "to": to,
                      "subject": subject, "body": body, "received": received, "sent": sent, "size": len(raw),
                      "keywords": set(keywords), "box": box, "attach": attach, "bcc": i % 3 == 0,
                      "tag": i % 3 == 0})
    check(len({m["thread"] for m in model}) < len(model), "some messages share a thread")

    def ev(f, m):
        if "operator" in f:
            rs = [ev(c, m) for c in f["conditions"]]
            return {"AND": all(rs), "OR": any(rs), "NOT": not any(rs)}[f["operator"]]
        ok = True
        for k, v in f.items():
            lv = v.lower() if isinstance(v, str) else v
            thread = [x for x in model if x["thread"] == m["thread"]]
            ok &= {
                "inMailbox": lambda: m["box"] == v,
                "inMailboxOtherThan": lambda: m["box"] not in v,
                "before": lambda: m["received"] < datetime.datetime.fromisoformat(v.replace("Z", "+00:00")),
                "after": lambda: m["received"] >= datetime.datetime.fromisoformat(v.replace("Z", "+00:00")),
                "minSize": lambda: m["size"] >= v, "maxSize": lambda: m["size"] < v,
                "hasKeyword": lambda: lv in m["keywords"], "notKeyword": lambda: lv not in m["keywords"],
                "allInThreadHaveKeyword": lambda: all(lv in x["keywords"] for x in thread),
                "someInThreadHaveKeyword": lambda: any(lv in x["keywords"] for x in thread),
                "noneInThreadHaveKeyword": lambda: not any(lv in x["keywords"] for x in thread),
                "hasAttachment": lambda: m["attach"] == v,
                "from": lambda: lv in m["from"][0].lower() or lv in m["from"][1],
                "to": lambda: lv in m["to"], "subject": lambda: lv in m["subject"].lower(),
                "body": lambda: lv in m["body"].lower(), "bcc": lambda: m["bcc"] and lv in "hidden@example.net",
                "text": lambda: any(lv in t for t in [m["from"][0].lower(), m["from"][1], m["to"], m["subject"].lower(), m["body"].lower()])
                                or (m["bcc"] and lv in "hidden@example.net"),
                "header": lambda: m["tag"] and (len(v) == 1 or v[1].lower() in "special tag") if v[0].lower() == "x-tag" else False,
            }[k]()
        return ok

    mine = {"inMailboxOtherThan": [boxes["inbox"]]}
    def q(f, sort=None, **kw):
        full = {"operator": "AND", "conditions": [mine, f]} if f else mine
        args = {"accountId": acc, "filter": full, "calculateTotal": True}
        if sort is not None:
            args["sort"] = sort
        args.update(kw)
        r = alice.api([["Email/query", args, "0"]])[0]
        check(r[0] == "Email/query", f"query {f} {sort} {kw}: {r}")
        return r[1]

    newest = lambda ms: sorted(ms, key=lambda m: (m["received"], m["n"]), reverse=True)
    filters = [
        {}, {"inMailbox": boxes["archive"]}, {"before": "2024-02-01T01:00:00Z"}, {"after": "2024-02-01T01:00:00Z"},
        {"minSize": 400}, {"maxSize": 300}, {"hasKeyword": "$seen"}, {"notKeyword": "$SEEN"}, {"hasKeyword": "work"},
        {"allInThreadHaveKeyword": "$seen"}, {"someInThreadHaveKeyword": "$flagged"}, {"noneInThreadHaveKeyword": "$flagged"},
        {"hasAttachment": True}, {"hasAttachment": False}, {"from": "zoë"}, {"from": "ZOE@"}, {"from": "bare"},
        {"to": "adam@"}, {"subject": "quarterly"}, {"subject": "LUNCH"}, {"body": "needle"}, {"bcc": "hidden"},
        {"text": "needle"}, {"text": "zebra"}, {"text": "hidden@"}, {"header": ["X-Tag"]}, {"header": ["x-tag", "SPECIAL"]},
        {"header": ["X-Tag", "absent"]}, {"hasKeyword": "$seen", "from": "adam"},
        {"operator": "OR", "conditions": [{"body": "needle"}, {"hasAttachment": True}]},
        {"operator": "NOT", "conditions": [{"body": "needle"}, {"subject": "lunch"}]},
        {"operator": "AND", "conditions": [{"operator": "NOT", "conditions": [{"hasKeyword": "$seen"}]},
                                           {"operator": "OR", "conditions": [{"text": "quarterly"}, {"minSize": 500}]}]},
        {"operator": "OR", "conditions": []}, {"operator": "AND", "conditions": []},
    ]
    for f in filters:
        want = [m["id"] for m in newest([m for m in model if ev(f, m)])]
        r = q(f)
        check(r["ids"] == want, f"filter {f}: got {r['ids']} want {want}")
        check(r["total"] == len(want), f"total {f}")

    def key_of(prop, m):
        return {"receivedAt": m["received"], "sentAt": m["sent"], "size": m["size"],
                "subject": __import__("re").sub(r"^((re|fwd):\s*)+", "", m["subject"].lower()),
                "from": (m["from"][0] or m["from"][1]).lower(), "to": m["to"]}[prop]
    for prop in ["receivedAt", "sentAt", "size", "subject", "from", "to"]:
        for asc in [True, False]:
            r = q({}, [{"property": prop, "isAscending": asc}, {"property": "receivedAt", "isAscending": False}])
            want = sorted(newest(model), key=lambda m: key_of(prop, m), reverse=not asc)
            check(r["ids"] == [m["id"] for m in want], f"sort {prop} {asc}: {r['ids']} want {[m['id'] for m in want]}")
    r = q({}, [{"property": "hasKeyword", "keyword": "$flagged", "isAscending": False}, {"property": "size"}])
    want = sorted(model, key=lambda m: (-("$flagged" in m["keywords"]), m["size"]))
    check(r["ids"] == [m["id"] for m in want], "hasKeyword sort")

    # Threads collapse to the first of each in the order asked.
    r = q({}, collapseThreads=True)
    seen, want = set(), []
    for m in newest(model):
        if m["thread"] not in seen:
            seen.add(m["thread"])
            want.append(m["id"])
    check(r["ids"] == want and r["total"] == len(want), f"collapse {r['ids']} want {want}")

    # Windows: position, negative position, anchor with offsets.
    order = [m["id"] for m in newest(model)]
    r = q({}, position=3, limit=4)
    check(r["ids"] == order[3:7] and r["position"] == 3, "position")
    r = q({"hasKeyword": "$seen"}, position=1, limit=2)
    seen_order = [m["id"] for m in newest(model) if "$seen" in m["keywords"]]
    check(r["ids"] == seen_order[1:3] and r["total"] == len(seen_order), "paged SQL filter")
    r = q({}, position=-3)
    check(r["ids"] == order[-3:] and r["position"] == len(order) - 3, f"negative position {r}")
    r = q({}, anchor=order[5], anchorOffset=-2, limit=3)
    check(r["ids"] == order[3:6] and r["position"] == 3, f"anchor {r}")
    r = q({}, anchor=order[1], anchorOffset=-5, limit=2)
    check(r["ids"] == order[0:2] and r["position"] == 0, f"anchor clamped {r}")
    for args, typ in [({"anchor": "e999999"}, "anchorNotFound"), ({"anchor": "zz"}, "anchorNotFound"),
                      ({"sort": [{"property": "allInThreadHaveKeyword", "keyword": "x"}]}, "unsupportedSort"),
                      ({"sort": [{"property": "subject", "collation": "i;klingon"}]}, "unsupportedSort"),
                      ({"filter": {"nonsense": 1}}, "unsupportedFilter"),
                      ({"filter": {"minSize": "big"}}, "invalidArguments"),
                      ({"filter": {"operator": "XOR", "conditions": []}}, "unsupportedFilter"),
                      ({"filter": {"header": []}}, "invalidArguments"),
                      ({"sort": [{"property": "hasKeyword"}]}, "invalidArguments"),
                      ({"collapseThreads": "yes"}, "invalidArguments")]:
        r = alice.api([["Email/query", dict({"accountId": acc}, **args), "0"]])[0]
        check(r[0] == "error" and r[1]["type"] == typ, f"{args}: {r}")
    # SearchSnippet/get by back-reference, as a client shows search results.
    f = {"operator": "OR", "conditions": [{"body": "needle"}, {"subject": "quarterly"}]}
    r = alice.api([["Email/query", {"accountId": acc, "filter": f}, "0"],
                   ["SearchSnippet/get", {"accountId": acc, "filter": f,
                                          "#emailIds": {"resultOf": "0", "name": "Email/query", "path": "/ids"}}, "1"],
                   ["SearchSnippet/get", {"accountId": acc, "filter": {"text": "x"}, "emailIds": ["e999999"]}, "2"]])
    snippets = {x["emailId"]: x for x in r[1][1]["list"]}
    check(set(snippets) == set(r[0][1]["ids"]) and snippets, f"snippets {r[1]}")
    for m in model:
        if m["id"] not in snippets:
            continue
        sn = snippets[m["id"]]
        if "needle" in m["body"]:
            check("<mark>needle</mark>" in sn["preview"], f"preview {sn}")
        else:
            check(sn["preview"] is None, f"no preview {sn}")
        if "quarterly" in m["subject"].lower():
            check(sn["subject"].replace("<mark>Quarterly</mark>", "Quarterly") == m["subject"] and "<mark>" in sn["subject"], f"subject {sn}")
        else:
            check(sn["subject"] is None, f"no subject {sn}")
    check(r[2][1]["notFound"] == ["e999999"] and r[2][1]["list"] == [], f"snippet notFound {r[2]}")

    # Email/copy needs another account, and nobody has one to share.
    r = alice.api([["Email/copy", {"accountId": acc, "fromAccountId": "a999", "create": {}}, "0"],
                   ["Email/copy", {"accountId": acc, "fromAccountId": acc, "create": {}}, "1"]])
    check(r[0][1]["type"] == "fromAccountNotFound" and r[1][1]["type"] == "invalidArguments", f"copy {r}")

    print("ok")


def query_changes(hostport, alice_pw, bob_pw):
    """Email/queryChanges and Mailbox/queryChanges as a caching client uses them: results
    cached, the account changed (imports into a thread, keywords, moves, destroys, mailbox
    renames), the changes spliced in per RFC 8620 §5.6 and compared with a fresh query."""
    alice = Http(hostport, "alice@example.test", alice_pw)
    sess = session(alice)
    acc = sess["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    upload = sess["uploadUrl"].replace("{accountId}", acc).split(hostport, 1)[1]
    boxes = {m["role"]: m["id"] for m in alice.api([["Mailbox/get", {"accountId": acc}, "0"]])[0][1]["list"] if m["role"]}
    counter = [0]

    def add(box, subject, reply_to=None, keywords=None):
        counter[0] += 1
        n = counter[0]
        hdrs = f"From: p{n % 3}@example.net\r\nSubject: {subject}\r\nMessage-ID: <qc{n}@example.test>\r\n"
        if reply_to:
            hdrs += f"In-Reply-To: <qc{reply_to}@example.test>\r\nReferences: <qc{reply_to}@example.test>\r\n"
        raw = (hdrs + f"\r\nbody {n}\r\n").encode()
        _, _, data = alice.request("POST", upload, raw, {"Content-Type": "message/rfc822"})
        r = alice.api([["Email/import", {"accountId": acc, "emails": {"x": {
            "blobId": json.loads(data)["blobId"], "mailboxIds": {box: True},
            "keywords": keywords or {}, "receivedAt": f"2025-03-01T10:{n:02d}:00Z"}}}, "0"]])[0][1]
        return n, r["created"]["x"]["id"]

    def set_(update=None, destroy=None):
        r = alice.api([["Email/set", {"accountId": acc, "update": update or {}, "destroy": destroy or []}, "0"]])[0][1]
        check(not r.get("notUpdated") and not r.get("notDestroyed"), f"set {r}")

    queries = [
        {},
        {"filter": {"inMailbox": boxes["inbox"]}},
        {"filter": {"hasKeyword": "$flagged"}, "sort": [{"property": "subject", "isAscending": True}]},
        {"sort": [{"property": "hasKeyword", "keyword": "$seen", "isAscending": False},
                  {"property": "receivedAt", "isAscending": True}]},
        {"collapseThreads": True},
        {"filter": {"someInThreadHaveKeyword": "$flagged"}},
        {"filter": {"operator": "NOT", "conditions": [{"inMailbox": boxes["archive"]}]}, "collapseThreads": True,
         "sort": [{"property": "size", "isAscending": True}]},
    ]

    def run(q):
        r = alice.api([["Email/query", dict({"accountId": acc, "calculateTotal": True}, **q), "0"]])[0][1]
        check(r["canCalculateChanges"] is True, f"canCalculateChanges {r}")
        return r["ids"], r["queryState"], r["total"]

    def splice(cached, r):
        out = [i for i in cached if i not in set(r["removed"])]
        for a in sorted(r["added"], key=lambda a: a["index"]):
            out.insert(a["index"], a["id"])
        return out

    n1, e1 = add(boxes["inbox"], "alpha")
    n2, e2 = add(boxes["inbox"], "beta", keywords={"$seen": True})
    n3, e3 = add(boxes["archive"], "Re: alpha", reply_to=n1)
    n4, e4 = add(boxes["inbox"], "gamma", keywords={"$flagged": True})
    cache = [run(q) for q in queries]
    steps = [
        lambda: add(boxes["inbox"], "Re: alpha again", reply_to=n3),           # into alpha's thread
        lambda: set_({e2: {"keywords/$flagged": True, "keywords/$seen": None}}),
        lambda: set_({e1: {"mailboxIds": {boxes["archive"]: True}}}),          # moved
        lambda: set_(destroy=[e4]),
        lambda: add(boxes["archive"], "delta", keywords={"$flagged": True, "$seen": True}),
        lambda: set_({e3: {"keywords/$flagged": True}}),                       # flags a whole thread
    ]
    for step_no, step in enumerate(steps):
        step()
        for qi, q in enumerate(queries):
            ids, state, _ = cache[qi]
            r = alice.api([["Email/queryChanges", dict({"accountId": acc, "sinceQueryState": state,
                                                         "calculateTotal": True}, **q), "0"]])[0]
            check(r[0] == "Email/queryChanges", f"step {step_no} query {q}: {r}")
            r = r[1]
            fresh, fresh_state, total = run(q)
            check(r["oldQueryState"] == state and r["newQueryState"] == fresh_state, f"states {r} {fresh_state}")
            got = splice(ids, r)
            check(got == fresh, f"step {step_no} query {q}: spliced {got} != fresh {fresh} ({r})")
            check(r["total"] == total, f"total {r['total']} != {total}")
            check(all(fresh[a["index"]] == a["id"] for a in r["added"]), f"indices {r}")
            cache[qi] = (fresh, fresh_state, total)
    # No change: nothing to splice.
    ids, state, _ = cache[0]
    r = alice.api([["Email/queryChanges", {"accountId": acc, "sinceQueryState": state}, "0"]])[0][1]
    check(r["removed"] == [] and r["added"] == [] and r["newQueryState"] == state, f"unchanged {r}")
    # Errors: a state never issued, one from the future, a too-small maxChanges, bad arguments.
    for since in ["abc", str(int(state) + 1000)]:
        r = alice.api([["Email/queryChanges", {"accountId": acc, "sinceQueryState": since}, "0"]])[0]
        check(r[0] == "error" and r[1]["type"] == "cannotCalculateChanges", f"since {since}: {r}")
    first_state = "0"
    r = alice.api([["Email/queryChanges", {"accountId": acc, "sinceQueryState": first_state, "maxChanges": 1}, "0"]])[0]
    check(r[0] == "error" and r[1]["type"] == "tooManyChanges", f"maxChanges {r}")
    r = alice.api([["Email/queryChanges", {"accountId": acc}, "0"],
                   ["Email/queryChanges", {"accountId": acc, "sinceQueryState": state, "filter": {"nope": 1}}, "1"]])
    check(r[0][1]["type"] == "invalidArguments" and r[1][1]["type"] == "unsupportedFilter", f"bad args {r}")

    # Mailboxes: by name, and as a tree (a rename moves its children along).
    mq = [{"sort": [{"property": "name"}]}, {"sortAsTree": True, "sort": [{"property": "name"}]},
          {"filter": {"parentId": None}}]

    def mrun(q):
        r = alice.api([["Mailbox/query", dict({"accountId": acc}, **q), "0"]])[0][1]
        check(r["canCalculateChanges"] is True, f"mailbox canCalculateChanges {r}")
        return r["ids"], r["queryState"]

    r = alice.api([["Mailbox/set", {"accountId": acc, "create": {
        "p": {"name": "Projects"}, "c": {"name": "Alpha", "parentId": "#p"}}}, "0"]])[0][1]
    parent, child = r["created"]["p"]["id"], r["created"]["c"]["id"]
    mcache = [mrun(q) for q in mq]
    msteps = [
        {"create": {"z": {"name": "Zulu"}}},
        {"update": {parent: {"name": "Aardvark"}}},
        {"update": {child: {"parentId": None}}},
        {"destroy": [parent]},
    ]
    for st in msteps:
        r = alice.api([["Mailbox/set", dict({"accountId": acc}, **st), "0"]])[0][1]
        check(not r.get("notCreated") and not r.get("notUpdated") and not r.get("notDestroyed"), f"mailbox set {r}")
        for qi, q in enumerate(mq):
            ids, state = mcache[qi]
            r = alice.api([["Mailbox/queryChanges", dict({"accountId": acc, "sinceQueryState": state}, **q), "0"]])[0]
            check(r[0] == "Mailbox/queryChanges", f"mailbox {q}: {r}")
            fresh, fresh_state = mrun(q)
            got = splice(ids, r[1])
            check(got == fresh, f"mailbox {st} {q}: spliced {got} != fresh {fresh} ({r[1]})")
            mcache[qi] = (fresh, fresh_state)
    print("ok")


def mailboxes(hostport, alice_pw, bob_pw):
    """Mailbox/set and Mailbox/query: a tree created in one call, the naming rules, roles,
    destroy with and without emails, and bob kept out."""
    alice = Http(hostport, "alice@example.test", alice_pw)
    bob = Http(hostport, "bob@example.test", bob_pw)
    acc = session(alice)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    b_acc = session(bob)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    get = lambda: {m["id"]: m for m in alice.api([["Mailbox/get", {"accountId": acc}, "0"]])[0][1]["list"]}
    before = get()
    role = {m["role"]: i for i, m in before.items() if m["role"]}
    state = alice.api([["Mailbox/get", {"accountId": acc, "ids": []}, "0"]])[0][1]["state"]
    r = alice.api([["Mailbox/set", {"accountId": acc, "create": {
        "p": {"name": "Projects", "sortOrder": 5},
        "c": {"name": "Mailroom", "parentId": "#p", "isSubscribed": False},
        "c2": {"name": "Archive 2024", "parentId": "#p"},
        "dup": {"name": "Projects"},
        "inbox": {"name": "iNbOx"},
        "slash": {"name": "a/b"},
        "empty": {"name": "  "},
        "role": {"name": "Mine", "role": "trash"},
        "srv": {"name": "X", "totalEmails": 3},
        "orphan": {"name": "Y", "parentId": "m999999"},
    }}, "0"]])[0][1]
    check(set(r["created"]) == {"p", "c", "c2"}, f"created {r}")
    for k in ["dup", "inbox", "slash", "empty", "role", "srv", "orphan"]:
        check(r["notCreated"][k]["type"] == "invalidProperties", f"{k}: {r['notCreated'][k]}")
    check(r["notCreated"]["dup"]["properties"] == ["name"] and r["notCreated"]["orphan"]["properties"] == ["parentId"], "props")
    p, c, c2 = (r["created"][k]["id"] for k in ["p", "c", "c2"])
    boxes = get()
    check(boxes[c]["parentId"] == p and boxes[c]["isSubscribed"] is False and boxes[p]["sortOrder"] == 5, f"tree {boxes[c]}")
    check(boxes[p]["myRights"]["mayDelete"] and not boxes[role["inbox"]]["myRights"]["mayDelete"], "rights")

    r = alice.api([["Mailbox/set", {"accountId": acc, "update": {
        p: {"parentId": c},
        c2: {"name": "Mailroom"},
        c: {"name": "mailroom-renamed", "isSubscribed": True},
        role["inbox"]: {"name": "Eingang"},
        role["trash"]: {"sortOrder": 99},
        role["sent"]: {"role": "sent", "isSubscribed": False},
        role["drafts"]: {"role": "junk"},
        "m999999": {"name": "x"},
    }}, "0"]])[0][1]
    check(set(r["updated"]) == {c, role["trash"], role["sent"]}, f"updated {r}")
    nu = r["notUpdated"]
    check(nu[p]["type"] == "invalidProperties" and nu[p]["properties"] == ["parentId"], f"cycle {nu[p]}")
    check(nu[c2]["type"] == "invalidProperties" and nu[c2]["properties"] == ["name"], f"clash {nu[c2]}")
    check(nu[role["inbox"]]["type"] == "forbidden" and nu[role["drafts"]]["type"] == "invalidProperties", f"roles {nu}")
    check(nu["m999999"]["type"] == "notFound", "notFound")
    boxes = get()
    check(boxes[c]["name"] == "mailroom-renamed" and boxes[role["trash"]]["sortOrder"] == 99, "applied")

    # Emails: one only in c, one in c and the inbox.
    inbox_ids = alice.api([["Email/query", {"accountId": acc, "filter": {"inMailbox": role["inbox"]}}, "0"]])[0][1]["ids"]
    only, both = inbox_ids[0], inbox_ids[1]
    r = alice.api([["Email/set", {"accountId": acc, "update": {
        only: {"mailboxIds": {c: True}}, both: {"mailboxIds/" + c: True}}}, "0"]])[0][1]
    check(set(r["updated"]) == {only, both}, f"moved {r}")
    r = alice.api([["Mailbox/set", {"accountId": acc, "destroy": [p, c, role["trash"]]}, "0"]])[0][1]
    check(r["notDestroyed"][p]["type"] == "mailboxHasChild", f"{r}")
    check(r["notDestroyed"][c]["type"] == "mailboxHasEmail", f"{r}")
    check(r["notDestroyed"][role["trash"]]["type"] == "forbidden", f"{r}")
    # Bob sees none of it.
    r = bob.api([["Mailbox/set", {"accountId": b_acc, "update": {c: {"name": "mine"}}, "destroy": [c2],
                                   "create": {"x": {"name": "x", "parentId": p}}}, "0"],
                 ["Mailbox/set", {"accountId": acc, "destroy": [c2]}, "1"]])
    check(r[0][1]["notUpdated"][c]["type"] == "notFound" and r[0][1]["notDestroyed"][c2]["type"] == "notFound", f"bob {r[0]}")
    check(r[0][1]["notCreated"]["x"]["type"] == "invalidProperties", f"bob under alice's parent {r[0]}")
    check(r[1][1]["type"] == "accountNotFound", f"bob in alice's account {r[1]}")

    # Mailbox/query.
    qr = lambda **a: alice.api([["Mailbox/query", dict({"accountId": acc}, **a), "0"]])[0][1]
    check(qr(filter={"hasAnyRole": False}, sort=[{"property": "name"}])["ids"] == [c2, c, p], "custom by name")
    check(qr(filter={"parentId": p})["ids"] == [c, c2], "children")
    check(qr(filter={"role": "inbox"})["ids"] == [role["inbox"]], "role")
    check(qr(filter={"name": "MAILROOM"})["ids"] == [c], "name contains")
    tree = qr(sortAsTree=True, sort=[{"property": "sortOrder"}, {"property": "name"}])["ids"]
    check(tree.index(p) < tree.index(c) and tree.index(p) < tree.index(c2) and len(tree) == len(boxes), f"tree {tree}")
    check(qr(filter={"isSubscribed": False}, filterAsTree=True, sortAsTree=True)["ids"] == [role["sent"]], "filterAsTree hides kids of non-matching")
    check(qr(filter={"operator": "NOT", "conditions": [{"hasAnyRole": True}]}, calculateTotal=True)["total"] == 3, "NOT")
    r = alice.api([["Mailbox/query", {"accountId": acc, "filter": {"bogus": 1}}, "0"],
                   ["Mailbox/query", {"accountId": acc, "sort": [{"property": "totalEmails"}]}, "1"]])
    check(r[0][1]["type"] == "unsupportedFilter" and r[1][1]["type"] == "unsupportedSort", f"errors {r}")

    # Destroying with the emails: `only` goes, `both` stays in the inbox.
    r = alice.api([["Mailbox/set", {"accountId": acc, "destroy": [c], "onDestroyRemoveEmails": True}, "0"],
                   ["Email/get", {"accountId": acc, "ids": [only, both], "properties": ["mailboxIds"]}, "1"]])
    check(r[0][1]["destroyed"] == [c], f"destroy {r[0]}")
    check(r[1][1]["notFound"] == [only] and r[1][1]["list"][0]["mailboxIds"] == {role["inbox"]: True}, f"emails {r[1]}")
    ch = alice.api([["Mailbox/changes", {"accountId": acc, "sinceState": state}, "0"]])[0][1]
    check(set(ch["created"]) == {p, c2} and ch["destroyed"] == [] or c not in ch["created"], f"changes {ch}")
    check(c not in ch["updated"] and (c in ch["destroyed"] or c not in ch["created"]), f"changes {ch}")
    print("ok")


def create(hostport, alice_pw, bob_pw):
    """Email/set create: a draft with text, HTML, an inline image and an attachment, read
    back and parsed by Python's email package, then sent by creation id in the same request."""
    import email
    import email.policy
    alice = Http(hostport, "alice@example.test", alice_pw)
    bob = Http(hostport, "bob@example.test", bob_pw)
    sess = session(alice)
    acc = sess["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    upload = sess["uploadUrl"].replace("{accountId}", acc).split(hostport, 1)[1]
    role = {m["role"]: m["id"] for m in alice.api([["Mailbox/get", {"accountId": acc}, "0"]])[0][1]["list"] if m["role"]}
    pdf = bytes(range(256)) * 40
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    blobs = []
    for data, t in [(pdf, "application/pdf"), (png, "image/png")]:
        status, _, d = alice.request("POST", upload, data, {"Content-Type": t})
        check(status == 201, f"upload {status}")
        blobs.append(json.loads(d)["blobId"])
    aid = [i["id"] for i in alice.api([["Identity/get", {"accountId": acc}, "0"]], SUB_USING)[0][1]["list"] if i["email"] == "alice@example.test"][0]
    draft = {
        "mailboxIds": {role["drafts"]: True}, "keywords": {"$draft": True, "$seen": True},
        "from": [{"name": "Alice Ä", "email": "alice@example.test"}],
        "to": [{"name": "Bob", "email": "bob@example.test"}],
        "subject": "Grüße from a JMAP draft", "messageId": ["draft-42@example.test"],
        "inReplyTo": ["orig-1@example.test"], "header:X-Mailer:asText": "mailroom tests",
        "header:List-Unsubscribe:asURLs": ["mailto:x@example.test"],
        "bodyValues": {"t": {"value": "Hello Bob,\nsee attached. ✓\n"}, "h": {"value": "<p>Hello <b>Bob</b> <img src=\"cid:logo1\"></p>"}},
        "textBody": [{"partId": "t", "type": "text/plain"}],
        "htmlBody": [{"partId": "h", "type": "text/html"}],
        "attachments": [{"blobId": blobs[0], "type": "application/pdf", "name": "report ü.pdf", "disposition": "attachment"},
                        {"blobId": blobs[1], "type": "image/png", "disposition": "inline", "cid": "logo1"}],
    }
    r = alice.api([
        ["Email/set", {"accountId": acc, "create": {"d": draft}}, "0"],
        ["EmailSubmission/set", {"accountId": acc, "create": {"s": {"identityId": aid, "emailId": "#d"}},
                                 "onSuccessUpdateEmail": {"#s": {"mailboxIds/" + role["drafts"]: None,
                                                                 "mailboxIds/" + role["sent"]: True, "keywords/$draft": None}}}, "1"],
    ], SUB_USING)
    check([x[0] for x in r] == ["Email/set", "EmailSubmission/set", "Email/set"], f"responses {[x[0] for x in r]} {r[0]}")
    c = r[0][1]["created"]["d"]
    r.append(alice.api([["Email/get", {"accountId": acc, "ids": [c["id"]],
                       "properties": ["subject", "from", "to", "mailboxIds", "keywords", "messageId", "inReplyTo", "blobId",
                                      "header:X-Mailer:asText", "textBody", "htmlBody", "attachments", "bodyValues"],
                       "fetchAllBodyValues": True}, "2"]])[0])
    check(c["id"].startswith("e") and c["threadId"] and c["size"] > len(pdf), f"created {c}")
    check(r[1][1]["created"]["s"]["undoStatus"] == "final", f"submitted {r[1]}")
    e = r[3][1]["list"][0]
    check(e["subject"] == "Grüße from a JMAP draft" and e["from"] == [{"name": "Alice Ä", "email": "alice@example.test"}], f"{e}")
    check(e["messageId"] == ["draft-42@example.test"] and e["inReplyTo"] == ["orig-1@example.test"], f"ids {e}")
    check(e["mailboxIds"] == {role["sent"]: True} and e["keywords"] == {"$seen": True}, f"filed {e}")
    check(e["header:X-Mailer:asText"] == "mailroom tests" and e["blobId"] == c["blobId"], "x-mailer")
    check(e["bodyValues"][e["textBody"][0]["partId"]]["value"].replace("\r\n", "\n") == "Hello Bob,\nsee attached. ✓\n", f"text {e['bodyValues']}")
    check([a["type"] for a in e["attachments"]] == ["image/png", "application/pdf"], f"attachments {e['attachments']}")
    dl = lambda h, a, b: h.request("GET", sess["downloadUrl"].replace("{accountId}", a).replace("{blobId}", b)
                                   .replace("{name}", "x").replace("{type}", "x/y").split(hostport, 1)[1])
    status, _, raw = dl(alice, acc, c["blobId"])
    py = email.message_from_bytes(raw, policy=email.policy.default)
    check(py["Subject"] == "Grüße from a JMAP draft" and py["List-Unsubscribe"] == "<mailto:x@example.test>", f"python {py['Subject']}")
    shape = [p.get_content_type() for p in py.walk()]
    check(shape == ["multipart/mixed", "multipart/related", "multipart/alternative", "text/plain", "text/html", "image/png", "application/pdf"], f"shape {shape}")
    att = [p for p in py.walk() if p.get_content_type() == "application/pdf"][0]
    check(att.get_filename() == "report ü.pdf" and att.get_payload(decode=True) == pdf, "pdf bytes and name")
    img = [p for p in py.walk() if p.get_content_type() == "image/png"][0]
    check(img["Content-ID"] == "<logo1>" and img.get_payload(decode=True) == png, "inline image")
    # Bob got it, attachment intact.
    b_acc = session(bob)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    got = bob.api([["Email/query", {"accountId": b_acc, "filter": {"subject": "JMAP draft"}}, "0"],
                   ["Email/get", {"accountId": b_acc, "#ids": {"resultOf": "0", "name": "Email/query", "path": "/ids"},
                                  "properties": ["attachments"]}, "1"]])[1][1]["list"]
    check(len(got) == 1, f"bob {got}")
    pdf_part = [a for a in got[0]["attachments"] if a["type"] == "application/pdf"][0]
    status, _, data = dl(bob, b_acc, pdf_part["blobId"])
    check(status == 200 and data == pdf, "bob's pdf")

    # bodyStructure form, and the refusals.
    r = alice.api([["Email/set", {"accountId": acc, "create": {
        "bs": {"mailboxIds": {role["drafts"]: True}, "subject": "structured",
               "bodyStructure": {"type": "multipart/mixed", "subParts": [
                   {"partId": "1", "type": "text/plain", "header:X-Part-Note": " first"},
                   {"blobId": blobs[0], "type": "application/pdf", "name": "a.pdf", "disposition": "attachment"}]},
               "bodyValues": {"1": {"value": "structured body"}}},
        "server": {"mailboxIds": {role["drafts"]: True}, "id": "e1"},
        "headers": {"mailboxIds": {role["drafts"]: True}, "headers": []},
        "ctype": {"mailboxIds": {role["drafts"]: True}, "header:Content-Type": "text/plain"},
        "both": {"mailboxIds": {role["drafts"]: True}, "bodyStructure": {"partId": "1"}, "textBody": [{"partId": "1"}],
                 "bodyValues": {"1": {"value": "x"}}},
        "nopart": {"mailboxIds": {role["drafts"]: True}, "textBody": [{"partId": "zz"}]},
        "noblob": {"mailboxIds": {role["drafts"]: True}, "attachments": [{"blobId": "0" * 64, "type": "application/pdf"}]},
        "nobox": {"subject": "x"},
        "badaddr": {"mailboxIds": {role["drafts"]: True}, "to": [{"name": "x"}]},
        "twice": {"mailboxIds": {role["drafts"]: True}, "subject": "a", "header:Subject": " b"},
        "twotext": {"mailboxIds": {role["drafts"]: True}, "textBody": [{"partId": "1"}, {"partId": "1"}], "bodyValues": {"1": {"value": "x"}}},
        "crlf": {"mailboxIds": {role["drafts"]: True}, "subject": "a\r\nBcc: evil@example.net"},
    }}, "0"]])[0][1]
    check(set(r["created"]) == {"bs"}, f"created {r['created']} {r['notCreated']}")
    nc = r["notCreated"]
    for k in ["server", "headers", "ctype", "both", "nopart", "nobox", "badaddr", "twice", "twotext", "crlf"]:
        check(nc[k]["type"] == "invalidProperties", f"{k}: {nc[k]}")
    check(nc["noblob"]["type"] == "blobNotFound" and nc["noblob"]["notFound"] == ["0" * 64], f"noblob {nc['noblob']}")
    e = alice.api([["Email/get", {"accountId": acc, "ids": [r["created"]["bs"]["id"]], "properties": ["bodyStructure", "bodyValues"],
                                  "bodyProperties": ["partId", "type", "name", "header:X-Part-Note"], "fetchTextBodyValues": True}, "0"]])[0][1]["list"][0]
    sub = e["bodyStructure"]["subParts"]
    check(e["bodyStructure"]["type"] == "multipart/mixed" and [p["type"] for p in sub] == ["text/plain", "application/pdf"], f"bs {e}")
    check(sub[0]["header:X-Part-Note"].strip() == "first" and sub[1]["name"] == "a.pdf", f"part fields {sub}")
    check(e["bodyValues"][sub[0]["partId"]]["value"] == "structured body", f"value {e['bodyValues']}")
    print("ok")


VAC_USING = USING + ["urn:ietf:params:jmap:vacationresponse"]


def vacation(hostport, alice_pw, bob_pw, smtp_hostport):
    """VacationResponse/get|set and the auto-reply: mail from bob over SMTP is answered once
    per period; lists, automatic mail and Bcc copies are not."""
    import email
    import smtplib
    alice = Http(hostport, "alice@example.test", alice_pw)
    bob = Http(hostport, "bob@example.test", bob_pw)
    sess = session(alice)
    acc = sess["primaryAccounts"]["urn:ietf:params:jmap:vacationresponse"]
    b_acc = session(bob)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    r = alice.api([["VacationResponse/get", {"accountId": acc}, "0"]], VAC_USING)[0][1]
    check(r["list"] == [{"id": "singleton", "isEnabled": False, "fromDate": None, "toDate": None,
                         "subject": None, "textBody": None, "htmlBody": None}], f"default {r}")
    r = alice.api([["VacationResponse/get", {"accountId": acc}, "0"]])[0]
    check(r[0] == "error" and r[1]["type"] == "unknownMethod", "needs the capability")

    def set_(patch):
        return alice.api([["VacationResponse/set", {"accountId": acc, "update": {"singleton": patch}}, "0"]], VAC_USING)[0][1]
    r = alice.api([["VacationResponse/set", {"accountId": acc, "create": {"x": {}}, "destroy": ["singleton"],
                                              "update": {"other": {"isEnabled": True}}}, "0"]], VAC_USING)[0][1]
    check(r["notCreated"]["x"]["type"] == "singleton" and r["notDestroyed"]["singleton"]["type"] == "singleton", f"{r}")
    check(r["notUpdated"]["other"]["type"] == "notFound", f"{r}")
    for bad in [{"isEnabled": "yes"}, {"fromDate": "tomorrow"}, {"bogus": 1},
                {"fromDate": "2030-01-02T00:00:00Z", "toDate": "2030-01-01T00:00:00Z"}, {"subject": "a\r\nBcc: x@y"}]:
        check(set_(bad)["notUpdated"]["singleton"]["type"] == "invalidProperties", f"bad {bad}")
    r = set_({"isEnabled": True, "subject": "Away until Monday", "textBody": "I am away.\n",
              "htmlBody": "<p>I am away.</p>", "fromDate": "2020-01-01T00:00:00Z"})
    check(r["updated"] == {"singleton": None} and r["oldState"] != r["newState"], f"set {r}")
    got = alice.api([["VacationResponse/get", {"accountId": acc, "ids": ["singleton", "nope"]}, "0"]], VAC_USING)[0][1]
    check(got["list"][0]["isEnabled"] and got["list"][0]["fromDate"] == "2020-01-01T00:00:00Z" and got["notFound"] == ["nope"], f"{got}")

    host, port = smtp_hostport.rsplit(":", 1)
    def send(sender, headers, rcpt="alice@example.test"):
        smtp = smtplib.SMTP(host, int(port), timeout=10)
        smtp.sendmail(sender, [rcpt], headers + "\r\n\r\nhello\r\n")
        smtp.quit()
    def replies():
        r = bob.api([["Email/query", {"accountId": b_acc, "filter": {"subject": "Away until Monday"}}, "0"],
                     ["Email/get", {"accountId": b_acc, "#ids": {"resultOf": "0", "name": "Email/query", "path": "/ids"},
                                    "properties": ["subject", "from", "blobId", "header:Auto-Submitted:asText", "inReplyTo"]}, "1"]])
        return r[1][1]["list"]
    def wait_for(n):
        for _ in range(60):
            got = replies()
            if len(got) >= n:
                return got
            time.sleep(0.05)
        return replies()

    send("bob@example.test", "From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: lunch?\r\nMessage-ID: <lunch-1@example.test>")
    got = wait_for(1)
    check(len(got) == 1, f"one auto-reply: {got}")
    g = got[0]
    check(g["from"][0]["email"] == "alice@example.test" and g["header:Auto-Submitted:asText"] == "auto-replied", f"reply {g}")
    check(g["inReplyTo"] == ["lunch-1@example.test"], f"threading {g}")
    # Not again for bob in this period; never for lists, automatic mail, or a Bcc copy.
    send("bob@example.test", "From: bob@example.test\r\nTo: alice@example.test\r\nSubject: again")
    send("bob@example.test", "From: bob@example.test\r\nTo: team@example.test\r\nSubject: via the team alias")
    send("list@example.test", "From: list@example.test\r\nTo: alice@example.test\r\nList-Id: <l.example.test>\r\nSubject: list")
    send("bob@example.test", "From: bob@example.test\r\nTo: alice@example.test\r\nAuto-Submitted: auto-generated\r\nSubject: bot")
    time.sleep(0.5)
    check(len(replies()) == 1, f"still one: {replies()}")
    # A new period (the response set again) answers bob again, once.
    set_({"textBody": "Still away.\n"})
    send("bob@example.test", "From: bob@example.test\r\nTo: alice@example.test\r\nSubject: third")
    check(len(wait_for(2)) == 2, "answered in the new period")
    set_({"isEnabled": False})
    send("bob@example.test", "From: bob@example.test\r\nTo: alice@example.test\r\nSubject: fourth")
    time.sleep(0.5)
    check(len(replies()) == 2, "disabled: no reply")
    # A response whose period has not begun yet sends nothing.
    set_({"isEnabled": True, "fromDate": "2099-01-01T00:00:00Z"})
    send("bob@example.test", "From: bob@example.test\r\nTo: alice@example.test\r\nSubject: fifth")
    time.sleep(0.5)
    check(len(replies()) == 2, "not yet: no reply")
    print("ok")


if __name__ == "__main__":
    scenario, hostport, a_pw, b_pw = sys.argv[1:5]
    extra = sys.argv[5:]
    if scenario == "protocol":
        protocol(hostport, a_pw, b_pw, json.loads(extra[0]))
    elif scenario == "isolation":
        isolation(hostport, a_pw, b_pw)
    elif scenario == "eventsource":
        eventsource(hostport, a_pw, b_pw)
    elif scenario == "changes":
        changes(hostport, a_pw, b_pw, extra[0])
    elif scenario == "set":
        email_set(hostport, a_pw, b_pw)
    elif scenario == "login":
        login(hostport, a_pw, b_pw)
    elif scenario == "ratelimit":
        ratelimit(hostport, a_pw, b_pw)
    elif scenario == "submission":
        submission(hostport, a_pw, b_pw)
    elif scenario == "bodies":
        bodies(hostport, a_pw, b_pw, extra[0])
    elif scenario == "query":
        query(hostport, a_pw, b_pw)
    elif scenario == "querychanges":
        query_changes(hostport, a_pw, b_pw)
    elif scenario == "mailboxes":
        mailboxes(hostport, a_pw, b_pw)
    elif scenario == "create":
        create(hostport, a_pw, b_pw)
    elif scenario == "vacation":
        vacation(hostport, a_pw, b_pw, extra[0])
    elif scenario == "import":
        import_(hostport, a_pw, b_pw)
    elif scenario == "jmapc":
        jmapc_client(hostport, a_pw, b_pw)
    else:
        fail(f"unknown scenario {scenario}")
