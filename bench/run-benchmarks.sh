#!/usr/bin/env bash
# Regenerates the "## End to end" section of BENCHMARKS.md with real measurements:
#   1. builds the server and the load tool (Release);
#   2. starts the single-node server on free loopback ports with a fresh data directory;
#   3. runs m2m-load: M2MP and ALIP as fast as possible, then at 50 % of that rate (barrier latency),
#      the raw RocksDB baseline of the same number of rows, and C idle identified connections
#      (memory per connection) with a load running while they stay connected;
#   4. optionally traces the server (dotnet-trace, installed as a tool when the mirror serves it);
#   5. replaces the generated block of the "## End to end" section (other sections are untouched).
#
# Usage: bench/run-benchmarks.sh            (environment variables below change the scenario)
#        bench/run-benchmarks.sh --report <raw results directory>   (rewrites the section from a kept run)
#   DURATION=30s DEVICES=100 BARRIER=100 CONNECTIONS="10000 100000" PROFILE=1 OUT=BENCHMARKS.md
# Needs: dotnet, python3 (free ports, JSON → Markdown), Linux /proc. All traffic stays on 127.0.0.0/8.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-30s}
DEVICES=${DEVICES:-100}
BARRIER=${BARRIER:-100}
CONNECTIONS=${CONNECTIONS:-"10000 100000"}
PROFILE=${PROFILE:-1}
OUT=${OUT:-$ROOT/BENCHMARKS.md}
REPORT_ONLY=""
if [[ "${1:-}" == "--report" ]]; then
  REPORT_ONLY=1
  WORK=$(cd "${2:?--report needs the raw results directory}" && pwd)
else
  WORK=$(mktemp -d /tmp/m2m-bench.XXXXXX)
fi
SERVER_DLL=$ROOT/src/M2M.Server/bin/Release/net10.0/M2M.Server.dll
LOAD=$ROOT/bench/M2M.Load/bin/Release/net10.0/m2m-load
SERVER_PID=""

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() { stop_server; [[ -n "$REPORT_ONLY" ]] || rm -rf "$WORK/data-"*; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_server <data dir>: sets SERVER_PID, M2MP_PORT, ALIP_PORT
start_server() {
  M2MP_PORT=$(free_port); ALIP_PORT=$(free_port)
  dotnet "$SERVER_DLL" --urls http://127.0.0.1:0 --M2M:DataDirectory "$1" \
    --M2M:Ingest:M2mpPort "$M2MP_PORT" --M2M:Ingest:AlipPort "$ALIP_PORT" \
    --M2M:Ingest:Auth:AutoRegisterPerMinute 0 \
    --Logging:LogLevel:Default=Warning >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$ALIP_PORT") 2>/dev/null; then
      log "server $SERVER_PID up (M2MP $M2MP_PORT, ALIP $ALIP_PORT, data $1)"
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/server.log" >&2; echo "the server exited" >&2; exit 1; }
    sleep 0.2
  done
  echo "the server did not listen within 30 s" >&2; exit 1
}

# gc_snapshot <name>: the server's GC heap and committed memory (dotnet-counters, when installed)
gc_snapshot() {
  [[ -x "$WORK/tools/dotnet-counters" ]] || return 0
  "$WORK/tools/dotnet-counters" collect -p "$SERVER_PID" --duration 00:00:00:03 --refresh-interval 1 --format csv \
    -o "$WORK/$1.counters.csv" >/dev/null 2>&1 || true
}

# m2m-load with the server's ports; records the exact command line for the report
load_tool() {
  local name=$1; shift
  local args=("$@" --m2mp-port "$M2MP_PORT" --alip-port "$ALIP_PORT" --server-pid "$SERVER_PID")
  printf 'm2m-load %s\n' "$*" >"$WORK/$name.cmd"
  log "m2m-load $*"
  "$LOAD" "${args[@]}" --json >"$WORK/$name.json" 2>"$WORK/$name.log"
}

if [[ -z "$REPORT_ONLY" ]]; then
# --- the machine ---------------------------------------------------------------------------------
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
log "open files limit: $FD_LIMIT (hard $(ulimit -Hn))"

log "building Release"
dotnet build -c Release "$ROOT/src/M2M.Server/M2M.Server.csproj" -v quiet -nologo >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
dotnet build -c Release "$ROOT/bench/M2M.Load/M2M.Load.csproj" -v quiet -nologo >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }

