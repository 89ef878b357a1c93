#!/usr/bin/env bash
# Identification rate with and without a device secret: a reconnect storm of N known devices.
#   1. builds the server and the load tool (Release) and starts the server on free loopback ports
#      with a fresh data directory (auto-registration unlimited, failure throttle off);
#   2. registers two fleets of N devices: "plain" idents without a secret, "secret" idents that
#      present one (m2m-load --secret-seed: the server registers the secret at first use);
#   3. reconnects each fleet ROUNDS times, alternating, with m2m-load connections (all N connect
#      and identify, then disconnect): identifications of existing devices, with the secret checked
#      (HMAC-SHA256) or without one; reports identifications/s per round, medians and the ratio;
#   4. checks that the secret fleet without its secret is refused.
# Usage: bench/identification-storm.sh   (N=10000 ROUNDS=3 PROTOCOL=m2mp|alip change the scenario;
#        FLEETS=plain SERVER_DLL=<another build's M2M.Server.dll> measures another server, e.g. a baseline;
#        SERVER_ARGS="--M2M:Key value …" and SERVER_ENV="NAME=value …" are the server's only)
# Needs: dotnet, python3. All traffic stays on 127.0.0.0/8. Results: JSON lines in $WORK, summary on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-10000}
ROUNDS=${ROUNDS:-3}
PROTOCOL=${PROTOCOL:-m2mp}
WORK=$(mktemp -d /tmp/m2m-idstorm.XXXXXX)
SERVER_DLL=${SERVER_DLL:-$ROOT/src/M2M.Server/bin/Release/net10.0/M2M.Server.dll}
FLEETS=${FLEETS:-"plain secret"}
LOAD=$ROOT/bench/M2M.Load/bin/Release/net10.0/m2m-load
SEED=storm-$(date +%s)
SERVER_PID=""

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK/data"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "building Release"
dotnet build -c Release "$ROOT/src/M2M.Server/M2M.Server.csproj" -v quiet -nologo >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
dotnet build -c Release "$ROOT/bench/M2M.Load/M2M.Load.csproj" -v quiet -nologo >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }

M2MP_PORT=$(free_port); ALIP_PORT=$(free_port)
# shellcheck disable=SC2086
env ${SERVER_ENV:-} dotnet "$SERVER_DLL" --urls http://127.0.0.1:0 --M2M:DataDirectory "$WORK/data" \
  --M2M:Ingest:M2mpPort "$M2MP_PORT" --M2M:Ingest:AlipPort "$ALIP_PORT" \
  --M2M:Ingest:Auth:AutoRegisterPerMinute 0 --M2M:Ingest:Auth:FailuresBeforeDelay 100000000 \
  --Logging:LogLevel:Default=Warning ${SERVER_ARGS:-} >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$ALIP_PORT") 2>/dev/null && break; sleep 0.2; done
log "server $SERVER_PID (M2MP $M2MP_PORT, ALIP $ALIP_PORT)"

# storm <name> <count> <args...>: count devices connect and identify, then the tool ends (they disconnect)
storm() {
  local name=$1 count=$2; shift 2
  "$LOAD" connections --protocol "$PROTOCOL" --connections "$count" --settle 0s --quiet --json \
    --m2mp-port "$M2MP_PORT" --alip-port "$ALIP_PORT" --server-pid "$SERVER_PID" "$@" >"$WORK/$name.json" 2>"$WORK/$name.log" || true
  python3 -c "import json; r=json.load(open('$WORK/$name.json')); print(r['identified'], r['open_s'], r['connects_per_s'])"
}

echo "m2m-load connections --protocol $PROTOCOL --connections $N --settle 0s --ident-prefix imei:36 | imei:37 --secret-seed <seed>" >"$WORK/command.txt"
log "registering the fleets ($N devices each)"
storm register-plain "$N" --ident-prefix imei:36 >/dev/null
[[ $FLEETS == *secret* ]] && storm register-secret "$N" --ident-prefix imei:37 --secret-seed "$SEED" >/dev/null

for r in $(seq 1 "$ROUNDS"); do
  for fleet in $FLEETS; do
    if [[ $fleet == plain ]]; then args=(--ident-prefix imei:36); else args=(--ident-prefix imei:37 --secret-seed "$SEED"); fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    read -r identified seconds rate < <(storm "$fleet-$r" "$N" "${args[@]}")
    log "round $r $fleet: $identified identified in $seconds s = $rate/s (load $load)"
    echo "{\"round\":$r,\"fleet\":\"$fleet\",\"identified\":$identified,\"open_s\":$seconds,\"per_s\":$rate,\"load\":$load}" >>"$WORK/rounds.jsonl"
  done
done
refused=none
if [[ $FLEETS == *secret* ]]; then
  read -r refused _ _ < <(storm refused 200 --ident-prefix imei:37 --ident-timeout 5s)
  log "secret fleet without its secret: $refused of 200 identified (expected 0)"
fi

python3 - "$WORK/rounds.jsonl" "$refused" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
fleets = sorted({r["fleet"] for r in rows})
med = {f: statistics.median(r["per_s"] for r in rows if r["fleet"] == f) for f in fleets}
out = {"rounds": rows, "median_per_s": med}
if "secret" in med:
    out["secret_vs_plain"] = round(med["secret"] / med["plain"], 3)
    out["secret_fleet_without_secret_identified"] = sys.argv[2]
print(json.dumps(out, indent=1))
PY
log "raw results in $WORK"
