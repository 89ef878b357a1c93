#!/usr/bin/env bash
# Coverage-guided fuzzing of one reader with AFL++ and SharpFuzz.
#   fuzz/run-afl.sh <m2mp|alip> [seconds]      (default 600; findings in fuzz/findings/afl-<target>)
# Needs: apt-get install -y afl++ ; dotnet tool restore (SharpFuzz.CommandLine, from fuzz/.config).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: fuzz/run-afl.sh <m2mp|alip> [seconds]}
seconds=${2:-600}
bin=fuzz/bin/$target
out=fuzz/findings/afl-$target

rm -rf "$bin"
dotnet publish fuzz/M2M.Fuzz -c Release -o "$bin" --nologo -v quiet
(cd fuzz && dotnet tool restore >/dev/null && dotnet tool run sharpfuzz "../$bin/M2M.Ingest.dll")

mkdir -p fuzz/findings
export AFL_SKIP_BIN_CHECK=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
resume=-i; [ -d "$out/default/queue" ] && resume="-i -" || resume="-i fuzz/corpus/$target"
# shellcheck disable=SC2086
afl-fuzz $resume -o "$out" -t 10000 -m none -V "$seconds" -- dotnet "$bin/M2M.Fuzz.dll" "$target"
grep -E 'execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|run_time' "$out/default/fuzzer_stats"
