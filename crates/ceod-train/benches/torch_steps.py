"""Times the PyTorch reference's BCE and CEOD training steps (B=32, ceodnet-s, 128x128) on
this machine, to run right after `cargo bench -p ceod-train --bench train_step`.

    /tmp/refenv/bin/python crates/ceod-train/benches/torch_steps.py [--threads 2] [--reps 15]

Imports `ceod_ref` from ../shared/bench-ref (read-only; nothing is written there) and uses the
fixtures' batch when present. Prints the median and min of each step in ms.
"""
import argparse, os, statistics, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.environ.get("CEOD_BENCH_REF", os.path.join(HERE, "..", "..", "..", "..", "shared", "bench-ref"))
sys.dont_write_bytecode = True
sys.path.insert(0, REF)
import torch  # noqa: E402
import ceod_ref  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    data = ceod_ref.make_batch(32, 128, 128, seed=0)
    x, y, m = data["images"], data["labels"], data["masks"]
    for name, step in [
        ("bce", lambda model, opt: ceod_ref.train_step_bce(model, opt, x, y)),
        ("ceod_soft", lambda model, opt: ceod_ref.train_step_ceod(model, opt, x, y, m)),
    ]:
        model = ceod_ref.make_model(0)
        opt = ceod_ref.make_optimizer(model)
        for _ in range(a.warmup):
            step(model, opt)
        ts = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            step(model, opt)
            ts.append((time.perf_counter() - t0) * 1e3)
        print(f"torch {name}: median {statistics.median(ts):.1f} ms, min {min(ts):.1f} ms ({a.reps} reps, {a.threads} threads)")


if __name__ == "__main__":
    main()
