#!/usr/bin/env bash
# API read latency under ingest load (issue 16): a 1,000-record page of one type and the latest values
# of a device, on a ~10M-record database, idle and while ingest runs at half its maximum rate.
# For each backend (RocksDB, then PostgreSQL):
#   1. starts M2M.Server (Release) on free loopback ports with a fresh data directory (PostgreSQL: a
#      fresh database of its own, dropped at the end) and a known admin password;
#   2. fills it with m2m-load load (DEVICES devices, unthrottled, in chunks until RECORDS records are
#      acknowledged): records SPACING apart per type, each chunk in a time window of its own (the next
#      chunk starts twice the mean per-device span later), so every record is a distinct key;
#   3. measures the maximum ingest rate: MAX_DURATION of unthrottled load (a later window again);
#   4. ROUNDS times: (a) m2m-load query on the idle server, (c) the same query while load --rate <max/2>
#      runs (its acknowledged rate and barrier latency are reported with it);
#   5. prints one Markdown row per measurement and the medians over the rounds; with dotnet-counters
#      installed (COUNTERS=1, the default when it is found), the server's runtime counters during each
#      query run (the runtime's System.Runtime event counters, 1 s samples): thread-pool queue length
#      and threads, CPU, time in GC, lock contentions; and where the time of each query went (the server
#      runs with M2M:Api:ServerTiming, so the query client splits each request into the time before the
#      server started it, the server's own time, and the time after it: both on this host, one clock).
# Usage: bench/api-under-load.sh     (environment: BACKENDS="rocks postgres" DEVICES=100 RECORDS=10000000
#        PG_RECORDS=$RECORDS SPACING=60 ROUNDS=2 QUERY_DURATION=20s QUERY_RATE=100 CONCURRENCY=2
#        MAX_DURATION=10s SETTLE=15 M2M_BENCH_POSTGRES="Host=…;Username=…;Password=…;Database=postgres"
#        SERVER_ARGS="extra server options" VARIANTS="" NO_BUILD=0 (1: use the Release builds as they are))
# Before/after in one run (VARIANTS="a b …"): the database is filled once (by the first variant's
# server); then each round restarts the server once per variant on the same data (the order alternates
# from round to round) and measures it idle and under the same half rate. A variant <v> is
#   VARIANT_<v>_DLL=/path/to/M2M.Server.dll  (default: this tree's Release build; e.g. a build of another
#                                              commit from `git archive` under /tmp)
#   VARIANT_<v>_ENV="DOTNET_gcServer=0 …"     (environment of that server only: GC settings…)
#   VARIANT_<v>_ARGS="--M2M:Key value …"      (server options, after SERVER_ARGS)
#   VARIANT_<v>_LOAD_NICE=19                  (the half-rate load tool of that variant under `nice -n`, as if
#                                              the devices were elsewhere: it takes only the cores the server
#                                              leaves; default LOAD_NICE, 0 = not niced)
#   VARIANT_<v>_QUERY_NICE=-10                (the query client of that variant under `nice -n` (negative: needs
#                                              root), as if the API client were elsewhere: its own wake-ups no
#                                              longer wait for a core; default QUERY_NICE, 0 = not niced)
# Rows and medians are then per variant.
# Needs: dotnet, python3, psql (for PostgreSQL). All traffic stays on 127.0.0.1. Raw JSON in $WORK (kept).
set -euo pipefail