{
  echo "nproc=$(nproc)"
  echo "cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
  echo "memory=$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
  echo "dotnet=$(dotnet --version)"
  echo "commit=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src bench || echo '+changes')"
  echo "branch=$(git -C "$ROOT" rev-parse --abbrev-ref HEAD)"
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "fd_limit=$FD_LIMIT"
  echo "fd_hard_limit=$(ulimit -Hn)"
  echo "fs=$(df -T "$WORK" | awk 'NR==2 {print $2}')"
  dd if=/dev/zero of="$WORK/fsync.test" bs=4k count=200 oflag=dsync 2>&1 | awk '/copied/ {printf "fsync_4k=%.1f ms\n", $8 * 1000 / 200}'
  rm -f "$WORK/fsync.test"
} >"$WORK/machine.env"

# --- end to end: records/s, then barrier latency at half that rate ---------------------------------
start_server "$WORK/data-e2e"
# JIT tiering and a fresh database make the first seconds slower: a warm-up run is discarded.
load_tool warmup load --protocol mix --devices "$DEVICES" --barrier-every "$BARRIER" --duration 20s --quiet
for p in m2mp alip; do
  load_tool "$p" load --protocol "$p" --devices "$DEVICES" --barrier-every "$BARRIER" --duration "$DURATION" --quiet
done
for p in m2mp alip; do
  rate=$(python3 -c "import json; print(int(json.load(open('$WORK/$p.json'))['records']['acked_per_s'] * 0.5))")
  load_tool "$p-half" load --protocol "$p" --devices "$DEVICES" --barrier-every "$BARRIER" --duration "$DURATION" --rate "$rate" --quiet
done

if [[ "$PROFILE" == "1" ]]; then
  TOOLS=$WORK/tools
  dotnet tool install dotnet-counters --tool-path "$TOOLS" >>"$WORK/tool-install.log" 2>&1 || true
  dotnet tool install dotnet-gcdump --tool-path "$TOOLS" >>"$WORK/tool-install.log" 2>&1 || true
  if dotnet tool install dotnet-trace --tool-path "$TOOLS" >>"$WORK/tool-install.log" 2>&1; then
    log "tracing the server during an M2MP load (dotnet-trace, sampled thread time)"
    printf 'm2m-load load --protocol m2mp --devices %s --barrier-every %s --duration 20s  +  dotnet-trace collect --profile dotnet-sampled-thread-time --duration 10 s; dotnet-trace report topN\n' "$DEVICES" "$BARRIER" >"$WORK/profile.cmd"
    "$LOAD" load --protocol m2mp --devices "$DEVICES" --barrier-every "$BARRIER" --duration 20s --quiet --json \
      --m2mp-port "$M2MP_PORT" --alip-port "$ALIP_PORT" --server-pid "$SERVER_PID" >"$WORK/profile-load.json" 2>/dev/null &
    profiled=$!
    sleep 5
    "$TOOLS/dotnet-trace" collect -p "$SERVER_PID" --profile dotnet-sampled-thread-time --duration 00:00:00:10 -o "$WORK/server.nettrace" >"$WORK/trace.log" 2>&1 || true
    wait "$profiled" || true
    "$TOOLS/dotnet-trace" report "$WORK/server.nettrace" topN -n 15 >"$WORK/profile.txt" 2>&1 || true
  else
    log "dotnet-trace could not be installed: no trace (see $WORK/tool-install.log)"
  fi
