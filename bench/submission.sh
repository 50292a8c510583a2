#!/usr/bin/env bash
# Submission-to-peer benchmark (issue 5): messages of 4 KB submitted over implicit TLS with
# AUTH by 10 concurrent sessions, for a remote recipient routed ([delivery.routes]) to a sink
# the bench tool runs on loopback; DKIM-signed (Ed25519 and RSA) by the queue. Prints
# submissions/s and submission-to-peer msgs/s (first submission to last message at the sink).
#
#   cargo build --release && bench/submission.sh
#   PG_URL=postgres://root@127.0.0.1:5432/mailroom_bench bench/submission.sh   # an empty database
#
# Arguments after the script's name go to `mailroom bench submission` (bench/queue-4xx.sh uses
# them); RETRY_INTERVALS sets `[delivery] retry_intervals`.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${MAILROOM:-target/release/mailroom}
COUNT=${COUNT:-5000}
CONCURRENCY=${CONCURRENCY:-10}
[ -x "$R" ] || { echo "build first: cargo build --release" >&2; exit 1; }

# Each run's data is left in place and removed by a later run once ten minutes old: ext4
# skips recently freed inodes when it allocates new ones, so removing 5,000 files just
# before the next run starts makes that run's file creation measurably slower (~25 % here).
find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'mailroom-bench-submission.*' -mmin +10 \
  -exec rm -rf {} + 2>/dev/null || true
dir=$(mktemp -d "${TMPDIR:-/tmp}/mailroom-bench-submission.XXXXXX")
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null || true' EXIT
{
  echo "data_dir = \"$dir/data\""
  echo 'hostname = "bench.test"'
  [ -n "${PG_URL:-}" ] && printf '[database]\nurl = "%s"\n' "$PG_URL"
  printf '[listen]\nsubmissions = "127.0.0.1:15465"\n'
  printf '[submission]\nmax_messages_per_hour = 0\n'
  printf '[delivery]\nrelay = "127.0.0.1:9"\n'
  [ -n "${RETRY_INTERVALS:-}" ] && printf 'retry_intervals = %s\n' "$RETRY_INTERVALS"
  printf '[delivery.routes]\n"sink.test" = "127.0.0.1:12999"\n'
} > "$dir/cfg.toml"
"$R" --config "$dir/cfg.toml" domain add example.test >/dev/null
echo benchpass1 | "$R" --config "$dir/cfg.toml" user add sender@example.test --password-stdin >/dev/null
MAILROOM_LOG=${SERVER_LOG:-warn} "$R" --config "$dir/cfg.toml" serve > "$dir/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/15465) 2>/dev/null && break; sleep 0.2; done
echo "server RSS before: $(awk '/VmRSS/ {print int($2/1024)}' /proc/$server/status) MiB"
t0=$(awk "{print \$14+\$15}" /proc/$server/stat)
[ -n "${PERF:-}" ] && { perf record -F 999 -g -p $server -o "$PERF" 2>/dev/null & perfpid=$!; }
MAILROOM_BENCH_PASSWORD=benchpass1 "$R" bench submission --addr 127.0.0.1:15465 \
  --user sender@example.test --to someone@sink.test --sink 127.0.0.1:12999 \
  -n "$COUNT" -c "$CONCURRENCY" --pid "$server" "$@"
[ -n "${PERF:-}" ] && { kill -INT $perfpid; wait $perfpid 2>/dev/null || true; }
[ -n "${KEEP_LOG:-}" ] && cp "$dir/serve.log" "$KEEP_LOG"
t1=$(awk '{print $14+$15}' /proc/$server/stat)
hz=$(getconf CLK_TCK)
printf 'server CPU: %d.%02d s (user+system, of 2 cores)\n' $(( (t1 - t0) / hz )) $(( (t1 - t0) % hz * 100 / hz ))
echo "still queued: $("$R" --config "$dir/cfg.toml" queue list | grep -c ' queued attempts' || true) recipient(s)"
