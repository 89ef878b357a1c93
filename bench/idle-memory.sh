#!/usr/bin/env bash
# Memory per identified idle connection, and a reconnect storm, for M2MP and ALIP.
# For each protocol, on a fresh single-process server (M2M.Server, Release, auto-registration on):
#   1. baseline: server RSS (/proc) and managed heap after a forced full GC (dotnet-gcdump) with
#      0 devices connected;
#   2. for each N in $COUNTS (ascending; the fleet grows from one to the next): devices connect,
#      identify and stay idle, PER_TOOL per m2m-load process (one process may hold 20,000 open
#      files), each process on its own slice of the source addresses 127.0.0.2–254; after SETTLE
#      seconds the same two figures (minus the baseline, ÷ N = per device; between two N = marginal)
#      and the heap by type;
#   3. reconnect storm: every load process is killed at once (the kernel closes all sockets) and the
#      same devices reconnect at once (new processes, same idents): time from the kill until every
#      process reports all its devices identified, then the server's RSS and heap again.
# Usage: bench/idle-memory.sh   (COUNTS="5000 15000" PROTOCOLS="m2mp alip" PER_TOOL=10000 SETTLE=10
#        SERVER_DLL=<another build's M2M.Server.dll> NO_BUILD=1 change the scenario;
#        SERVER_ENV="DOTNET_gcServer=0 ..." is passed to the server only, e.g. to compare GC settings;
#        AFTER_GC=10: seconds after the heap dump's full GC before the RSS is read again)
# The RSS is also split (/proc/<pid>/smaps) into the GC's reserved range (heap objects, free space and
# budgets), other anonymous memory (native: runtime, RocksDB, thread stacks) and mapped files.
# Needs: dotnet, python3, dotnet-gcdump (installed into $WORK/tools from the NuGet feed when absent
# from PATH and ~/.dotnet/tools). All traffic stays on 127.0.0.0/8. Results: JSON lines in
# $WORK/results.jsonl, a Markdown summary on stdout, progress on stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
COUNTS=${COUNTS:-"5000 15000"}   # ascending: the fleet grows from one count to the next
PROTOCOLS=${PROTOCOLS:-"m2mp alip"}
PER_TOOL=${PER_TOOL:-10000}
SETTLE=${SETTLE:-10}
AFTER_GC=${AFTER_GC:-10}   # seconds between the full GC of the heap dump and the second RSS reading
WORK=$(mktemp -d /tmp/m2m-idlemem.XXXXXX)
SERVER_DLL=${SERVER_DLL:-$ROOT/src/M2M.Server/bin/Release/net10.0/M2M.Server.dll}
LOAD=$ROOT/bench/M2M.Load/bin/Release/net10.0/m2m-load
SERVER_PID=""
TOOL_PIDS=()

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
stop_tools() {
  local p
  for p in "${TOOL_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${TOOL_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  TOOL_PIDS=()
}
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  rm -rf "$WORK/data"
}
cleanup() { stop_tools; stop_server; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
GCDUMP=$(command -v dotnet-gcdump || true)
if [[ -z "$GCDUMP" && -x "$HOME/.dotnet/tools/dotnet-gcdump" ]]; then GCDUMP=$HOME/.dotnet/tools/dotnet-gcdump; fi
if [[ -z "$GCDUMP" ]]; then
  dotnet tool install dotnet-gcdump --tool-path "$WORK/tools" >"$WORK/tool-install.log" 2>&1 || { cat "$WORK/tool-install.log"; exit 1; }
  GCDUMP=$WORK/tools/dotnet-gcdump
fi

if [[ -z "${NO_BUILD:-}" ]]; then
  log "building Release"
  dotnet build -c Release "$ROOT/src/M2M.Server/M2M.Server.csproj" -v quiet -nologo >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
  dotnet build -c Release "$ROOT/bench/M2M.Load/M2M.Load.csproj" -v quiet -nologo >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
fi

start_server() {
  M2MP_PORT=$(free_port); ALIP_PORT=$(free_port)
  mkdir -p "$WORK/data"
  env ${SERVER_ENV:-} dotnet "$SERVER_DLL" --urls http://127.0.0.1:0 --M2M:DataDirectory "$WORK/data" \
    --M2M:Ingest:M2mpPort "$M2MP_PORT" --M2M:Ingest:AlipPort "$ALIP_PORT" \
    --M2M:Ingest:Auth:AutoRegisterPerMinute 0 --M2M:Ingest:Auth:FailuresBeforeDelay 100000000 \
    --Logging:LogLevel:Default=Warning --Logging:LogLevel:M2M.Ingest.Hosting.MemoryTrimmer=Information >"$WORK/server-$1.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$ALIP_PORT") 2>/dev/null && return 0; sleep 0.2; done
  echo "server did not start: see $WORK/server-$1.log" >&2; exit 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }

