#!/usr/bin/env bash
# The fuzz campaigns (docs/RELIABILITY.md), run to their counts, with their figures:
#   reader  the host reader (dunelog.card), coverage-guided with atheris from real segments:
#           FUZZ_READER_RUNS executions (default 1,000,000) over FUZZ_JOBS processes
#           (default 2, seeds 1..N), libFuzzer's -timeout=10 s per input (a hang) and
#           -rss_limit_mb=2048; every 64th input's peak allocation against the bound
#   gnss    the firmware's GNSS parser under MicroPython: FUZZ_MP_CASES cases (default
#           100,000) over FUZZ_JOBS interpreters (seeds 1..N)
#   config  the firmware's config validator under MicroPython, as many cases
#   dbc     `dunelog decode --dbc X` with FUZZ_DBC_CASES mutated DBC files (default 1,000)
#   bash scripts/campaign-fuzz.sh                  # all four
#   FUZZ_ONLY="gnss config" bash scripts/campaign-fuzz.sh
# Logs, corpora and any crash-* input go to FUZZ_OUT (default out/fuzz); a crash stops its
# campaign, is printed, and makes the exit status 1. Installs the `fuzz` extra (atheris)
# if it is missing; needs `micropython` on PATH. The fixed-seed slices of the same harnesses run
# in pytest: tests/fuzz/test_fuzz_slices.py.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${FUZZ_OUT:-out/fuzz}
JOBS=${FUZZ_JOBS:-2}
READER_RUNS=${FUZZ_READER_RUNS:-1000000}
MP_CASES=${FUZZ_MP_CASES:-100000}
DBC_CASES=${FUZZ_DBC_CASES:-1000}
ONLY=${FUZZ_ONLY:-reader gnss config dbc}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
case " $ONLY " in *" reader "*)
    python3 -c 'import atheris' 2>/dev/null || python3 -m pip install -q -e "$ROOT[fuzz]" ;;
esac
status=0
py=$(python3 -c 'import sys; print(sys.executable)')
machine="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "fuzz campaigns on $machine; output in $OUT"

# wall seconds and peak RSS (KiB) of a command, into $OUT/$1.time
timed() {
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$OUT/$name.time" nice -n 19 "$@"
}

