#!/usr/bin/env bash
# ceod-infer next to the PyTorch reference (../shared/bench-ref, row 5: ceodnet-s, 128x128, no_grad),
# plus the start-to-first-decision time and the binary size. Numbers go to docs/PERFORMANCE.md.
#
# Usage: crates/ceod-infer/benches/side_by_side.sh [PYTHON_WITH_TORCH] [BENCH_REF_COPY]
#   defaults: /tmp/refenv/bin/python and /tmp/bench-ref (cp -r ../shared/bench-ref /tmp/bench-ref)
# Run it on an otherwise idle machine; both sides run back to back, PyTorch before and after.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY=${1:-/tmp/refenv/bin/python}
REF=${2:-/tmp/bench-ref}
cargo build --release -p ceod-infer --bins --examples
BIN=target/release/ceod-infer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/examples/make_demo "$work" 64 >/dev/null
MODEL="$work/ceodnet-s.safetensors"

echo "== machine"; nproc; uptime
echo "== binary size (bytes): $(stat -c %s "$BIN")"

echo "== start to first decision: one 128x128 PNG, process start to exit (20 runs)"
python3 - "$BIN" "$MODEL" "$work/images/0000.png" <<'PYEOF'
import statistics, subprocess, sys, time
binary, model, image = sys.argv[1:4]
ts = []
for _ in range(20):
    t = time.perf_counter()
    subprocess.run([binary, "--model", model, image], check=False, stdout=subprocess.DEVNULL)
    ts.append((time.perf_counter() - t) * 1e3)
print(f"median {statistics.median(ts):.1f} ms, min {min(ts):.1f} ms, max {max(ts):.1f} ms")
PYEOF

echo "== the binary on 64 PNG files (decode + preprocess + forward + records)"
for b in 1 32; do
  python3 - "$BIN" "$MODEL" "$work/images" "$b" <<'PYEOF'
import statistics, subprocess, sys, time
binary, model, images, b = sys.argv[1:5]
ts = []
for _ in range(5):
    t = time.perf_counter()
    subprocess.run([binary, "--model", model, "--batch", b, images], check=False, stdout=subprocess.DEVNULL)
    ts.append(time.perf_counter() - t)
m = statistics.median(ts)
print(f"--batch {b}: median {m * 1e3:.0f} ms for 64 images = {64 / m:.0f} images/s (whole process)")
PYEOF
done

if [ -x "$PY" ] && [ -d "$REF" ]; then
  echo "== PyTorch (before)"; "$PY" crates/ceod-infer/benches/torch_infer.py "$REF"
fi
echo "== ceod-infer engine (criterion)"
cargo bench -p ceod-infer --bench infer -- --noplot 2>&1 | grep -E "^infer/|time:|thrpt:"
if [ -x "$PY" ] && [ -d "$REF" ]; then
  echo "== PyTorch (after)"; "$PY" crates/ceod-infer/benches/torch_infer.py "$REF"
fi
echo "== load at the end"; uptime
