"""What the static shapes and the gather-free warp cost in quality, in ONE run (eager PyTorch, val set).

Three ways to run the shipped default through the tiled Runner: the eager default (motion canvas
per frame, windows shrunk for small frames), the static shapes of an exported bundle (canvas
512×288, default tiles) with the scatter splatting (ONNX, ExecuTorch), and the same with the
window (gather/scatter-free, |residual motion| clamped to 4 px) splatting (LiteRT, Core ML).

    python benchmarks/warp_variants.py [--data ../shared/data/val] [--model apr-s]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# This folder would otherwise shadow the export package (benchmarks/export.py).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

from edgevfi import models  # noqa: E402
from edgevfi.evaluate import evaluate  # noqa: E402
from edgevfi.runtime import EagerBackend, Runner  # noqa: E402
from export.graphs import DEFAULT_CANVAS, DEFAULT_TILE, with_warp  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/val")
    ap.add_argument("--model", default=models.default_model_name())
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = models.create(args.model, pretrained=True).eval()
    static = {"canvas_hw": DEFAULT_CANVAS, "tile": DEFAULT_TILE}
    rows = [
        ("eager default (per-frame canvas)", model, {}),
        (f"static 512×288 / {DEFAULT_TILE}, scatter splat", with_warp(model, "scatter"), static),
        (f"static 512×288 / {DEFAULT_TILE}, window splat (R=4)", with_warp(model, "window"), static),
    ]
    print(f"| {args.model} on {args.data} | PSNR (dB) | SSIM |\n| --- | ---: | ---: |")
    for label, m, kw in rows:
        r = evaluate(Runner(EagerBackend(m, max_batch=1, **kw)), args.data, label)
        print(f"| {label} | {r['mean_psnr']:.3f} | {r['mean_ssim']:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
