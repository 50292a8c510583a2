"""Independent REST client for mailroom's end-to-end tests: curl for sending (JSON and
multipart forms, as the README shows), Python's http.client for the rest.

usage: rest_client.py SCENARIO HOST:PORT PASSWORD [ARGS...]
Users alice@example.test and bob@example.test (and, where a scenario needs one, the
administrator root@example.test) share PASSWORD. Each scenario asserts and exits non-zero
with a message on the first failure; it prints "ok" at the end.
"""
import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile

USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Http:
    def __init__(self, hostport, user=None, password=None, token=None):
        self.hostport = hostport
        self.auth = None
        if user is not None:
            self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if token is not None:
            self.auth = "Bearer " + token

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection(self.hostport, timeout=20)
        h = dict(headers or {})
        if self.auth:
            h["Authorization"] = self.auth
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        hs = {}
        for k, v in r.getheaders():
            hs.setdefault(k.lower(), []).append(v)
        return r.status, {k: ", ".join(v) for k, v in hs.items()}, data, hs

    def json(self, method, path, body=None, expect=200, headers=None):
        status, h, data, _ = self.request(method, path, body, headers)
        check(status == expect, f"{method} {path}: {status} (wanted {expect}) {data[:400]!r}")
        return json.loads(data) if data else None

    def problem(self, method, path, body=None, expect=400, headers=None):
        status, h, data, _ = self.request(method, path, body, headers)
        check(status == expect, f"{method} {path}: {status} (wanted {expect}) {data[:400]!r}")
        check(h.get("content-type") == "application/problem+json", f"{method} {path}: not a problem: {h}")
        p = json.loads(data)
        check(p["status"] == expect and p["type"].startswith("https://mailroom.dev/problems/") and p["detail"],
              f"problem body {p}")
        return p


def curl(hostport, user, password, args, key=None):
    """Runs curl against /api/v1/messages/send; returns (status, headers text, body)."""
    cmd = ["curl", "-sS", "-u", f"{user}:{password}", "-D", "-", "-o", "/dev/stdout"]
    if key:
        cmd += ["-H", f"Idempotency-Key: {key}"]
    cmd += args + [f"http://{hostport}/api/v1/messages/send"]
    out = subprocess.run(cmd, capture_output=True, timeout=60)
    check(out.returncode == 0, f"curl failed: {out.stderr!r}")
    head, _, body = out.stdout.decode().partition("\r\n\r\n")
    status = int(head.split(" ")[1])
    return status, head.lower(), body


def inbox_of(h, role="inbox"):
    boxes = h.json("GET", "/api/v1/mailboxes")
    return [b for b in boxes if b["role"] == role][0]


def messages(h, mailbox_id, limit=50):
    return h.json("GET", f"/api/v1/mailboxes/{mailbox_id}/messages?limit={limit}")["messages"]


