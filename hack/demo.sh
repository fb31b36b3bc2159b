#!/usr/bin/env bash
# The local demo: the upstream guide's example, end to end, on this machine, in one command.
#
#   hack/demo.sh          install deps, build, start a fake control plane and a fake app cluster
#                         (both build/fakekube), start build/mcp-connector between them, wait for
#                         the APIServices, then apply the guide's claim.yaml in the app cluster and
#                         show where it lives in the control plane. Everything stays running.
#   hack/demo.sh down     stop what the demo started and remove .demo/
#   hack/demo.sh status   what is running
#   hack/demo.sh --kubeconfig APP --control-plane-kubeconfig CP [--advertise-address IP]
#                         the same against real clusters: the connector runs here and the app
#                         cluster's aggregator reaches it at IP (default: this host's first address)
#
# Options: --skip-deps, --skip-build, --down-after (tear down at the end, e.g. in CI),
#          --cluster-id ID, --claim-namespace NS, --help.
# Environment: BUILD_DIR (default build), BUILD_TYPE (default Release), DEMO_DIR (default .demo).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Release}
DEMO_DIR=${DEMO_DIR:-.demo}
case "$DEMO_DIR" in /|.|""|..) echo "demo: refusing DEMO_DIR=$DEMO_DIR" >&2; exit 1 ;; esac
FIXTURES=hack/demo/control-plane
SERVICE_NAMESPACE=kube-system
SERVICE_NAME=mcp-connector
CLAIM_API=v1alpha1.k8s.starter.org
XR_API=v1alpha1.platform.example.org

mode=fake
skip_deps=false
skip_build=false
down_after=false
app_kubeconfig=""
cp_kubeconfig=""
advertise_address=""
cluster_id=""
claim_namespace=my-app-ns-1
command=up

# ---- output -------------------------------------------------------------------------------------

if [ -t 1 ]; then bold=$'\033[1m'; dim=$'\033[2m'; red=$'\033[31m'; off=$'\033[0m'; else
  bold=""; dim=""; red=""; off=""; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$off"; }
say() { printf '%s\n' "$*"; }
die() { printf '%sdemo: %s%s\n' "$red" "$*" "$off" >&2; exit 1; }

# A command line as a user would type it: arguments with shell metacharacters single-quoted.
quote_args() {
  local out="" a
  for a in "$@"; do
    if [[ $a =~ ^[][A-Za-z0-9_./:=,@%+^-]+$ ]]; then out+=" $a"
    else out+=" '${a//\'/\'\\\'\'}'"; fi
  done
  printf '%s' "${out# }"
}

# Prints a command the way a user would type it, then runs it.
show() {
  printf '%s$ %s%s\n' "$dim" "$(quote_args "$@")" "$off"
  "$@"
}

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

# ---- arguments ----------------------------------------------------------------------------------

while [ $# -gt 0 ]; do
  case "$1" in
    down|status|up) command=$1 ;;
    --kubeconfig) app_kubeconfig=${2:?--kubeconfig needs a file}; shift ;;
    --kubeconfig=*) app_kubeconfig=${1#*=} ;;
    --control-plane-kubeconfig) cp_kubeconfig=${2:?--control-plane-kubeconfig needs a file}; shift ;;
    --control-plane-kubeconfig=*) cp_kubeconfig=${1#*=} ;;
    --advertise-address) advertise_address=${2:?--advertise-address needs an IP}; shift ;;
    --advertise-address=*) advertise_address=${1#*=} ;;
    --cluster-id) cluster_id=${2:?--cluster-id needs a value}; shift ;;
    --cluster-id=*) cluster_id=${1#*=} ;;
    --claim-namespace) claim_namespace=${2:?--claim-namespace needs a value}; shift ;;
    --claim-namespace=*) claim_namespace=${1#*=} ;;
    --skip-deps) skip_deps=true ;;
    --skip-build) skip_build=true ;;
    --down-after) down_after=true ;;
    -h|--help|help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
if [ -n "$app_kubeconfig$cp_kubeconfig" ]; then
  if [ -z "$app_kubeconfig" ] || [ -z "$cp_kubeconfig" ]; then
    die "real clusters need both --kubeconfig APP and --control-plane-kubeconfig CP"
  fi
  [ -r "$app_kubeconfig" ] || die "cannot read $app_kubeconfig"
  [ -r "$cp_kubeconfig" ] || die "cannot read $cp_kubeconfig"
  app_kubeconfig=$(realpath "$app_kubeconfig")
  cp_kubeconfig=$(realpath "$cp_kubeconfig")
  mode=real