# M2M_ROOT: the tree whose builds are used (a copy of this script may run from elsewhere)
ROOT=${M2M_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
BACKENDS=${BACKENDS:-"rocks postgres"}
DEVICES=${DEVICES:-100}
RECORDS=${RECORDS:-10000000}
PG_RECORDS=${PG_RECORDS:-$RECORDS}
SPACING=${SPACING:-60}
ROUNDS=${ROUNDS:-2}
QUERY_DURATION=${QUERY_DURATION:-20s}
QUERY_RATE=${QUERY_RATE:-100}
CONCURRENCY=${CONCURRENCY:-2}
MAX_DURATION=${MAX_DURATION:-10s}
SETTLE=${SETTLE:-15}
SERVER_ARGS=${SERVER_ARGS:-}
VARIANTS=${VARIANTS:-}
LOAD_NICE=${LOAD_NICE:-0}
QUERY_NICE=${QUERY_NICE:-0}
COUNTERS_TOOL=$(command -v dotnet-counters || echo "$HOME/.dotnet/tools/dotnet-counters")
[[ -x $COUNTERS_TOOL ]] && COUNTERS=${COUNTERS:-1} || COUNTERS=0
# gauges, not the System.Runtime meter's instruments (dotnet-counters shows its up-down counters as rates per second)
RUNTIME_COUNTERS=threadpool-queue-length,threadpool-thread-count,cpu-usage,time-in-gc,monitor-lock-contention-count,working-set,gc-heap-size,alloc-rate,gen-0-gc-count,gen-2-gc-count
M2M_BENCH_POSTGRES=${M2M_BENCH_POSTGRES:-"Host=127.0.0.1;Port=5432;Username=postgres;Password=m2m-ci;Database=postgres"}
WORK=$(mktemp -d /tmp/m2m-api-load.XXXXXX)
SERVER_DLL=$ROOT/src/M2M.Server/bin/Release/net10.0/M2M.Server.dll
LOAD=$ROOT/bench/M2M.Load/bin/Release/net10.0/m2m-load
PASSWORD=api-load-$RANDOM$RANDOM
DATABASE="m2m_bench_apiload_$$"
SERVER_PID=""
LOAD_PID=""
CURRENT_VARIANT=""
PG_CS=""

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {'d': d}))" "$@"; }
seconds() { python3 -c "import sys; t=sys.argv[1]; print(int(float(t[:-1]) * {'s':1,'m':60,'h':3600}[t[-1]]) if t[-1] in 'smh' else int(float(t)))" "$1"; }

conn() { python3 - "$M2M_BENCH_POSTGRES" "$1" <<'PY'
import sys
parts = {k.strip().lower(): v for k, v in (p.split('=', 1) for p in sys.argv[1].split(';') if '=' in p)}
print({'host': parts.get('host', '127.0.0.1'), 'port': parts.get('port', '5432'), 'user': parts.get('username', 'postgres'), 'password': parts.get('password', '')}[sys.argv[2]])
PY
}

stop_pid() {
  local pid=$1
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
}
cleanup() {
  stop_pid "$LOAD_PID"; stop_pid "$SERVER_PID"
  if [[ $BACKENDS == *postgres* ]]; then
    psql -q -d postgres -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"/data-*
}
trap cleanup EXIT

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ ${NO_BUILD:-0} != 1 ]]; then
log "building Release (work directory $WORK)"
dotnet build -c Release "$ROOT/src/M2M.Server/M2M.Server.csproj" -v quiet -nologo >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
dotnet build -c Release "$ROOT/bench/M2M.Load/M2M.Load.csproj" -v quiet -nologo >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
fi

# the server of variant <v> ("" = no variants): its DLL, environment and extra options
variant_dll() { local n="VARIANT_${1}_DLL"; [[ -n $1 && -n ${!n:-} ]] && echo "${!n}" || echo "$SERVER_DLL"; }
variant_env() { local n="VARIANT_${1}_ENV"; [[ -n $1 ]] && echo "${!n:-}" || true; }
variant_args() { local n="VARIANT_${1}_ARGS"; [[ -n $1 ]] && echo "${!n:-}" || true; }
variant_load_nice() { local n="VARIANT_${1}_LOAD_NICE"; [[ -n $1 && -n ${!n:-} ]] && echo "${!n}" || echo "$LOAD_NICE"; }
variant_query_nice() { local n="VARIANT_${1}_QUERY_NICE"; [[ -n $1 && -n ${!n:-} ]] && echo "${!n}" || echo "$QUERY_NICE"; }

