#!/usr/bin/env bash
# End-to-end benchmark of the distributed topology on this machine:
#   ingest node(s) → JetStream → storage writer(s) → PostgreSQL,
# beside the raw PostgreSQL COPY of the same number of rows into a table of the same shape, in the
# same run. Starts its own nats-server and PostgreSQL (initdb in a temporary directory; as the
# postgres user when run as root), the writers and ingest nodes (Release), then:
#   1. m2m-load against every ingest node at once, as fast as barriers are answered (DURATION);
#   2. waits until the writers drained the stream (JetStream monitoring: 0 messages left) and counts
#      the stored rows: stored records/s = rows / (first record → stream drained);
#   3. the same load with the writers stopped (a backlog in the stream), then starts them: the rows
#      they commit per second until the stream is empty (the writers' own rate);
#   4. raw COPY of as many rows (text COPY through psql) into bench_raw.ts (same columns, primary
#      key, type index, one partition);
#   5. the load again at half the acknowledged rate: barrier latency p50/p99;
#   6. the bus alone (M2M.Bus.Benchmarks): records/s the stream acknowledges.
# Usage: bench/run-distributed.sh   (env: INGEST=1|2 WRITERS=1 DEVICES=200 BARRIER=50 DURATION=30s)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/m2m-dist-bench.XXXXXX)
INGEST=${INGEST:-1}
WRITERS=${WRITERS:-1}
DEVICES=${DEVICES:-200}
BARRIER=${BARRIER:-50}
DURATION=${DURATION:-30s}
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
# Every process started is listed in $WORK/pids (node() runs in a subshell: a variable would not come back).
track() { echo "$1" >>"$WORK/pids"; }
cleanup() { [[ -f "$WORK/pids" ]] && while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$WORK/pids"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 did not open" >&2; exit 1; }
wait_health() { for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "health on $1 never answered" >&2; exit 1; }

log "building Release"
for p in src/M2M.IngestNode src/M2M.StorageWriter bench/M2M.Load bench/M2M.Bus.Benchmarks; do
  dotnet build -c Release "$ROOT/$p" -v quiet -nologo >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
done
LOAD=$ROOT/bench/M2M.Load/bin/Release/net10.0/m2m-load

# --- servers -------------------------------------------------------------------------------------
NATS_PORT=$(free_port); NATS_MON=$(free_port)
nats-server -js -sd "$WORK/nats" -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MON" >"$WORK/nats.log" 2>&1 & track $!
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_PORT=$(free_port)
AS=()
if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$WORK"; AS=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi
echo bench >"$WORK/pw"; chmod 644 "$WORK/pw"
"${AS[@]}" "$PG_BIN/initdb" -D "$WORK/pg" -U postgres --pwfile "$WORK/pw" -E UTF8 --locale=C --auth-host=scram-sha-256 --auth-local=trust >"$WORK/initdb.log" 2>&1
echo "CREATE DATABASE m2m;" | "${AS[@]}" "$PG_BIN/postgres" --single -D "$WORK/pg" postgres >/dev/null 2>&1
"${AS[@]}" "$PG_BIN/postgres" -D "$WORK/pg" -p "$PG_PORT" -h 127.0.0.1 -k "$WORK" -c shared_buffers=512MB -c max_wal_size=4GB -c max_connections=400 >"$WORK/pg.log" 2>&1 & track $!
wait_port "$NATS_PORT"; wait_port "$PG_PORT"
PSQL=(env PGPASSWORD=bench psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d m2m -qAt)

