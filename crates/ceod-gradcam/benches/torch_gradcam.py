#!/usr/bin/env python3
"""PyTorch side of `cargo bench -p ceod-gradcam`: rows 3 and 3b of ../shared/bench-ref.

Times, on the same weights and batch as the criterion bench (fixtures/weights_bce20 and
fixtures/batch), the reference's own Grad-CAM (`ceod_ref.gradcam`: forward, gradient to A only,
cam, upsample, max-norm) and pytorch-grad-cam's GradCAM (ClassifierOutputTarget(0)), with
torch threads = 2. Median, min and max over --reps calls after --warmup calls.

    cp -r ../shared/bench-ref /tmp/bench-ref
    /tmp/refenv/bin/python crates/ceod-gradcam/benches/torch_gradcam.py \
        --ref /tmp/bench-ref --fixtures ../shared/fixtures
"""
import argparse
import os
import statistics
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--ref", default="/tmp/bench-ref", help="a copy of ../shared/bench-ref")
    p.add_argument("--fixtures", default=None, help="default: <ref>/../fixtures or ../shared/fixtures")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--reps", type=int, default=30)
    a = p.parse_args()
    sys.path.insert(0, a.ref)
    import torch
    import ceod_ref as R
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from safetensors.torch import load_file

    torch.set_num_threads(a.threads)
    fx = a.fixtures or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../shared/fixtures")
    x = load_file(os.path.join(fx, "batch.safetensors"))["images"].contiguous()
    model = R.CeodNetS()
    R.load_weights(model, os.path.join(fx, "weights_bce20.safetensors"))
    lib_model = R.CeodNetS()
    R.load_weights(lib_model, os.path.join(fx, "weights_bce20.safetensors"))
    targets = [ClassifierOutputTarget(0)] * x.shape[0]

    def timed(name, fn):
        for _ in range(a.warmup):
            fn()
        ts = []
        for _ in range(a.reps):
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1e3)
        print(f"{name}: median {statistics.median(ts):.1f} ms  min {min(ts):.1f}  max {max(ts):.1f}  "
              f"(reps {a.reps}, torch threads {a.threads}, load {os.getloadavg()[0]:.2f})", flush=True)

    timed("torch own Grad-CAM (row 3), B=32", lambda: R.gradcam(model, x))
    with GradCAM(model=lib_model, target_layers=[lib_model.relu4]) as gcam:
        timed("pytorch-grad-cam GradCAM (row 3b), B=32", lambda: gcam(input_tensor=x, targets=targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