# rss_split: "<gc> <native> <files>" KiB of RSS: the GC reserves one large range (256 GiB) and commits
# its regions inside it; every other anonymous mapping is native memory; the rest are mapped files
rss_split() {
  python3 - "/proc/$SERVER_PID/smaps" <<'PY'
import re, sys
runs, cur = [], None
for line in open(sys.argv[1]):
    m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
    if m:
        start, end, name = int(m.group(1), 16), int(m.group(2), 16), m.group(3).strip()
        anon = name == "" or name.startswith("[heap") or name.startswith("[stack") or name.startswith("[anon")
        if name == "" and runs and runs[-1][3] and runs[-1][4] == "" and runs[-1][1] == start:
            runs[-1][1] = end
        else:
            runs.append([start, end, 0, anon, name])
        cur = runs[-1]
    elif line.startswith("Rss:"):
        cur[2] += int(line.split()[1])
gc = sum(r[2] for r in runs if r[4] == "" and r[1] - r[0] >= 16 << 30)
native = sum(r[2] for r in runs if r[3]) - gc
print(gc, native, sum(r[2] for r in runs if not r[3]))
PY
}

# snapshot <name>: RSS (KiB), managed heap after a full GC (bytes, dotnet-gcdump) and the RSS again
# AFTER_GC seconds after that GC (KiB: what the process holds once the garbage is collected), on one line
snapshot() {
  local name=$1 heap rss rss_gc
  rss=$(rss_kib)
  rss_split >"$WORK/$name.split"
  "$GCDUMP" collect -p "$SERVER_PID" -o "$WORK/$name.gcdump" >"$WORK/$name.gcdump.log" 2>&1 || true
  "$GCDUMP" report "$WORK/$name.gcdump" >"$WORK/$name.gcdump.txt" 2>/dev/null || true
  heap=$(python3 - "$WORK/$name.gcdump.txt" <<'PY'
import re, sys
total = 0
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d,]+)\s+([\d,]+)\s+(\S.*)$", line)
    if m:
        # "<bytes of one object> <count> <type>"
        total += int(m.group(1).replace(",", "")) * int(m.group(2).replace(",", ""))
print(total)
PY
)
  sleep "$AFTER_GC"
  rss_gc=$(rss_kib)
  echo "$rss $heap $rss_gc"
}

# open_fleet <name> <protocol> <from> <to>: devices from..to-1 connect and stay idle, PER_TOOL per
# load process, each process on its own slice of 127.0.0.2–254 (in the background; appends to TOOL_PIDS)
SLICE=31   # 253 source addresses / 8 slices
open_fleet() {
  local name=$1 protocol=$2 from=$3 to=$4 offset count slot first last
  for (( offset = from; offset < to; offset += PER_TOOL )); do
    count=$(( to - offset < PER_TOOL ? to - offset : PER_TOOL ))
    slot=$(( (offset / PER_TOOL) % 8 )); first=$(( 2 + slot * SLICE )); last=$(( first + SLICE - 1 ))
    "$LOAD" connections --protocol "$protocol" --connections "$count" --ident-offset "$offset" \
      --source-addresses "127.0.0.$first-127.0.0.$last" \
      --connect-timeout 60s --ident-timeout 60s --settle 0s --hold 24h --m2mp-port "$M2MP_PORT" --alip-port "$ALIP_PORT" \
      >"$WORK/$name-$offset.out" 2>"$WORK/$name-$offset.log" &
    TOOL_PIDS+=($!)
  done
}

# wait_fleet <name> <from> <to>: waits until every process of that fleet reports its devices
# identified (its "N identified connections" line); prints how many were identified
wait_fleet() {
  local name=$1 from=$2 to=$3 offset done_count tools total line
  tools=$(( (to - from + PER_TOOL - 1) / PER_TOOL ))
  for _ in $(seq 1 6000); do
    done_count=0; total=0
    for (( offset = from; offset < to; offset += PER_TOOL )); do
      line=$(grep -a -h -m1 -E '^\[ *[0-9]+s\] [0-9]+ identified connections' "$WORK/$name-$offset.out" 2>/dev/null || true)
      if [[ -n "$line" ]]; then
        done_count=$((done_count + 1))
        total=$(( total + $(sed -E 's/^[^]]*\] ([0-9]+) identified.*/\1/' <<<"$line") ))
      fi
    done
    if (( done_count == tools )); then echo "$total"; return 0; fi
    sleep 0.1
  done
  echo "$total"
}