fi
stop_server

# --- the storage baseline: the same number of rows straight into RocksDB ---------------------------
rows=$(python3 -c "import json; print(max(json.load(open('$WORK/m2mp.json'))['records']['acked_in_window'], 100000))")
for every in 1000 5000; do
  printf 'm2m-load rocks-baseline --rows %s --devices %s --sync-every %s\n' "$rows" "$DEVICES" "$every" >"$WORK/rocks-$every.cmd"
  log "m2m-load rocks-baseline --rows $rows --sync-every $every"
  "$LOAD" rocks-baseline --rows "$rows" --devices "$DEVICES" --sync-every "$every" --dir "$WORK/data-rocks-$every" --quiet --json >"$WORK/rocks-$every.json"
  rm -rf "$WORK/data-rocks-$every"
done

# --- idle connections: memory per connection, and records/s while they are connected --------------
# Each connection costs a file descriptor in the server and one in the load tool: a count above the
# open-files limit cannot be reached; it is capped (and the report says so).
cap=$(( FD_LIMIT - 1000 ))
targets=()
for c in $CONNECTIONS; do
  e=$c; (( e > cap )) && e=$cap
  targets+=("$c:$e")
done
max_effective=$(printf '%s\n' "${targets[@]}" | cut -d: -f2 | sort -n | tail -1)

# The devices are registered once (a first identification creates them); the measurements then run
# on a freshly started server over the same data, as after a restart of a node.
start_server "$WORK/data-conn"
load_tool register connections --connections "$max_effective" --settle 0s --quiet
stop_server
for t in "${targets[@]}"; do
  c=${t%%:*}; e=${t##*:}
  start_server "$WORK/data-conn"
  sleep 5
  gc_snapshot "conn-$c-before"
  # progress goes to the log: the "server memory" line says the idle connections are measured and held
  load_tool "conn-$c" connections --connections "$e" --settle 5s --hold 20s --then-load --devices "$DEVICES" --barrier-every "$BARRIER" --duration 20s &
  tool=$!
  for _ in $(seq 1 600); do grep -q "server memory" "$WORK/conn-$c.log" 2>/dev/null && break; kill -0 "$tool" 2>/dev/null || break; sleep 0.5; done
  gc_snapshot "conn-$c-after"
  if [[ -x "$WORK/tools/dotnet-gcdump" ]]; then
    # which managed objects the idle connections hold (heap by type, largest first)
    "$WORK/tools/dotnet-gcdump" collect -p "$SERVER_PID" -o "$WORK/conn-$c.gcdump" >/dev/null 2>&1 &&
      "$WORK/tools/dotnet-gcdump" report "$WORK/conn-$c.gcdump" >"$WORK/conn-$c.gcdump.txt" 2>/dev/null || true
  fi
  wait "$tool" || { echo "m2m-load connections failed: see $WORK/conn-$c.log" >&2; exit 1; }
  echo "$e" >"$WORK/conn-$c.effective"
  stop_server
done

fi

# --- the report ------------------------------------------------------------------------------------
python3 - "$WORK" "$OUT" "$CONNECTIONS" "$DURATION" <<'PY'
import json, os, re, sys
work, out, connections, duration = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4]
env = dict(l.strip().split("=", 1) for l in open(os.path.join(work, "machine.env")) if "=" in l)
def j(name): return json.load(open(os.path.join(work, name + ".json")))
def cmd(name): return open(os.path.join(work, name + ".cmd")).read().strip()
def n(v): return f"{v:,.0f}"
def ok(good): return "✅" if good else "❌ missed"

