#!/usr/bin/env bash
# The StatusService read path: GetProjectStatus for a project of 20
# connections against grpc.health.v1.Health/Check on the same server, both
# driven by h2load with the same settings. Two servers run side by side, one
# with a feature off and one with it on; rounds alternate between the
# servers and the methods. COMPARE names the feature: `limits` (default),
# the gRPC request limits (on at rates no load here reaches, so every call
# pays the check and none is refused), `metrics` (`--metrics=false`
# against the default, limits off on both), or `rules` (the project with
# no alert rules against one with 100, limits off on both; the probes
# that evaluate them keep running). Prints each round's
# throughput and CPU time per request, the medians, and each server's ratio.
# Then, where valgrind is installed, the instructions per request of each
# method on each variant, counted by callgrind.
#
#   benches/status_read.sh            # defaults: 3 rounds of 60000 requests
#   REQUESTS=200000 ROUNDS=5 benches/status_read.sh
#   COMPARE=metrics benches/status_read.sh   # metrics off against on
#   COMPARE=rules benches/status_read.sh     # no alert rules against 100
#   CALLGRIND_REQUESTS=0 benches/status_read.sh   # skip the instruction counts
#   KEEP_CALLGRIND=/tmp/cg benches/status_read.sh  # keep the profiles for callgrind_annotate
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/install-tools)"
if ! command -v h2load >/dev/null; then
  echo "installing h2load (nghttp2-client)" >&2
  apt_get=(apt-get); [ "$(id -u)" = 0 ] || apt_get=(sudo apt-get)
  "${apt_get[@]}" install -y -q nghttp2-client >/dev/null
fi
REQUESTS=${REQUESTS:-60000}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-8}
STREAMS=${STREAMS:-10}
CALLGRIND_REQUESTS=${CALLGRIND_REQUESTS:-2000}
COMPARE=${COMPARE:-limits}
case "$COMPARE" in limits|metrics|rules) ;; *) echo "COMPARE is limits, metrics or rules" >&2; exit 2;; esac

cargo build --release -q
work=$(mktemp -d)
chmod 755 "$work"   # the embedded PostgreSQL runs as an unprivileged user when we are root
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

export PATCHBAY_JWT_SECRET="bench-secret-bench-secret-bench-secret"
limits_off=(--grpc-rate-per-caller 0 --grpc-rate-per-peer 0)
limits_on=(--grpc-rate-per-caller 100000000 --grpc-burst-per-caller 100000000
           --grpc-rate-per-peer 100000000 --grpc-burst-per-peer 100000000)
token=$(target/release/patchbay token --data-dir "$work/token" --sub bench --project bench=owner --ttl 2h | tail -1)

# start VARIANT [wrapper...]: serves on its own embedded PostgreSQL; sets
# server_pid and grpc_addr, with 20 http connections CONNECTED.
start() {
  local variant=$1; shift
  local flags
  case "$COMPARE-$variant" in
    limits-on) flags=("${limits_on[@]}") ;;
    limits-off) flags=("${limits_off[@]}") ;;
    metrics-on) flags=("${limits_off[@]}" --metrics=true) ;;
    metrics-off) flags=("${limits_off[@]}" --metrics=false) ;;
    rules-*) flags=("${limits_off[@]}") ;;
  esac
  local run_id=$variant-$RANDOM
  local log="$work/serve-$run_id.log"
  "$@" target/release/patchbay serve --data-dir "$work/data-$run_id" --grpc-addr 127.0.0.1:0 \
    --http-addr 127.0.0.1:0 --log-format json --log warn,patchbay::app=info \
    --probe-ttl-min "${PROBE_TTL:-5s}" --probe-ttl-max "${PROBE_TTL_MAX:-10s}" "${flags[@]}" 2>"$log" &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 1200); do
    grep -q '"serving"' "$log" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { echo "patchbay serve exited:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  local addrs; addrs=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("fields", {}).get("message") == "serving":
        print(e["fields"]["grpc_addr"]); print(e["fields"]["http_addr"]); break' "$log")
  grpc_addr=$(echo "$addrs" | sed -n 1p)
  local http_addr; http_addr=$(echo "$addrs" | sed -n 2p)
  echo "$COMPARE $variant: server pid $server_pid on $grpc_addr; creating 20 connections" >&2
  for i in $(seq -w 1 20); do
    grpcurl -max-time 60 -plaintext -H "authorization: Bearer $token" -d "{
      \"parent\": \"projects/bench\", \"connectionId\": \"svc-$i\",
      \"connection\": {\"integrationType\": \"integrationTypes/http\", \"displayName\": \"Service $i\",
        \"settings\": {\"health_url\": \"http://$http_addr/healthz\"}}}" \
      "$grpc_addr" patchbay.v1.IntegrationRegistry/CreateConnection >/dev/null
  done
  local connected
  for _ in $(seq 1 600); do
    connected=$(grpcurl -max-time 60 -plaintext -H "authorization: Bearer $token" -d '{"project":"projects/bench"}' \
      "$grpc_addr" patchbay.v1.StatusService/GetProjectStatus | grep -c STATUS_LEVEL_CONNECTED || true)
    [ "$connected" -ge 21 ] && break   # 20 items and the overall
    sleep 0.2
  done
  # grpc-status is in trailers, which h2load does not check: one real call
  # with each body proves they succeed.
  grpcurl -max-time 60 -plaintext -H "authorization: Bearer $token" -d '{"project":"projects/bench"}' \
    "$grpc_addr" patchbay.v1.StatusService/GetProjectStatus >/dev/null
  grpcurl -max-time 60 -plaintext "$grpc_addr" grpc.health.v1.Health/Check >/dev/null
  echo "$COMPARE $variant: 20 connections probed and CONNECTED" >&2
  if [ "$COMPARE" = rules ]; then
    local count=0; [ "$variant" = on ] && count=100
    set_rules "$grpc_addr" "$count"
    echo "$COMPARE $variant: the project has $count alert rules" >&2
  fi
}