now() { date +%s.%N; }
load_avg() { cut -d' ' -f1 /proc/loadavg; }
json_row() { python3 -c 'import json, sys; print(json.dumps(dict(zip(sys.argv[1::2], [json.loads(v) for v in sys.argv[2::2]]))))' "$@" >>"$WORK/results.jsonl"; }

for protocol in $PROTOCOLS; do
  log "$protocol: fresh server"
  start_server "$protocol"
  sleep "$SETTLE"
  read -r rss heap rss_gc < <(snapshot "$protocol-0")
  l=$(load_avg)
  log "$protocol: baseline (0 devices): RSS $((rss / 1024)) MiB, heap $((heap / 1048576)) MiB (load $l)"
  read -r gc_kib native_kib file_kib <"$WORK/$protocol-0.split"
  json_row protocol "\"$protocol\"" stage '"idle"' target 0 identified 0 open_s 0 rss_kib "$rss" rss_gc_kib "$rss_gc" heap_bytes "$heap" load "$l" gc_kib "$gc_kib" native_kib "$native_kib" file_kib "$file_kib"
  opened=0
  for n in $COUNTS; do
    t0=$(now)
    open_fleet "$protocol-open" "$protocol" "$opened" "$n"
    added=$(wait_fleet "$protocol-open" "$opened" "$n")
    open_s=$(python3 -c "print(round($(now) - $t0, 2))")
    reached=$(( ${reached_total:-0} + added )); reached_total=$reached
    opened=$n
    sleep "$SETTLE"
    read -r rss heap rss_gc < <(snapshot "$protocol-$n")
    l=$(load_avg)
    log "$protocol: $reached of $n identified (the last $added in $open_s s); RSS $((rss / 1024)) MiB, heap $((heap / 1048576)) MiB (load $l)"
    read -r gc_kib native_kib file_kib <"$WORK/$protocol-$n.split"
    json_row protocol "\"$protocol\"" stage '"idle"' target "$n" identified "$reached" open_s "$open_s" rss_kib "$rss" rss_gc_kib "$rss_gc" heap_bytes "$heap" load "$l" gc_kib "$gc_kib" native_kib "$native_kib" file_kib "$file_kib"
  done

  # reconnect storm: every device drops at once and reconnects at once
  t0=$(now)
  stop_tools
  open_fleet "$protocol-storm" "$protocol" 0 "$opened"
  again=$(wait_fleet "$protocol-storm" 0 "$opened")
  storm_s=$(python3 -c "print(round($(now) - $t0, 2))")
  l=$(load_avg)
  sleep "$SETTLE"
  read -r rss heap rss_gc < <(snapshot "$protocol-storm")
  log "$protocol: storm: $again of $opened identified again in $storm_s s; RSS $((rss / 1024)) MiB, heap $((heap / 1048576)) MiB (load $l)"
  json_row protocol "\"$protocol\"" stage '"storm"' target "$opened" identified "$again" open_s "$storm_s" rss_kib "$rss" heap_bytes "$heap" load "$l"
  stop_tools
  stop_server
  unset reached_total
done

python3 - "$WORK" "$AFTER_GC" <<'PY'
import json, os, re, sys
work = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(work, "results.jsonl"))]

def last_step(idle):
    """The last two counts of a fleet and the devices added between them (None with fewer than two counts)."""
    if len(idle) < 3:
        return None
    a, b = idle[-2], idle[-1]
    dn = b["identified"] - a["identified"]
    return (a, b, dn) if dn > 0 else None

print("| protocol | devices identified | server RSS per device (from 0) | managed heap per device (from 0) | RSS / heap (MiB) | load avg |")
print("|---|---:|---:|---:|---|---:|")
for proto in dict.fromkeys(r["protocol"] for r in rows):
    idle = [r for r in rows if r["protocol"] == proto and r["stage"] == "idle"]
    base = idle[0]
    for r in idle:
        n = r["identified"]
        per = lambda k, scale: f"**{(r[k] - base[k]) * scale / n / 1024:.2f} KiB**" if n else "—"
        print(f"| {proto} | {n:,} | {per('rss_kib', 1024)} | {per('heap_bytes', 1)} | {r['rss_kib'] / 1024:.1f} / {r['heap_bytes'] / 1048576:.1f} | {r['load']} |")
    if step := last_step(idle):
        a, b, dn = step
        print(f"| {proto} | {a['identified']:,} → {b['identified']:,} (marginal) | **{(b['rss_kib'] - a['rss_kib']) / dn:.2f} KiB** | **{(b['heap_bytes'] - a['heap_bytes']) / dn / 1024:.2f} KiB** | | {b['load']} |")