m = {p: j(p) for p in ("m2mp", "alip")}
h = {p: j(p + "-half") for p in ("m2mp", "alip")}
r = {e: j(f"rocks-{e}") for e in (1000, 5000)}
L = []
L.append(f"Measured {env['date']} on {env['nproc']} cores ({env['cpu']}), {env['memory']} RAM, .NET SDK {env['dotnet']}, "
         f"commit `{env['commit']}` (branch `{env['branch']}`); data on {env['fs']} (4 KiB O_DSYNC write: {env.get('fsync_4k', 'n/a')}); "
         f"open files limit {env['fd_limit']} (hard {env['fd_hard_limit']}). Server: `M2M.Server` Release, single node (embedded RocksDB, "
         f"synced group commits, in-process bus), fresh data directory; load tool on the same machine over loopback. "
         f"Each load ran {duration} after a 20 s warm-up run (discarded); the figures count only records acknowledged by delivery barriers.")
L.append("")
L.append("| figure | goal | measured | baseline (same run) | |")
L.append("|---|---|---|---|---|")
for p in ("m2mp", "alip"):
    rec = m[p]["records"]["acked_per_s"]
    L.append(f"| records/s end to end, {p.upper()} ({m[p]['devices']} devices, barrier every {m[p]['barrier_every']}) | ≥ 150,000 | **{n(rec)}** "
             f"(barrier p50 {m[p]['barrier_latency']['p50_ms']:.1f} ms, p99 {m[p]['barrier_latency']['p99_ms']:.1f} ms) | "
             f"raw RocksDB WriteBatch: {n(r[1000]['rows_per_s'])} rows/s synced every 1000, {n(r[5000]['rows_per_s'])} every 5000 | {ok(rec >= 150000)} |")
for p in ("m2mp", "alip"):
    lat = h[p]["barrier_latency"]
    L.append(f"| barrier latency at 50 % of that rate, {p.upper()} ({n(h[p]['target_rate'])}/s target, {n(h[p]['records']['acked_per_s'])}/s done) | p99 < 50 ms | "
             f"p50 {lat['p50_ms']:.1f} / p95 {lat['p95_ms']:.1f} / **p99 {lat['p99_ms']:.1f}** / max {lat['max_ms']:.1f} ms | "
             f"at full rate: p99 {m[p]['barrier_latency']['p99_ms']:.1f} ms | {ok(lat['p99_ms'] < 50)} |")
for c in connections:
    path = os.path.join(work, f"conn-{c}.json")
    if not os.path.exists(path):
        continue
    d = json.load(open(path)); eff = int(open(os.path.join(work, f"conn-{c}.effective")).read())
    kib = d["server"]["kib_per_connection"]; load = d.get("load", {})
    reached = d["identified"]
    note = "" if eff == int(c) else f" — **capped at {n(eff)}**: open-files limit {env['fd_limit']} (hard), one descriptor per connection in the server and in the tool"
    L.append(f"| {n(int(c))} identified idle devices{note}: server memory per connection | ≤ 10 KiB | **{kib:.2f} KiB** "
             f"({n(reached)} reached; RSS {d['server']['rss_before_mib']} → {d['server']['rss_after_mib']} MiB) | "
             f"tool: {d['tool']['rss_before_mib']} → {d['tool']['rss_after_mib']} MiB | {ok(kib is not None and kib <= 10 and reached >= int(c))} |")
    def gc(name):
        path = os.path.join(work, name + ".counters.csv")
        if not os.path.exists(path):
            return None
        heap, committed = {}, None
        for line in open(path):
            parts = line.rstrip("\n").split(",")
            if len(parts) < 5:
                continue
            if parts[2].startswith("dotnet.gc.last_collection.heap.size"):
                heap[parts[2]] = float(parts[4])
            elif parts[2].startswith("dotnet.gc.last_collection.memory.committed_size"):
                committed = float(parts[4])
        return (sum(heap.values()), committed) if heap and committed is not None else None
    before, after = gc(f"conn-{c}-before"), gc(f"conn-{c}-after")
    if before and after and reached:
        L.append(f"| ↳ of which managed (GC) memory, per connection | | heap {(after[0] - before[0]) / reached / 1024:.2f} KiB, "
                 f"GC committed {(after[1] - before[1]) / reached / 1024:.2f} KiB (dotnet-counters, last GC) | | |")
    if load:
        L.append(f"| records/s with those {n(reached)} connected (M2MP, {load['devices']} active devices) | — | **{n(load['records']['acked_per_s'])}** "
                 f"(barrier p99 {load['barrier_latency']['p99_ms']:.1f} ms; {load['idle_connected_at_end']} idle still connected) | "
                 f"without them: {n(m['m2mp']['records']['acked_per_s'])} | |")