run_reader() {
    local per=$(( (READER_RUNS + JOBS - 1) / JOBS )) j t0=$SECONDS
    for j in $(seq 1 "$JOBS"); do
        mkdir -p "$OUT/reader-corpus-$j" "$OUT/reader-artifacts-$j"
        FUZZ_STATS="$OUT/reader-$j.json" timed "reader-$j" "$py" tests/fuzz/fuzz_reader.py \
            -atheris_runs="$per" -timeout=10 -rss_limit_mb=2048 -max_len=16384 -seed="$j" \
            -print_final_stats=1 -artifact_prefix="$OUT/reader-artifacts-$j/" \
            "$OUT/reader-corpus-$j" > "$OUT/reader-$j.log" 2>&1 &
    done
    wait
    "$py" - "$OUT" "$JOBS" "$(( SECONDS - t0 ))" "$READER_RUNS" <<'EOF' || status=1
import glob, json, re, sys
out, jobs, wall = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ex = crashes = hangs = 0
peak_rss = max_peak = max_in = 0
per_byte = 0.0
for j in range(1, jobs + 1):
    log = open(f"{out}/reader-{j}.log", errors="replace").read()
    st = json.load(open(f"{out}/reader-{j}.json"))
    m = re.search(r"stat::number_of_executed_units: (\d+)", log)
    ex += int(m.group(1)) if m else st["executions"]
    crashes += len(glob.glob(f"{out}/reader-artifacts-{j}/crash-*"))
    hangs += len(glob.glob(f"{out}/reader-artifacts-{j}/timeout-*"))
    crashes += len(glob.glob(f"{out}/reader-artifacts-{j}/oom-*"))
    peak_rss = max(peak_rss, int(open(f"{out}/reader-{j}.time").read().split()[-1]) // 1024)
    if st["max_peak"] > max_peak:
        max_peak, max_in = st["max_peak"], st["max_peak_input"]
    per_byte = max(per_byte, st["max_var_per_byte"])
    if "Done " not in log:
        print(log[-3000:])
        crashes += "crash-" not in log and "timeout-" not in log
print(f"reader: {ex:,} executions in {wall} s over {jobs} processes, {crashes} crashes, "
      f"{hangs} hangs (> 10 s); peak RSS {peak_rss} MiB per process; largest traced "
      f"peak {max_peak:,} B (input {max_in:,} B), at most {per_byte:.1f} B per input byte "
      f"above 128 KiB")
sys.exit(1 if crashes or hangs or ex < int(sys.argv[4]) else 0)
EOF
}

run_mp() {
    local mode=$1 per=$(( (MP_CASES + JOBS - 1) / JOBS )) j t0=$SECONDS
    for j in $(seq 1 "$JOBS"); do
        mkdir -p "$OUT/$mode-$j.tmp"
        # a case over 10 s is a hang (mp_fuzz.py); the whole run is cut at 100 ms a case
        timed "$mode-$j" timeout $(( per / 10 + 60 )) micropython -X heapsize=8M \
            tests/fuzz/mp_fuzz.py "$mode" "$ROOT/firmware" "$j" "$per" "$OUT/$mode-$j.tmp" \
            > "$OUT/$mode-$j.log" 2>&1 &
    done
    wait
    "$py" - "$OUT" "$JOBS" "$mode" "$per" "$(( SECONDS - t0 ))" <<'EOF' || status=1
import json, sys
out, jobs, mode, per, wall = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
tot, bad = {}, []
for j in range(1, jobs + 1):
    lines = [ln for ln in open(f"{out}/{mode}-{j}.log") if ln.startswith("@@")]
    if not lines:
        bad.append(f"seed {j}: no result (hang or crash): " + open(f"{out}/{mode}-{j}.log").read()[-1500:])
        continue
    fig = json.loads(lines[-1][2:])
    if "fail" in fig:
        bad.append(f"seed {j}: {json.dumps(fig['fail'])[:3000]}")
    for k, v in fig.items():
        if isinstance(v, int) and k != "seed":
            tot[k] = max(tot.get(k, 0), v) if k.startswith("max_") else tot.get(k, 0) + v
rss = max(int(open(f"{out}/{mode}-{j}.time").read().split()[-1]) for j in range(1, jobs + 1))
extra = ""
if mode == "gnss":
    extra = (f"; {tot['bytes']:,} bytes, {tot['units']:,} sentences/messages, {tot['fixes']:,} fixes; "
             f"allocated {tot['alloc'] / max(tot['bytes'], 1):.3f} B per byte fed, at most "
             f"{tot['max_alloc_per_unit']} B per sentence/message, {tot['max_alloc_case']} B per case")
else:
    extra = (f"; {tot['valid']:,} valid, {tot['rejected']:,} rejected, {tot['from_bytes']:,} "
             f"read from mutated file bytes, {tot['regressions'] // jobs} regression files")
print(f"{mode}: {tot.get('cases', 0):,} cases in {wall} s over {jobs} interpreters, "
      f"{len(bad)} failures{extra}; slowest case {tot.get('max_case_ms', 0)} ms; "
      f"peak RSS {rss // 1024} MiB per interpreter")
for b in bad:
    print("  " + b)
sys.exit(1 if bad or tot.get("cases", 0) < per * jobs else 0)
EOF
}

run_dbc() {
    local t0=$SECONDS
    # 4 GiB of address space: a DBC that makes the decoder allocate without bound is a
    # MemoryError (a crash), not the machine's OOM killer
    if (ulimit -v 4194304; FUZZ_KEEP_DIR="$OUT" timed dbc "$py" tests/fuzz/fuzz_dbc.py "$DBC_CASES" 1) \
            > "$OUT/dbc.log" 2>&1; then
        "$py" - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
fig = json.loads(open(f"{out}/dbc.log").read().strip().splitlines()[-1])
rss = int(open(f"{out}/dbc.time").read().split()[-1]) // 1024
print(f"dbc: {fig['cases']:,} mutated DBC files in {fig['wall_s']} s, 0 crashes: exit 2 "
      f"(one line naming the file) {fig['exit_2']:,}, decoded {fig['exit_0']:,}, exit 3 "
      f"{fig['exit_3']:,}; peak RSS {rss} MiB")
EOF
    else
        echo "dbc: crash after $(( SECONDS - t0 )) s:"; tail -30 "$OUT/dbc.log"; status=1
    fi
}

for c in $ONLY; do
    case $c in
        reader) run_reader ;;
        gnss|config) run_mp "$c" ;;
        dbc) run_dbc ;;
        *) echo "unknown campaign $c (reader gnss config dbc)"; exit 2 ;;
    esac
done
exit $status
