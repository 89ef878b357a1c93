#!/usr/bin/env bash
# Forwarding benchmark (BENCHMARKS.md, Forwarding): in ONE server process, end-to-end ingest with
# forwarding off (no endpoint) and on (one endpoint taking records, a fast local receiver), in turn,
# ROUNDS times; then the backlog's drain rate (records stored while the receiver answered 503, then
# delivered once it answers 200).
# Usage: bench/forwarding-benchmark.sh [duration, default 20s] [rounds, default 3]
# Needs: dotnet, python3, curl. Prints a Markdown table and the raw numbers.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${1:-20s}
ROUNDS=${2:-3}
DEVICES=${DEVICES:-100}
BARRIER=${BARRIER:-100}
WORK=$(mktemp -d /tmp/m2m-fwd-bench.XXXXXX)
PASSWORD=bench-admin-password
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 never opened" >&2; exit 1; }

log "building Release (server, m2m-load, receiver) → $WORK"
for p in src/M2M.Server/M2M.Server.csproj bench/M2M.Load/M2M.Load.csproj bench/M2M.WebhookSink/M2M.WebhookSink.csproj; do
  dotnet build -c Release "$ROOT/$p" -v quiet -nologo >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
done

HTTP_PORT=$(free_port); M2MP_PORT=$(free_port); ALIP_PORT=$(free_port); SINK_PORT=$(free_port)
dotnet "$ROOT/src/M2M.Server/bin/Release/net10.0/M2M.Server.dll" --urls "http://127.0.0.1:$HTTP_PORT" \
  --M2M:DataDirectory "$WORK/data" --M2M:Ingest:M2mpPort "$M2MP_PORT" --M2M:Ingest:AlipPort "$ALIP_PORT" \
  --M2M:Admin:Password "$PASSWORD" --Logging:LogLevel:Default=Warning >"$WORK/server.log" 2>&1 &
SERVER_PID=$!; pids+=("$SERVER_PID")
dotnet "$ROOT/bench/M2M.WebhookSink/bin/Release/net10.0/M2M.WebhookSink.dll" --urls "http://127.0.0.1:$SINK_PORT" >"$WORK/sink.log" 2>&1 &
pids+=("$!")
wait_port "$ALIP_PORT"; wait_port "$HTTP_PORT"; wait_port "$SINK_PORT"
API="http://127.0.0.1:$HTTP_PORT"
TOKEN=$(curl -sf "$API/api/auth/token" -H 'content-type: application/json' -d "{\"user\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
auth=(-H "authorization: Bearer $TOKEN")
sink_items() { curl -sf "http://127.0.0.1:$SINK_PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"])'; }
backlog() { curl -sf "${auth[@]}" "$API/api/webhooks/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["backlog"])'; }

load() { # load <name>: one m2m-load run; prints records/s acknowledged
  dotnet "$ROOT/bench/M2M.Load/bin/Release/net10.0/m2m-load.dll" load --protocol alip --devices "$DEVICES" --barrier-every "$BARRIER" \
    --duration "$DURATION" --quiet --json --m2mp-port "$M2MP_PORT" --alip-port "$ALIP_PORT" --server-pid "$SERVER_PID" \
    --ident-offset "$((RANDOM * 1000))" >"$WORK/$1.json" 2>>"$WORK/load.log"
  python3 -c "import json; print(round(json.load(open('$WORK/$1.json'))['records']['acked_per_s']))"
}

echo "| round | load avg (1 min) | off: records/s | on: records/s | on / off | receiver items/s during the on run |"
echo "|---|---|---:|---:|---:|---:|"
for round in $(seq 1 "$ROUNDS"); do
  la=$(cut -d' ' -f1 /proc/loadavg)
  off=$(load "off-$round")
  id=$(curl -sf "${auth[@]}" "$API/api/webhooks" -H 'content-type: application/json' \
    -d "{\"name\":\"bench\",\"url\":\"http://127.0.0.1:$SINK_PORT/hook\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["webhook"]["id"])')
  before=$(sink_items); t0=$(date +%s.%N)
  on=$(load "on-$round")
  t1=$(date +%s.%N); after=$(sink_items)
  rate=$(python3 -c "print(round(($after - $before) / ($t1 - $t0)))")
  # Let the endpoint catch up, then remove it: the next "off" run has no endpoint.
  for _ in $(seq 1 600); do [[ $(backlog "$id") == 0 ]] && break; sleep 0.5; done
  curl -sf -X DELETE "${auth[@]}" "$API/api/webhooks/$id" >/dev/null
  echo "| $round | $la | $off | $on | $(python3 -c "print(f'{$on / $off:.2f}')") | $rate |"
done

log "drain: the receiver refuses (an endpoint to a closed port), records pile up, then it is pointed at the receiver"
DEAD_PORT=$(free_port)
id=$(curl -sf "${auth[@]}" "$API/api/webhooks" -H 'content-type: application/json' \
  -d "{\"name\":\"drain\",\"url\":\"http://127.0.0.1:$DEAD_PORT/hook\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["webhook"]["id"])')
piled=$(load "pile")
stored=$(backlog "$id")
la=$(cut -d' ' -f1 /proc/loadavg)
t0=$(date +%s.%N)
curl -sf -X PATCH "${auth[@]}" "$API/api/webhooks/$id" -H 'content-type: application/json' -d "{\"url\":\"http://127.0.0.1:$SINK_PORT/hook\"}" >/dev/null
for _ in $(seq 1 3600); do [[ $(backlog "$id") == 0 ]] && break; sleep 0.2; done
t1=$(date +%s.%N)
echo
echo "Drain: $stored items backlogged (ingest meanwhile $piled records/s), delivered in $(python3 -c "print(f'{$t1 - $t0:.1f}')") s = **$(python3 -c "print(round($stored / ($t1 - $t0)))") items/s** (load avg $la)."
echo "Raw results: $WORK"
