#!/usr/bin/env bash
# IMAP benchmark (issue 6): a ~100,000-message INBOX (the mailbox corpus imported COPIES
# times), then `mailroom bench imap`: LOGIN+SELECT latency, UID FETCH 1:* (UID FLAGS),
# FETCH 1:* (ENVELOPE BODYSTRUCTURE) and BODY.PEEK[] first after a restart (page cache dropped when
# possible) and warm, FETCH 1:* BODY.PEEK[] throughput, UID SEARCH FROM, APPEND one at a
# time, and IDLERS sessions in IDLE (server memory per connection, time until all saw one
# SMTP delivery).
#
#   cargo build --release && bench/imap.sh                 # SQLite (embedded default)
#   PG_URL=postgres://root@127.0.0.1:5432/mailroom_bench bench/imap.sh   # an empty database
#
# Needs the corpus at ../shared/corpus/mailbox. Raises the open-files limit for the IDLE part.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${MAILROOM:-target/release/mailroom}
CORPUS=${CORPUS:-../shared/corpus/mailbox/linux-raid.mbox.gz}
COPIES=${COPIES:-5}          # 19,526 messages a copy
IDLERS=${IDLERS:-5000}
APPENDS=${APPENDS:-2000}
[ -x "$R" ] || { echo "build first: cargo build --release" >&2; exit 1; }
[ -f "$CORPUS" ] || { echo "corpus not found: $CORPUS" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

dir=${KEEP_DIR:-$(mktemp -d)}
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP_DIR:-}" ] || rm -rf "$dir"' EXIT
server=
if [ ! -f "$dir/cfg.toml" ]; then
  {
    echo "data_dir = \"$dir/data\""
    [ -n "${PG_URL:-}" ] && printf '[database]\nurl = "%s"\n' "$PG_URL"
    printf '[listen]\nsmtp = "127.0.0.1:12525"\nimap = "127.0.0.1:11143"\nhttp = "127.0.0.1:18080"\n'
    printf '[imap]\nmax_connections_per_ip = 20000\nmax_connections = 20000\n'
  } > "$dir/cfg.toml"
  "$R" --config "$dir/cfg.toml" domain add example.test >/dev/null
  echo benchpass1 | "$R" --config "$dir/cfg.toml" user add big@example.test --password-stdin >/dev/null
  for _ in $(seq "$COPIES"); do zcat -f "$CORPUS"; done > "$dir/in.mbox"
  "$R" --config "$dir/cfg.toml" mbox import big@example.test "$dir/in.mbox"
  rm "$dir/in.mbox"
fi
start() {
  MAILROOM_LOG=warn "$R" --config "$dir/cfg.toml" serve > "$dir/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/11143) 2>/dev/null && break; sleep 0.1; done
}
bench() { MAILROOM_BENCH_PASSWORD=benchpass1 "$R" bench imap --addr 127.0.0.1:11143 \
  --smtp 127.0.0.1:12525 --user big@example.test --pid "$server" "$@"; }

# First run after a restart, with a cold page cache where the machine lets us drop it.
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(page cache not dropped: not root)"
start
echo "== first after a restart"
bench --only headers,bodies
echo "== warm"
bench --only login,flags,headers,bodies,search,append --appends "$APPENDS"
echo "== IDLE (a fresh server process, so its memory before is a baseline)"
kill "$server"; wait "$server" 2>/dev/null || true
start
bench --only idle --idlers "$IDLERS"
