#!/usr/bin/env bash
# 100,000 concurrent identified devices on one machine, over the distributed topology.
# Starts (Release builds, free ports, data under /tmp) its own nats-server -js, its own PostgreSQL
# (initdb), one storage writer, one API node and NODES ingest nodes, then:
#   1. registration: TOTAL new devices connect and identify (auto-registration), one load process per
#      ingest node (m2m-load connections --hold), each on its own slice of the source addresses
#      127.0.0.2–254; time until every device is identified = first registration rate;
#   2. memory: every process's RSS (VmRSS; PostgreSQL as the sum of the PSS of all its processes)
#      after SETTLE seconds, per device = (RSS − the same process before any device) ÷ its devices;
#   3. idle CPU: CPU time of every server process over IDLE seconds while the devices only answer the
#      server's pings (M2M:Ingest:PingAfterIdle = PING: the server pings a device that sent nothing
#      for that long; the server's default is 15 min, which would send no ping within a minute);
#   4. checks: devices in PostgreSQL (live ident values) == TOTAL and no ident twice; devices the API
#      reports connected (GET /api/devices, paged: presence from the shared bucket) == TOTAL;
#   5. reconnect storm: every load process is killed at once (the kernel closes all sockets) and
#      as many start at once with the same idents: time until every device is identified again,
#      then the same checks (no device registered twice, all connected) and the time until the API
#      shows all of them connected;
#   6. each process's peak RSS (VmHWM; PostgreSQL: the largest PSS sum sampled every 2 s) against
#      its budget (BUDGET_*_MIB).
# Usage: bench/fleet-100k.sh   (env: TOTAL=100000 NODES=6 PROTOCOL=m2mp PING=00:01:00 IDLE=60 SETTLE=30
#        CONCURRENCY=200 (first attempts in flight per load process) RESERVED=2048
#        (M2M:Ingest:ReservedFileDescriptors) PG_POOL=20 (Npgsql pool per process) NO_BUILD=1 KEEP=1)
# Needs: dotnet, python3, curl, nats-server, PostgreSQL binaries (/usr/lib/postgresql/*/bin).
# Results: JSON lines in $WORK/results.jsonl, a Markdown summary on stdout (and $WORK/summary.md),
# progress on stderr. Every process it started is killed on exit; the data directories are removed
# (KEEP=1 keeps them).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOTAL=${TOTAL:-100000}
NODES=${NODES:-6}
PROTOCOL=${PROTOCOL:-m2mp}
PING=${PING:-00:01:00}
IDLE=${IDLE:-60}
SETTLE=${SETTLE:-30}
CONCURRENCY=${CONCURRENCY:-200}
RESERVED=${RESERVED:-2048}
PG_POOL=${PG_POOL:-20}
TIMEOUT=${TIMEOUT:-5400}            # seconds a phase may take before the run gives up on it
PREFIX=${PREFIX:-fleet:}
BUDGET_NODE_MIB=${BUDGET_NODE_MIB:-1024}
BUDGET_WRITER_MIB=${BUDGET_WRITER_MIB:-512}
BUDGET_API_MIB=${BUDGET_API_MIB:-1024}
BUDGET_NATS_MIB=${BUDGET_NATS_MIB:-1024}
BUDGET_PG_MIB=${BUDGET_PG_MIB:-2048}
BUDGET_LOAD_MIB=${BUDGET_LOAD_MIB:-1024}
WORK=$(mktemp -d /tmp/m2m-fleet.XXXXXX)
LOAD=$ROOT/bench/M2M.Load/bin/Release/net10.0/m2m-load
PER_NODE=$(( (TOTAL + NODES - 1) / NODES ))
SLICE=$(( 253 / NODES ))
PG_PID=""; SAMPLER_PID=""
NODE_PIDS=(); NODE_M2MP=(); NODE_ALIP=(); LOAD_PIDS=()

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
track() { echo "$1" >>"$WORK/pids"; }
cleanup() {
  local p
  for p in "${LOAD_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null || true
  if [[ -f "$WORK/pids" ]]; then while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$WORK/pids"; fi
  if [[ -n "$PG_PID" ]]; then
    kill -QUIT "$PG_PID" 2>/dev/null || true   # immediate shutdown: the postmaster ends its children
    for _ in $(seq 1 100); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PG_PID" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  [[ -z "${KEEP:-}" ]] && rm -rf "$WORK/pg" "$WORK/nats"
  log "raw results and logs in $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 did not open" >&2; exit 1; }