def send(hostport, pw):
    alice = Http(hostport, "alice@example.test", pw)
    bob = Http(hostport, "bob@example.test", pw)
    # JSON, the README's one-liner shape.
    status, head, body = curl(hostport, "alice@example.test", pw, [
        "-H", "Content-Type: application/json",
        "-d", json.dumps({"to": "bob@example.test", "subject": "json hello", "text": "Hello Bob\n",
                          "html": "<p>Hello <b>Bob</b></p>"})])
    check(status == 201, f"json send: {status} {body}")
    r = json.loads(body)
    check(r["status"] == "sent" and r["submission_id"].startswith("s") and r["email_id"].startswith("e"), f"{r}")
    check(r["recipients"] == [{"address": "bob@example.test", "status": "delivered"}], f"{r}")

    # A form with a file, the README's other one-liner.
    payload = bytes(range(256)) * 40
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        f.write(payload)
        path = f.name
    status, head, body = curl(hostport, "alice@example.test", pw, [
        "-F", "to=Bob <bob@example.test>", "-F", "cc=team@example.test", "-F", "subject=form hello",
        "-F", "text=See attached.", "-F", f"attachment=@{path};type=application/octet-stream;filename=data.bin"])
    os.unlink(path)
    check(status == 201, f"form send: {status} {body}")

    # Bob reads both, newest first, one page at a time.
    inbox = inbox_of(bob)
    check(inbox["total"] == 2 and inbox["unread"] == 2, f"bob's inbox {inbox}")
    page1 = bob.json("GET", f"/api/v1/mailboxes/{inbox['id']}/messages?limit=1")
    check(len(page1["messages"]) == 1 and page1["next_cursor"], f"page1 {page1}")
    page2 = bob.json("GET", f"/api/v1/mailboxes/{inbox['id']}/messages?limit=1&cursor={page1['next_cursor']}")
    check(len(page2["messages"]) == 1, f"page2 {page2}")
    ids = [page1["messages"][0]["id"], page2["messages"][0]["id"]]
    check(len(set(ids)) == 2, f"pages overlap {ids}")
    if page2["next_cursor"]:
        page3 = bob.json("GET", f"/api/v1/mailboxes/{inbox['id']}/messages?limit=1&cursor={page2['next_cursor']}")
        check(page3["messages"] == [] and page3["next_cursor"] is None, f"page3 {page3}")
    by_subject = {m["subject"]: m for m in page1["messages"] + page2["messages"]}
    check(set(by_subject) == {"json hello", "form hello"}, f"subjects {by_subject.keys()}")

    j = bob.json("GET", f"/api/v1/messages/{by_subject['json hello']['id']}")
    check(j["text"].replace("\r\n", "\n") == "Hello Bob\n" and "<b>Bob</b>" in j["html"], f"bodies {j}")
    check(j["from"] == [{"name": None, "email": "alice@example.test"}], f"from {j['from']}")
    check(j["message_id"] == r["message_id"], f"message id {j['message_id']} vs {r['message_id']}")

    form = bob.json("GET", f"/api/v1/messages/{by_subject['form hello']['id']}")
    check(form["to"] == [{"name": "Bob", "email": "bob@example.test"}], f"to {form['to']}")
    check(form["has_attachment"] and len(form["attachments"]) == 1, f"attachments {form['attachments']}")
    a = form["attachments"][0]
    check(a["filename"] == "data.bin" and a["size"] == len(payload), f"attachment {a}")
    status, h, data, _ = bob.request("GET", f"/api/v1/messages/{form['id']}/attachments/0")
    check(status == 200 and data == payload, f"attachment download {status} {len(data)}")
    check("data.bin" in h.get("content-disposition", ""), f"disposition {h}")
    status, h, raw, _ = bob.request("GET", f"/api/v1/messages/{form['id']}/raw")
    check(status == 200 and h["content-type"] == "message/rfc822" and b"Subject: form hello" in raw, f"raw {status}")
    status, h, raw2, _ = bob.request("GET", f"/api/v1/messages/{form['id']}", headers={"Accept": "message/rfc822"})
    check(status == 200 and raw2 == raw, "Accept: message/rfc822 gives the raw message")
    check(b"Bcc" not in raw, "no Bcc header in what recipients get")

    # The cc to the alias reached alice (a member) too; her Sent has both, read.
    sent = inbox_of(alice, "sent")
    check(sent["total"] == 2 and sent["unread"] == 0, f"alice's sent {sent}")
    check(inbox_of(alice)["total"] == 1, "team@ (alias of alice and bob) delivered to alice")

    # Bcc: delivered, absent from the recipient's copy, kept in the sender's.
    status, _, body = curl(hostport, "alice@example.test", pw, [
        "-H", "Content-Type: application/json",
        "-d", json.dumps({"to": ["bob@example.test"], "bcc": ["team@example.test"], "subject": "with bcc", "text": "x"})])
    check(status == 201, f"bcc send {status} {body}")
    sent_copy = [m for m in messages(alice, inbox_of(alice, "sent")["id"]) if m["subject"] == "with bcc"][0]
    status, _, raw, _ = alice.request("GET", f"/api/v1/messages/{sent_copy['id']}/raw")
    check(b"Bcc: <team@example.test>" in raw or b"Bcc: team@example.test" in raw, f"sent copy keeps Bcc: {raw[:400]!r}")
    got = [m for m in messages(bob, inbox["id"]) if m["subject"] == "with bcc"]
    check(len(got) == 1, "bob (to + bcc through the alias) gets one copy")
    status, _, raw, _ = bob.request("GET", f"/api/v1/messages/{got[0]['id']}/raw")
    check(b"Bcc" not in raw, "recipient copy has no Bcc")

    # Idempotency: the same request twice sends once; the replay says so.
    body_json = json.dumps({"to": "bob@example.test", "subject": "once", "text": "only once"})
    s1, h1, b1 = curl(hostport, "alice@example.test", pw, ["-H", "Content-Type: application/json", "-d", body_json], key="k-1")
    s2, h2, b2 = curl(hostport, "alice@example.test", pw, ["-H", "Content-Type: application/json", "-d", body_json], key="k-1")
    check(s1 == 201 and s2 == 200 and json.loads(b1) == json.loads(b2), f"replay {s1} {s2} {b1} {b2}")
    check("idempotent-replayed: true" in h2, f"replay header {h2}")
    check(len([m for m in messages(bob, inbox["id"]) if m["subject"] == "once"]) == 1, "sent twice")
    s3, _, b3 = curl(hostport, "alice@example.test", pw, ["-H", "Content-Type: application/json", "-d",
                                                        json.dumps({"to": "bob@example.test", "subject": "other"})], key="k-1")
    check(s3 == 422 and json.loads(b3)["type"].endswith("idempotency-mismatch"), f"key reuse {s3} {b3}")
    # A form retried (new multipart boundary) is the same request.
    form_args = ["-F", "to=bob@example.test", "-F", "subject=form once", "-F", "text=t"]
    s4, _, b4 = curl(hostport, "alice@example.test", pw, form_args, key="k-2")
    s5, _, b5 = curl(hostport, "alice@example.test", pw, form_args, key="k-2")
    check(s4 == 201 and s5 == 200 and json.loads(b4) == json.loads(b5), f"form replay {s4} {s5}")
    # A refused request frees its key.
    s6, _, _ = curl(hostport, "alice@example.test", pw, ["-H", "Content-Type: application/json", "-d",
                                                       json.dumps({"to": "nobody@example.test", "subject": "x"})], key="k-3")
    s7, _, _ = curl(hostport, "alice@example.test", pw, ["-H", "Content-Type: application/json", "-d",
                                                       json.dumps({"to": "bob@example.test", "subject": "x"})], key="k-3")
    check(s6 == 400 and s7 == 201, f"refused then fixed with one key: {s6} {s7}")
    # Bob's keys are his own: the same key from bob is a new request.
    s8, _, _ = curl(hostport, "bob@example.test", pw, ["-H", "Content-Type: application/json", "-d", body_json], key="k-1")
    check(s8 == 201, f"keys are per account: {s8}")

    # Refusals: nothing is sent.
    before = len(messages(bob, inbox["id"], 500))
    for payload_, want, kind in [
        ({"from": "bob@example.test", "to": "bob@example.test", "subject": "spoof"}, 403, "forbidden"),
        ({"to": [], "subject": "nobody"}, 400, "invalid"),
        ({"to": "bob@example.test", "subject": "line\r\nBcc: x@y"}, 400, "invalid"),
        ({"to": "bob@example.test", "attachments": [{"filename": "a", "content_base64": "!!!"}]}, 400, "invalid"),
        ({"to": "bob@example.test", "bogus": 1}, 422, "invalid-json"),
        ({"to": 5}, 422, "invalid-json"),
    ]:
        p = alice.problem("POST", "/api/v1/messages/send", payload_, expect=want)
        check(p["type"].endswith(kind), f"{payload_}: {p}")
    alice.problem("POST", "/api/v1/messages/send", "{not json", expect=400, headers={"Content-Type": "application/json"})
    check(len(messages(bob, inbox["id"], 500)) == before, "a refused send delivered something")
    # Sending as an alias of one's own is fine.
    s9, _, b9 = curl(hostport, "alice@example.test", pw, ["-H", "Content-Type: application/json", "-d",
                                                        json.dumps({"from": "Team <team@example.test>", "to": "bob@example.test", "subject": "as team"})])
    check(s9 == 201, f"send as alias {s9} {b9}")
    print("ok")


