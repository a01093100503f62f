#!/usr/bin/env bash
# Every row of docs/PERFORMANCE.md's "Fast CPU path" / "Quiet rerun" and "ceod-infer" tables, the
# Rust side and the PyTorch reference side by side, in one go, with the load average at each step.
#
#   scripts/bench_all.sh [PYTHON_WITH_TORCH] [BENCH_REF_COPY]
#     defaults: /tmp/refenv/bin/python and a fresh copy of ../shared/bench-ref under /tmp
#
# Order: build everything first (not timed; nothing to build when target/ is warm), then
# ceodnet-s forward / BCE step / CEOD soft step at B = 1 and 32 as A B A B (criterion
# `cpu_model`, ceod fast path, then `cpu_torch.py`), then the same pair once more with glibc's
# mmap and trim thresholds raised on both sides, then ceod-infer's side-by-side script (binary
# size, start to first decision, images/s, engine criterion rows, PyTorch before and after).
# A summary table (medians over the runs, ratio ceod / torch) closes the output; the raw logs
# stay in $CEOD_BENCH_OUT (default /tmp/ceod-bench-HHMM).
#
# The measured FMA ceiling (`fma_peak`, twice) comes first; the summary gives each row as a
# share of it (GFLOP per row as in docs/PERFORMANCE.md).
#
# About 6 minutes on the 2-core VM once built. Options (environment):
#   CEOD_BENCH_CANDLE=1  also time the candle-kernel "before" rows of cpu_model (+ about 2 min)
#   CEOD_BENCH_TUNED=0   skip the tuned-allocator pair
#   CEOD_BENCH_INFER=0   skip ceod-infer's side-by-side
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-/tmp/refenv/bin/python}
REF=${2:-}
if [ -z "$REF" ]; then
  REF=$(mktemp -d)/bench-ref
  cp -r ../shared/bench-ref "$REF"
fi
OUT=${CEOD_BENCH_OUT:-/tmp/ceod-bench-$(date +%H%M)}
mkdir -p "$OUT"
log() { echo "== $* [$(date +%H:%M:%S), $(uptime | sed 's/.*load average/load average/')]"; }
filter='/ceod$'
[ "${CEOD_BENCH_CANDLE:-0}" = 1 ] && filter='ceodnet_s_128'

log "build (not timed)"
cargo bench -p ceod-core --bench cpu_model --no-run 2>&1 | tail -1
cargo build --release -q -p ceod-core --example fma_peak
if [ "${CEOD_BENCH_INFER:-1}" = 1 ]; then
  cargo build --release -p ceod-infer --bins --examples 2>&1 | tail -1
  cargo bench -p ceod-infer --bench infer --no-run 2>&1 | tail -1
fi
nproc
start=$(date +%s)

rust() { # $1: log name
  log "ceod fast path, cpu_model ($1)"
  cargo bench -p ceod-core --bench cpu_model -- --noplot "$filter" 2>/dev/null \
    | grep -E "^ceodnet_s_128/|time:" | tee "$OUT/$1.rust"
}
torch() {
  log "PyTorch, cpu_torch.py ($1)"
  CEOD_BENCH_REF="$REF" "$PY" crates/ceod-core/benches/cpu_torch.py --threads 2 --reps 20 \
    | tee "$OUT/$1.torch"
}
# The measured FMA ceiling, twice (two threads sometimes share one core for a whole run; the
# summary takes the larger figure).
log "FMA ceiling (fma_peak)"
for _ in 1 2; do target/release/examples/fma_peak 2 | tee -a "$OUT/peak.log"; done
rust run1; torch run1; rust run2; torch run2
if [ "${CEOD_BENCH_TUNED:-1}" = 1 ]; then
  export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824
  rust tuned; torch tuned
  unset MALLOC_MMAP_THRESHOLD_ MALLOC_TRIM_THRESHOLD_
fi
if [ "${CEOD_BENCH_INFER:-1}" = 1 ]; then
  log "ceod-infer side by side"
  crates/ceod-infer/benches/side_by_side.sh "$PY" "$REF" 2>&1 | tee "$OUT/infer.log"
fi
log "done in $(( $(date +%s) - start )) s"

python3 - "$OUT" <<'PYEOF'
import glob, os, re, statistics, sys
out = sys.argv[1]
rows = {}  # (row, batch) -> {(side, kind): [ms]}
def add(key, col, v):
    rows.setdefault(key, {}).setdefault(col, []).append(v)
unit = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}
for f in sorted(glob.glob(os.path.join(out, "*.rust"))):
    kind = "tuned" if "tuned" in f else "plain"
    name = None
    for line in open(f):
        m = re.match(r"ceodnet_s_128/(\w+)/b(\d+)/(\w+)", line)
        if m:
            name = m.groups()
        t = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+)", line)
        if t and name:
            add((name[0], int(name[1])), (name[2], kind), float(t.group(1)) * unit[t.group(2)])
            name = None
for f in sorted(glob.glob(os.path.join(out, "*.torch"))):
    kind = "tuned" if "tuned" in f else "plain"
    for line in open(f):
        m = re.match(r"torch (\w+)/b(\d+): median ([\d.]+) ms", line)
        if m:
            add((m.group(1), int(m.group(2))), ("torch", kind), float(m.group(3)))
med = lambda v: statistics.median(v) if v else float("nan")
# GFLOP per call of each row (docs/PERFORMANCE.md: 99.1 MFLOP per 128x128 image forward; a
# training step is the forward, the kernel gradients and the input gradients of conv2-4).
FWD, STEP = 0.0991, 0.2925
gflop = {"forward": FWD, "train_bce": STEP, "train_ceod_soft": STEP}
peak = 0.0
for line in open(os.path.join(out, "peak.log")) if os.path.exists(os.path.join(out, "peak.log")) else []:
    m = re.match(r"(\d+) thread\(s\): ([\d.]+) GFLOP/s", line)
    if m and int(m.group(1)) > 1:
        peak = max(peak, float(m.group(2)))
if peak:
    print(f"\nMeasured FMA ceiling (fma_peak, best of two): {peak:.1f} GFLOP/s on 2 threads")
for kind in ("plain", "tuned"):
    if not any((("ceod", kind) in c) for c in rows.values()):
        continue
    print(f"\n| ceodnet-s 1x128x128, {kind} malloc | candle kernels | ceod | PyTorch | ceod / PyTorch | ceod, % of ceiling | PyTorch, % of ceiling |")
    print("|---|---|---|---|---|---|---|")
    for key in sorted(rows, key=lambda k: (k[1], ["forward", "train_bce", "train_ceod_soft"].index(k[0]))):
        c = rows[key]
        cand, ours, tor = (med(c.get((s, kind), [])) for s in ("candle", "ceod", "torch"))
        runs = "/".join(f"{v:.2f}" for v in c.get(("ceod", kind), []))
        truns = "/".join(f"{v:.2f}" for v in c.get(("torch", kind), []))
        ms = lambda v: "—" if v != v else f"{v:.2f} ms"
        work = gflop[key[0]] * key[1]
        pct = lambda t: "—" if not peak or t != t else f"{100 * work / (t / 1e3) / peak:.0f} %"
        print(f"| {key[0]} B={key[1]} | {ms(cand)} | {ms(ours)} ({runs}) | {ms(tor)} ({truns}) | {ours / tor:.2f} | {pct(ours)} | {pct(tor)} |")
PYEOF