L.append("")
L.append("CPU during the full-rate runs (% of one core; the machine has " + env["nproc"] + "): " + ", ".join(
    f"{p.upper()} server {m[p]['server']['cpu_percent']:.0f} %, load tool {m[p]['tool']['cpu_percent']:.0f} %" for p in ("m2mp", "alip")) + ".")
errors = sum(x["errors"]["protocol"] + x["errors"]["server_err"] + x["errors"]["connect_failed"] + x["errors"]["refused"] for x in list(m.values()) + list(h.values()))
L.append(f"Errors over the load runs: {errors} (protocol errors, ERR lines, failed connects, refusals).")
L.append("")
L.append("Commands (ports, `--server-pid` and `--json` added by the script):")
L.append("")
L.append("```")
for name in ["m2mp", "alip", "m2mp-half", "alip-half", "rocks-1000", "rocks-5000", "register"] + [f"conn-{c}" for c in connections]:
    if os.path.exists(os.path.join(work, name + ".cmd")):
        L.append(cmd(name))
L.append("```")
for c in connections:
    dump = os.path.join(work, f"conn-{c}.gcdump.txt")
    if os.path.exists(dump):
        eff = int(open(os.path.join(work, f"conn-{c}.effective")).read().strip())
        # dotnet-gcdump report: "<bytes per object> <count> <type>"; aggregate and sort by total bytes
        rows = []
        for line in open(dump):
            parts = line.split(None, 2)
            if len(parts) == 3 and parts[0].replace(",", "").isdigit() and parts[1].replace(",", "").isdigit():
                size, count = int(parts[0].replace(",", "")), int(parts[1].replace(",", ""))
                rows.append((size * count, count, size, parts[2].strip()))
        rows.sort(reverse=True)
        total = sum(r[0] for r in rows)
        L.append("")
        L.append(f"Managed heap of the server holding {eff:,} idle connections (dotnet-gcdump, {total / 1048576:.1f} MiB in all; largest types by total size):")
        L.append("")
        L.append("| total | per connection | objects | bytes each | type |")
        L.append("|---:|---:|---:|---:|---|")
        for t, count, size, name in rows[:12]:
            L.append(f"| {t / 1048576:.1f} MiB | {t / eff:,.0f} B | {count:,} | {size:,} | `{name[:110]}` |")
prof = os.path.join(work, "profile.txt")
if os.path.exists(prof):
    L.append("")
    L.append("Server profile during an M2MP load (" + cmd("profile") + "); wall-clock samples of all threads, so waiting threads dominate:")
    L.append("")
    L.append("```")
    L.extend(l.rstrip() for l in open(prof) if l.strip())
    L.append("```")

begin, end = "<!-- BEGIN end-to-end: generated by bench/run-benchmarks.sh, do not edit -->", "<!-- END end-to-end -->"
block = begin + "\n" + "\n".join(L) + "\n" + end
text = open(out).read() if os.path.exists(out) else "# Benchmarks\n\nPerformance figures of the platform. Each section says how it was measured and with which command.\n"
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
elif "## End to end" in text:
    text = text.replace("## End to end\n", "## End to end\n\n" + block + "\n", 1)
else:
    text = text.rstrip("\n") + "\n\n## End to end\n\n" + block + "\n"
open(out, "w").write(text)
print(f"wrote {out}")
PY
log "raw results in $WORK"
