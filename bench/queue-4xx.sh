#!/usr/bin/env bash
# The outbound queue under a peer that answers 4xx (issue 5): 10,000 messages of 4 KB are
# submitted for a domain whose only server refuses every recipient with 451; the queue
# retries them on a 10-second schedule. Prints, every 5 s, the delivery attempts the peer saw
# and the server's resident memory: attempts should come every 10 s per recipient and memory
# stay flat. The set-up is bench/submission.sh's.
#
#   cargo build --release && bench/queue-4xx.sh
set -euo pipefail
cd "$(dirname "$0")"
COUNT=${COUNT:-10000} RETRY_INTERVALS='["10s"]' exec ./submission.sh \
  --sink-refuse "451 4.7.1 try again later" --observe "${OBSERVE:-60}"
