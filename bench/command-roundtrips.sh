#!/usr/bin/env bash
# PostgreSQL round trips per command in the distributed topology (API node → PostgreSQL + NATS →
# ingest node → device → acknowledgement), counted, not timed:
#   1. builds the nodes and the load tool (Release), unless NO_BUILD=1;
#   2. starts its own nats-server and PostgreSQL (initdb in a temporary directory, log_statement=all)
#      and, in front of PostgreSQL, bench/pg-roundtrip-proxy.py with one listener per node: the API
#      node and the ingest node each talk to PostgreSQL through their own, which counts their round
#      trips (a client turn after the server answered; connection start-ups apart);
#   3. runs `m2m-load commands` (DEVICES idle devices, PROTOCOL) twice, at LOW and HIGH commands/s for
#      DURATION each: everything but the commands (sign-in, identification, idle traffic, background
#      jobs) is the same in both runs, so the difference of the counters divided by the difference of
#      the commands acknowledged is the cost of one command; the synced commits (pg_stat_wal.wal_sync)
#      and the statements logged are counted the same way;
#   4. prints the per-command figures, API node and ingest node apart, and keeps the statement log of
#      one command (the last one of the HIGH run) in $WORK/one-command.log.
# Usage: bench/command-roundtrips.sh      env: DEVICES=1 PROTOCOL=m2mp LOW=5 HIGH=20 DURATION=20s NO_BUILD=0
# Needs: dotnet, python3, nats-server, /usr/lib/postgresql/*/bin. All traffic stays on 127.0.0.0/8.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEVICES=${DEVICES:-1}
PROTOCOL=${PROTOCOL:-m2mp}
LOW=${LOW:-5}
HIGH=${HIGH:-20}
DURATION=${DURATION:-20s}
WORK=$(mktemp -d /tmp/m2m-cmdrt.XXXXXX)
LOAD=$ROOT/bench/M2M.Load/bin/Release/net10.0/m2m-load
export M2M_API_PASSWORD="cmd-roundtrips-$(date +%s)-$RANDOM"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
track() { echo "$1" >>"$WORK/pids"; }
cleanup() {
  if [[ -f "$WORK/pids" ]]; then
    while read -r p; do kill "$p" 2>/dev/null || true; done <"$WORK/pids"
    sleep 1
    while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$WORK/pids"
  fi
  rm -rf "$WORK/pg" "$WORK/nats"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 did not open" >&2; exit 1; }
wait_health() { for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "health on $1 never answered" >&2; exit 1; }

if [[ "${NO_BUILD:-0}" != "1" ]]; then
  log "building Release (work directory $WORK)"
  for p in bench/M2M.Load src/M2M.IngestNode src/M2M.ApiNode; do
    dotnet build -c Release "$ROOT/$p" -v quiet -nologo >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
  done
fi
echo "commit=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src || echo '+changes') devices=$DEVICES protocol=$PROTOCOL low=$LOW high=$HIGH duration=$DURATION" | tee "$WORK/machine.env" >&2

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
NATS_PORT=$(free_port); PG_PORT=$(free_port); PX_API=$(free_port); PX_INGEST=$(free_port)
nats-server -js -sd "$WORK/nats" -a 127.0.0.1 -p "$NATS_PORT" >"$WORK/nats.log" 2>&1 & track $!
AS=()
if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$WORK"; AS=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi
echo bench >"$WORK/pw"; chmod 644 "$WORK/pw"
"${AS[@]}" "$PG_BIN/initdb" -D "$WORK/pg" -U postgres --pwfile "$WORK/pw" -E UTF8 --locale=C --auth-host=scram-sha-256 --auth-local=trust >"$WORK/initdb.log" 2>&1
echo "CREATE DATABASE m2m;" | "${AS[@]}" "$PG_BIN/postgres" --single -D "$WORK/pg" postgres >/dev/null 2>&1
"${AS[@]}" "$PG_BIN/postgres" -D "$WORK/pg" -p "$PG_PORT" -h 127.0.0.1 -k "$WORK" -c max_connections=200 \
  -c log_statement=all -c "log_line_prefix=%m [%p] %a: " >"$WORK/pg.log" 2>&1 & track $!
wait_port "$NATS_PORT"; wait_port "$PG_PORT"
python3 "$ROOT/bench/pg-roundtrip-proxy.py" "$PG_PORT" "$WORK/proxy.json" "api=$PX_API" "ingest=$PX_INGEST" >"$WORK/proxy.log" 2>&1 &
PROXY=$!; track "$PROXY"
wait_port "$PX_API"; wait_port "$PX_INGEST"
psql_() { "${AS[@]}" "$PG_BIN/psql" -h "$WORK" -p "$PG_PORT" -U postgres -d m2m -XAtq -c "$1"; }

db() { echo "Host=127.0.0.1;Port=$1;Username=postgres;Password=bench;Database=m2m;Application Name=$2"; }
common=(ConnectionStrings__nats="nats://127.0.0.1:$NATS_PORT" M2M__Storage__Backend=postgres Logging__LogLevel__Default=Warning)
IM=$(free_port); IA=$(free_port); IH=$(free_port); AH=$(free_port)
env "${common[@]}" ConnectionStrings__m2mdb="$(db "$PX_INGEST" ingest-node)" urls="http://127.0.0.1:$IH" M2M__Ingest__NodeName=ingest-1 \
  M2M__Ingest__M2mpPort="$IM" M2M__Ingest__AlipPort="$IA" M2M__Ingest__Auth__AutoRegisterPerMinute=0 \
  dotnet "$ROOT/src/M2M.IngestNode/bin/Release/net10.0/M2M.IngestNode.dll" >"$WORK/ingest.log" 2>&1 &
INGEST_PID=$!; track "$INGEST_PID"
wait_health "$IH"; wait_port "$IM"
env "${common[@]}" ConnectionStrings__m2mdb="$(db "$PX_API" api-node)" urls="http://127.0.0.1:$AH" M2M__Admin__Password="$M2M_API_PASSWORD" \
  dotnet "$ROOT/src/M2M.ApiNode/bin/Release/net10.0/M2M.ApiNode.dll" >"$WORK/api.log" 2>&1 &
track $!
wait_health "$AH"
log "ingest node $INGEST_PID (M2MP $IM, ALIP $IA), API node on $AH, PostgreSQL $PG_PORT behind proxies $PX_API (api) / $PX_INGEST (ingest)"

# snapshot <name>: the proxy's counters, the WAL syncs and the statements logged so far.
snapshot() {
  kill -USR1 "$PROXY"; sleep 0.5
  python3 - "$WORK/proxy.json" "$(psql_ 'select wal_sync from pg_stat_wal')" "$WORK/pg.log" >"$WORK/$1.snap" <<'PY'
import json, re, sys
counters = json.load(open(sys.argv[1]))
statements = {"api-node": 0, "ingest-node": 0}
for line in open(sys.argv[3], errors="replace"):
    m = re.match(r"\S+ \S+ \S+ \[\d+\] (\S*): LOG:  (statement|execute)", line)
    if m and m.group(1) in statements:
        statements[m.group(1)] += 1
print(json.dumps({"proxy": counters, "wal_sync": int(sys.argv[2]), "statements": statements}))
PY
}
run() {
  local name=$1 rate=$2
  "$LOAD" commands --protocol "$PROTOCOL" --devices "$DEVICES" --rate "$rate" --duration "$DURATION" \
    --api-url "http://127.0.0.1:$AH" --m2mp-port "$IM" --alip-port "$IA" --ident-prefix "imei:47" \
    --connect-timeout 30s --ident-timeout 60s --json --quiet >"$WORK/$name.json" 2>"$WORK/$name.log" || { log "$name failed: $(tail -3 "$WORK/$name.log")"; exit 1; }
}
run warmup 5
for rate in "$LOW" "$HIGH"; do
  snapshot "before-$rate"; log "run at $rate commands/s for $DURATION (load average $(cut -d' ' -f1 /proc/loadavg))"
  run "run-$rate" "$rate"
  sleep 2; snapshot "after-$rate"
done
cp "$WORK/pg.log" "$WORK/pg-final.log"

python3 - "$WORK" "$LOW" "$HIGH" <<'PY'
import json, sys
work, low, high = sys.argv[1:]
def delta(rate):
    b = json.load(open(f"{work}/before-{rate}.snap")); a = json.load(open(f"{work}/after-{rate}.snap"))
    r = json.load(open(f"{work}/run-{rate}.json"))["commands"]
    d = {"commands": r["posted"], "acked": r.get("acked_seen"), "wal_sync": a["wal_sync"] - b["wal_sync"]}
    for label in ("api", "ingest"):
        d[f"{label}_rt"] = a["proxy"][label]["round_trips"] - b["proxy"][label]["round_trips"]
        d[f"{label}_conn"] = a["proxy"][label]["connections"] - b["proxy"][label]["connections"]
        d[f"{label}_stmt"] = a["statements"][f"{label}-node"] - b["statements"][f"{label}-node"]
    return d
lo, hi = delta(low), delta(high)
n = hi["commands"] - lo["commands"]
print(f"runs: {lo} / {hi}")
per = lambda k: (hi[k] - lo[k]) / n
print(f"| per command ({n} commands apart) | API node | ingest node | total |")
print("|---|---:|---:|---:|")
print(f"| PostgreSQL round trips | {per('api_rt'):.2f} | {per('ingest_rt'):.2f} | {per('api_rt') + per('ingest_rt'):.2f} |")
print(f"| statements logged | {per('api_stmt'):.2f} | {per('ingest_stmt'):.2f} | {per('api_stmt') + per('ingest_stmt'):.2f} |")
print(f"| new connections | {per('api_conn'):.2f} | {per('ingest_conn'):.2f} | |")
print(f"| WAL syncs (pg_stat_wal, both nodes) | | | {per('wal_sync'):.2f} |")
PY
log "raw results and the statement log in $WORK (pg-final.log)"
trap - EXIT; cleanup