wait_health() { for _ in $(seq 1 900); do [[ -n "${2:-}" ]] && ! kill -0 "$2" 2>/dev/null && break; curl -fs "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "health on $1 never answered (see $WORK/*.log)" >&2; exit 1; }
now() { date +%s.%N; }
since() { python3 -c "print(round($(now) - $1, 1))"; }
load_avg() { cut -d' ' -f1 /proc/loadavg; }
json_row() { python3 -c 'import json, sys; print(json.dumps(dict(zip(sys.argv[1::2], [json.loads(v) for v in sys.argv[2::2]]))))' "$@" >>"$WORK/results.jsonl"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
pg_pids() { echo "$PG_PID"; pgrep -P "$PG_PID" || true; }
# PostgreSQL's memory: the sum of the proportional set size of the postmaster and its children
# (their RSS would count the shared buffers once per process).
pg_pss_kib() { local s=0 p v; for p in $(pg_pids); do v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0); s=$((s + ${v:-0})); done; echo "$s"; }
# CPU time (clock ticks) of processes: utime + stime
cpu_ticks() { local s=0 p v; for p in "$@"; do v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0); s=$((s + ${v:-0})); done; echo "$s"; }
# PostgreSQL's CPU time: the postmaster's own and that of its ended children (cutime + cstime: backends
# come and go with the connection pools) plus its live children's
pg_cpu_ticks() { local s; s=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$PG_PID/stat"); echo $(( s + $(cpu_ticks $(pgrep -P "$PG_PID" || true)) )); }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) - RESERVED >= PER_NODE )) || { echo "$PER_NODE devices per node need ulimit -n ≥ $((PER_NODE + RESERVED)) (now $(ulimit -n)): more NODES or a smaller RESERVED" >&2; exit 2; }
(( PER_NODE + 200 <= $(ulimit -n) )) || { echo "a load process cannot hold $PER_NODE devices with ulimit -n $(ulimit -n): more NODES" >&2; exit 2; }

if [[ -z "${NO_BUILD:-}" ]]; then
  log "building Release"
  for p in src/M2M.IngestNode src/M2M.StorageWriter src/M2M.ApiNode bench/M2M.Load; do
    dotnet build -c Release "$ROOT/$p" -v quiet -nologo >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
  done
fi

# --- servers -------------------------------------------------------------------------------------
NATS_PORT=$(free_port); NATS_MON=$(free_port)
nats-server -js -sd "$WORK/nats" -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MON" >"$WORK/nats.log" 2>&1 &
NATS_PID=$!; track "$NATS_PID"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_PORT=$(free_port)
AS=()
if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$WORK"; AS=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi
PG_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
echo "$PG_PASSWORD" >"$WORK/pw"; chmod 644 "$WORK/pw"
"${AS[@]}" "$PG_BIN/initdb" -D "$WORK/pg" -U postgres --pwfile "$WORK/pw" -E UTF8 --locale=C --auth-host=scram-sha-256 --auth-local=trust >"$WORK/initdb.log" 2>&1
rm -f "$WORK/pw"
echo "CREATE DATABASE m2m;" | "${AS[@]}" "$PG_BIN/postgres" --single -D "$WORK/pg" postgres >/dev/null 2>&1
"${AS[@]}" "$PG_BIN/postgres" -D "$WORK/pg" -p "$PG_PORT" -h 127.0.0.1 -k "$WORK" -c shared_buffers=256MB \
  -c max_wal_size=4GB -c max_connections=$(( (NODES + 2) * PG_POOL + 20 )) >"$WORK/pg.log" 2>&1 &
PG_PID=$!
wait_port "$NATS_PORT"; wait_port "$PG_PORT"
PSQL=(env PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d m2m -qAt)
ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')

role() { # role <name> <project> [VAR=value...]: prints "<pid> <http port>"
  local name=$1 project=$2; shift 2
  local http; http=$(free_port)
  env ConnectionStrings__nats="nats://127.0.0.1:$NATS_PORT" \
      ConnectionStrings__m2mdb="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Password=$PG_PASSWORD;Database=m2m;Maximum Pool Size=$PG_POOL" \
      M2M__Storage__Backend=postgres urls="http://127.0.0.1:$http" Logging__LogLevel__Default=Warning "$@" \
      dotnet "$ROOT/src/$project/bin/Release/net10.0/$project.dll" >"$WORK/$name.log" 2>&1 &
  track $!; echo "$! $http"
}
read -r WRITER_PID writer_http < <(role writer M2M.StorageWriter)
wait_health "$writer_http" "$WRITER_PID"
read -r API_PID API_HTTP < <(role api M2M.ApiNode M2M__Admin__Password="$ADMIN_PASSWORD")
wait_health "$API_HTTP" "$API_PID"
for i in $(seq 0 $((NODES - 1))); do
  m=$(free_port); a=$(free_port)
  read -r pid h < <(role "ingest-$i" M2M.IngestNode M2M__Ingest__NodeName="ingest-$i" M2M__Ingest__M2mpPort="$m" M2M__Ingest__AlipPort="$a" \
    M2M__Ingest__PingAfterIdle="$PING" M2M__Ingest__ReservedFileDescriptors="$RESERVED" \
    M2M__Ingest__Auth__AutoRegisterPerMinute=0 M2M__Ingest__Auth__FailuresBeforeDelay=100000000)
  NODE_PIDS+=("$pid"); NODE_M2MP+=("$m"); NODE_ALIP+=("$a")
  echo "$h $pid" >>"$WORK/node-http"
done
while read -r h p; do wait_health "$h" "$p"; done <"$WORK/node-http"
for i in $(seq 0 $((NODES - 1))); do wait_port "${NODE_M2MP[$i]}"; done
SERVER_PIDS=("${NODE_PIDS[@]}" "$WRITER_PID" "$API_PID" "$NATS_PID")
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src bench || echo '+changes')
{
  echo "nproc=$(nproc) memory=$(free -g | awk '/^Mem:/ {print $2 " GiB"}') dotnet=$(dotnet --version) nats=$(nats-server --version) postgres=$("$PG_BIN/postgres" --version | awk '{print $3}')"
  echo "commit=$COMMIT date=$(date -u +%Y-%m-%dT%H:%MZ) open_files=$(ulimit -n)"
  echo "total=$TOTAL nodes=$NODES per_node=$PER_NODE protocol=$PROTOCOL ping_after_idle=$PING idle_s=$IDLE settle_s=$SETTLE concurrency=$CONCURRENCY reserved_fds=$RESERVED pg_pool=$PG_POOL"
} | tee "$WORK/machine.env" >&2
json_row phase '"machine"' commit "\"$COMMIT\"" nproc "$(nproc)" total "$TOTAL" nodes "$NODES" protocol "\"$PROTOCOL\"" ping_after_idle "\"$PING\"" load "$(load_avg)"

# PostgreSQL's memory over time (its peak is the largest sample)
( while :; do echo "$(pg_pss_kib)" >>"$WORK/pg-pss.log"; sleep 2; done ) &
SAMPLER_PID=$!
sleep 10
declare -A BASE
for i in $(seq 0 $((NODES - 1))); do BASE[node$i]=$(rss_kib "${NODE_PIDS[$i]}"); done
BASE[writer]=$(rss_kib "$WRITER_PID"); BASE[api]=$(rss_kib "$API_PID"); BASE[nats]=$(rss_kib "$NATS_PID"); BASE[pg]=$(pg_pss_kib)
log "servers up (0 devices): ingest RSS $(for i in $(seq 0 $((NODES - 1))); do printf '%s ' $((BASE[node$i] / 1024)); done)MiB, writer $((BASE[writer] / 1024)), api $((BASE[api] / 1024)), nats $((BASE[nats] / 1024)), postgres (PSS) $((BASE[pg] / 1024)) MiB"

# --- load processes ------------------------------------------------------------------------------
count_of() { local c=$(( TOTAL - $1 * PER_NODE )); (( c > PER_NODE )) && c=$PER_NODE; (( c < 0 )) && c=0; echo "$c"; }
start_fleet() { # start_fleet <tag>: one load process per node, all at once
  local tag=$1 i first last
  LOAD_PIDS=()
  for i in $(seq 0 $((NODES - 1))); do
    first=$(( 2 + i * SLICE )); last=$(( first + SLICE - 1 ))
    "$LOAD" connections --protocol "$PROTOCOL" --connections "$(count_of "$i")" --ident-prefix "$PREFIX" --ident-offset $(( i * PER_NODE )) \
      --source-addresses "127.0.0.$first-127.0.0.$last" --connect-concurrency "$CONCURRENCY" \
      --connect-timeout 60s --ident-timeout 120s --settle 0s --hold 24h \
      --m2mp-port "${NODE_M2MP[$i]}" --alip-port "${NODE_ALIP[$i]}" --server-pid "${NODE_PIDS[$i]}" \
      >"$WORK/$tag-$i.out" 2>"$WORK/$tag-$i.log" &
    LOAD_PIDS+=($!)
  done
}
# identified <tag> <i>: devices the load process reports identified now (its last progress line)
identified() { grep -a -o -E '\] (opening: |holding: )?[0-9]+ identified' "$WORK/$1-$2.out" 2>/dev/null | tail -1 | grep -o -E '[0-9]+' | tail -1 || true; }
# wait_fleet <tag> <t0> [target]: until every device (or target) is identified, or TIMEOUT seconds; prints the count reached
wait_fleet() {
  local tag=$1 t0=$2 target=${3:-$TOTAL} sum n i next=0 elapsed
  while :; do
    sum=0
    for i in $(seq 0 $((NODES - 1))); do n=$(identified "$tag" "$i"); sum=$((sum + ${n:-0})); done
    elapsed=$(since "$t0")
    if python3 -c "import sys; sys.exit(0 if $elapsed >= $next else 1)"; then
      log "$tag: $sum of $target identified after ${elapsed} s (load $(load_avg))"; next=$(python3 -c "print($elapsed + 10)")
      echo "$elapsed $sum $(load_avg)" >>"$WORK/$tag-progress.txt"
    fi
    (( sum >= target )) && { echo "$sum"; return 0; }
    for i in "${!LOAD_PIDS[@]}"; do kill -0 "${LOAD_PIDS[$i]}" 2>/dev/null || { log "load process $i ended: $(tail -3 "$WORK/$tag-$i.log" "$WORK/$tag-$i.out")"; echo "$sum"; return 1; }; done
    python3 -c "import sys; sys.exit(0 if $elapsed < $TIMEOUT else 1)" || { echo "$sum"; return 1; }
    sleep 1
  done
}

# check <tag>: devices in PostgreSQL and devices the API reports connected (JSON object on stdout)
registered() { "${PSQL[@]}" -c "SELECT count(*) || ' ' || count(DISTINCT v.value) FROM m2m.registry_value v JOIN m2m.registry_node n ON n.path = v.path WHERE v.name = 'ident' AND n.status = 'c' AND convert_from(v.value, 'UTF8') LIKE '${PREFIX}%'"; }
api_connected() {
  python3 - "$API_HTTP" "$ADMIN_PASSWORD" "$PREFIX" <<'PY'
import json, sys, urllib.parse, urllib.request
base, password, prefix = f"http://127.0.0.1:{sys.argv[1]}/api", sys.argv[2], sys.argv[3]
req = urllib.request.Request(base + "/auth/token", json.dumps({"user": "admin", "password": password}).encode(), {"Content-Type": "application/json"})
token = json.load(urllib.request.urlopen(req, timeout=60))["access_token"]
listed = connected = 0
cursor = None
while True:
    url = base + "/devices?limit=1000" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
    page = json.load(urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Bearer " + token}), timeout=300))
    for d in page["items"]:
        if d["ident"].startswith(prefix):
            listed += 1
            connected += 1 if d["connected"] else 0
    cursor = page.get("next")
    if not cursor:
        break
print(listed, connected)
PY
}
check() { # check <tag>: logs and records the registry and presence figures
  local tag=$1 t0 reg distinct listed connected api_s
  read -r reg distinct < <(registered)
  t0=$(now)
  read -r listed connected < <(api_connected)
  api_s=$(since "$t0")
  log "$tag: PostgreSQL holds $reg devices ($distinct distinct idents); the API lists $listed, $connected connected (read in $api_s s)"
  json_row phase "\"check-$tag\"" total "$TOTAL" registered "$reg" distinct_idents "$distinct" api_listed "$listed" api_connected "$connected" api_read_s "$api_s"
  CHECK_CONNECTED=$connected
}
# wait_connected <tag> <t0>: until the API reports every device connected (presence caught up)
wait_connected() {
  local tag=$1 t0=$2
  for _ in $(seq 1 12); do
    check "$tag"
    (( CHECK_CONNECTED >= TOTAL )) && { PRESENCE_S=$(since "$t0"); return 0; }
    sleep 5
  done
  PRESENCE_S=null
}

# --- 1. registration -----------------------------------------------------------------------------
log "registration: $TOTAL new devices over $NODES ingest nodes and $NODES load processes ($PER_NODE each, $CONCURRENCY first attempts in flight each)"
t0=$(now)
start_fleet register
reached=$(wait_fleet register "$t0") || true
register_s=$(since "$t0")
log "registration: $reached of $TOTAL identified in $register_s s"
json_row phase '"registration"' total "$TOTAL" identified "$reached" seconds "$register_s" per_s "$(python3 -c "print(round($reached / $register_s, 1))")" load "$(load_avg)"

# --- 2. memory -----------------------------------------------------------------------------------
sleep "$SETTLE"
snapshot() { # snapshot <tag>: RSS of every process, per device
  local tag=$1 i r n
  for i in $(seq 0 $((NODES - 1))); do
    r=$(rss_kib "${NODE_PIDS[$i]}"); n=$(identified register "$i")
    json_row phase "\"memory-$tag\"" process "\"ingest-$i\"" devices "${n:-0}" rss_kib "$r" base_kib "${BASE[node$i]}" hwm_kib "$(hwm_kib "${NODE_PIDS[$i]}")" budget_mib "$BUDGET_NODE_MIB"
  done
  json_row phase "\"memory-$tag\"" process '"writer"' devices 0 rss_kib "$(rss_kib "$WRITER_PID")" base_kib "${BASE[writer]}" hwm_kib "$(hwm_kib "$WRITER_PID")" budget_mib "$BUDGET_WRITER_MIB"
  json_row phase "\"memory-$tag\"" process '"api"' devices 0 rss_kib "$(rss_kib "$API_PID")" base_kib "${BASE[api]}" hwm_kib "$(hwm_kib "$API_PID")" budget_mib "$BUDGET_API_MIB"
  json_row phase "\"memory-$tag\"" process '"nats-server"' devices 0 rss_kib "$(rss_kib "$NATS_PID")" base_kib "${BASE[nats]}" hwm_kib "$(hwm_kib "$NATS_PID")" budget_mib "$BUDGET_NATS_MIB"
  json_row phase "\"memory-$tag\"" process '"postgres"' devices 0 rss_kib "$(pg_pss_kib)" base_kib "${BASE[pg]}" hwm_kib "$(sort -n "$WORK/pg-pss.log" | tail -1)" budget_mib "$BUDGET_PG_MIB"
  for i in "${!LOAD_PIDS[@]}"; do
    json_row phase "\"memory-$tag\"" process "\"load-$i\"" devices "$(identified "$2" "$i")" rss_kib "$(rss_kib "${LOAD_PIDS[$i]}")" base_kib 0 hwm_kib "$(hwm_kib "${LOAD_PIDS[$i]}")" budget_mib "$BUDGET_LOAD_MIB"
  done
}
snapshot idle register
log "memory recorded (load $(load_avg))"

# --- 3. idle CPU (server pings only) -------------------------------------------------------------
log "idle: $IDLE s with only the server's pings (PingAfterIdle $PING)"
declare -A C0
for i in $(seq 0 $((NODES - 1))); do C0[ingest-$i]=$(cpu_ticks "${NODE_PIDS[$i]}"); done
C0[writer]=$(cpu_ticks "$WRITER_PID"); C0[api]=$(cpu_ticks "$API_PID"); C0[nats-server]=$(cpu_ticks "$NATS_PID")
C0[postgres]=$(pg_cpu_ticks)
for i in "${!LOAD_PIDS[@]}"; do C0[load-$i]=$(cpu_ticks "${LOAD_PIDS[$i]}"); done
t0=$(now); load0=$(load_avg)
sleep "$IDLE"
elapsed=$(since "$t0"); hz=$(getconf CLK_TCK)
cpu_row() { json_row phase '"idle-cpu"' process "\"$1\"" seconds "$elapsed" cpu_pct "$(python3 -c "print(round(($2 - ${C0[$1]}) / $hz / $elapsed * 100, 2))")" load "$(load_avg)" load_before "$load0"; }
for i in $(seq 0 $((NODES - 1))); do cpu_row "ingest-$i" "$(cpu_ticks "${NODE_PIDS[$i]}")"; done
cpu_row writer "$(cpu_ticks "$WRITER_PID")"; cpu_row api "$(cpu_ticks "$API_PID")"; cpu_row nats-server "$(cpu_ticks "$NATS_PID")"
cpu_row postgres "$(pg_cpu_ticks)"
for i in "${!LOAD_PIDS[@]}"; do cpu_row "load-$i" "$(cpu_ticks "${LOAD_PIDS[$i]}")"; done
log "idle CPU recorded"

# --- 4. checks after registration ---------------------------------------------------------------
wait_connected after-registration "$(now)"

# --- 5. reconnect storm --------------------------------------------------------------------------
for i in "${!LOAD_PIDS[@]}"; do json_row phase '"load-peak"' process "\"register-load-$i\"" hwm_kib "$(hwm_kib "${LOAD_PIDS[$i]}")" budget_mib "$BUDGET_LOAD_MIB"; done
log "storm: killing all $NODES load processes at once, reconnecting all $TOTAL devices at once"
t0=$(now)
kill -9 "${LOAD_PIDS[@]}" 2>/dev/null || true
for p in "${LOAD_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
start_fleet storm
# the devices identified at the end of the registration (all of them, unless it hit TIMEOUT)
again=$(wait_fleet storm "$t0" "$reached") || true
storm_s=$(since "$t0")
log "storm: $again of $TOTAL identified again in $storm_s s"
storm_load=$(load_avg)
wait_connected after-storm "$t0"
json_row phase '"storm"' total "$TOTAL" target "$reached" identified "$again" seconds "$storm_s" per_s "$(python3 -c "print(round($again / $storm_s, 1))")" presence_all_connected_s "$PRESENCE_S" load "$storm_load"
sleep "$SETTLE"
snapshot storm storm
for i in "${!LOAD_PIDS[@]}"; do json_row phase '"load-peak"' process "\"storm-load-$i\"" hwm_kib "$(hwm_kib "${LOAD_PIDS[$i]}")" budget_mib "$BUDGET_LOAD_MIB"; done

# --- summary -------------------------------------------------------------------------------------
python3 - "$WORK" <<'PY' | tee "$WORK/summary.md"
import json, os, statistics, sys
work = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(work, "results.jsonl"))]
one = lambda phase: next((r for r in rows if r["phase"] == phase), None)
m, reg, storm = one("machine"), one("registration"), one("storm")
print(f"{m['total']:,} devices ({m['protocol'].upper()}) over {m['nodes']} ingest nodes, commit `{m['commit']}`, {m['nproc']} cores\n")
print("| phase | devices identified | time | per second | load avg |")
print("|---|---:|---:|---:|---:|")
print(f"| first registration (auto-registration of new devices) | {reg['identified']:,} of {reg['total']:,} | {reg['seconds']} s | {reg['per_s']:,.0f} | {reg['load']} |")
if storm:
    print(f"| reconnect storm (all killed at once, all reconnect at once) | {storm['identified']:,} of {storm['target']:,} | {storm['seconds']} s | {storm['per_s']:,.0f} | {storm['load']} |")
    print(f"| … until the API shows every device connected (from the kill) | | {storm['presence_all_connected_s']} s | | |")
print()
for tag in ("idle", "storm"):
    mem = [r for r in rows if r["phase"] == f"memory-{tag}"]
    if not mem:
        continue
    print(f"Memory {'with every device identified and idle' if tag == 'idle' else 'after the storm'} (MiB; PostgreSQL = PSS sum of its processes; peak = VmHWM, PostgreSQL: largest PSS sample):\n")
    print("| process | devices | RSS before → now | per device | peak | budget | |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in mem:
        per = f"{(r['rss_kib'] - r['base_kib']) / r['devices']:.2f} KiB" if r["devices"] and r["base_kib"] else (f"{r['rss_kib'] / r['devices']:.2f} KiB" if r["devices"] else "—")
        ok = "✅" if r["hwm_kib"] / 1024 <= r["budget_mib"] else "❌ over"
        print(f"| {r['process']} | {r['devices']:,} | {r['base_kib'] / 1024:.0f} → {r['rss_kib'] / 1024:.0f} | {per} | {r['hwm_kib'] / 1024:.0f} | {r['budget_mib']} | {ok} |")
    servers = [r for r in mem if not r["process"].startswith("load-")]
    total = sum(r["devices"] for r in mem if r["process"].startswith("ingest-"))
    if total:
        added = sum(r["rss_kib"] - r["base_kib"] for r in servers)
        print(f"\nEvery server process together (ingest nodes, writer, API, nats-server, PostgreSQL): {sum(r['base_kib'] for r in servers) / 1024:.0f} → {sum(r['rss_kib'] for r in servers) / 1024:.0f} MiB, **{added / total:.2f} KiB per device**; ingest nodes alone: median **{statistics.median((r['rss_kib'] - r['base_kib']) / r['devices'] for r in mem if r['process'].startswith('ingest-') and r['devices']):.2f} KiB per device**.\n")
peaks = [r for r in rows if r["phase"] == "load-peak"]
if peaks:
    print("Load processes' peak RSS (VmHWM, MiB): " + ", ".join(f"{r['process']} {r['hwm_kib'] / 1024:.0f}" for r in peaks) + "\n")
cpu = [r for r in rows if r["phase"] == "idle-cpu"]
if cpu:
    print(f"CPU over {cpu[0]['seconds']} s idle (only the server's pings, PingAfterIdle {m['ping_after_idle']}; % of one core; load avg {cpu[0]['load_before']} → {cpu[0]['load']}):\n")
    print("| process | CPU |")
    print("|---|---:|")
    for r in cpu:
        print(f"| {r['process']} | {r['cpu_pct']} % |")
    servers = [r for r in cpu if not r["process"].startswith("load-")]
    print(f"| **every server process** | **{sum(r['cpu_pct'] for r in servers):.1f} %** |\n")
print("| check | expected | found |")
print("|---|---:|---:|")
last = {r["phase"]: r for r in rows if r["phase"].startswith("check-")}
for r in last.values():
        t = r["phase"][6:]
        print(f"| {t}: devices in PostgreSQL / distinct idents | {r['total']:,} | {r['registered']:,} / {r['distinct_idents']:,} |")
        print(f"| {t}: devices the API lists / reports connected | {r['total']:,} | {r['api_listed']:,} / {r['api_connected']:,} |")
PY