start_server() { # start_server <backend> [variant] [keep: reuse the database]
  HTTP_PORT=$(free_port); M2MP_PORT=$(free_port); ALIP_PORT=$(free_port)
  local variant=${2:-} keep=${3:-}
  local args=()
  if [[ $1 == postgres && -n $keep ]]; then
    args=(--M2M:Storage:Backend postgres --ConnectionStrings:m2mdb "$PG_CS")
  elif [[ $1 == postgres ]]; then
    export PGHOST=$(conn host) PGPORT=$(conn port) PGUSER=$(conn user) PGPASSWORD=$(conn password)
    psql -q -d postgres -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" >/dev/null
    psql -q -d postgres -c "CREATE DATABASE $DATABASE TEMPLATE template0"
    local cs
    cs="$(python3 -c "import sys; p=[x for x in sys.argv[1].split(';') if x and not x.lower().startswith('database=')]; print(';'.join(p + ['Database=$DATABASE']))" "$M2M_BENCH_POSTGRES")"
    PG_CS=$cs
    args=(--M2M:Storage:Backend postgres --ConnectionStrings:m2mdb "$cs")
  fi
  echo "== $(date -u +%T) server start${variant:+, variant $variant}" >>"$WORK/server-$1.log"
  local dll; dll=$(variant_dll "$variant")
  [[ -f $dll ]] || { echo "no server at $dll" >&2; exit 1; }
  # shellcheck disable=SC2086,SC2046
  env $(variant_env "$variant") dotnet "$dll" --urls "http://127.0.0.1:$HTTP_PORT" --M2M:DataDirectory "$WORK/data-$1" \
    --M2M:Ingest:M2mpPort "$M2MP_PORT" --M2M:Ingest:AlipPort "$ALIP_PORT" --M2M:Admin:Password "$PASSWORD" \
    --Logging:LogLevel:Default=Warning --M2M:Metrics:Prometheus true --M2M:Api:ServerTiming true "${args[@]}" $SERVER_ARGS $(variant_args "$variant") >>"$WORK/server-$1.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$HTTP_PORT/alive" >/dev/null 2>&1 && (exec 3<>"/dev/tcp/127.0.0.1/$M2MP_PORT") 2>/dev/null && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/server-$1.log" >&2; echo "the server exited" >&2; exit 1; }
    sleep 0.2
  done
  echo "the server did not start within 60 s" >&2; exit 1
}

# load <name> <history seconds> <duration> [extra load args]: a load run into $WORK/<name>.json
load() {
  local name=$1 history=$2 duration=$3; shift 3
  local nice=()
  [[ ${LOAD_NICE_NOW:-0} != 0 ]] && nice=(nice -n "$LOAD_NICE_NOW")
  "${nice[@]}" "$LOAD" load --devices "$DEVICES" --barrier-every 100 --history "${history}s" --spacing "${SPACING}s" --duration "$duration" \
    --m2mp-port "$M2MP_PORT" --alip-port "$ALIP_PORT" --server-pid "$SERVER_PID" --quiet --json "$@" >"$WORK/$name.json" 2>"$WORK/$name.log"
}
# the next chunk's history: this chunk's window (twice the mean records per device and type, so that
# no device's records reach it) moved on, in seconds before now
advance() {
  local next; next=$(json "$WORK/$1.json" "$HISTORY - (d['records']['sent_total'] // $DEVICES + 10) * $SPACING")
  (( next > 3600 )) || { echo "the history window reached now: raise the start (HISTORY) or lower SPACING" >&2; exit 1; }
  echo "$next"
}

query() { # query <name>
  local counters_pid=""
  if [[ $COUNTERS == 1 ]]; then
    "$COUNTERS_TOOL" collect -p "$SERVER_PID" --counters "System.Runtime[$RUNTIME_COUNTERS]" --refresh-interval 1 --format csv -o "$WORK/$1-counters.csv" >/dev/null 2>&1 &
    counters_pid=$!
    # dotnet-counters takes seconds to attach on a busy machine: the query starts once it samples
    for _ in $(seq 1 150); do [[ -f "$WORK/$1-counters.csv" && $(wc -l <"$WORK/$1-counters.csv") -gt 1 ]] && break; sleep 0.2; done
  fi
  # the server's own view: its request-duration histogram before and after (the difference is this run's)
  curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" >"$WORK/$1-metrics-before.txt" 2>/dev/null || true
  local nice=()
  [[ ${QUERY_NICE_NOW:-0} != 0 ]] && nice=(nice -n "$QUERY_NICE_NOW")
  M2M_API_PASSWORD=$PASSWORD "${nice[@]}" "$LOAD" query --api-url "http://127.0.0.1:$HTTP_PORT" --api-user admin --devices "$DEVICES" \
    --duration "$QUERY_DURATION" --warmup 5s --concurrency "$CONCURRENCY" --rate "$QUERY_RATE" --quiet --json >"$WORK/$1.json" 2>"$WORK/$1.log"
  curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" >"$WORK/$1-metrics-after.txt" 2>/dev/null || true
  if [[ -n $counters_pid ]]; then kill "$counters_pid" 2>/dev/null || true; wait "$counters_pid" 2>/dev/null || true; fi
}