# set_rules ADDR COUNT: the bench project's default rules deleted, then
# COUNT rules of each kind in turn, all watching the whole project.
set_rules() {
  local addr=$1 count=$2 call=(grpcurl -max-time 60 -plaintext -H "authorization: Bearer $token")
  for rule in consecutive-failures error-rate rate-limit; do
    "${call[@]}" -d "{\"name\": \"projects/bench/alertRules/$rule\"}" \
      "$addr" patchbay.v1.AlertService/DeleteAlertRule >/dev/null
  done
  local i condition
  for i in $(seq 0 $((count - 1))); do
    case $((i % 5)) in
      0) condition="\"consecutiveFailures\": {\"moreThan\": $((3 + i))}" ;;
      1) condition="\"errorRate\": {\"abovePercent\": 5, \"window\": \"$((300 + 60 * i))s\", \"minSamples\": 20}" ;;
      2) condition="\"rateLimit\": {\"below\": $((100 + i))}" ;;
      3) condition="\"status\": {\"level\": \"STATUS_LEVEL_ERROR\"}" ;;
      4) condition="\"deadLetters\": {\"moreThan\": $i}" ;;
    esac
    "${call[@]}" -d "{\"parent\": \"projects/bench\", \"alertRuleId\": \"rule-$i\",
      \"alertRule\": {\"displayName\": \"Rule $i\", \"severity\": \"ALERT_SEVERITY_WARNING\", $condition}}" \
      "$addr" patchbay.v1.AlertService/CreateAlertRule >/dev/null
  done
}

# gRPC frames: a 5-byte prefix (no compression, big-endian length), then the message.
python3 - "$work" <<'PY'
import struct, sys
work = sys.argv[1]
def frame(msg): return b"\0" + struct.pack(">I", len(msg)) + msg
project = b"projects/bench"
open(f"{work}/status.bin", "wb").write(frame(b"\x0a" + bytes([len(project)]) + project))
open(f"{work}/health.bin", "wb").write(frame(b""))
PY
status_path=/patchbay.v1.StatusService/GetProjectStatus
health_path=/grpc.health.v1.Health/Check