def manage(hostport, pw):
    alice = Http(hostport, "alice@example.test", pw)
    bob = Http(hostport, "bob@example.test", pw)
    inbox = inbox_of(alice)
    archive = inbox_of(alice, "archive")
    m = messages(alice, inbox["id"])[0]
    u = alice.json("PATCH", f"/api/v1/messages/{m['id']}", {"add": ["$seen", "$flagged"]})
    check(sorted(u["keywords"]) == ["$flagged", "$seen"], f"add {u}")
    u = alice.json("PATCH", f"/api/v1/messages/{m['id']}", {"remove": ["$flagged"]})
    check(u["keywords"] == ["$seen"], f"remove {u}")
    check(inbox_of(alice)["unread"] == inbox["unread"] - 1, "unread count follows $seen")
    alice.problem("PATCH", f"/api/v1/messages/{m['id']}", {"add": ["bad keyword"]}, expect=400)
    u = alice.json("POST", f"/api/v1/messages/{m['id']}/move", {"mailbox_id": archive["id"]})
    check(u["mailbox_ids"] == [archive["id"]], f"move {u}")
    check(inbox_of(alice, "archive")["total"] == archive["total"] + 1, "archive count")
    # JMAP sees the same facts.
    r = alice.json("POST", "/jmap/api", {"using": USING, "methodCalls": [
        ["Email/get", {"accountId": alice.json("GET", "/api/v1/me")["id"], "ids": [m["id"]], "properties": ["keywords", "mailboxIds"]}, "0"]]})
    e = r["methodResponses"][0][1]["list"][0]
    check(e["keywords"] == {"$seen": True} and e["mailboxIds"] == {archive["id"]: True}, f"jmap view {e}")
    alice.problem("POST", f"/api/v1/messages/{m['id']}/move", {"mailbox_id": "m999999"}, expect=400)

    # Bob can learn nothing of alice's message by any endpoint.
    for method, path, body in [
        ("GET", f"/api/v1/messages/{m['id']}", None),
        ("GET", f"/api/v1/messages/{m['id']}/raw", None),
        ("GET", f"/api/v1/messages/{m['id']}/attachments/0", None),
        ("PATCH", f"/api/v1/messages/{m['id']}", {"add": ["$seen"]}),
        ("POST", f"/api/v1/messages/{m['id']}/move", {"mailbox_id": inbox_of(bob)["id"]}),
        ("DELETE", f"/api/v1/messages/{m['id']}", None),
        ("GET", f"/api/v1/mailboxes/{inbox['id']}/messages", None),
    ]:
        p = bob.problem(method, path, body, expect=404)
        check(p["type"].endswith("not-found"), f"{method} {path}: {p}")
    status, _, _, _ = alice.request("DELETE", f"/api/v1/messages/{m['id']}")
    check(status == 204, f"delete {status}")
    alice.problem("GET", f"/api/v1/messages/{m['id']}", expect=404)
    for bad in ["/api/v1/messages/x1", "/api/v1/messages/e", "/api/v1/mailboxes/e1/messages", "/api/v1/nothing"]:
        alice.problem("GET", bad, expect=404)
    alice.problem("GET", f"/api/v1/mailboxes/{inbox['id']}/messages?cursor=zzz", expect=400)
    alice.problem("GET", f"/api/v1/mailboxes/{inbox['id']}/messages?limit=0", expect=400)
    alice.problem("PATCH", f"/api/v1/messages/{m['id']}", "[]", expect=415, headers={"Content-Type": "text/plain"})
    anon = Http(hostport)
    anon.problem("GET", "/api/v1/mailboxes", expect=401)
    print("ok")