row() { # row <backend> <phase> <round> <query json> [load json]
  python3 - "$@" "$STORED" "$(cut -d' ' -f1-3 /proc/loadavg)" "$CURRENT_VARIANT" <<'PY' | tee -a "$WORK/rows.jsonl" >/dev/null
import json, sys
backend, phase, rnd, qfile = sys.argv[1:5]
lfile = sys.argv[5] if len(sys.argv) > 8 else None
stored, load, variant = sys.argv[-3], sys.argv[-2], sys.argv[-1]
q = json.load(open(qfile))
out = {"backend": backend, "variant": variant, "phase": phase, "round": int(rnd), "stored": int(stored), "load": load,
       "page": q["page"], "latest": q["latest"], "errors": q["errors"]["total"]}
import csv, os, statistics
cfile = qfile[:-5] + "-counters.csv"
if os.path.exists(cfile):
    series = {}
    for line in csv.DictReader(open(cfile)):
        try:
            series.setdefault(line["Counter Name"], []).append(float(line["Mean/Increment"]))
        except (KeyError, ValueError):
            pass
    def pick(prefix, f):
        vals = [v for k, vs in series.items() if k.startswith(prefix) for v in vs]
        return round(f(vals), 2) if vals else None
    cores = os.cpu_count() or 1
    out["server"] = {
        "threadpool_queue_max": pick("ThreadPool Queue Length", max),
        "threadpool_queue_mean": pick("ThreadPool Queue Length", statistics.mean),
        "threadpool_threads_max": pick("ThreadPool Thread Count", max),
        "cpu_cores": pick("CPU Usage", lambda v: statistics.mean(v) * cores / 100),
        "time_in_gc_pct_max": pick("% Time in GC", max),
        "lock_contentions_per_s": pick("Monitor Lock Contention Count", statistics.mean),
        "working_set_mb_max": pick("Working Set", max),
        "gc_heap_mb_max": pick("GC Heap Size", max),
        # per second (dotnet-counters shows these as increments per refresh interval of 1 s)
        "alloc_mb_per_s": pick("Allocation Rate", lambda v: statistics.mean(v) / 1e6),
        "gen0_gcs_per_s": pick("Gen 0 GC Count", statistics.mean),
        "gen2_gcs_per_s": pick("Gen 2 GC Count", statistics.mean),
    }
# the server's request durations during the run (http.server.request.duration, from the Prometheus endpoint):
# per route, the share of requests done within 5, 10 and 25 ms (the histogram's bucket bounds), measured from
# the request's first middleware to its last byte handed to the transport (no socket or client time)
import re
def buckets(path):
    out = {}
    if not os.path.exists(path):
        return out
    for line in open(path):
        if not line.startswith("http_server_request_duration_seconds_bucket{"):
            continue
        labels, _, value = line.rpartition("}")
        m_route = re.search(r'http_route="([^"]*)"', labels); m_le = re.search(r'le="([^"]*)"', labels)
        if not (m_route and m_le):
            continue
        key = (m_route.group(1), m_le.group(1))
        out[key] = out.get(key, 0.0) + float(value.split()[0])
    return out
before, after = buckets(qfile[:-5] + "-metrics-before.txt"), buckets(qfile[:-5] + "-metrics-after.txt")
routes = {}
for (route, le), v in after.items():
    routes.setdefault(route, {})[le] = v - before.get((route, le), 0.0)
server_side = {}
for route, by_le in routes.items():
    total = by_le.get("+Inf", 0.0)
    if total <= 0 or ("/data" not in route):
        continue
    share = lambda le: round(100 * by_le.get(le, 0.0) / total, 2)
    server_side[route] = {"requests": int(total), "within_5ms_pct": share("0.005"), "within_10ms_pct": share("0.01"), "within_25ms_pct": share("0.025")}
if server_side:
    out["server_side"] = server_side
if lfile:
    l = json.load(open(lfile))
    out["ingest_per_s"] = l["records"]["acked_per_s"]
    out["barrier"] = l["barrier_latency"]
print(json.dumps(out))
PY
}

