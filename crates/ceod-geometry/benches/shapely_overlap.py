#!/usr/bin/env python3
"""The shapely side of the side-by-side overlap bench (see ../../../docs/PERFORMANCE.md).

Reproduces the exact-overlap timing of ../shared/bench-ref/ceod_ref.py (`overlap_benchmarks`,
rows "exact overlap d, per image" of its ANCHORS.md) without importing torch. The functions
`bilinear_matrix`, `hull_from_hot`, `mask_runs`, `mask_polygon`, `exact_overlap`,
`exact_overlap_d_only`, `sample_scene_params` and `render_mask` are copied from ceod_ref.py
unchanged; the timing loop is a simplified `overlap_benchmarks` (per-call perf_counter, median
over all calls of all passes, plus the mean per image of the median pass), without its
idle-machine detection: run it on a quiet machine.

Inputs, like the reference: the 32 cams of the seed-0 model after 40 BCE steps
(`cam` of oracle_out_bce40.safetensors at 128; its `cam_raw` upsampled to 512 with the
bilinear matrices and max-normalised at 512) and the batch masks (128) or the masks re-rendered
at 512 from the same scenes (`sample_scene_params(32, 0)`). It writes the 512 inputs
(`masks`, `hot` U8, `exact_overlap_d` F64) to --out-512 for the Rust bench (CEOD_BENCH_512).

Usage: python shapely_overlap.py --fixtures ../shared/fixtures --out-512 /tmp/ceod-bench/overlap_inputs_512.safetensors
Needs numpy, shapely 2 and safetensors (no torch).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import shapely
from safetensors.numpy import load_file, save_file

THRESH = 0.5
NORM_EPS = 1e-8


# ---- copied from ceod_ref.py -------------------------------------------------------------
def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """R [n_out, n_in] such that up = R_h @ X @ R_w^T equals
    F.interpolate(..., mode='bilinear', align_corners=False)."""
    r = np.zeros((n_out, n_in), dtype=np.float64)
    scale = n_in / n_out
    for i in range(n_out):
        src = max((i + 0.5) * scale - 0.5, 0.0)
        i0 = min(int(np.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        l1 = src - i0
        r[i, i0] += 1.0 - l1
        r[i, i1] += l1
    return r


def hull_from_hot(hot: np.ndarray):
    rows = np.flatnonzero(hot.any(axis=1))
    if rows.size == 0:
        return None
    sub = hot[rows]
    left = sub.argmax(axis=1)
    right = sub.shape[1] - sub[:, ::-1].argmax(axis=1)  # exclusive: cmax + 1
    xs = np.concatenate([left, left, right, right]).astype(np.float64)
    ys = np.concatenate([rows, rows + 1, rows, rows + 1]).astype(np.float64)
    return shapely.convex_hull(shapely.linestrings(np.stack([xs, ys], axis=1)))


def mask_runs(mask: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = mask.astype(bool)
    p = np.zeros((m.shape[0], m.shape[1] + 2), dtype=np.int8)
    p[:, 1:-1] = m
    d = np.diff(p, axis=1)
    rs, cs = np.nonzero(d == 1)
    re_, ce = np.nonzero(d == -1)
    assert np.array_equal(rs, re_)
    return rs, cs, ce


def mask_polygon(mask: np.ndarray):
    rs, cs, ce = mask_runs(mask)
    if rs.size == 0:
        return None
    boxes = shapely.box(cs.astype(np.float64), rs.astype(np.float64),
                        ce.astype(np.float64), (rs + 1).astype(np.float64))
    return shapely.union_all(boxes)


def exact_overlap(cam: np.ndarray, mask: Optional[np.ndarray] = None,
                  mask_poly=None, threshold: float = THRESH) -> Dict[str, float]:
    if mask_poly is None:
        mask_poly = mask_polygon(mask)
    hot = cam >= threshold
    hull = hull_from_hot(hot)
    n_hot = int(hot.sum())
    if hull is None or mask_poly is None:
        return dict(od=1.0, hull_area=0.0 if hull is None else hull.area,
                    mask_area=0.0 if mask_poly is None else mask_poly.area,
                    inter_area=0.0, n_hot=n_hot,
                    hull_vertices=0 if hull is None else len(hull.exterior.coords) - 1)
    a_d = hull.area
    a_gt = mask_poly.area
    inter = shapely.intersection(hull, mask_poly).area
    return dict(od=1.0 - inter / min(a_d, a_gt), hull_area=a_d, mask_area=a_gt,
                inter_area=inter, n_hot=n_hot, hull_vertices=len(hull.exterior.coords) - 1)


def exact_overlap_d_only(cam: np.ndarray, mask_poly) -> float:
    hull = hull_from_hot(cam >= THRESH)
    if hull is None or mask_poly is None:
        return 1.0
    return 1.0 - shapely.intersection(hull, mask_poly).area / min(hull.area, mask_poly.area)


def sample_scene_params(B: int, seed: int) -> List[dict]:
    rng = np.random.default_rng(seed)
    labels = np.zeros(B, dtype=np.float32)
    labels[rng.permutation(B)[: B // 2]] = 1.0
    scenes = []
    for i in range(B):
        s = dict(label=float(labels[i]),
                 cy=rng.uniform(0.3, 0.7), cx=rng.uniform(0.3, 0.7),
                 ry=rng.uniform(0.12, 0.28), rx=rng.uniform(0.12, 0.28),
                 th=rng.uniform(0.0, np.pi), rect=None)
        if rng.random() < 0.5:
            h, w = rng.uniform(0.08, 0.25), rng.uniform(0.08, 0.25)
            s["rect"] = (rng.uniform(0.03, 0.97 - h), rng.uniform(0.03, 0.97 - w), h, w)
        s["sigma"] = rng.uniform(0.025, 0.045)
        s["amp"] = rng.uniform(0.5, 0.7)
        m = render_mask(s, 256, 256)
        yy, xx = np.nonzero(m)
        mpts = np.stack([(yy + 0.5) / 256, (xx + 0.5) / 256], 1)
        for _ in range(10000):
            c = rng.uniform(0.06, 0.94, size=2)
            if s["label"] == 1.0:
                iy, ix = int(c[0] * 256), int(c[1] * 256)
                ok = bool(m[iy, ix])
                if ok:
                    ok = np.min(np.hypot(*(np.argwhere(~m) / 256 + 0.5 / 256 - c).T)) > 0.5 * s["sigma"]
            else:
                ok = np.min(np.hypot(*(mpts - c).T)) > 2.5 * s["sigma"]
            if ok:
                break
        else:
            raise RuntimeError("could not place blob")
        s["by"], s["bx"] = float(c[0]), float(c[1])
        s["noise_seed"] = int(rng.integers(0, 2**31 - 1))
        scenes.append(s)
    return scenes


def render_mask(s: dict, H: int, W: int) -> np.ndarray:
    Y, X = np.meshgrid((np.arange(H) + 0.5) / H, (np.arange(W) + 0.5) / W, indexing="ij")
    dy, dx = Y - s["cy"], X - s["cx"]
    c, si = np.cos(s["th"]), np.sin(s["th"])
    u, v = c * dx + si * dy, -si * dx + c * dy
    m = (u / s["rx"]) ** 2 + (v / s["ry"]) ** 2 <= 1.0
    if s["rect"] is not None:
        y0, x0, h, w = s["rect"]
        m |= (Y >= y0) & (Y < y0 + h) & (X >= x0) & (X < x0 + w)
    return m
# ---- end of the copy ----------------------------------------------------------------------


def per_image(fn, B: int, warmup: int, passes: int) -> Dict[str, float]:
    for _ in range(warmup):
        for i in range(B):
            fn(i)
    calls: List[float] = []
    pass_means: List[float] = []
    for _ in range(passes):
        ts = []
        for i in range(B):
            t0 = time.perf_counter()
            fn(i)
            ts.append(time.perf_counter() - t0)
        calls.extend(ts)
        pass_means.append(sum(ts) / B)
    return dict(median_call_us=statistics.median(calls) * 1e6,
                mean_per_image_us=statistics.median(pass_means) * 1e6,
                min_call_us=min(calls) * 1e6)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "../../../../shared/fixtures"))
    ap.add_argument("--out-512", default="")
    ap.add_argument("--passes", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    oracle = load_file(os.path.join(args.fixtures, "oracle_out_bce40.safetensors"))
    batch = load_file(os.path.join(args.fixtures, "batch.safetensors"))
    cam_raw = oracle["cam_raw"].astype(np.float64)
    cams = {128: oracle["cam"], }
    r = bilinear_matrix(16, 512)
    up = np.einsum("ij,bjk,lk->bil", r, cam_raw, r)
    cams[512] = (up / (up.max(axis=(1, 2), keepdims=True) + NORM_EPS)).astype(np.float32)
    masks = {128: batch["masks"] > 0.5,
             512: np.stack([render_mask(s, 512, 512) for s in sample_scene_params(32, 0)])}

    out = {"load_start": open("/proc/loadavg").read().split()[:3], "shapely": shapely.__version__,
           "geos": shapely.geos_version_string, "numpy": np.__version__}
    for res in (128, 512):
        C, M = cams[res], masks[res]
        B = C.shape[0]
        polys = [mask_polygon(M[i]) for i in range(B)]
        ods = [exact_overlap(C[i], M[i])["od"] for i in range(B)]
        if res == 512 and args.out_512:
            os.makedirs(os.path.dirname(os.path.abspath(args.out_512)), exist_ok=True)
            save_file({"hot": (C >= THRESH).astype(np.uint8), "masks": M.astype(np.uint8),
                       "exact_overlap_d": np.array(ods, dtype=np.float64)}, args.out_512)
        out[f"prebuilt_{res}"] = per_image(lambda i: exact_overlap_d_only(C[i], polys[i]), B, args.warmup, args.passes)
        out[f"incl_mask_polygon_{res}"] = per_image(lambda i: exact_overlap(C[i], M[i]), B, args.warmup, args.passes)
        out[f"mean_od_{res}"] = float(np.mean(ods))
    out["load_end"] = open("/proc/loadavg").read().split()[:3]
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