fi

# ---- processes ----------------------------------------------------------------------------------

# start NAME BINARY ARGS...: runs BINARY in its own session (it outlives this script), logging
# to $DEMO_DIR/NAME.log, its pid in $DEMO_DIR/NAME.pid.
start() {
  local name=$1
  shift
  setsid "$@" >"$DEMO_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$DEMO_DIR/$name.pid"
}

# The pid in $DEMO_DIR/NAME.pid if that process is still the one we started.
live_pid() {
  local file="$DEMO_DIR/$1.pid" pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE "(fakekube|mcp-connector)" || return 1
  echo "$pid"
}

stop() {
  local name=$1 pid
  pid=$(live_pid "$name") || { rm -f "$DEMO_DIR/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) did not stop within 10s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DEMO_DIR/$name.pid"
}

any_running() {
  local n
  for n in connector app control-plane; do live_pid "$n" >/dev/null && return 0; done
  return 1
}

logs_hint() {
  local n
  for n in control-plane app connector; do
    [ -f "$DEMO_DIR/$n.log" ] || continue
    printf '\n%s--- last lines of %s/%s.log ---%s\n' "$bold" "$DEMO_DIR" "$n" "$off" >&2
    tail -n 15 "$DEMO_DIR/$n.log" >&2
  done
  printf '\nThe processes are still running for inspection; stop them with: hack/demo.sh down\n' >&2
}

# ---- kubectl ------------------------------------------------------------------------------------

app_kc() { if [ "$mode" = real ]; then echo "$app_kubeconfig"; else echo "$DEMO_DIR/app.kubeconfig"; fi; }
cp_kc() { if [ "$mode" = real ]; then echo "$cp_kubeconfig"; else echo "$DEMO_DIR/control-plane.kubeconfig"; fi; }
kapp() { kubectl --kubeconfig "$(app_kc)" "$@"; }
kcp() { kubectl --kubeconfig "$(cp_kc)" "$@"; }
abs() { case "$1" in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
# Shown variants (print the command first).
show_app() { show kubectl --kubeconfig "$(app_kc)" "$@"; }
show_cp() { show kubectl --kubeconfig "$(cp_kc)" "$@"; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
  local timeout=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      printf '%sdemo: timed out after %ss waiting for %s%s\n' "$red" "$timeout" "$what" "$off" >&2
      return 1
    fi
    if [ "$mode" = fake ] || [ -f "$DEMO_DIR/connector.pid" ]; then
      for n in control-plane app connector; do
        if [ -f "$DEMO_DIR/$n.pid" ] && ! live_pid "$n" >/dev/null; then
          printf '%sdemo: %s exited while waiting for %s%s\n' "$red" "$n" "$what" "$off" >&2
          return 1
        fi
      done
    fi
    sleep 0.2
  done
}

apiservice_available() {
  [ "$(kapp get apiservice "$1" \
       -o jsonpath='{.status.conditions[?(@.type=="Available")].status}' 2>/dev/null)" = True ]
}

# A free TCP port on 127.0.0.1 (nothing accepts a connection on it).
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# ---- down / status ------------------------------------------------------------------------------

down() {
  if [ ! -d "$DEMO_DIR" ]; then say "demo: nothing to stop ($DEMO_DIR does not exist)"; return 0; fi
  if [ -f "$DEMO_DIR/mode" ] && [ "$(cat "$DEMO_DIR/mode")" = real ] && [ -f "$DEMO_DIR/real.env" ]; then
    # Real clusters outlive the demo: remove what the demo created there.
    # shellcheck disable=SC1091
    . "$DEMO_DIR/real.env"
    mode=real
    step "Removing the demo's objects from the real clusters"
    if live_pid connector >/dev/null; then
      kapp delete -f hack/demo/claim.yaml -f hack/demo/app.yaml --ignore-not-found --wait=false \
        --request-timeout=10s || true
    fi
    stop connector
    "$BUILD_DIR/mcp-connector" uninstall --kubeconfig "$app_kubeconfig" --cluster-id "$cluster_id" \
      --service-namespace "$SERVICE_NAMESPACE" --service-name "$SERVICE_NAME" ||
      say "mcp-connector uninstall failed; remove the APIServices labelled app.kubernetes.io/managed-by=mcp-connector by hand"
    kapp -n "$SERVICE_NAMESPACE" delete service,endpoints "$SERVICE_NAME" --ignore-not-found || true
    say "Left in the control plane: namespace $claim_namespace and the demo's XRDs/CRDs (if the demo applied them)."
  fi
  stop connector
  stop app
  stop control-plane
  rm -rf "$DEMO_DIR"
  say "demo: stopped and removed $DEMO_DIR"
}

status() {
  local n pid
  [ -d "$DEMO_DIR" ] || { say "demo: not running"; return 0; }
  for n in control-plane app connector; do
    if pid=$(live_pid "$n"); then say "$n: running (pid $pid, log $DEMO_DIR/$n.log)"
    else say "$n: not running"; fi
  done
}

case "$command" in
  down) down; exit 0 ;;
  status) status; exit 0 ;;
