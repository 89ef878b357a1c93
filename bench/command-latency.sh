#!/usr/bin/env bash
# Command latency: HTTP API → device socket → acknowledgement (m2m-load commands).
#   1. builds the server, the nodes and the load tool (Release);
#   2. single process: starts M2M.Server on free loopback ports with a fresh data directory and a
#      known admin password (auto-registration unlimited); for each protocol, DEVICES idle devices
#      and commands at each of RATES commands/s for DURATION (a short warm-up run first, discarded);
#   3. the same with the server under record load: a second m2m-load `load` at LOAD_RATE records/s
#      (LOAD_DEVICES devices, other idents) runs while the commands are measured;
#   4. distributed (DISTRIBUTED=1, needs nats-server and PostgreSQL binaries): its own nats-server and
#      PostgreSQL (initdb in a temporary directory), an ingest node and an API node; the tool's
#      devices connect to the ingest node and its commands go to the API node, so each command
#      travels API node → PostgreSQL + NATS → ingest node → device;
#   5. prints a Markdown table (medians are the reader's: run it several times on a noisy machine).
# Usage: bench/command-latency.sh
#   env: DEVICES=1000 RATES="100 1000" DURATION=20s PROTOCOLS="m2mp alip" LOAD_RATE=20000
#        LOAD_DEVICES=100 UNDER_LOAD=1 SINGLE=1 DISTRIBUTED=1 (0 skips that part)
#        PG_OPTIONS="Max Auto Prepare=64;…" (appended to the nodes' PostgreSQL connection string)
# Needs: dotnet, python3, curl; for DISTRIBUTED: nats-server, /usr/lib/postgresql/*/bin.
# Results: one JSON per run in $WORK (printed at the end). All traffic stays on 127.0.0.0/8.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEVICES=${DEVICES:-1000}
RATES=${RATES:-"100 1000"}
DURATION=${DURATION:-20s}
PROTOCOLS=${PROTOCOLS:-"m2mp alip"}
LOAD_RATE=${LOAD_RATE:-20000}
LOAD_DEVICES=${LOAD_DEVICES:-100}
UNDER_LOAD=${UNDER_LOAD:-1}
SINGLE=${SINGLE:-1}
DISTRIBUTED=${DISTRIBUTED:-1}
WORK=$(mktemp -d /tmp/m2m-cmdlat.XXXXXX)
LOAD=$ROOT/bench/M2M.Load/bin/Release/net10.0/m2m-load
export M2M_API_PASSWORD="cmd-latency-$(date +%s)-$RANDOM"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
# Every process started is listed in $WORK/pids and killed at the end (by its id only).
track() { echo "$1" >>"$WORK/pids"; }
cleanup() {
  if [[ -f "$WORK/pids" ]]; then
    while read -r p; do kill "$p" 2>/dev/null || true; done <"$WORK/pids"
    sleep 1
    while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$WORK/pids"
  fi
  rm -rf "$WORK"/data-* "$WORK/pg" "$WORK/nats"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 did not open" >&2; exit 1; }
wait_health() { for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "health on $1 never answered" >&2; exit 1; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "building Release (work directory $WORK)"
for p in src/M2M.Server bench/M2M.Load; do
  dotnet build -c Release "$ROOT/$p" -v quiet -nologo >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
done
if [[ "$DISTRIBUTED" == "1" ]]; then
  for p in src/M2M.IngestNode src/M2M.ApiNode; do
    dotnet build -c Release "$ROOT/$p" -v quiet -nologo >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
  done
fi
{
  echo "nproc=$(nproc) cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1) memory=$(free -g | awk '/^Mem:/ {print $2 " GiB"}') dotnet=$(dotnet --version)"
  echo "commit=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src bench || echo '+changes') date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "devices=$DEVICES rates=$RATES duration=$DURATION load_rate=$LOAD_RATE"
} | tee "$WORK/machine.env" >&2

# commands <name> <topology> <ingest m2mp> <ingest alip> <api port> <pid> <protocol> <rate> [extra args]: one measured run
# CPU ticks (user + system, 1/100 s) used so far by every process named $1 (e.g. the PostgreSQL backends)
ticks_of() { python3 - "$1" <<'PY'
import glob, sys
total = 0
for path in glob.glob("/proc/[0-9]*/stat"):
    try:
        text = open(path).read()
    except OSError:
        continue
    name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
    if name == sys.argv[1]:
        total += int(rest[11]) + int(rest[12])
print(total)
PY
}
commands() {
  local name=$1 topology=$2 m=$3 a=$4 api=$5 pid=$6 protocol=$7 rate=$8; shift 8
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  local pg0 t0; pg0=$(ticks_of postgres); t0=$(date +%s.%N)
  local duration=${CMD_DURATION:-$DURATION}
  log "$name: $protocol, $DEVICES devices, $rate commands/s, $duration (load average $load)"
  "$LOAD" commands --protocol "$protocol" --devices "$DEVICES" --rate "$rate" --duration "$duration" \
    --api-url "http://127.0.0.1:$api" --m2mp-port "$m" --alip-port "$a" --server-pid "$pid" \
    --ident-prefix "imei:4${protocol:0:1}" --connect-timeout 30s --ident-timeout 60s --json --quiet "$@" \
    >"$WORK/$name.json" 2>"$WORK/$name.log" || { log "$name failed: $(tail -3 "$WORK/$name.log")"; }
  local pg_cores; pg_cores=$(python3 -c "import sys; print(round(($(ticks_of postgres) - $pg0) / 100 / ($(date +%s.%N) - $t0), 2))")
  python3 - "$WORK/$name.json" "$name" "$topology" "$protocol" "$rate" "$load" "$(cut -d' ' -f1 /proc/loadavg)" "$pg_cores" >>"$WORK/rows.jsonl" <<'PY' || true
import json, sys
path, name, topology, protocol, rate, l0, l1, pg = sys.argv[1:]
r = json.load(open(path))
print(json.dumps({"name": name, "topology": topology, "protocol": protocol, "rate": float(rate),
                  "load_before": float(l0), "load_after": float(l1), "postgres_cores": float(pg), "result": r}))
PY
}

# --- single process ------------------------------------------------------------------------------
if [[ "$SINGLE" == "1" ]]; then
M2MP_PORT=$(free_port); ALIP_PORT=$(free_port); HTTP_PORT=$(free_port)
dotnet "$ROOT/src/M2M.Server/bin/Release/net10.0/M2M.Server.dll" --urls "http://127.0.0.1:$HTTP_PORT" \
  --M2M:DataDirectory "$WORK/data-single" --M2M:Ingest:M2mpPort "$M2MP_PORT" --M2M:Ingest:AlipPort "$ALIP_PORT" \
  --M2M:Admin:Password "$M2M_API_PASSWORD" --M2M:Ingest:Auth:AutoRegisterPerMinute 0 \
  --Logging:LogLevel:Default=Warning >"$WORK/server.log" 2>&1 &
SERVER_PID=$!; track "$SERVER_PID"
wait_port "$ALIP_PORT"; wait_health "$HTTP_PORT"
log "server $SERVER_PID (HTTP $HTTP_PORT, M2MP $M2MP_PORT, ALIP $ALIP_PORT)"
echo "m2m-load commands --protocol <p> --devices $DEVICES --rate <r> --duration $DURATION --api-url http://127.0.0.1:<http> (M2M_API_PASSWORD)" >"$WORK/command.txt"

# JIT tiering and first registrations: a warm-up run per protocol, discarded.
for p in $PROTOCOLS; do
  CMD_DURATION=5s commands "warmup-$p" single "$M2MP_PORT" "$ALIP_PORT" "$HTTP_PORT" "$SERVER_PID" "$p" 100
done
for p in $PROTOCOLS; do
  for r in $RATES; do
    commands "single-$p-$r" single "$M2MP_PORT" "$ALIP_PORT" "$HTTP_PORT" "$SERVER_PID" "$p" "$r"
  done
done

if [[ "$UNDER_LOAD" == "1" ]]; then
  # A record load at a fixed rate on other devices for as long as the command runs last.
  runs=$(( $(wc -w <<<"$PROTOCOLS") * $(wc -w <<<"$RATES") ))
  secs=$(( runs * (${DURATION%s} + 60) + 30 ))
  echo "m2m-load load --protocol mix --devices $LOAD_DEVICES --rate $LOAD_RATE --barrier-every 100 --ident-prefix imei:49" >"$WORK/background.txt"
  # (env --default-signal: a background job of a script starts with SIGINT ignored; the tool ends its
  # run and writes its result on SIGINT)
  env --default-signal=INT "$LOAD" load --protocol mix --devices "$LOAD_DEVICES" --rate "$LOAD_RATE" --barrier-every 100 --duration "${secs}s" \
    --ident-prefix imei:49 --m2mp-port "$M2MP_PORT" --alip-port "$ALIP_PORT" --server-pid "$SERVER_PID" --json --quiet \
    >"$WORK/background.json" 2>"$WORK/background.log" &
  BG=$!; track "$BG"
  sleep 15
  for p in $PROTOCOLS; do
    for r in $RATES; do
      commands "loaded-$p-$r" "single + load $LOAD_RATE rec/s" "$M2MP_PORT" "$ALIP_PORT" "$HTTP_PORT" "$SERVER_PID" "$p" "$r"
    done
  done
  kill -INT "$BG" 2>/dev/null || true
  wait "$BG" 2>/dev/null || true
  python3 -c "import json; r=json.load(open('$WORK/background.json')); print('background load:', r['records']['acked_per_s'], 'records/s acknowledged, barrier p99', r['barrier_latency']['p99_ms'], 'ms')" >&2 || true
fi
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
fi

# --- distributed: API node → PostgreSQL + NATS → ingest node -------------------------------------
if [[ "$DISTRIBUTED" == "1" ]]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if ! command -v nats-server >/dev/null || [[ -z "$PG_BIN" ]]; then
    log "no nats-server or PostgreSQL binaries: the distributed runs are skipped"
  else
    NATS_PORT=$(free_port); PG_PORT=$(free_port)
    nats-server -js -sd "$WORK/nats" -a 127.0.0.1 -p "$NATS_PORT" >"$WORK/nats.log" 2>&1 & track $!
    AS=()
    if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$WORK"; AS=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi
    echo bench >"$WORK/pw"; chmod 644 "$WORK/pw"
    "${AS[@]}" "$PG_BIN/initdb" -D "$WORK/pg" -U postgres --pwfile "$WORK/pw" -E UTF8 --locale=C --auth-host=scram-sha-256 --auth-local=trust >"$WORK/initdb.log" 2>&1
    echo "CREATE DATABASE m2m;" | "${AS[@]}" "$PG_BIN/postgres" --single -D "$WORK/pg" postgres >/dev/null 2>&1
    "${AS[@]}" "$PG_BIN/postgres" -D "$WORK/pg" -p "$PG_PORT" -h 127.0.0.1 -k "$WORK" -c max_connections=200 >"$WORK/pg.log" 2>&1 & track $!
    wait_port "$NATS_PORT"; wait_port "$PG_PORT"
    common=(ConnectionStrings__nats="nats://127.0.0.1:$NATS_PORT"
            ConnectionStrings__m2mdb="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Password=bench;Database=m2m${PG_OPTIONS:+;$PG_OPTIONS}"
            M2M__Storage__Backend=postgres Logging__LogLevel__Default=Warning)
    IM=$(free_port); IA=$(free_port); IH=$(free_port); AH=$(free_port)
    env "${common[@]}" urls="http://127.0.0.1:$IH" M2M__Ingest__NodeName=ingest-1 M2M__Ingest__M2mpPort="$IM" M2M__Ingest__AlipPort="$IA" \
      M2M__Ingest__Auth__AutoRegisterPerMinute=0 \
      dotnet "$ROOT/src/M2M.IngestNode/bin/Release/net10.0/M2M.IngestNode.dll" >"$WORK/ingest.log" 2>&1 &
    INGEST_PID=$!; track "$INGEST_PID"
    wait_health "$IH"; wait_port "$IM"
    env "${common[@]}" urls="http://127.0.0.1:$AH" M2M__Admin__Password="$M2M_API_PASSWORD" \
      dotnet "$ROOT/src/M2M.ApiNode/bin/Release/net10.0/M2M.ApiNode.dll" >"$WORK/api.log" 2>&1 &
    track $!
    wait_health "$AH"
    log "distributed: ingest node $INGEST_PID (M2MP $IM, ALIP $IA), API node on $AH, NATS $NATS_PORT, PostgreSQL $PG_PORT"
    for p in $PROTOCOLS; do
      CMD_DURATION=5s commands "dist-warmup-$p" distributed "$IM" "$IA" "$AH" "$INGEST_PID" "$p" 100
    done
    for p in $PROTOCOLS; do
      for r in $RATES; do
        commands "dist-$p-$r" "distributed (API node → ingest node)" "$IM" "$IA" "$AH" "$INGEST_PID" "$p" "$r"
      done
    done
  fi
fi

# --- the table -----------------------------------------------------------------------------------
cat "$WORK/machine.env"
python3 - "$WORK/rows.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| topology | protocol | commands/s (target → posted) | delivered / lost | socket p50 / p95 / p99 / max ms | ack p50 / p99 / max ms | POST p50 / p99 ms | server CPU | PostgreSQL (cores) | load avg |")
print("|---|---|---|---|---|---|---|---|---|---|")
for row in rows:
    if "warmup" in row["name"]:
        continue
    r = row["result"]; c = r["commands"]; d = r["delivery_latency"]; a = r.get("ack_latency") or {}; p = r["post_latency"]
    cpu = (r.get("server") or {}).get("cpu_percent")
    print(f"| {row['topology']} | {row['protocol']} | {row['rate']:.0f} → {c['posted_per_s']:.0f} | {c['delivered']} / {c['lost']} "
          f"| {d['p50_ms']:.1f} / {d['p95_ms']:.1f} / {d['p99_ms']:.1f} / {d['max_ms']:.0f} "
          f"| {a.get('p50_ms', float('nan')):.1f} / {a.get('p99_ms', float('nan')):.1f} / {a.get('max_ms', float('nan')):.0f} "
          f"| {p['p50_ms']:.1f} / {p['p99_ms']:.1f} | {cpu if cpu is not None else 'n/a'} % "
          f"| {row['postgres_cores'] if row['topology'].startswith('distributed') else ''} | {row['load_before']:.1f}–{row['load_after']:.1f} |")
PY
log "raw results in $WORK"
