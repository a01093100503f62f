"""The PyTorch reference's rows beside `cargo bench -p ceod-core --bench cpu_model`: inference
(no grad), the BCE and the CEOD (soft) training step of ceodnet-s at batch 1 and 32, 1x128x128.

    /tmp/refenv/bin/python crates/ceod-core/benches/cpu_torch.py [--threads 2] [--reps 20]

Imports `ceod_ref` from ../shared/bench-ref (read-only; nothing is written there; override with
CEOD_BENCH_REF) and its seeded batch. Prints median and min per row in ms. Run it once as is and
once with MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 for the allocator
effect.
"""
import argparse, os, statistics, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.environ.get("CEOD_BENCH_REF", os.path.join(HERE, "..", "..", "..", "..", "shared", "bench-ref"))
sys.dont_write_bytecode = True
sys.path.insert(0, REF)
import torch  # noqa: E402
import ceod_ref  # noqa: E402


def timed(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    ts, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.thread_time() - c0) * 1e3)
    return statistics.median(ts), min(ts), statistics.median(cpu)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batches", default="1,32", help="comma-separated batch sizes")
    p.add_argument("--cpu-time", action="store_true",
                   help="also print the calling thread's CPU time per call (meaningful with --threads 1)")
    p.add_argument("--rows", default="forward,train_bce,train_ceod_soft", help="comma-separated rows")
    a = p.parse_args()
    wanted = set(a.rows.split(","))
    torch.set_num_threads(a.threads)
    data = ceod_ref.make_batch(32, 128, 128, seed=0)
    for bsz in [int(b) for b in a.batches.split(",")]:
        x = data["images"][:bsz].contiguous()
        y = data["labels"][:bsz].contiguous()
        m = data["masks"][:bsz].contiguous()
        reps = a.reps * (5 if bsz == 1 else 1)
        model = ceod_ref.make_model(0)
        model.eval()

        def infer():
            with torch.no_grad():
                return model(x)
        rows = [("forward", infer)]
        for name, step in (("train_bce", lambda mo, op: ceod_ref.train_step_bce(mo, op, x, y)),
                           ("train_ceod_soft", lambda mo, op: ceod_ref.train_step_ceod(mo, op, x, y, m))):
            mo = ceod_ref.make_model(0)
            op = ceod_ref.make_optimizer(mo)
            rows.append((name, lambda step=step, mo=mo, op=op: step(mo, op)))
        for name, fn in rows:
            if name not in wanted:
                continue
            med, mn, cpu = timed(fn, a.warmup * (4 if bsz == 1 else 1), reps)
            extra = f", cpu {cpu:.2f} ms" if a.cpu_time else ""
            print(f"torch {name}/b{bsz}: median {med:.2f} ms, min {mn:.2f} ms{extra} ({reps} reps, {a.threads} threads)",
                  flush=True)


if __name__ == "__main__":
    main()