def tokens(hostport, pw):
    alice = Http(hostport, "alice@example.test", pw)
    bob = Http(hostport, "bob@example.test", pw)
    t = alice.json("POST", "/api/v1/tokens", {"name": "reader", "scopes": ["read"]}, expect=201)
    check(t["token"].startswith("mrt_") and t["scopes"] == ["read"], f"created {t}")
    reader = Http(hostport, token=t["token"])
    check(reader.json("GET", "/api/v1/me")["address"] == "alice@example.test", "token identifies alice")
    reader.json("GET", "/api/v1/mailboxes")
    reader.problem("POST", "/api/v1/messages/send", {"to": "bob@example.test", "subject": "x"}, expect=403)
    # JMAP: reading works, changing is a `forbidden` method error.
    acc = reader.json("GET", "/api/v1/me")["id"]
    r = reader.json("POST", "/jmap/api", {"using": USING, "methodCalls": [
        ["Mailbox/get", {"accountId": acc}, "0"],
        ["Email/set", {"accountId": acc, "destroy": ["e1"]}, "1"]]})["methodResponses"]
    check(r[0][0] == "Mailbox/get" and r[1][0] == "error" and r[1][1]["type"] == "forbidden", f"jmap {r}")
    # Tokens cannot mint tokens.
    reader.problem("POST", "/api/v1/tokens", {"name": "more", "scopes": ["read"]}, expect=403)
    reader.problem("GET", "/api/v1/tokens", expect=403)
    sender = alice.json("POST", "/api/v1/tokens", {"name": "sender", "scopes": ["read", "send"]}, expect=201)
    status, _, data, _ = Http(hostport, token=sender["token"]).request(
        "POST", "/api/v1/messages/send", {"to": "bob@example.test", "subject": "by token"})
    check(status == 201, f"send with a send token: {status} {data!r}")
    listed = alice.json("GET", "/api/v1/tokens")
    check([x["name"] for x in listed] == ["reader", "sender"] and all("token" not in x for x in listed), f"list {listed}")
    check(listed[0]["last_used_at"] is not None, f"last use recorded {listed[0]}")
    alice.problem("POST", "/api/v1/tokens", {"name": "x", "scopes": ["admin"]}, expect=403)
    alice.problem("POST", "/api/v1/tokens", {"name": "x", "scopes": ["root"]}, expect=400)
    alice.problem("POST", "/api/v1/tokens", {"name": "", "scopes": ["read"]}, expect=400)
    # Bob cannot see or revoke alice's tokens.
    check(bob.json("GET", "/api/v1/tokens") == [], "bob sees alice's tokens")
    bob.problem("DELETE", f"/api/v1/tokens/{t['id']}", expect=404)
    status, _, _, _ = alice.request("DELETE", f"/api/v1/tokens/{t['id']}")
    check(status == 204, f"revoke {status}")
    reader.problem("GET", "/api/v1/mailboxes", expect=401)
    Http(hostport, token="mrt_" + "A" * 43).problem("GET", "/api/v1/mailboxes", expect=401)
    print("ok")


