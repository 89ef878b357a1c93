#!/usr/bin/env bash
# Retention keeps the disk bounded: writes several months of history into a server whose global
# retention is set, lets the scheduled retention run, and prints the stored months and the disk use of
# the database before and after (the "Retention" section of BENCHMARKS.md comes from this output).
#
#   1. starts the single-node server (Release) on free ports, fresh data directory under /tmp, with
#      M2M:Storage:Retention:Months=$MONTHS, a short M2M:Storage:Retention:Interval=$INTERVAL, and
#      8 MiB memtables and a 32 MiB WAL cap (M2M:Storage:Rocks:WriteBufferBytes / MaxTotalWalBytes);
#   2. m2m-load load: $DEVICES M2MP devices upload their history, records $SPACING apart per type from
#      now - $HISTORY (so the records cover $HISTORY of past months), at $RATE records/s for $DURATION;
#   3. reads GET /api/admin/retention (stored months) and `du` of <data>/db;
#   4. waits for the next scheduled retention run, then reads both again.
#
# Usage: bench/run-retention.sh        (environment: MONTHS=3 INTERVAL=00:02:30 DEVICES=50 HISTORY=240d
#                                        SPACING=45m RATE=15000 DURATION=50s WRITE_BUFFER MAX_WAL KEEP=0 CONFIG=Release)
# Needs: dotnet, python3, curl. Everything on 127.0.0.1; the data directory is removed unless KEEP=1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MONTHS=${MONTHS:-3}
INTERVAL=${INTERVAL:-00:02:30}
DEVICES=${DEVICES:-50}
HISTORY=${HISTORY:-240d}
SPACING=${SPACING:-45m}
RATE=${RATE:-15000}
DURATION=${DURATION:-50s}
KEEP=${KEEP:-0}
# Release for throughput figures; Debug reuses the solution's build (the disk use does not depend on it).
CONFIG=${CONFIG:-Release}
# Small memtables and WAL cap, so that the disk use is mostly data files (what retention bounds) rather
# than the write-ahead log, which M2M:Storage:Rocks:MaxTotalWalBytes bounds on its own (default 256 MiB).
WRITE_BUFFER=${WRITE_BUFFER:-8388608}
MAX_WAL=${MAX_WAL:-33554432}
WORK=$(mktemp -d /tmp/m2m-retention.XXXXXX)
SERVER_DLL=$ROOT/src/M2M.Server/bin/$CONFIG/net10.0/M2M.Server.dll
LOAD=$ROOT/bench/M2M.Load/bin/$CONFIG/net10.0/m2m-load
PASSWORD=retention-demo-42
SERVER_PID=""

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  fi
  [[ "$KEEP" == "1" ]] || rm -rf "$WORK"
}
trap cleanup EXIT

log "building $CONFIG"
dotnet build -c "$CONFIG" "$ROOT/src/M2M.Server/M2M.Server.csproj" -v quiet -nologo >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
dotnet build -c "$CONFIG" "$ROOT/bench/M2M.Load/M2M.Load.csproj" -v quiet -nologo >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }

HTTP_PORT=$(free_port); M2MP_PORT=$(free_port); ALIP_PORT=$(free_port)
DATA=$WORK/data
dotnet "$SERVER_DLL" --urls "http://127.0.0.1:$HTTP_PORT" --M2M:DataDirectory "$DATA" \
  --M2M:Ingest:M2mpPort "$M2MP_PORT" --M2M:Ingest:AlipPort "$ALIP_PORT" --M2M:Admin:Password "$PASSWORD" \
  --M2M:Storage:Retention:Months "$MONTHS" --M2M:Storage:Retention:Interval "$INTERVAL" \
  --M2M:Storage:Rocks:WriteBufferBytes "$WRITE_BUFFER" --M2M:Storage:Rocks:MaxTotalWalBytes "$MAX_WAL" \
  --Logging:LogLevel:Default=Warning --Logging:LogLevel:M2M.Storage.Lifecycle=Information >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/alive" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/server.log" >&2; exit 1; }
  sleep 0.2