# --- nodes ---------------------------------------------------------------------------------------
node() { # node <name> <project> [VAR=value...]
  local name=$1 project=$2; shift 2
  local http; http=$(free_port)
  env ConnectionStrings__nats="nats://127.0.0.1:$NATS_PORT" \
      ConnectionStrings__m2mdb="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Password=bench;Database=m2m" \
      M2M__Storage__Backend=postgres urls="http://127.0.0.1:$http" Logging__LogLevel__Default=Warning "$@" \
      dotnet "$ROOT/src/$project/bin/Release/net10.0/$project.dll" >"$WORK/$name.log" 2>&1 &
  track $!; echo "$! $http"
}
WRITER_PIDS=()
start_writers() { for w in $(seq 1 "$WRITERS"); do read -r pid h < <(node "writer-$1$w" M2M.StorageWriter); wait_health "$h"; WRITER_PIDS+=("$pid"); done; }
start_writers a
INGEST_PORTS=(); INGEST_PIDS=()
for i in $(seq 1 "$INGEST"); do
  m=$(free_port); a=$(free_port)
  read -r pid h < <(node "ingest-$i" M2M.IngestNode M2M__Ingest__NodeName="ingest-$i" M2M__Ingest__M2mpPort="$m" M2M__Ingest__AlipPort="$a")
  wait_health "$h"; wait_port "$m"; INGEST_PORTS+=("$m $a"); INGEST_PIDS+=("$pid")
done
{
  echo "nproc=$(nproc) memory=$(free -g | awk '/^Mem:/ {print $2 " GiB"}') dotnet=$(dotnet --version)"
  echo "commit=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src bench || echo '+changes') date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "ingest=$INGEST writers=$WRITERS devices=$DEVICES barrier_every=$BARRIER duration=$DURATION"
} | tee "$WORK/machine.env" >&2

# --- 1. as fast as acknowledged ------------------------------------------------------------------
run_load() { # run_load <tag> [extra m2m-load args]
  local tag=$1; shift; local i=0 pids=()
  for ports in "${INGEST_PORTS[@]}"; do
    read -r m a <<<"$ports"
    "$LOAD" load --protocol m2mp --devices $((DEVICES / INGEST)) --barrier-every "$BARRIER" --duration "$DURATION" \
      --m2mp-port "$m" --alip-port "$a" --ident-prefix "n${i}x" --ident-offset $((i * 1000000)) --server-pid "${INGEST_PIDS[$i]}" --ident-timeout 60s --connect-timeout 30s --quiet --json "$@" \
      >"$WORK/$tag-$i.json" 2>"$WORK/$tag-$i.log" & pids+=($!)
    i=$((i + 1))
  done
  for p in "${pids[@]}"; do wait "$p" || { echo "m2m-load failed: $(cat "$WORK"/$tag-*.log)" >&2; exit 1; }; done
}
stream_messages() { curl -fs "http://127.0.0.1:$NATS_MON/jsz?streams=true" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(s["state"]["messages"] for a in d.get("account_details",[]) for s in a.get("stream_detail",[]) if s["name"]=="M2M_STORAGE"))'; }
log "load: ${INGEST} ingest node(s), ${WRITERS} writer(s), $DEVICES devices, barrier every $BARRIER, $DURATION"
load_start=$(date +%s.%N)
run_load full
log "load done; waiting for the writers to drain the stream ($(stream_messages) messages left)"
while [[ $(stream_messages) -ne 0 ]]; do sleep 0.2; done
drained=$(date +%s.%N)
rows=$("${PSQL[@]}" -c "SELECT count(*) FROM m2m.ts")
acked=$(python3 -c 'import json,sys; print(sum(json.load(open(f))["records"]["acked_per_s"] for f in sys.argv[1:]))' "$WORK"/full-*.json)
acked_total=$(python3 -c 'import json,sys; print(sum(json.load(open(f))["records"]["acked_total"] for f in sys.argv[1:]))' "$WORK"/full-*.json)
stored_rate=$(python3 -c "print(round($rows / ($drained - $load_start)))")