echo "commit $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)" | tee "$WORK/header.txt"
for backend in $BACKENDS; do
  target=$RECORDS; [[ $backend == postgres ]] && target=$PG_RECORDS
  start_server "$backend"
  log "$backend: server $SERVER_PID (HTTP $HTTP_PORT, M2MP $M2MP_PORT); filling $target records into $DEVICES devices"
  # the first record of the fill, before now: room for the fill, the maximum run and the rounds
  # (each round's ingest adds up to ~12M records per variant)
  nvariants=$(echo ${VARIANTS:-"-"} | wc -w)
  HISTORY=$(( (target / DEVICES * 2 + 12000000 / DEVICES * (ROUNDS * nvariants + 1)) * SPACING + 86400 ))
  STORED=0; chunk=1; duration=20s
  fill_start=$(date +%s)
  while (( STORED < target )); do
    load "$backend-fill-$chunk" "$HISTORY" "$duration"
    acked=$(json "$WORK/$backend-fill-$chunk.json" "d['records']['acked_total']")
    rate=$(json "$WORK/$backend-fill-$chunk.json" "d['records']['acked_per_s']")
    STORED=$((STORED + acked)); HISTORY=$(advance "$backend-fill-$chunk")
    log "$backend fill chunk $chunk: $acked records at $rate/s, $STORED stored"
    (( rate > 0 )) || { echo "the fill acknowledges nothing" >&2; exit 1; }
    duration=$(python3 -c "print(max(5, min(120, int(($target - $STORED) / $rate) + 1)))")s
    chunk=$((chunk + 1))
  done
  fill_s=$(( $(date +%s) - fill_start ))
  log "$backend: $STORED records in $fill_s s; settling ${SETTLE}s"
  echo "{\"backend\":\"$backend\",\"phase\":\"fill\",\"stored\":$STORED,\"seconds\":$fill_s}" >>"$WORK/rows.jsonl"
  sleep "$SETTLE"

  load "$backend-max" "$HISTORY" "$MAX_DURATION"
  # the maximum: the larger of this run and the fill's last chunk (unthrottled too): a run right after the
  # fill can meet the fill's compactions, and a machine shared with builds makes either one low
  MAX_RUN=$(json "$WORK/$backend-max.json" "d['records']['acked_per_s']")
  MAX=$(python3 -c "print(int(max($MAX_RUN, $rate)))")
  STORED=$((STORED + $(json "$WORK/$backend-max.json" "d['records']['acked_total']"))); HISTORY=$(advance "$backend-max")
  HALF=$(python3 -c "print(int($MAX / 2))")
  log "$backend: maximum $MAX records/s (maximum run $MAX_RUN, last fill chunk $rate), half $HALF"
  echo "{\"backend\":\"$backend\",\"phase\":\"max\",\"stored\":$STORED,\"ingest_per_s\":$MAX,\"max_run_per_s\":$MAX_RUN,\"fill_last_per_s\":$rate,\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$WORK/rows.jsonl"
  sleep "$SETTLE"

  for r in $(seq 1 "$ROUNDS"); do
    order=${VARIANTS:-"-"}
    # alternated: odd rounds in the given order, even rounds reversed
    (( r % 2 == 0 )) && order=$(echo "$order" | tr ' ' '\n' | tac | tr '\n' ' ')
    for v in $order; do
      [[ $v == - ]] && v=""
      CURRENT_VARIANT=$v
      tag="$backend${v:+-$v}"
      if [[ -n $VARIANTS ]]; then
        # each variant's server on the same data: a restart (SETTLE seconds to start its caches and compactions)
        stop_pid "$SERVER_PID"; SERVER_PID=""
        start_server "$backend" "$v" keep
        log "$backend round $r: variant $v, server $SERVER_PID"
        sleep "$SETTLE"
      fi
      QUERY_NICE_NOW=$(variant_query_nice "$v") query "$tag-idle-$r"
      row "$backend" idle "$r" "$WORK/$tag-idle-$r.json"
      log "$backend round $r idle: $(tail -1 "$WORK/rows.jsonl")"
      # the load outlasts the query run: discovery, warm-up and the measurement, plus margins
      load_s=$(( $(seconds "$QUERY_DURATION") + 25 + (COUNTERS == 1 ? 30 : 0) ))
      LOAD_NICE_NOW=$(variant_load_nice "$v") load "$tag-half-$r" "$HISTORY" "${load_s}s" --rate "$HALF" &
      LOAD_PID=$!
      sleep 5
      QUERY_NICE_NOW=$(variant_query_nice "$v") query "$tag-busy-$r"
      wait "$LOAD_PID" || true; LOAD_PID=""
      STORED=$((STORED + $(json "$WORK/$tag-half-$r.json" "d['records']['acked_total']"))); HISTORY=$(advance "$tag-half-$r")
      row "$backend" half-rate-ingest "$r" "$WORK/$tag-busy-$r.json" "$WORK/$tag-half-$r.json"
      log "$backend round $r under ingest: $(tail -1 "$WORK/rows.jsonl")"
      sleep "$SETTLE"
    done
  done
  stop_pid "$SERVER_PID"; SERVER_PID=""
  # RocksDB's own log (flushes, compactions, stalls with their times), to line slow queries up with it
  cp "$WORK/data-$backend/db/LOG" "$WORK/rocksdb-LOG-$backend" 2>/dev/null || true
  rm -rf "$WORK/data-$backend"
