#!/usr/bin/env bash
# End to end on both storage backends in one run: the single-process server on RocksDB, then on
# PostgreSQL (a fresh database on M2M_BENCH_POSTGRES), each loaded by m2m-load (M2MP then ALIP, as
# fast as barriers are answered). Prints one Markdown table row per run with the load average.
#   M2M_BENCH_POSTGRES="Host=…;Username=…;Password=…;Database=postgres" bench/run-postgres-e2e.sh
#   DURATION=30s DEVICES=100 BARRIER=100
# Needs: dotnet, python3, psql. All traffic stays on 127.0.0.0/8.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-30s}
DEVICES=${DEVICES:-100}
BARRIER=${BARRIER:-100}
: "${M2M_BENCH_POSTGRES:?set M2M_BENCH_POSTGRES to an Npgsql connection string of a user that may create databases}"
WORK=$(mktemp -d /tmp/m2m-pg-e2e.XXXXXX)
SERVER_DLL=$ROOT/src/M2M.Server/bin/Release/net10.0/M2M.Server.dll
LOAD=$ROOT/bench/M2M.Load/bin/Release/net10.0/m2m-load
SERVER_PID=""
DATABASE="m2m_bench_e2e_$$"

# psql connection parameters from the Npgsql connection string
conn() { python3 - "$M2M_BENCH_POSTGRES" "$1" <<'PY'
import sys
parts = dict(p.split('=', 1) for p in sys.argv[1].split(';') if '=' in p)
parts = {k.strip().lower(): v for k, v in parts.items()}
key = sys.argv[2]
print({'host': parts.get('host', '127.0.0.1'), 'port': parts.get('port', '5432'), 'user': parts.get('username', 'postgres'), 'password': parts.get('password', '')}[key])
PY
}
export PGHOST=$(conn host) PGPORT=$(conn port) PGUSER=$(conn user) PGPASSWORD=$(conn password)

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() { stop_server; psql -q -d postgres -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start_server() { # start_server <data dir> [extra server args...]
  local data=$1; shift
  M2MP_PORT=$(free_port); ALIP_PORT=$(free_port)
  dotnet "$SERVER_DLL" --urls http://127.0.0.1:0 --M2M:DataDirectory "$data" \
    --M2M:Ingest:M2mpPort "$M2MP_PORT" --M2M:Ingest:AlipPort "$ALIP_PORT" \
    --Logging:LogLevel:Default=Warning "$@" >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$ALIP_PORT") 2>/dev/null && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/server.log" >&2; echo "the server exited" >&2; exit 1; }
    sleep 0.2
  done
  echo "the server did not listen within 60 s" >&2; exit 1
}

run() { # run <backend> <protocol>
  "$LOAD" load --protocol "$2" --devices "$DEVICES" --barrier-every "$BARRIER" --duration "$DURATION" --quiet --json \
    --m2mp-port "$M2MP_PORT" --alip-port "$ALIP_PORT" --server-pid "$SERVER_PID" >"$WORK/$1-$2.json" 2>"$WORK/$1-$2.log"
  python3 - "$WORK/$1-$2.json" "$1" "$2" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r, b = d['records'], d['barrier_latency']
print(f"| {sys.argv[2]} | {sys.argv[3]} | {r['acked_per_s']:,.0f} | {b['p50_ms']} | {b['p99_ms']} | {sys.argv[4]} |")
PY
}

dotnet build -c Release "$ROOT/src/M2M.Server/M2M.Server.csproj" -v quiet -nologo >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
dotnet build -c Release "$ROOT/bench/M2M.Load/M2M.Load.csproj" -v quiet -nologo >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
psql -q -d postgres -c "CREATE DATABASE $DATABASE TEMPLATE template0"
PG_CS="$(python3 -c "import sys; p=[x for x in sys.argv[1].split(';') if x and not x.lower().startswith('database=')]; print(';'.join(p + ['Database=$DATABASE']))" "$M2M_BENCH_POSTGRES")"
echo "commit $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, PostgreSQL: $(psql -tA -d postgres -c "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('server_version','synchronous_commit','fsync','shared_buffers','max_wal_size')")"
echo "m2m-load load --protocol <p> --devices $DEVICES --barrier-every $BARRIER --duration $DURATION"
echo
echo "| backend | protocol | records/s acknowledged | barrier p50 ms | barrier p99 ms | load average |"
echo "|---|---|---|---|---|---|"
for backend in rocks postgres; do
  if [[ $backend == rocks ]]; then
    start_server "$WORK/data-rocks"
  else
    start_server "$WORK/data-pg" --M2M:Storage:Backend postgres --ConnectionStrings:m2mdb "$PG_CS"
  fi
  # JIT tiering and a fresh database make the first seconds slower: a warm-up run is discarded.
  "$LOAD" load --protocol mix --devices "$DEVICES" --barrier-every "$BARRIER" --duration 10s --quiet \
    --m2mp-port "$M2MP_PORT" --alip-port "$ALIP_PORT" >/dev/null 2>&1 || true
  for p in m2mp alip; do run "$backend" "$p"; done
  stop_server
done
