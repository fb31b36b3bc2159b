#!/usr/bin/env bash
# User vs system CPU and context switches per proxied GET (issue 9), for nginx or the connector:
# runs `hack/bench.sh get --seconds 20` against one target and samples the proxy's threads
# (/proc/<pid>/task/*/stat and status) over 10 s inside the c=1 phase and inside the c=16 phase.
#
#   bench/proxy/cpu_split.sh nginx|connector     (Release binaries in $BUILD_DIR, default build-soak)
#
# Prints, per phase: requests/s, voluntary and involuntary context switches, user and system CPU
# microseconds, all per request.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
target=${1:?usage: cpu_split.sh nginx|connector}
case "$target" in
  nginx) pattern='^nginx: worker' ;;
  connector) pattern='mcp-connector serve' ;;
  *) echo "cpu_split: unknown target $target" >&2; exit 2 ;;
esac
log=$(mktemp /tmp/cpu-split.XXXXXX)
trap 'rm -f "$log"' EXIT

sample() {  # voluntary involuntary utime stime (ticks), summed over the threads of $1
  local v=0 n=0 u=0 s=0 t a b
  for t in /proc/"$1"/task/*; do
    v=$((v + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status")))
    n=$((n + $(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$t/status")))
    read -r a b < <(awk '{print $14, $15}' "$t/stat")
    u=$((u + a))
    s=$((s + b))
  done
  echo "$v $n $u $s"
}

TARGETS=$target BUILD_DIR=${BUILD_DIR:-build-soak} SKIP_BUILD=1 \
  hack/bench.sh get --reps 1 --seconds 20 >"$log" 2>&1 &
bench=$!
until pgrep -f "$pattern" >/dev/null; do sleep 0.2; done
pid=$(pgrep -f "$pattern" | head -1)
# One sample a second; a phase's window is the 10 s that end 1 s before proxy_bench reports it
# (it prints a run's line when the run ends).
samples=()
end1=-1
end16=-1
while kill -0 "$bench" 2>/dev/null && [ "$end16" -lt 0 ]; do
  samples+=("$(sample "$pid")")
  if [ "$end1" -lt 0 ] && grep -q "get c=1 rep" "$log"; then end1=$((${#samples[@]} - 2)); fi
  if [ "$end16" -lt 0 ] && grep -q "get c=16 rep" "$log"; then end16=$((${#samples[@]} - 2)); fi
  sleep 1
done
wait "$bench" || true
if [ "$end1" -lt 10 ] || [ "$end16" -lt 10 ]; then
  echo "cpu_split: the phases were not seen (see hack/bench.sh get)" >&2
  exit 1
fi
a=${samples[$((end1 - 10))]}; b=${samples[$end1]}
c=${samples[$((end16 - 10))]}; d=${samples[$end16]}
r1=$(awk '/^req\/s c=1 / {print $3}' "$log")
r16=$(awk '/^req\/s c=16 / {print $3}' "$log")
tick=$(getconf CLK_TCK)
awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v r1="$r1" -v r16="$r16" -v tick="$tick" \
  -v t="$target" 'BEGIN {
    split(a, A); split(b, B); split(c, C); split(d, D)
    n = r1 * 10; m = r16 * 10
    printf "%s c=1:  %.0f req/s, per request: %.2f voluntary + %.2f involuntary switches, user %.1f us, system %.1f us\n",
      t, r1, (B[1]-A[1])/n, (B[2]-A[2])/n, (B[3]-A[3])*1e6/tick/n, (B[4]-A[4])*1e6/tick/n
    printf "%s c=16: %.0f req/s, per request: %.2f voluntary + %.2f involuntary switches, user %.1f us, system %.1f us\n",
      t, r16, (D[1]-C[1])/m, (D[2]-C[2])/m, (D[3]-C[3])*1e6/tick/m, (D[4]-C[4])*1e6/tick/m
  }'