print()
print(f"The same RSS read again after the heap dump's full GC and {sys.argv[2]} s (what the process keeps once the garbage of the connections' set-up is collected):")
print()
print("| protocol | devices identified | RSS per device after a full GC (from 0) | RSS (MiB) |")
print("|---|---:|---:|---:|")
for proto in dict.fromkeys(r["protocol"] for r in rows):
    idle = [r for r in rows if r["protocol"] == proto and r["stage"] == "idle" and "rss_gc_kib" in r]
    if not idle:
        continue
    base = idle[0]
    for r in idle[1:]:
        n = r["identified"]
        if n:
            print(f"| {proto} | {n:,} | **{(r['rss_gc_kib'] - base['rss_gc_kib']) / n:.2f} KiB** | {r['rss_gc_kib'] / 1024:.1f} |")
    if step := last_step(idle):
        a, b, dn = step
        print(f"| {proto} | {a['identified']:,} → {b['identified']:,} (marginal) | **{(b['rss_gc_kib'] - a['rss_gc_kib']) / dn:.2f} KiB** | |")
print()
print("Where the RSS per device goes (from 0; /proc/<pid>/smaps): the GC's range holds the objects and the GC's free space and budgets; native is every other anonymous mapping (runtime, RocksDB, thread stacks).")
print()
print("| protocol | devices identified | RSS | GC range | of it, heap objects | GC free space and budgets | native | mapped files |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for proto in dict.fromkeys(r["protocol"] for r in rows):
    idle = [r for r in rows if r["protocol"] == proto and r["stage"] == "idle"]
    base = idle[0]
    for r in idle[1:]:
        n = r["identified"]
        if not n or "gc_kib" not in r:
            continue
        k = lambda key: (r[key] - base[key]) / n
        heap = (r["heap_bytes"] - base["heap_bytes"]) / n / 1024
        print(f"| {proto} | {n:,} | {k('rss_kib'):.2f} KiB | {k('gc_kib'):.2f} KiB | {heap:.2f} KiB | {k('gc_kib') - heap:.2f} KiB | {k('native_kib'):.2f} KiB | {k('file_kib'):.2f} KiB |")
print()
print("| protocol | reconnect storm: devices | identified again | time from the drop to the last identified | per second | RSS / heap after (MiB) | load avg |")
print("|---|---:|---:|---:|---:|---|---:|")
for r in rows:
    if r["stage"] == "storm":
        print(f"| {r['protocol']} | {r['target']:,} | {r['identified']:,} | {r['open_s']} s | {r['identified'] / r['open_s']:,.0f} | {r['rss_kib'] / 1024:.1f} / {r['heap_bytes'] / 1048576:.1f} | {r['load']} |")

def types(path):
    out = {}
    for line in open(path):
        m = re.match(r"\s*([\d,]+)\s+([\d,]+)\s+(\S.*)$", line)
        if m:
            key = m.group(3).strip()
            b, c = out.get(key, (0, 0))
            each, count = int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))
            out[key] = (b + each * count, c + count)
    return out
for proto in dict.fromkeys(r["protocol"] for r in rows):
    idle = [r for r in rows if r["protocol"] == proto and r["stage"] == "idle"]
    top = idle[-1]
    try:
        base, held = types(os.path.join(work, f"{proto}-0.gcdump.txt")), types(os.path.join(work, f"{proto}-{top['target']}.gcdump.txt"))
    except OSError:
        continue
    n = max(1, top["identified"])
    diff = sorted(((held[k][0] - base.get(k, (0, 0))[0], held[k][1] - base.get(k, (0, 0))[1], k) for k in held), reverse=True)[:15]
    print(f"\nManaged heap added by {top['identified']:,} idle {proto.upper()} devices (dotnet-gcdump after a full GC, minus the 0-device dump, largest first):\n")
    print("| added | per device | objects added | type |")
    print("|---:|---:|---:|---|")
    for b, c, k in diff:
        name = re.sub(r"  \[.*$", "", k)[:100]
        print(f"| {b / 1048576:.2f} MiB | {b / n:,.0f} B | {c:,} | `{name}` |")
PY
log "raw results in $WORK"