esac

# ---- up -----------------------------------------------------------------------------------------

if any_running; then
  status
  die "the demo is already running; stop it first with: hack/demo.sh down"
fi
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR/certs"
echo "$mode" >"$DEMO_DIR/mode"

if [ "$skip_deps" = false ]; then
  step "Installing dependencies (Debian packages; nothing when they are all present)"
  bash hack/install-deps.sh
fi
command -v kubectl >/dev/null || die "kubectl is required on PATH (the demo drives both clusters with it)"

targets=(mcp-connector)
[ "$mode" = fake ] && targets+=(fakekube)
if [ "$skip_build" = false ]; then
  step "Building ${targets[*]} ($BUILD_TYPE, in $BUILD_DIR/)"
  show cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DBUILD_TESTING=OFF \
    -DBUILD_BENCH=OFF >/dev/null
  if [ "$mode" = fake ] && ! grep -qE '^build fakekube( |:)' "$BUILD_DIR/build.ninja"; then
    # fakekube lives under tests/: configure it in, but build only the two binaries.
    show cmake -S . -B "$BUILD_DIR" -DBUILD_TESTING=ON >/dev/null
  fi
  show cmake --build "$BUILD_DIR" --target "${targets[@]}"
fi
for t in "${targets[@]}"; do
  [ -x "$BUILD_DIR/$t" ] || die "$BUILD_DIR/$t is missing (build it, or drop --skip-build)"
done
t0=$SECONDS
# From here on a failure shows the processes' logs.
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ "$down_after" = true ]; then logs_hint 2>&1 | grep -v 'still running'; down; else logs_hint; fi
  fi
}
trap on_exit EXIT

