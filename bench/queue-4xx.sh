#!/usr/bin/env bash
# The outbound queue under a peer that answers 4xx (issue 5): 10,000 messages of 4 KB are
# submitted for a domain whose only server refuses every recipient with 451; the queue
# retries them on a 10-second schedule. Prints, every 5 s, the delivery attempts the peer saw
# and the server's resident memory: attempts should come in waves every 10 s and memory stay
# flat.
#
#   cargo build --release && bench/queue-4xx.sh
set -euo pipefail
cd "$(dirname "$0")/.."
R=${MAILROOM:-target/release/mailroom}
COUNT=${COUNT:-10000}
OBSERVE=${OBSERVE:-60}
[ -x "$R" ] || { echo "build first: cargo build --release" >&2; exit 1; }

dir=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
{
  echo "data_dir = \"$dir/data\""
  echo 'hostname = "bench.test"'
  [ -n "${PG_URL:-}" ] && printf '[database]\nurl = "%s"\n' "$PG_URL"
  printf '[listen]\nsubmissions = "127.0.0.1:15465"\n'
  printf '[submission]\nmax_messages_per_hour = 0\n'
  printf '[delivery]\nretry_intervals = ["10s"]\nrelay = "127.0.0.1:9"\n'
  printf '[delivery.routes]\n"sink.test" = "127.0.0.1:12999"\n'
} > "$dir/cfg.toml"
"$R" --config "$dir/cfg.toml" domain add example.test >/dev/null
echo benchpass1 | "$R" --config "$dir/cfg.toml" user add sender@example.test --password-stdin >/dev/null
MAILROOM_LOG=warn "$R" --config "$dir/cfg.toml" serve > "$dir/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/15465) 2>/dev/null && break; sleep 0.2; done
echo "server RSS before: $(awk '/VmRSS/ {print int($2/1024)}' /proc/$server/status) MiB"
MAILROOM_BENCH_PASSWORD=benchpass1 "$R" bench submission --addr 127.0.0.1:15465 \
  --user sender@example.test --to someone@sink.test --sink 127.0.0.1:12999 \
  -n "$COUNT" -c 10 --sink-refuse "451 4.7.1 try again later" --observe "$OBSERVE" --pid "$server"
echo "queued recipients: $("$R" --config "$dir/cfg.toml" queue list | grep -c ' queued attempts')"
