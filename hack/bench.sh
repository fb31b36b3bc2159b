#!/usr/bin/env bash
# Issue 9's benchmarks: the same load against three targets on this machine, interleaved.
#
#   hack/bench.sh [get|create|list|watch|naming|translate|all] [proxy_bench flags...]
#   (naming and translate are Google Benchmark programs: bench/naming, bench/translate)
#
#   (a) direct     the control plane (build-bench/fakekube --fixtures hack/demo/control-plane)
#   (b) nginx      Debian's nginx as a plain TLS reverse proxy to it (upstream keep-alive), run
#                  from a config this script writes to a temp dir, on a free loopback port
#   (c) connector  build-bench/mcp-connector, spoken to as kube-aggregator does (front-proxy
#                  client certificate + X-Remote-User/X-Remote-Group); SubjectAccessReviews go
#                  to a second fakekube (the app cluster) and are cached
#
# Builds Release into build-bench/ (only mcp-connector, fakekube and the bench programs), starts
# fresh processes for each workload, runs bench/proxy/proxy_bench and prints its table.
# Extra arguments go to proxy_bench (e.g. --reps 5 --seconds 10 --rate 500).
# Environment: BUILD_DIR (default build-bench), SKIP_BUILD=1, TARGETS (default
# "direct nginx connector"), NGINX_WORKERS (default 1),
# CONNECTOR_IO_THREADS (the connector's --io-threads; default: its own default, 2),
# CONNECTOR_FLAGS (extra connector flags), CONNECTOR_BIN (another connector binary, e.g. a
# build of the previous commit for an A/B run; default $BUILD_DIR/mcp-connector),
# CONNECTOR_WRAPPER (e.g. "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out" to
# profile the connector), KEEP=1 (keep the temp dir).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-build-bench}
NGINX_WORKERS=${NGINX_WORKERS:-1}
what=${1:-all}
[ $# -gt 0 ] && shift
case "$what" in
  get|create|list|watch|naming|translate|all) ;;
  soak)  # issue 8's soak (bench/soak, helper "soak"): it starts its own processes; extra flags
         # go to it (--minutes 10 --watches 1000 ...; see bench/README.md "Soak (issue 8)")
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
      cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON \
        -DBUILD_BENCH=ON >/dev/null
      cmake --build "$BUILD_DIR" --target mcp-connector soak -j2
    fi
    exec "$BUILD_DIR/bench/soak/soak" --connector "$BUILD_DIR/mcp-connector" "$@" ;;
  -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "bench: unknown workload $what" >&2; exit 2 ;;
esac

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON \
    -DBUILD_BENCH=ON >/dev/null
  targets=(mcp-connector fakekube proxy_bench)
  [ "$what" = naming ] || [ "$what" = all ] && targets+=(naming_bench)
  [ "$what" = translate ] || [ "$what" = all ] && targets+=(translate_bench)
  cmake --build "$BUILD_DIR" --target "${targets[@]}" -j2
fi

if [ "$what" = naming ]; then
  "$BUILD_DIR/bench/naming/naming_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
  exit 0
fi
if [ "$what" = translate ]; then
  "$BUILD_DIR/bench/translate/translate_bench" --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true "$@"
  exit 0
fi

WORK=$(mktemp -d /tmp/mcp-bench.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  pids=()
}
trap 'cleanup; [ "${KEEP:-0}" = 1 ] && echo "bench: kept $WORK" >&2 || rm -rf "$WORK"' EXIT

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

wait_file() {  # wait_file FILE SECONDS
  for _ in $(seq 1 $(($2 * 10))); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "bench: $1 did not appear" >&2
  return 1
}