done
TOKEN=$(curl -sf "http://127.0.0.1:$HTTP_PORT/api/auth/token" -H 'content-type: application/json' \
  -d "{\"user\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
status() { curl -sf "http://127.0.0.1:$HTTP_PORT/api/admin/retention" -H "authorization: Bearer $TOKEN"; }
disk() { du -sb "$DATA/db" | cut -f1; }
files() { find "$DATA/db" -name "*.$1" -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }

LOAD_CMD="m2m-load load --devices $DEVICES --history $HISTORY --spacing $SPACING --rate $RATE --duration $DURATION --barrier-every 100"
log "$LOAD_CMD"
"$LOAD" load --devices "$DEVICES" --history "$HISTORY" --spacing "$SPACING" --rate "$RATE" --duration "$DURATION" --barrier-every 100 \
  --m2mp-port "$M2MP_PORT" --alip-port "$ALIP_PORT" --server-pid "$SERVER_PID" --quiet --json >"$WORK/load.json" 2>"$WORK/load.log"
LOADED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# The writer's last commits and the memtable: give the database a moment, as an operator would see it.
sleep 5
status >"$WORK/before.json"
BEFORE_DISK=$(disk); BEFORE_SST=$(files sst); BEFORE_WAL=$(files log)
log "history written; waiting for the next scheduled retention run (interval $INTERVAL)"
for _ in $(seq 1 900); do
  status >"$WORK/after.json"
  if python3 -c "
import json,sys
s=json.load(open('$WORK/after.json')); r=s.get('lastRun')
sys.exit(0 if r and r['trigger']=='schedule' and r['startedAt']>'$LOADED_AT' and not s['running'] else 1)"; then
    break
  fi
  sleep 1
done
sleep 2
status >"$WORK/after.json"
AFTER_DISK=$(disk); AFTER_SST=$(files sst); AFTER_WAL=$(files log)

python3 - "$WORK" "$BEFORE_DISK" "$AFTER_DISK" "$LOAD_CMD" "$MONTHS" "$INTERVAL" "$BEFORE_SST" "$AFTER_SST" "$BEFORE_WAL" "$AFTER_WAL" "$WRITE_BUFFER" "$MAX_WAL" <<'EOF'
import json, sys
work, before_disk, after_disk, cmd, months, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
before_sst, after_sst, before_wal, after_wal, write_buffer, max_wal = (int(a) for a in sys.argv[7:13])
load = json.load(open(f"{work}/load.json")); before = json.load(open(f"{work}/before.json")); after = json.load(open(f"{work}/after.json"))
run = after["lastRun"]
mb = lambda b: f"{b / 1e6:.1f} MB"
print(f"- server: `--M2M:Storage:Retention:Months {months} --M2M:Storage:Retention:Interval {interval} --M2M:Storage:Rocks:WriteBufferBytes {write_buffer} --M2M:Storage:Rocks:MaxTotalWalBytes {max_wal}`")
print(f"- history: `{cmd}` → {load['records']['acked_total']:,} records acknowledged ({load['records']['acked_per_s']:,.0f}/s)")
print(f"- months stored before the run: {', '.join(before['storedMonths'])}")
print(f"- scheduled run ({run['trigger']}, {run['startedAt']}, {run['durationSeconds']} s): dropped {', '.join(run['monthsDropped']) or 'nothing'}")
print(f"- months stored after: {', '.join(after['storedMonths'])}")
print(f"- disk use of `<data>/db` (`du -sb`): {mb(before_disk)} before → {mb(after_disk)} after ({after_disk / before_disk:.0%}); "
      f"data files (`*.sst`) {mb(before_sst)} → {mb(after_sst)}, write-ahead log (`*.log`) {mb(before_wal)} → {mb(after_wal)}")
EOF
log "raw results in $WORK (kept: KEEP=$KEEP)"
