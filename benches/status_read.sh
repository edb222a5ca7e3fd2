#!/usr/bin/env bash
# Benchmark 1 of the StatusService: GetProjectStatus for a project of 20
# connections against grpc.health.v1.Health/Check on the same server, both
# driven by h2load with the same settings in one run. Prints each run's
# throughput, the server's CPU time per request, and the ratio.
#
#   benches/status_read.sh            # defaults: 3 rounds of 60000 requests
#   REQUESTS=200000 ROUNDS=5 benches/status_read.sh
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

cargo build --release -q
work=$(mktemp -d)
chmod 755 "$work"   # the embedded PostgreSQL runs as an unprivileged user when we are root
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

export PATCHBAY_JWT_SECRET="bench-secret-bench-secret-bench-secret"
target/release/patchbay serve --data-dir "$work/data" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
  --log-format json --log warn,patchbay::app=info --probe-ttl-min 5s --probe-ttl-max 10s \
  2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q '"serving"' "$work/serve.log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { echo "patchbay serve exited:" >&2; cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
grpc=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("fields", {}).get("message") == "serving":
        print(e["fields"]["grpc_addr"]); print(e["fields"]["http_addr"]); break' "$work/serve.log")
grpc_addr=$(echo "$grpc" | sed -n 1p); http_addr=$(echo "$grpc" | sed -n 2p)
token=$(target/release/patchbay token --sub bench --project bench=owner --ttl 2h | tail -1)

echo "server pid $server_pid on $grpc_addr; creating 20 connections" >&2
for i in $(seq -w 1 20); do
  grpcurl -plaintext -H "authorization: Bearer $token" -d "{
    \"parent\": \"projects/bench\", \"connectionId\": \"svc-$i\",
    \"connection\": {\"integrationType\": \"integrationTypes/http\", \"displayName\": \"Service $i\",
      \"settings\": {\"health_url\": \"http://$http_addr/healthz\"}}}" \
    "$grpc_addr" patchbay.v1.IntegrationRegistry/CreateConnection >/dev/null
done
for _ in $(seq 1 100); do
  connected=$(grpcurl -plaintext -H "authorization: Bearer $token" -d '{"project":"projects/bench"}' \
    "$grpc_addr" patchbay.v1.StatusService/GetProjectStatus | grep -c STATUS_LEVEL_CONNECTED || true)
  [ "$connected" -ge 21 ] && break   # 20 items and the overall
  sleep 0.2
done
echo "20 connections probed and CONNECTED" >&2

# gRPC frames: a 5-byte prefix (no compression, big-endian length), then the message.
python3 - "$work" <<'PY'
import struct, sys
work = sys.argv[1]
def frame(msg): return b"\0" + struct.pack(">I", len(msg)) + msg
project = b"projects/bench"
open(f"{work}/status.bin", "wb").write(frame(b"\x0a" + bytes([len(project)]) + project))
open(f"{work}/health.bin", "wb").write(frame(b""))
PY

cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
ticks_per_sec=$(getconf CLK_TCK)

# Both calls carry the same headers, the caller's token included (Health
# ignores it), so the two loads differ only in the method and its message.
run() { # name path body
  local name=$1 path=$2 body=$3 before after out rps
  local headers=(-H 'content-type: application/grpc' -H 'te: trailers' -H "authorization: Bearer $token")
  before=$(cpu_ticks)
  out=$(h2load -n "$REQUESTS" -c "$CLIENTS" -m "$STREAMS" -t 1 "${headers[@]}" -d "$body" \
    "http://$grpc_addr$path")
  after=$(cpu_ticks)
  rps=$(echo "$out" | sed -n 's/.*finished in .*, \([0-9.]*\) req\/s.*/\1/p')
  ok=$(echo "$out" | sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p')
  [ "$ok" = "$REQUESTS" ] || { echo "$name: only $ok of $REQUESTS succeeded" >&2; echo "$out" >&2; exit 1; }
  python3 -c "import sys; print(f'{sys.argv[1]:<18} {float(sys.argv[2]):>10.0f} req/s  {(int(sys.argv[4])-int(sys.argv[3]))/int(sys.argv[5])/int(sys.argv[6])*1e6:>7.1f} us CPU/req')" \
    "$name" "$rps" "$before" "$after" "$ticks_per_sec" "$REQUESTS"
  echo "$rps" >> "$work/$name.rps"
}

# grpc-status is in trailers, which h2load does not check: one real call
# with each body proves they succeed.
grpcurl -plaintext -H "authorization: Bearer $token" -d '{"project":"projects/bench"}' \
  "$grpc_addr" patchbay.v1.StatusService/GetProjectStatus >/dev/null
grpcurl -plaintext "$grpc_addr" grpc.health.v1.Health/Check >/dev/null

echo "h2load: $REQUESTS requests, $CLIENTS connections x $STREAMS streams, $ROUNDS rounds, alternating"
run warmup-health /grpc.health.v1.Health/Check "$work/health.bin" >/dev/null
run warmup-status /patchbay.v1.StatusService/GetProjectStatus "$work/status.bin" >/dev/null
for _ in $(seq 1 "$ROUNDS"); do
  run health-check /grpc.health.v1.Health/Check "$work/health.bin"
  run get-project-status /patchbay.v1.StatusService/GetProjectStatus "$work/status.bin"
done
python3 - "$work" <<'PY'
import statistics, sys
w = sys.argv[1]
def med(name): return statistics.median(float(x) for x in open(f"{w}/{name}.rps"))
h, s = med("health-check"), med("get-project-status")
print(f"median: Health/Check {h:.0f} req/s, GetProjectStatus {s:.0f} req/s, ratio {s/h:.2f} (goal >= 0.8)")
PY