done

echo "m2m-load query --devices $DEVICES --duration $QUERY_DURATION --warmup 5s --concurrency $CONCURRENCY --rate $QUERY_RATE (page: --page-size 1000 --order desc)"
[[ -n $VARIANTS ]] && for v in $VARIANTS; do echo "variant $v: dll $(variant_dll "$v"), env '$(variant_env "$v")', args '$(variant_args "$v")', load tool nice $(variant_load_nice "$v"), query client nice $(variant_query_nice "$v")"; done
python3 - "$WORK/rows.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
name = lambda r: r["backend"] + (f" {r['variant']}" if r.get("variant") else "")
print()
print("| backend | phase | round | records stored | ingest records/s | barrier p50 / p99 ms | page p50 / p95 / p99 / max ms | latest p50 / p95 / p99 / max ms | errors | load average |")
print("|---|---|---|---:|---:|---|---|---|---:|---|")
for r in rows:
    if r["phase"] == "fill":
        print(f"| {r['backend']} | fill | | {r['stored']:,} | {r['stored'] / max(1, r['seconds']):,.0f} (mean) | | | | | |")
        continue
    if r["phase"] == "max":
        print(f"| {r['backend']} | maximum ingest (run {r.get('max_run_per_s', 0):,.0f}, fill's last chunk {r.get('fill_last_per_s', 0):,.0f}) | | {r['stored']:,} | {r['ingest_per_s']:,.0f} | | | | | {r['load']} |")
        continue
    p, l = r["page"], r["latest"]
    ingest = f"{r['ingest_per_s']:,.0f}" if "ingest_per_s" in r else ""
    barrier = f"{r['barrier']['p50_ms']} / {r['barrier']['p99_ms']}" if "barrier" in r else ""
    print(f"| {name(r)} | {r['phase']} | {r['round']} | {r['stored']:,} | {ingest} | {barrier} | {p['p50_ms']} / {p['p95_ms']} / {p['p99_ms']} / {p['max_ms']} | {l['p50_ms']} / {l['p95_ms']} / {l['p99_ms']} / {l['max_ms']} | {r['errors']} | {r['load']} |")