if [ "$mode" = fake ]; then
  step "Starting the control plane (fakekube with Crossplane's XRD CRD and the example APIs)"
  start control-plane "$BUILD_DIR/fakekube" --bind-address 127.0.0.1 --secure-port 0 \
    --write-kubeconfig "$DEMO_DIR/control-plane.kubeconfig" --fixtures "$FIXTURES"
  step "Starting the app cluster (fakekube --aggregator)"
  start app "$BUILD_DIR/fakekube" --aggregator --bind-address 127.0.0.1 --secure-port 0 \
    --write-kubeconfig "$DEMO_DIR/app.kubeconfig"
  wait_for 30 "the control plane's /readyz" kcp get --raw /readyz
  wait_for 30 "the app cluster's /readyz" kapp get --raw /readyz
  say "control plane: $(kcp config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  say "app cluster:   $(kapp config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  [ -n "$cluster_id" ] || cluster_id=demo-app-cluster
  bind_address=127.0.0.1
  advertise_address=127.0.0.1
else
  step "Checking the real clusters"
  show_app version
  show_cp version
  [ -n "$cluster_id" ] || cluster_id=$(kapp get namespaces --field-selector metadata.name=kube-system \
    -o jsonpath='{.items[0].metadata.uid}')
  [ -n "$cluster_id" ] || die "cannot read the UID of the app cluster's kube-system namespace; pass --cluster-id"
  if [ -z "$advertise_address" ]; then
    advertise_address=$(hostname -I 2>/dev/null | awk '{print $1}')
    [ -n "$advertise_address" ] || die "cannot tell this host's address; pass --advertise-address IP"
  fi
  bind_address=$advertise_address
  say "The app cluster's API server must reach this host at $advertise_address."
fi
{
  echo "app_kubeconfig=$(printf %q "$app_kubeconfig")"
  echo "cp_kubeconfig=$(printf %q "$cp_kubeconfig")"
  echo "cluster_id=$(printf %q "$cluster_id")"
  echo "claim_namespace=$(printf %q "$claim_namespace")"
} >"$DEMO_DIR/real.env"

step "Preparing the control plane: the example APIs and the claim namespace"
if ! kcp get crd compositeresourcedefinitions.apiextensions.crossplane.io >/dev/null 2>&1; then
  show_cp apply -f "$FIXTURES/00-crd-compositeresourcedefinitions.yaml"
fi
show_cp wait --for=condition=Established --timeout=30s \
  crd/compositeresourcedefinitions.apiextensions.crossplane.io
crossplane=false
if [ "$mode" = real ] && kcp get deploy -A -l app=crossplane -o name 2>/dev/null | grep -q .; then
  crossplane=true
fi
if ! kcp get crd kubernetesclusters.k8s.starter.org apps.platform.example.org >/dev/null 2>&1; then
  if [ "$crossplane" = true ]; then
    # A real Crossplane generates the CRDs from the XRDs.
    show_cp apply -f "$FIXTURES/10-xrd-xkubernetesclusters.yaml" -f "$FIXTURES/20-xrd-apps.yaml"
  else
    show_cp apply -f "$FIXTURES/11-crd-xkubernetesclusters.yaml" \
      -f "$FIXTURES/12-crd-kubernetesclusters.yaml" -f "$FIXTURES/21-crd-apps.yaml"
    show_cp apply -f "$FIXTURES/10-xrd-xkubernetesclusters.yaml" -f "$FIXTURES/20-xrd-apps.yaml"
  fi
fi
wait_for 60 "the claim CRD to exist" kcp get crd kubernetesclusters.k8s.starter.org
show_cp wait --for=condition=Established --timeout=60s \
  crd/kubernetesclusters.k8s.starter.org crd/apps.platform.example.org
if [ "$crossplane" = false ]; then
  # No Crossplane runs in this control plane: report the XRDs the way it would.
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for xrd in xkubernetesclusters.k8s.starter.org apps.platform.example.org; do
    kcp patch xrd "$xrd" --subresource=status --type=merge -p "{\"status\":{\"conditions\":[
      {\"type\":\"Established\",\"status\":\"True\",\"reason\":\"WatchingCompositeResource\",\"lastTransitionTime\":\"$now\"},
      {\"type\":\"Offered\",\"status\":\"True\",\"reason\":\"WatchingCompositeResourceClaim\",\"lastTransitionTime\":\"$now\"}]}}" \
      >/dev/null
  done
fi
show_cp get xrd
# (A list, not a get by name: that is what fakekube answers today.)
if [ -z "$(kcp get namespaces --field-selector "metadata.name=$claim_namespace" -o name)" ]; then
  # (kubectl create would send protobuf, which fakekube does not read; apply sends JSON.)
  printf '%s$ %s%s\n' "$dim" "kubectl --kubeconfig $(cp_kc) create namespace $claim_namespace" "$off"
  kcp apply -f - <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $claim_namespace
EOF
fi

step "Starting the connector between them"
port=$(free_port) || die "no free port found"
say "The app cluster's aggregator reaches the connector through Service $SERVICE_NAMESPACE/$SERVICE_NAME"
say "and its Endpoints $advertise_address:$port; the connector registers the APIServices itself."
kapp apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata:
  name: $SERVICE_NAME
  namespace: $SERVICE_NAMESPACE
  labels: {app.kubernetes.io/name: mcp-connector, app.kubernetes.io/part-of: mcp-connector-demo}
spec:
  ports:
  - {name: https, port: 443, targetPort: $port, protocol: TCP}
---
apiVersion: v1
kind: Endpoints
metadata:
  name: $SERVICE_NAME
  namespace: $SERVICE_NAMESPACE
  labels: {app.kubernetes.io/name: mcp-connector, app.kubernetes.io/part-of: mcp-connector-demo}
subsets:
- addresses: [{ip: "$advertise_address"}]
  ports: [{name: https, port: $port, protocol: TCP}]
EOF
connector_args=(serve --bind-address "$bind_address" --secure-port "$port"
  --cert-dir "$DEMO_DIR/certs" --kubeconfig "$(app_kc)" --control-plane-kubeconfig "$(cp_kc)"
  --cluster-id "$cluster_id" --claim-namespace "$claim_namespace"
  --service-namespace "$SERVICE_NAMESPACE" --service-name "$SERVICE_NAME" --v=2)
printf '%s$ %s &%s\n' "$dim" "$(quote_args "$BUILD_DIR/mcp-connector" "${connector_args[@]}")" "$off"
start connector "$BUILD_DIR/mcp-connector" "${connector_args[@]}"

step "Waiting for the APIServices to be Available in the app cluster"
wait_for 60 "APIService $CLAIM_API" kapp get apiservice "$CLAIM_API"
wait_for 60 "APIService $CLAIM_API to be Available" apiservice_available "$CLAIM_API"
wait_for 30 "APIService $XR_API to be Available" apiservice_available "$XR_API"
show_app get apiservices -l app.kubernetes.io/managed-by=mcp-connector
show_app api-resources --categories=claim
show_app api-resources --api-group=platform.example.org

step "The upstream guide's example: kubectl apply -f claim.yaml in the app cluster"
show cat hack/demo/claim.yaml
show_app apply -f hack/demo/claim.yaml
show_app get claim -A

step "Where it lives: the control plane's claim namespace \"$claim_namespace\""
cp_name=$("$BUILD_DIR/mcp-connector" name --cluster-id "$cluster_id" --namespace default my-cluster)
show "$BUILD_DIR/mcp-connector" name --cluster-id "$cluster_id" --namespace default my-cluster
show_cp -n "$claim_namespace" get kubernetesclusters
say "Its labels (the way back to the app cluster's namespace and name):"
# shellcheck disable=SC2016  # a go-template, not shell
show_cp -n "$claim_namespace" get kubernetescluster "$cp_name" \
  -o go-template='{{range $k, $v := .metadata.labels}}{{$k}}: {{$v}}{{"\n"}}{{end}}'

if [ "$crossplane" = false ]; then
  step "Playing Crossplane: the control plane reports the claim Synced and Ready, with its secret"
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  show_cp -n "$claim_namespace" patch kubernetescluster "$cp_name" --subresource=status --type=merge \
    -p "{\"status\":{\"conditions\":[{\"type\":\"Synced\",\"status\":\"True\",\"reason\":\"ReconcileSuccess\",\"lastTransitionTime\":\"$now\"},{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"Available\",\"lastTransitionTime\":\"$now\"}]}}" \
    >/dev/null
  cp_secret=$(kcp -n "$claim_namespace" get kubernetescluster "$cp_name" \
    -o jsonpath='{.spec.writeConnectionSecretToRef.name}')
  if [ -n "$cp_secret" ]; then
    printf '%s$ %s%s\n' "$dim" \
      "kubectl --kubeconfig $(cp_kc) -n $claim_namespace create secret generic $cp_secret --from-literal=kubeconfig=..." \
      "$off"
    kcp apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: $cp_secret
  namespace: $claim_namespace
  labels: {app.kubernetes.io/part-of: mcp-connector-demo}
type: connection.crossplane.io/v1alpha1
stringData:
  kubeconfig: "apiVersion: v1  # the demo's stand-in for my-cluster's kubeconfig"
EOF
  fi
  show_app get claim -A
  if [ -n "$cp_secret" ]; then
    if wait_for 10 "the connection secret copy" kapp -n default get secret my-cluster-kubeconfig \
       2>/dev/null; then
      say "The connection secret Crossplane wrote as $claim_namespace/$cp_secret in the control plane"
      say "is copied back where the claim asked for it:"
      show_app -n default get secret my-cluster-kubeconfig --show-labels
    else
      say "(no copy of the connection secret in the app cluster yet: this build does not sync them)"
    fi
  fi
fi

step "A Crossplane v2 namespaced XR works the same way (nxr-<hash>)"
show_app apply -f hack/demo/app.yaml
show_app -n default get apps
show_cp -n "$claim_namespace" get apps --show-labels

trap - EXIT
elapsed=$((SECONDS - t0))
step "The demo is up (${elapsed}s after the build). Keep playing:"
cat <<EOF
  export KUBECONFIG=$(abs "$(app_kc)")   # the app cluster; claims served by the connector
  kubectl get claim -A
  kubectl -n default edit kubernetescluster my-cluster
  kubectl get kubernetesclusters -A -w

  kubectl --kubeconfig $(abs "$(cp_kc)") -n $claim_namespace get claim --show-labels
  $BUILD_DIR/mcp-connector name --cluster-id $cluster_id --namespace NAMESPACE NAME

  Logs: $DEMO_DIR/connector.log (access log at -v=2)$([ "$mode" = fake ] && echo ", $DEMO_DIR/control-plane.log, $DEMO_DIR/app.log")
  Stop: hack/demo.sh down
EOF
if [ "$mode" = real ]; then
  say "(real clusters: app kubeconfig $(app_kc), control plane kubeconfig $(cp_kc))"
fi
if [ "$down_after" = true ]; then
  step "Tearing down (--down-after)"
  down
fi