# --- 2. the writers alone: a backlog left in the stream while no writer runs, then drained --------
log "backlog: the same load with the writers stopped"
for p in "${WRITER_PIDS[@]}"; do kill -9 "$p"; done; WRITER_PIDS=()
run_load backlog
backlog_messages=$(stream_messages)
before=$("${PSQL[@]}" -c "SELECT count(*) FROM m2m.ts")
drain_start=$(date +%s.%N)
start_writers b
while [[ $(stream_messages) -ne 0 ]]; do sleep 0.2; done
drain_end=$(date +%s.%N)
after=$("${PSQL[@]}" -c "SELECT count(*) FROM m2m.ts")
backlog_rows=$((after - before))
writer_rate=$(python3 -c "print(round($backlog_rows / ($drain_end - $drain_start)))")
log "writers drained $backlog_rows rows ($backlog_messages messages) at $writer_rate rows/s (from their start)"

# --- 3. the raw COPY of as many rows ------------------------------------------------------------
rows=$backlog_rows
log "raw COPY of $rows rows"
"${PSQL[@]}" <<'SQL'
CREATE SCHEMA bench_raw;
CREATE TABLE bench_raw.ts (id text COLLATE "C" NOT NULL, time bigint NOT NULL, type text COLLATE "C" NOT NULL, hash bigint NOT NULL, data text NOT NULL,
  PRIMARY KEY (id, time, type, hash)) PARTITION BY RANGE (time);
CREATE INDEX ON bench_raw.ts (id, type, time, hash);
CREATE TABLE bench_raw.ts_all PARTITION OF bench_raw.ts FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
SQL
python3 - "$rows" >"$WORK/rows.csv" <<'PY'
import sys, uuid, random
n = int(sys.argv[1]); devices = 200; t0 = 638_900_000_000_000_000
ids = [f"dev-{uuid.uuid4()}" for _ in range(devices)]
for i in range(n):
    print(f'{ids[i % devices]},{t0 + i * 10_000_000},sen:loc,{random.getrandbits(63)},"{{""lat"":48.85661,""lon"":2.35222,""spd"":42,""alt"":35}}"')
PY
copy_start=$(date +%s.%N)
"${PSQL[@]}" -c "\\copy bench_raw.ts FROM '$WORK/rows.csv' WITH (FORMAT csv)"
copy_end=$(date +%s.%N)
copy_rate=$(python3 -c "print(round($rows / ($copy_end - $copy_start)))")

# --- 4. barrier latency at half the rate ---------------------------------------------------------
half=$(python3 -c "print(max(1, int($acked / 2)))")
log "load at half rate: $half records/s"
run_load half --rate $((half / INGEST))
half_p50=$(python3 -c 'import json,sys; print(max(json.load(open(f))["barrier_latency"]["p50_ms"] for f in sys.argv[1:]))' "$WORK"/half-*.json)
half_p99=$(python3 -c 'import json,sys; print(max(json.load(open(f))["barrier_latency"]["p99_ms"] for f in sys.argv[1:]))' "$WORK"/half-*.json)
half_acked=$(python3 -c 'import json,sys; print(sum(json.load(open(f))["records"]["acked_per_s"] for f in sys.argv[1:]))' "$WORK"/half-*.json)

# --- 5. the bus alone ----------------------------------------------------------------------------
bus=$(dotnet "$ROOT/bench/M2M.Bus.Benchmarks/bin/Release/net10.0/M2M.Bus.Benchmarks.dll" --url "nats://127.0.0.1:$NATS_PORT" --records 400000 --producers 64)

cat <<REPORT
$(cat "$WORK/machine.env")
acked_records_per_s=$acked acked_total=$acked_total
stored_records_per_s=$stored_rate (under load: first record to stream drained)
writer_drain_rows=$backlog_rows writer_rows_per_s=$writer_rate (a backlog, from the writers' start, process start included)
raw_copy_rows_per_s=$copy_rate ratio_writer_to_copy=$(python3 -c "print(round($writer_rate / $copy_rate, 2))")
half_rate_acked_per_s=$half_acked barrier_p50_ms=$half_p50 barrier_p99_ms=$half_p99
bus: $bus
loadavg=$(cat /proc/loadavg)
work=$WORK
REPORT