print()
print("Medians over the rounds (goal: page p99 < 20 ms, latest p99 < 5 ms under half-rate ingest):")
print()
print("| backend | phase | page p50 | page p99 | latest p50 | latest p99 | ingest records/s | barrier p99 |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
measured = [r for r in rows if r["phase"] in ("idle", "half-rate-ingest")]
for b in dict.fromkeys(name(r) for r in measured):
    for ph in ("idle", "half-rate-ingest"):
        sel = [r for r in measured if name(r) == b and r["phase"] == ph]
        if not sel:
            continue
        m = lambda f: round(statistics.median(f(r) for r in sel), 2)
        ingest = f"{m(lambda r: r['ingest_per_s']):,.0f}" if ph != "idle" else ""
        barrier = f"{m(lambda r: r['barrier']['p99_ms'])} ms" if ph != "idle" else ""
        print(f"| {b} | {ph} | {m(lambda r: r['page']['p50_ms'])} ms | {m(lambda r: r['page']['p99_ms'])} ms | {m(lambda r: r['latest']['p50_ms'])} ms | {m(lambda r: r['latest']['p99_ms'])} ms | {ingest} | {barrier} |")
sides = [r for r in rows if "server_side" in r]
if sides:
    print()
    print("The server's own request durations during each query run (http.server.request.duration; share of requests done within 5 / 10 / 25 ms):")
    print()
    print("| backend | phase | round | route | requests | ≤ 5 ms | ≤ 10 ms | ≤ 25 ms |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for r in sides:
        for route, c in sorted(r["server_side"].items()):
            print(f"| {name(r)} | {r['phase']} | {r['round']} | `{route}` | {c['requests']} | {c['within_5ms_pct']} % | {c['within_10ms_pct']} % | {c['within_25ms_pct']} % |")
splits = [r for r in rows if r["phase"] in ("idle", "half-rate-ingest") and r["latest"].get("split")]
if splits:
    print()
    print("Where the time went (the query client's clock against the server's Server-Timing): p50 / p99 of the time before the server started a request, the server's own time (first middleware to headers), and the time after it up to the client reading the headers; then the mean of each part over the slowest 1 % of requests:")
    print()
    print("| backend | phase | round | query | before p50 / p99 | server p50 / p99 | after p50 / p99 | slowest 1 %: total = before + server + after + body (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in splits:
        for kind in ("latest", "page"):
            sp = r[kind].get("split")
            if not sp:
                continue
            t = sp.get("slowest_1pct") or {}
            tail = f"{t.get('total_ms')} = {t.get('before_server_ms')} + {t.get('server_ms')} + {t.get('after_server_ms')} + {t.get('body_ms')} ({t.get('requests')})" if t else ""
            print(f"| {name(r)} | {r['phase']} | {r['round']} | {kind} | {sp['before_server']['p50_ms']} / {sp['before_server']['p99_ms']} | {sp['server']['p50_ms']} / {sp['server']['p99_ms']} | {sp['after_server']['p50_ms']} / {sp['after_server']['p99_ms']} | {tail} |")
server = [r for r in rows if "server" in r]
if server:
    print()
    print("Server runtime during each query run (dotnet-counters, 1 s samples):")
    print()
    print("| backend | phase | round | CPU (cores) | thread-pool queue max / mean | thread-pool threads max | time in GC max % | lock contentions/s | working set max MB | GC heap max MB | allocated MB/s | gen0 / gen2 GCs/s |")
    print("|---|---|---|---:|---|---:|---|---:|---:|---:|---:|---|")
    for r in server:
        c = r["server"]
        print(f"| {name(r)} | {r['phase']} | {r['round']} | {c['cpu_cores']} | {c['threadpool_queue_max']} / {c['threadpool_queue_mean']} | {c['threadpool_threads_max']} | {c['time_in_gc_pct_max']} | {c['lock_contentions_per_s']} | {c.get('working_set_mb_max')} | {c.get('gc_heap_mb_max')} | {c.get('alloc_mb_per_s')} | {c.get('gen0_gcs_per_s')} / {c.get('gen2_gcs_per_s')} |")
PY
log "raw results in $WORK"