def sessions(hostport, pw):
    anon = Http(hostport)
    t = anon.json("POST", "/api/v1/auth/login", {"address": "alice@example.test", "password": pw})
    check(t["refresh_token"].startswith("mrr_") and t["refresh_expires_in"] > 0, f"login {t}")
    t2 = anon.json("POST", "/api/v1/auth/refresh", {"refresh_token": t["refresh_token"]})
    check(t2["refresh_token"] != t["refresh_token"], "refresh rotates")
    check(Http(hostport, token=t2["access_token"]).json("GET", "/api/v1/me")["address"] == "alice@example.test", "new access token")
    p = anon.problem("POST", "/api/v1/auth/refresh", {"refresh_token": t["refresh_token"]}, expect=401)
    check(p["type"].endswith("bad-refresh-token"), f"old refresh token {p}")
    status, _, _, _ = anon.request("POST", "/api/v1/auth/logout", {"refresh_token": t2["refresh_token"]})
    check(status == 204, f"logout {status}")
    anon.problem("POST", "/api/v1/auth/refresh", {"refresh_token": t2["refresh_token"]}, expect=401)
    anon.problem("POST", "/api/v1/auth/refresh", {}, expect=400)
    anon.problem("POST", "/api/v1/auth/refresh", {"refresh_token": "mrr_forged"}, expect=401)

    # The webmail's way: the refresh token only in an httpOnly, SameSite=Strict cookie.
    status, h, data, raw_h = anon.request("POST", "/api/v1/auth/login",
                                          {"address": "alice@example.test", "password": pw, "cookie": True})
    check(status == 200 and "refresh_token" not in json.loads(data), f"cookie login {status} {data!r}")
    cookie = h.get("set-cookie", "")
    check("HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/api/v1/auth" in cookie, f"cookie {cookie}")
    value = cookie.split(";")[0]
    status, h, data, _ = anon.request("POST", "/api/v1/auth/refresh", headers={"Cookie": value})
    check(status == 200 and h.get("set-cookie", "").split(";")[0] != value, f"cookie refresh {status} {data!r}")
    new_value = h["set-cookie"].split(";")[0]
    status, _, _, _ = anon.request("POST", "/api/v1/auth/refresh", headers={"Cookie": value})
    check(status == 401, f"old cookie {status}")
    status, h, _, _ = anon.request("POST", "/api/v1/auth/logout", headers={"Cookie": new_value})
    check(status == 204 and "Max-Age=0" in h.get("set-cookie", ""), f"cookie logout {status} {h}")
    status, _, _, _ = anon.request("POST", "/api/v1/auth/refresh", headers={"Cookie": new_value})
    check(status == 401, f"refresh after logout {status}")
    # Registration is closed by default.
    anon.problem("POST", "/api/v1/auth/register", {"address": "carol@example.test", "password": "long enough pw"}, expect=403)
    print("ok")


