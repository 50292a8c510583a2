#!/usr/bin/env bash
# JMAP list-view benchmark (issue 4): on a mailbox of ~100,000 messages, one request is
# Email/query (50 newest in INBOX by receivedAt) + Email/get of those 50 by back-reference
# (list-view properties), over HTTP Basic, with wrk at concurrency 10 and 100. Then, at
# concurrency 10: Email/changes since the state before one new delivery, and a full
# Mailbox/get with counts.
#
#   cargo build --release && bench/jmap-list.sh            # SQLite (embedded default)
#   PG_URL=postgres://root@127.0.0.1:5432/mailroom_bench bench/jmap-list.sh   # an empty database
#
# Needs wrk (apt-get install wrk) and the corpus at ../shared/corpus/mailbox.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${MAILROOM:-target/release/mailroom}
CORPUS=${CORPUS:-../shared/corpus/mailbox/linux-raid.mbox.gz}
COPIES=${COPIES:-5}          # 19,526 messages a copy
DURATION=${DURATION:-10s}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
[ -x "$R" ] || { echo "build first: cargo build --release" >&2; exit 1; }
[ -f "$CORPUS" ] || { echo "corpus not found: $CORPUS" >&2; exit 1; }

dir=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
{
  echo "data_dir = \"$dir/data\""
  [ -n "${PG_URL:-}" ] && printf '[database]\nurl = "%s"\n' "$PG_URL"
  printf '[listen]\nhttp = "127.0.0.1:18080"\n'
} > "$dir/cfg.toml"
"$R" --config "$dir/cfg.toml" domain add example.test >/dev/null
echo benchpass1 | "$R" --config "$dir/cfg.toml" user add big@example.test --password-stdin >/dev/null
for _ in $(seq "$COPIES"); do zcat -f "$CORPUS"; done > "$dir/in.mbox"
"$R" --config "$dir/cfg.toml" mbox import big@example.test "$dir/in.mbox"
rm "$dir/in.mbox"
MAILROOM_LOG=warn "$R" --config "$dir/cfg.toml" serve > "$dir/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.2; done

body='{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[["Email/query",{"accountId":"a1","filter":{"inMailbox":"m1"},"sort":[{"property":"receivedAt","isAscending":false}],"limit":50},"q"],["Email/get",{"accountId":"a1","#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},"properties":["from","subject","preview","receivedAt","keywords","hasAttachment"]},"g"]]}'
cat > "$dir/list.lua" <<EOT
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic $(printf 'big@example.test:benchpass1' | base64)"
wrk.body = '$body'
EOT
n=$(curl -sf -u big@example.test:benchpass1 http://127.0.0.1:18080/jmap/api -d "$body" | grep -o '"e[0-9]*"' | wc -l)
[ "$n" -ge 50 ] || { echo "the list request returned $n ids, expected 50" >&2; exit 1; }
# Warm up first (the pool opens its connections, the page cache fills), as a running server is.
wrk -t2 -c10 -d3s -s "$dir/list.lua" http://127.0.0.1:18080/jmap/api >/dev/null
for c in 10 100; do
  echo "== concurrency $c"
  wrk -t2 -c"$c" -d"$DURATION" --latency -s "$dir/list.lua" http://127.0.0.1:18080/jmap/api \
    | grep -E "Requests/sec|Latency  |50%|99%|Non-2xx"
done

# Email/changes after one delivery: note the state, deliver one message, ask what changed.
state_body='{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[["Email/get",{"accountId":"a1","ids":[]},"s"]]}'
state=$(curl -sf -u big@example.test:benchpass1 http://127.0.0.1:18080/jmap/api -d "$state_body" | grep -o '"state":"[0-9]*"' | grep -o '[0-9]*')
printf 'From bench@example.test Thu Jan  1 00:00:00 2026\nFrom: bench@example.test\nSubject: one more\n\nnew\n' > "$dir/one.mbox"
"$R" --config "$dir/cfg.toml" mbox import big@example.test "$dir/one.mbox" >/dev/null
run_one() {  # name, JSON body
  cat > "$dir/one.lua" <<EOT
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic $(printf 'big@example.test:benchpass1' | base64)"
wrk.body = '$2'
EOT
  echo "== $1, concurrency 10"
  wrk -t2 -c10 -d"$DURATION" --latency -s "$dir/one.lua" http://127.0.0.1:18080/jmap/api \
    | grep -E "Requests/sec|Latency  |50%|99%|Non-2xx"
}
changes_body='{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[["Email/changes",{"accountId":"a1","sinceState":"'"$state"'"},"c"]]}'
got=$(curl -sf -u big@example.test:benchpass1 http://127.0.0.1:18080/jmap/api -d "$changes_body")
echo "$got" | grep -q '"created":\["e[0-9]*"\]' || { echo "Email/changes did not report the one delivery: $got" >&2; exit 1; }
run_one "Email/changes after one delivery" "$changes_body"
run_one "Mailbox/get with counts" '{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[["Mailbox/get",{"accountId":"a1"},"m"]]}'
