#!/usr/bin/env bash
# Instructions per proxied GET (issue 9): runs `hack/bench.sh get` against the connector only, the
# connector under callgrind with instrumentation off, and instruments exactly the timed c=16 phase
# (its connections already open), then prints instructions per request without TLS handshakes.
#
#   bench/proxy/callgrind_get.sh NAME      (Release binaries in $BUILD_DIR, default build-soak)
#   PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 bench/proxy/callgrind_get.sh mimalloc
#
# Output: /tmp/cg-NAME.out.* (callgrind_annotate it) and one summary line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
name=${1:?usage: callgrind_get.sh NAME}
log=/tmp/cg-$name.txt
rm -f "/tmp/cg-$name.out"*
wrapper="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg-$name.out"
[ -n "${PRELOAD:-}" ] && wrapper="env LD_PRELOAD=$PRELOAD $wrapper"
TARGETS=connector BUILD_DIR=${BUILD_DIR:-build-soak} SKIP_BUILD=1 CONNECTOR_WRAPPER="$wrapper" \
  hack/bench.sh get --reps 1 --seconds 10 >"$log" 2>&1 &
bench=$!
until grep -q "get c=1 rep" "$log" 2>/dev/null; do sleep 0.2; done
sleep 2  # the c=16 connections' handshakes
callgrind_control -i on >/dev/null
until grep -q "get c=16 rep" "$log" 2>/dev/null; do sleep 0.2; done
callgrind_control -i off >/dev/null
callgrind_control -d >/dev/null
wait "$bench" || true
# (awk reads every line: an early exit would end the pipeline with SIGPIPE under pipefail)
out=$(ls -S "/tmp/cg-$name.out."* | awk 'NR == 1')
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
requests=$(callgrind_annotate --tree=calling "$out" 2>/dev/null |
  awk 'match($0, />   \?\?\?:proxy::fast::TranslateObject.*\(([0-9,]+)x\)/) && !n {
         s = substr($0, RSTART, RLENGTH); sub(/.*\(/, "", s); sub(/x\).*/, "", s);
         gsub(",", "", s); print s; n = 1 }')
handshakes=$(callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
  awk '/SSL_do_handshake/ && !n {gsub(",", "", $1); print $1; n = 1}')
echo "$name: $total instructions, $requests requests, $((total - ${handshakes:-0})) without handshakes:" \
  "$(((total - ${handshakes:-0}) / requests)) per request"