# Both calls carry the same headers, the caller's token included (Health
# ignores it), so the two loads differ only in the method and its message.
load() { # addr path body requests clients streams
  h2load -n "$4" -c "$5" -m "$6" -t 1 -H 'content-type: application/grpc' -H 'te: trailers' \
    -H "authorization: Bearer $token" -d "$3" "http://$1$2"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_sec=$(getconf CLK_TCK)

run() { # name pid addr path body
  local name=$1 pid=$2 before after out rps ok
  before=$(cpu_ticks "$pid")
  out=$(load "$3" "$4" "$5" "$REQUESTS" "$CLIENTS" "$STREAMS")
  after=$(cpu_ticks "$pid")
  rps=$(echo "$out" | sed -n 's/.*finished in .*, \([0-9.]*\) req\/s.*/\1/p')
  ok=$(echo "$out" | sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p')
  [ "$ok" = "$REQUESTS" ] || { echo "$name: only $ok of $REQUESTS succeeded" >&2; echo "$out" >&2; exit 1; }
  python3 -c "import sys; print(f'{sys.argv[1]:<24} {float(sys.argv[2]):>10.0f} req/s  {(int(sys.argv[4])-int(sys.argv[3]))/int(sys.argv[5])/int(sys.argv[6])*1e6:>7.1f} us CPU/req')" \
    "$name" "$rps" "$before" "$after" "$ticks_per_sec" "$REQUESTS"
  echo "$rps" >> "$work/$name.rps"
}

start off; off_pid=$server_pid; off_addr=$grpc_addr
start on; on_pid=$server_pid; on_addr=$grpc_addr

echo "h2load: $REQUESTS requests, $CLIENTS connections x $STREAMS streams, $ROUNDS rounds, alternating"
for variant in off on; do
  pid_var=${variant}_pid; addr_var=${variant}_addr
  run "warmup-health-$variant" "${!pid_var}" "${!addr_var}" "$health_path" "$work/health.bin" >/dev/null
  run "warmup-status-$variant" "${!pid_var}" "${!addr_var}" "$status_path" "$work/status.bin" >/dev/null
done
for _ in $(seq 1 "$ROUNDS"); do
  for variant in off on; do
    pid_var=${variant}_pid; addr_var=${variant}_addr
    run "health-$COMPARE-$variant" "${!pid_var}" "${!addr_var}" "$health_path" "$work/health.bin"
    run "status-$COMPARE-$variant" "${!pid_var}" "${!addr_var}" "$status_path" "$work/status.bin"
  done
done
python3 - "$work" "$COMPARE" <<'PY'
import statistics, sys
w, feature = sys.argv[1], sys.argv[2]
def rounds(name): return [float(x) for x in open(f"{w}/{name}.rps")]
ratios = {}
for variant in ("off", "on"):
    h, s = rounds(f"health-{feature}-{variant}"), rounds(f"status-{feature}-{variant}")
    ratios[variant] = [b / a for a, b in zip(h, s)]
    each = " / ".join(f"{r:.2f}" for r in ratios[variant])
    print(f"{feature} {variant:<3}: median Health/Check {statistics.median(h):.0f} req/s, "
          f"GetProjectStatus {statistics.median(s):.0f} req/s, "
          f"ratio {statistics.median(s) / statistics.median(h):.2f} (rounds {each}; goal >= 0.8)")
for method in ("health", "status"):
    on, off = rounds(f"{method}-{feature}-on"), rounds(f"{method}-{feature}-off")
    each = " / ".join(f"{a / b:.3f}" for a, b in zip(on, off))
    print(f"{feature} on/off, {method}: throughput {statistics.median(on) / statistics.median(off):.3f} (rounds {each})")
each = " / ".join(f"{a / b:.3f}" for a, b in zip(ratios["on"], ratios["off"]))
print(f"{feature} on/off, status ratio: {statistics.median(ratios['on']) / statistics.median(ratios['off']):.3f} (rounds {each})")
PY

# Instructions per request, by callgrind: each variant's server under
# valgrind, one load of each method between two dumps.
if [ "$CALLGRIND_REQUESTS" -gt 0 ] && command -v valgrind >/dev/null; then
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  pids=()
  echo "callgrind: $CALLGRIND_REQUESTS requests of each method per variant, 1 connection x 10 streams"
  for variant in off on; do
    out="$work/callgrind-$variant"
    PROBE_TTL=1h PROBE_TTL_MAX=2h start "$variant" valgrind --tool=callgrind --instr-atstart=no \
      --callgrind-out-file="$out.%p" -q
    # The first calls after instrumentation starts pay for it: warm up, then count.
    callgrind_control -i on "$server_pid" >/dev/null 2>&1
    load "$grpc_addr" "$status_path" "$work/status.bin" 200 1 10 >/dev/null
    load "$grpc_addr" "$health_path" "$work/health.bin" 200 1 10 >/dev/null
    for method in health status; do
      path_var=${method}_path
      callgrind_control -z "$server_pid" >/dev/null 2>&1
      load "$grpc_addr" "${!path_var}" "$work/$method.bin" "$CALLGRIND_REQUESTS" 1 10 >/dev/null
      callgrind_control -d "$method" "$server_pid" >/dev/null 2>&1
    done
    kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true
    pids=()
    [ -n "${KEEP_CALLGRIND:-}" ] && mkdir -p "$KEEP_CALLGRIND" && cp "$out".* "$KEEP_CALLGRIND"/
    python3 - "$work" "$variant" "$CALLGRIND_REQUESTS" "$COMPARE" <<'PY'
import glob, sys
work, variant, n, feature = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def total(method):
    ir = 0
    for path in glob.glob(f"{work}/callgrind-{variant}.*"):
        text = open(path, errors="replace").read()
        if f"desc: Trigger: dump {method}" not in text:
            continue
        for line in text.splitlines():
            if line.startswith("summary:") or line.startswith("totals:"):
                ir = max(ir, int(line.split()[1]))
    return ir
for method in ("health", "status"):
    print(f"{feature} {variant:<3}: {method:<6} {total(method) / n:>9.0f} instructions/request", flush=True)
PY
  done
fi