run_workload() {
  local w=$1
  shift
  local d="$WORK/$w"
  mkdir -p "$d"
  # Control plane and app cluster.
  "$BUILD_DIR/fakekube" --bind-address 127.0.0.1 --secure-port 0 --write-kubeconfig "$d/cp.kubeconfig" \
    --fixtures hack/demo/control-plane >"$d/cp.log" 2>&1 &
  local cp_pid=$!
  pids+=("$cp_pid")
  "$BUILD_DIR/fakekube" --bind-address 127.0.0.1 --secure-port 0 --write-kubeconfig "$d/app.kubeconfig" \
    >"$d/app.log" 2>&1 &
  pids+=($!)
  wait_file "$d/cp.kubeconfig" 30
  wait_file "$d/app.kubeconfig" 30
  local cp_port
  cp_port=$(sed -n 's#.*server: https://127.0.0.1:\([0-9]*\).*#\1#p' "$d/cp.kubeconfig" | head -1)
  "$BUILD_DIR/bench/proxy/proxy_bench" certs --dir "$d" --cp-kubeconfig "$d/cp.kubeconfig"

  # nginx: a plain TLS reverse proxy with upstream keep-alive, no buffering (streams relayed).
  local nginx_port
  nginx_port=$(free_port)
  mkdir -p "$d/nginx/logs" "$d/nginx/tmp"
  cat >"$d/nginx/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
daemon off;
pid $d/nginx/nginx.pid;
error_log $d/nginx/logs/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 16000; }
http {
  access_log off;
  client_body_temp_path $d/nginx/tmp/body;
  proxy_temp_path $d/nginx/tmp/proxy;
  fastcgi_temp_path $d/nginx/tmp/fastcgi;
  uwsgi_temp_path $d/nginx/tmp/uwsgi;
  scgi_temp_path $d/nginx/tmp/scgi;
  upstream controlplane {
    server 127.0.0.1:$cp_port;
    keepalive 64;
    keepalive_requests 100000;
  }
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $d/serving.crt;
    ssl_certificate_key $d/serving.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 100000;
    client_max_body_size 4m;
    location / {
      proxy_pass https://controlplane;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_certificate $d/admin.crt;
      proxy_ssl_certificate_key $d/admin.key;
      proxy_ssl_session_reuse on;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 3600s;
    }
  }
}
EOF
  nginx -p "$d/nginx" -c "$d/nginx/nginx.conf" -e "$d/nginx/logs/error.log" &
  local nginx_pid=$!
  pids+=("$nginx_pid")

  # The connector, trusting our front-proxy CA; the served API from the example XRD + claim CRD.
  { cat hack/demo/control-plane/10-xrd-xkubernetesclusters.yaml; echo "---"
    cat hack/demo/control-plane/12-crd-kubernetesclusters.yaml; } >"$d/api.yaml"
  local conn_port
  conn_port=$(free_port)
  # shellcheck disable=SC2086
  ${CONNECTOR_WRAPPER:-} "${CONNECTOR_BIN:-$BUILD_DIR/mcp-connector}" serve --bind-address 127.0.0.1 --secure-port "$conn_port" \
    --cert-dir "$d/connector-certs" --kubeconfig "$d/app.kubeconfig" \
    --control-plane-kubeconfig "$d/cp.kubeconfig" --cluster-id bench-cluster \
    --claim-namespace bench-claims --api-file "$d/api.yaml" \
    --requestheader-client-ca-file "$d/front-proxy-ca.crt" --authentication-skip-lookup \
    --leader-elect=false --max-watches 12000 --max-requests-inflight 4000 --v=0 \
    ${CONNECTOR_IO_THREADS:+--io-threads "$CONNECTOR_IO_THREADS"} ${CONNECTOR_FLAGS:-} >"$d/connector.log" 2>&1 &
  local conn_pid=$!
  pids+=("$conn_pid")
  sleep 1
  # Until the connector listens (a CONNECTOR_WRAPPER such as valgrind takes many seconds).
  local i
  for i in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$conn_port") 2>/dev/null && break
    kill -0 "$conn_pid" 2>/dev/null || break
    sleep 0.1
  done
  for p in "$cp_pid" "$nginx_pid" "$conn_pid"; do
    kill -0 "$p" 2>/dev/null || { echo "bench: a process exited; logs in $d" >&2; tail "$d"/*.log; return 1; }
  done

  local targets=()
  for t in ${TARGETS:-direct nginx connector}; do
    case "$t" in
      direct) targets+=(--direct "$cp_port") ;;
      nginx) targets+=(--nginx "$nginx_port:$nginx_pid") ;;
      connector) targets+=(--connector "$conn_port:$conn_pid") ;;
    esac
  done
  "$BUILD_DIR/bench/proxy/proxy_bench" run --workload "$w" --dir "$d" --cp-kubeconfig "$d/cp.kubeconfig" \
    --cp-pid "$cp_pid" "${targets[@]}" "$@"
  cleanup
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) CPUs, $(nginx -v 2>&1)"
if [ "$what" = all ]; then
  for w in get create list watch; do run_workload "$w" "$@"; done
  "$BUILD_DIR/bench/naming/naming_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
  "$BUILD_DIR/bench/translate/translate_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
else
  run_workload "$what" "$@"
fi
