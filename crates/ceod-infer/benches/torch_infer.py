"""PyTorch side of the ceod-infer side-by-side: bench-ref row 5 (ceodnet-s, 128x128, no_grad).

Usage: python torch_infer.py BENCH_REF_DIR [--threads 2] [--reps-b1 200] [--reps-b32 30]
Prints one JSON object: median/min/max ms and images/s for B=1 and B=32, the model built by
ceod_ref.make_model(0) and timed like ceod_ref.time_fn (warm-up, then perf_counter per call),
without its idle-machine wait (the caller runs both sides back to back).
"""
import argparse
import json
import os
import statistics
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("ref_dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps-b1", type=int, default=200)
    ap.add_argument("--reps-b32", type=int, default=30)
    a = ap.parse_args()
    sys.path.insert(0, a.ref_dir)
    import torch
    import ceod_ref

    torch.set_num_threads(a.threads)
    model = ceod_ref.make_model(0)
    model.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand((32, 1, 128, 128), generator=g)
    out = {"torch": torch.__version__, "threads": a.threads}
    for name, inp, reps in (("b1", x[:1].contiguous(), a.reps_b1), ("b32", x, a.reps_b32)):
        def infer():
            with torch.no_grad():
                return model(inp)
        for _ in range(20 if name == "b1" else 5):
            infer()
        ts, cpu = [], []
        for _ in range(reps):
            t, c = time.perf_counter(), time.process_time()
            infer()
            ts.append((time.perf_counter() - t) * 1e3)
            cpu.append((time.process_time() - c) * 1e3)
        med = statistics.median(ts)
        # cpu_ms: this process's CPU time per call (all its threads), less sensitive to other
        # processes than the wall clock on a shared machine.
        out[name] = dict(median_ms=med, min_ms=min(ts), max_ms=max(ts), n=len(ts),
                         images_per_s=inp.shape[0] / (med / 1e3),
                         cpu_ms_median=statistics.median(cpu))
    out["loadavg"] = os.getloadavg()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
