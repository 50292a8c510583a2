#!/usr/bin/env bash
# Submission-to-peer benchmark (issue 5): messages of 4 KB submitted over implicit TLS with
# AUTH by 10 concurrent sessions, for a remote recipient routed ([delivery.routes]) to a sink
# the bench tool runs on loopback; DKIM-signed (Ed25519 and RSA) by the queue. Prints
# submissions/s and submission-to-peer msgs/s (first submission to last message at the sink).
#
#   cargo build --release && bench/submission.sh
#   PG_URL=postgres://root@127.0.0.1:5432/mailroom_bench bench/submission.sh   # an empty database
set -euo pipefail
cd "$(dirname "$0")/.."
R=${MAILROOM:-target/release/mailroom}
COUNT=${COUNT:-5000}
CONCURRENCY=${CONCURRENCY:-10}
[ -x "$R" ] || { echo "build first: cargo build --release" >&2; exit 1; }

dir=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
{
  echo "data_dir = \"$dir/data\""
  echo 'hostname = "bench.test"'
  [ -n "${PG_URL:-}" ] && printf '[database]\nurl = "%s"\n' "$PG_URL"
  printf '[listen]\nsubmissions = "127.0.0.1:15465"\n'
  printf '[submission]\nmax_messages_per_hour = 0\n'
  printf '[delivery]\nrelay = "127.0.0.1:9"\n[delivery.routes]\n"sink.test" = "127.0.0.1:12999"\n'
} > "$dir/cfg.toml"
"$R" --config "$dir/cfg.toml" domain add example.test >/dev/null
echo benchpass1 | "$R" --config "$dir/cfg.toml" user add sender@example.test --password-stdin >/dev/null
MAILROOM_LOG=${SERVER_LOG:-warn} "$R" --config "$dir/cfg.toml" serve > "$dir/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/15465) 2>/dev/null && break; sleep 0.2; done
t0=$(awk "{print \$14+\$15}" /proc/$server/stat)
[ -n "${PERF:-}" ] && { perf record -F 999 -g -p $server -o "$PERF" 2>/dev/null & perfpid=$!; }
MAILROOM_BENCH_PASSWORD=benchpass1 "$R" bench submission --addr 127.0.0.1:15465 \
  --user sender@example.test --to someone@sink.test --sink 127.0.0.1:12999 \
  -n "$COUNT" -c "$CONCURRENCY"
[ -n "${PERF:-}" ] && { kill -INT $perfpid; wait $perfpid 2>/dev/null || true; }
[ -n "${KEEP_LOG:-}" ] && cp "$dir/serve.log" "$KEEP_LOG"
t1=$(awk '{print $14+$15}' /proc/$server/stat)
echo "server CPU: $(( (t1 - t0) / $(getconf CLK_TCK) )).$(( (t1 - t0) % $(getconf CLK_TCK) )) s (user+system, of 2 cores)"
