"""Writes preprocess_reference.json: resize references from Pillow and PyTorch.

Run (any Python with numpy, Pillow and torch):
    python preprocess_reference.py > preprocess_reference.json
The input image is a formula (no RNG), re-created by the Rust test (preprocess_reference.rs).
"""
import json

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def source(w, h):
    y, x = np.mgrid[0:h, 0:w]
    return (((x * 7 + y * 13 + (x * y) % 5) % 17) / 16.0).astype(np.float32)


cases = []
for (sw, sh, dw, dh) in [(37, 23, 16, 10), (37, 23, 64, 50), (37, 23, 50, 9), (120, 90, 48, 36), (8, 6, 3, 5)]:
    src = source(sw, sh)
    pil = np.asarray(Image.fromarray(src, mode="F").resize((dw, dh), Image.BILINEAR), dtype=np.float64)
    t = torch.from_numpy(src)[None, None]
    tv = F.interpolate(t, size=(dh, dw), mode="bilinear", align_corners=False, antialias=True)[0, 0].numpy()
    # masks: the source thresholded at 0.5, resized by torch's half-pixel nearest rule
    m = torch.from_numpy((src >= 0.5).astype(np.float32))[None, None]
    nearest = F.interpolate(m, size=(dh, dw), mode="nearest-exact")[0, 0].numpy()
    cases.append(dict(src=[sw, sh], dst=[dw, dh],
                      pil=[round(float(v), 7) for v in pil.ravel()],
                      torch=[round(float(v), 7) for v in tv.ravel()],
                      nearest=[int(v) for v in nearest.ravel()]))
print(json.dumps(dict(generator="preprocess_reference.py", pillow=Image.__version__ if hasattr(Image, "__version__") else "",
                      torch=torch.__version__, cases=cases)))