def admin(hostport, pw):
    root = Http(hostport, "root@example.test", pw)
    alice = Http(hostport, "alice@example.test", pw)
    for path in ["/api/v1/admin/users", "/api/v1/admin/domains", "/api/v1/admin/aliases"]:
        alice.problem("GET", path, expect=403)
    alice.problem("POST", "/api/v1/admin/domains", {"name": "evil.test"}, expect=403)
    check(root.json("GET", "/api/v1/me")["admin"] is True, "root is admin")
    d = root.json("POST", "/api/v1/admin/domains", {"name": "New.Test"}, expect=201)
    check(d["name"] == "new.test", f"domain {d}")
    root.problem("POST", "/api/v1/admin/domains", {"name": "new.test"}, expect=409)
    # The new domain's DNS records, its two DKIM keys among them; the same as the CLI prints.
    st, h, data, _ = root.request("GET", "/api/v1/admin/domains/new.test/dns")
    check(st == 200 and h["content-type"].startswith("text/plain"), f"dns {st} {h}")
    zone = data.decode()
    check("new.test. 3600 IN MX 10 " in zone and zone.count("._domainkey.new.test. 3600 IN TXT") == 2, f"zone {zone}")
    check("k=ed25519; p=" in zone and "k=rsa; p=" in zone, f"dkim records {zone}")
    alice.problem("GET", "/api/v1/admin/domains/new.test/dns", expect=403)
    # MTA-STS (RFC 8461): the record names the policy the HTTP listener serves on mta-sts.DOMAIN.
    check("mta-sts.new.test. 3600 IN CNAME " in zone, f"mta-sts name {zone}")
    sts_id = zone.split('_mta-sts.new.test. 3600 IN TXT "v=STSv1; id=')[1].split('"')[0]
    anon = Http(hostport)
    st, h, policy, _ = anon.request("GET", "/.well-known/mta-sts.txt", headers={"Host": "MTA-STS.new.test:8443"})
    check(st == 200 and h["content-type"].startswith("text/plain"), f"policy {st} {h}")
    check(policy.startswith(b"version: STSv1\r\n") and b"\r\nmx: " in policy and b"max_age: " in policy, f"policy {policy!r}")
    import hashlib
    check(hashlib.sha256(policy).hexdigest()[:16] == sts_id, f"policy id {sts_id} for {policy!r}")
    for host in ["mta-sts.nowhere.test", "new.test", "127.0.0.1"]:
        st, _, _, _ = anon.request("GET", "/.well-known/mta-sts.txt", headers={"Host": host})
        check(st == 404, f"no policy for {host}: {st}")
    root.problem("GET", "/api/v1/admin/domains/nowhere.test/dns", expect=404)
    u = root.json("POST", "/api/v1/admin/users", {"address": "carol@new.test", "password": "carol's password"}, expect=201)
    check(u["address"] == "carol@new.test" and u["admin"] is False, f"user {u}")
    root.problem("POST", "/api/v1/admin/users", {"address": "dave@nowhere.test", "password": "long enough"}, expect=404)
    root.problem("POST", "/api/v1/admin/users", {"address": "dave@new.test", "password": "short"}, expect=400)
    check(Http(hostport, "carol@new.test", "carol's password").json("GET", "/api/v1/me")["address"] == "carol@new.test", "carol logs in")
    carol_http = Http(hostport, "carol@new.test", "carol's password")
    using = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission"]

    def jmap(calls):
        return carol_http.json("POST", "/jmap/api", {"using": using, "methodCalls": calls})["methodResponses"]
    acc = carol_http.json("GET", "/jmap/session")["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    s0 = jmap([["Identity/get", {"accountId": acc}, "0"]])[0][1]["state"]
    root.json("POST", "/api/v1/admin/aliases", {"alias": "sales@new.test", "target": "carol@new.test"}, expect=201)
    check({"alias": "sales@new.test", "target": "carol@new.test"} in root.json("GET", "/api/v1/admin/aliases"), "alias listed")
    # The alias gives carol a sender address, so a default identity: Identity/changes says so.
    got = jmap([["Identity/changes", {"accountId": acc, "sinceState": s0}, "c"], ["Identity/get", {"accountId": acc}, "g"]])
    sales = [i["id"] for i in got[1][1]["list"] if i["email"] == "sales@new.test"]
    check(len(sales) == 1 and got[0][1]["created"] == sales, f"identity created with the alias: {got}")
    s1 = got[0][1]["newState"]
    st, _, _, _ = root.request("DELETE", "/api/v1/admin/aliases?alias=sales@new.test&target=carol@new.test")
    check(st == 204, f"alias remove {st}")
    got = jmap([["Identity/changes", {"accountId": acc, "sinceState": s1}, "c"], ["Identity/get", {"accountId": acc}, "g"]])
    check(got[0][1]["destroyed"] == sales and got[0][1]["created"] == [], f"identity destroyed with the alias: {got}")
    check(all(i["email"] != "sales@new.test" for i in got[1][1]["list"]), f"no identity left for it: {got[1]}")
    # Promote, and an admin token works while the role lasts.
    root.json("PATCH", "/api/v1/admin/users/carol@new.test", {"admin": True})
    carol = Http(hostport, "carol@new.test", "carol's password")
    tok = carol.json("POST", "/api/v1/tokens", {"name": "ops", "scopes": ["admin"]}, expect=201)["token"]
    ops = Http(hostport, token=tok)
    ops.json("GET", "/api/v1/admin/users")
    ops.problem("GET", "/api/v1/mailboxes", expect=403)  # admin scope alone reads no mail
    root.json("PATCH", "/api/v1/admin/users/carol@new.test", {"admin": False})
    ops.problem("GET", "/api/v1/admin/users", expect=403)
    root.problem("PATCH", "/api/v1/admin/users/root@example.test", {"admin": False}, expect=400)
    st, _, _, _ = root.request("DELETE", "/api/v1/admin/users/carol@new.test")
    check(st == 204, f"user remove {st}")
    carol.problem("GET", "/api/v1/me", expect=401)
    users = [x["address"] for x in root.json("GET", "/api/v1/admin/users")]
    check("carol@new.test" not in users and "alice@example.test" in users, f"users {users}")
    st, _, _, _ = root.request("DELETE", "/api/v1/admin/domains/new.test")
    check(st == 204, f"domain remove {st}")
    print("ok")


def register(hostport, pw):
    anon = Http(hostport)
    root = Http(hostport, "root@example.test", pw)
    anon.problem("POST", "/api/v1/auth/register", {"address": "carol@example.test", "password": "carol password"}, expect=403)
    anon.problem("POST", "/api/v1/auth/register", {"address": "carol@example.test", "password": "carol password", "invite": "mri_guess"}, expect=403)
    code = root.json("POST", "/api/v1/admin/invites", {"valid_hours": 1}, expect=201)["code"]
    Http(hostport, "alice@example.test", pw).problem("POST", "/api/v1/admin/invites", {}, expect=403)
    anon.problem("POST", "/api/v1/auth/register", {"address": "alice@example.test", "password": "carol password", "invite": code}, expect=409)
    anon.problem("POST", "/api/v1/auth/register", {"address": "postmaster@example.test", "password": "carol password", "invite": code}, expect=409)
    me = anon.json("POST", "/api/v1/auth/register", {"address": "carol@example.test", "password": "carol password", "invite": code}, expect=201)
    check(me["address"] == "carol@example.test" and me["admin"] is False, f"registered {me}")
    anon.json("POST", "/api/v1/auth/login", {"address": "carol@example.test", "password": "carol password"})
    anon.problem("POST", "/api/v1/auth/register", {"address": "dave@example.test", "password": "dave password", "invite": code}, expect=403)
    print("ok")


def middleware(hostport, pw):
    alice = Http(hostport, "alice@example.test", pw)
    status, h, data, _ = alice.request("GET", "/api/openapi.json", headers={"Accept-Encoding": "gzip"})
    check(status == 200 and h.get("content-encoding") == "gzip", f"compression {status} {h}")
    status, h, _, _ = alice.request("GET", "/healthz")
    check(len(h.get("x-request-id", "")) >= 32, f"request id {h}")
    status, h, _, _ = alice.request("GET", "/healthz", headers={"X-Request-Id": "abc-123"})
    check(h.get("x-request-id") == "abc-123", f"request id kept {h}")
    status, h, _, _ = Http(hostport).request("OPTIONS", "/api/v1/mailboxes", headers={
        "Origin": "https://mail.example.test", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    check(h.get("access-control-allow-origin") == "https://mail.example.test", f"cors preflight {status} {h}")
    status, h, _, _ = Http(hostport).request("OPTIONS", "/api/v1/mailboxes", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    check("access-control-allow-origin" not in h, f"cors for an unlisted origin {h}")
    status, h, data, _ = Http(hostport).request("GET", "/api/docs/")
    check(status == 200 and b"swagger" in data.lower(), f"docs {status} {data[:200]!r}")
    status, h, data, _ = Http(hostport).request("GET", "/api/docs/swagger-ui-bundle.js")
    check(status == 200 and len(data) > 100000, f"vendored swagger js {status} {len(data)}")
    print("ok")


def search(hostport, pw):
    """GET /api/v1/messages/search with curl: text anywhere (body included), fields, facts,
    paging; bob finds nothing of alice's."""
    def get(user, query, expect=200):
        out = subprocess.run(["curl", "-sS", "-G", "-u", f"{user}:{pw}", "-w", "\n%{http_code}"]
                             + sum([["--data-urlencode", q] for q in query], [])
                             + [f"http://{hostport}/api/v1/messages/search"], capture_output=True, timeout=30)
        body, _, code = out.stdout.decode().rpartition("\n")
        check(int(code) == expect, f"search {query}: {code} {body[:300]}")
        return json.loads(body)
    alice = Http(hostport, "alice@example.test", pw)
    for i, (subject, body) in enumerate([("Quarterly numbers", "the needle is here"), ("Lunch", "nothing"),
                                         ("Re: lunch", "see the NEEDLE again"), ("Invoice", "plain")]):
        alice.json("POST", "/api/v1/messages/send", {"from": "alice@example.test", "to": ["alice@example.test"],
                                                    "subject": subject, "text": body}, expect=201)
    r = get("alice@example.test", ["q=needle"])
    # Each was sent to alice herself: one copy in the inbox, one in Sent.
    check(sorted(m["subject"] for m in r["messages"]) == ["Quarterly numbers", "Quarterly numbers", "Re: lunch", "Re: lunch"]
          and r["total"] == 4, f"body search {[m['subject'] for m in r['messages']]}")
    inbox = inbox_of(alice)["id"]
    r = get("alice@example.test", ["q=needle", f"mailbox={inbox}"])
    check([m["subject"] for m in r["messages"]] == ["Re: lunch", "Quarterly numbers"] and r["total"] == 2, f"in inbox {r}")
    r = get("alice@example.test", ["subject=lunch", f"mailbox={inbox}", "limit=1"])
    check(r["total"] == 2 and len(r["messages"]) == 1 and r["next_offset"] == 1, f"paged {r}")
    r2 = get("alice@example.test", ["subject=lunch", f"mailbox={inbox}", "limit=1", "offset=1"])
    check(r2["next_offset"] is None and r2["messages"][0]["id"] != r["messages"][0]["id"], f"page 2 {r2}")
    r = get("alice@example.test", ["unread=true", f"mailbox={inbox}"])
    check(r["total"] == 4, f"unread {r['total']}")
    r = get("alice@example.test", ["from=ALICE@example", "subject=invoice"])
    check({m["subject"] for m in r["messages"]} == {"Invoice"}, f"from+subject {r}")
    check(get("bob@example.test", ["q=needle"])["total"] == 0, "bob finds nothing of alice's")
    get("alice@example.test", [], expect=400)
    get("alice@example.test", ["q=x", "limit=0"], expect=400)
    get("alice@example.test", ["mailbox=e1"], expect=404)
    print("ok")


if __name__ == "__main__":
    scenario, hostport, password = sys.argv[1:4]
    {"send": send, "manage": manage, "tokens": tokens, "sessions": sessions, "admin": admin,
     "register": register, "middleware": middleware, "search": search}[scenario](hostport, password, *sys.argv[4:])
