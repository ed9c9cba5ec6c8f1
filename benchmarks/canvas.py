"""Motion canvas policies side by side, in ONE run: fixed canvases vs the motion-adaptive canvas.

The motion stage runs on the frames resized to a canvas (long side ≤ 512 by default). A smaller canvas
shrinks the motion the pyramid must find, a larger one keeps sub-pixel precision: this measures the
trade-off per policy on each ``--data`` folder, PSNR / SSIM overall and by motion (the buckets of
``edgevfi validate``, motion from the one-canvas model so every row splits the same triplets), with
the MACs of a 720p frame (one pass, and with the adaptive second pass at its largest).

    python benchmarks/canvas.py [--model apr-s] [--data ../shared/data/val --data cache/holdout] [--json OUT]

Rows: ``fixed N`` = one canvas, long side ≤ N (``max_canvas_side``; 512 is what bundles run);
``adaptive N`` = the 512 canvas, then a second pass on up to N, never above the frame, when the pair's
motion fits the pyramid's reach there (``fine_canvas_side``, ``edgevfi.models.base.adaptive_canvas``);
``adaptive N, ≤ U× frame`` (``--adaptive NxU``) lets that canvas exceed a smaller frame up to U× its
size (``fine_canvas_upscale``; the shipped edge models: 1280x2); ``bundle rule`` (``--static U,..``) =
eager PyTorch at a default bundle's static shapes (the 512x288 canvas, its fine canvases, 448-px tiles:
the parity reference, so what the bundle's FP32 graphs compute), the fine canvas at most U× the frame.
The last column counts the pairs whose motion ran on a canvas longer than their frame (upsampled pixels)
and gives the median canvas / frame ratio of the long sides. ``--fixed ""`` leaves the fixed rows out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from edgevfi import models
from edgevfi.data.triplets import find_triplets, load_image
from edgevfi.io import atomic_output
from edgevfi.metrics import MOTION_BUCKETS, motion_bucket, psnr, quantize_8bit, ssim
from edgevfi.profile import count_macs
from edgevfi.runtime import EagerBackend, Runner
from edgevfi.runtime.tiles import DEFAULT_TILE

HERE = Path(__file__).resolve().parent
# Import the package before this folder joins the path: benchmarks/export.py would shadow `export`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
from export.graphs import DEFAULT_CANVAS, fine_canvases_for  # noqa: E402

sys.path.insert(0, str(HERE))
from quality import motion_of  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=models.default_model_name())
    p.add_argument("--data", action="append", help="triplet folder (repeatable; default: ../shared/data/val)")
    p.add_argument("--fixed", default="512,768,1280", help="fixed canvas long sides")
    p.add_argument(
        "--adaptive",
        default="768,1024,1280,1280x2",
        help="adaptive canvas caps (first pass at 512), each N or NxU (U: the most it may exceed the frame, ×)",
    )
    p.add_argument(
        "--static",
        default="",
        help="rows at a default bundle's static shapes, one per upscale factor U of its fine-canvas rule (e.g. 1,2)",
    )
    p.add_argument("--json", help="also write every row (and each triplet's score) as JSON")
    args = p.parse_args()
    torch.set_num_threads(2)
    data = args.data or [str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val")]
    for d in data:
        if not Path(d).exists():
            sys.exit(f"benchmarks/canvas.py: {d} not found")
    base = models.create(args.model, pretrained=True)
    policies = [(f"fixed {n}", n, 0, 1.0) for n in map(int, filter(None, args.fixed.split(",")))]
    for item in args.adaptive.split(","):
        cap, _, up = item.partition("x")
        upscale = float(up or 1)
        label = f"adaptive {cap}" + (f", ≤ {upscale:g}× frame" if upscale != 1 else "")
        policies.append((label, 512, int(cap), upscale))
    for item in filter(None, args.static.split(",")):
        upscale = float(item)
        label = "bundle rule" + (f", ≤ {upscale:g}× frame" if upscale != 1 else "")
        policies.append((label, 0, 0, upscale))  # 0, 0: static shapes

    rows = []
    for d in data:
        folders = find_triplets(d)
        motion = motion_of(folders, models.with_config(base, max_canvas_side=512, fine_canvas_side=0))
        for label, max_side, fine_side, upscale in policies:
            if max_side:
                model = models.with_config(
                    base, max_canvas_side=max_side, fine_canvas_side=fine_side, fine_canvas_upscale=upscale
                )
                runner = Runner(EagerBackend(model))
            else:
                model = base
                static = {"canvas_hw": DEFAULT_CANVAS, "tile": DEFAULT_TILE, "fine_canvases": fine_canvases_for(base)}
                runner = Runner(EagerBackend(base, max_batch=1, canvas_upscale=upscale, **static))
            start, per = time.perf_counter(), []
            for f, m in zip(folders, motion, strict=True):
                a, gt, b = (load_image(f / f"im{i}.png")[None] for i in (1, 2, 3))
                frame_hw = (a.shape[-2], a.shape[-1])
                pair = runner.prepare(a, b)
                pred = quantize_8bit(runner.synthesize(pair, 0.5))
                per.append(
                    {
                        "path": str(f),
                        "psnr": psnr(pred, gt),
                        "ssim": ssim(pred, gt),
                        "motion_px": m,
                        "bucket": motion_bucket(m),
                        "frame": list(frame_hw),
                        "canvas": list(pair.canvas_hw),
                        "first_canvas": list(runner.backend.canvas_hw or model.canvas_for(frame_hw)),
                    }
                )
            macs = count_macs(model, (720, 1280))
            rows.append(
                {
                    "data": d,
                    "policy": label,
                    "psnr": sum(r["psnr"] for r in per) / len(per),
                    "ssim": sum(r["ssim"] for r in per) / len(per),
                    "buckets": {b: [r["psnr"] for r in per if r["bucket"] == b] for b, _, _ in MOTION_BUCKETS},
                    "gmacs_720p": macs["total"] / 1e9,
                    "gmacs_720p_fine": macs["total_fine"] / 1e9,
                    "seconds": time.perf_counter() - start,
                    "per_triplet": per,
                }
            )
            print(f"{d} {label}: {rows[-1]['psnr']:.3f} dB", file=sys.stderr, flush=True)

    for d in data:
        mine = [r for r in rows if r["data"] == d]
        ref = next((r for r in mine if r["policy"] == "fixed 512"), mine[0])
        n = len(mine[0]["per_triplet"])
        names = [b for b in mine[0]["buckets"] if mine[0]["buckets"][b]]
        counts = ", ".join(f"{b} {len(mine[0]['buckets'][b])}" for b in names)
        print(f"\n`{args.model}` on {d} ({n} triplets; {counts}); vs = against `{ref['policy']}`\n")
        print(
            "| canvas | PSNR (dB) | vs | SSIM | "
            + " | ".join(names)
            + " | GMAC @720p | s (whole set, 2 threads) | second pass | canvas above the frame |"
        )
        print("| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in names) + " | ---: | ---: | ---: | ---: |")
        for r in mine:
            bucket = [sum(r["buckets"][b]) / len(r["buckets"][b]) for b in names]
            gm = f"{r['gmacs_720p']:.1f}"
            if r["gmacs_720p_fine"] != r["gmacs_720p"]:
                gm += f"–{r['gmacs_720p_fine']:.1f}"
            first = not r["policy"].startswith("fixed")
            refined = sum(1 for t in r["per_triplet"] if t["canvas"] != t["first_canvas"])
            print(
                f"| {r['policy']} | {r['psnr']:.3f} | {r['psnr'] - ref['psnr']:+.3f} | {r['ssim']:.4f} | "
                + " | ".join(f"{v:.2f}" for v in bucket)
                + f" | {gm} | {r['seconds']:.0f} | {f'{refined}/{n}' if first else '–'}"
                + f" | {_enlarged(r['per_triplet'])} |"
            )
    if args.json:
        with atomic_output(Path(args.json)) as tmp:
            tmp.write_text(json.dumps(rows, indent=2))


def _enlarged(per: list[dict]) -> str:
    """How many pairs ran motion on a canvas longer than their frame, and the median of canvas / frame."""
    ratios = sorted(max(t["canvas"]) / max(t["frame"]) for t in per)
    return f"{sum(r > 1 for r in ratios)}/{len(ratios)} (median {ratios[len(ratios) // 2]:.2f}×)"


if __name__ == "__main__":
    main()
