"""Where the quality gap to RIFE sits in frequency: detail lost (blur) or content misplaced?

For each motion bucket of the val set (the buckets of ``edgevfi validate``, motion by the shipped default's
motion stage, as in ``benchmarks/quality.py``), RIFE 4.25 and each shipped model in ONE run:

* PSNR on 8-bit-rounded RGB (as everywhere);
* low-pass PSNR: both prediction and ground truth blurred (Gaussian, sigma 2 px) before scoring; an error
  that only blurs detail vanishes here, an error that misplaces content (motion, occlusion) stays;
* detail ratio: mean |Laplacian| of the prediction over that of the ground truth (1 = as sharp as the
  truth, < 1 = blurred).

If a model's gap to RIFE shrinks in low-pass PSNR and its detail ratio is below RIFE's, it loses detail
(synthesis/splatting blur); if the gap stays, its content is misplaced (motion).

    python benchmarks/detail.py [--data ../shared/data/val] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import motion_of
from rife import load_rife

from edgevfi import models
from edgevfi.data.triplets import find_triplets, load_image
from edgevfi.metrics import MOTION_BUCKETS, motion_bucket, psnr, quantize_8bit
from edgevfi.runtime import EagerBackend, Runner

SIGMA = 2.0


def gaussian_blur(img: Tensor, sigma: float = SIGMA) -> Tensor:
    """Separable Gaussian blur of (1, 3, H, W) with reflect padding."""
    r = int(3 * sigma)
    x = torch.arange(-r, r + 1, dtype=img.dtype)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = (k / k.sum()).to(img)
    out = F.conv2d(F.pad(img, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
    return F.conv2d(F.pad(out, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)


def laplacian_energy(img: Tensor) -> float:
    """Mean absolute 4-neighbour Laplacian of (1, 3, H, W)."""
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=img.dtype)
    lap = F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), k.view(1, 1, 3, 3).repeat(3, 1, 1, 1), groups=3)
    return float(lap.abs().mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val"))
    p.add_argument("--limit", type=int, help="only the first N triplets (smoke runs)")
    args = p.parse_args()
    torch.set_num_threads(2)
    if not Path(args.data).exists():
        sys.exit(f"benchmarks/detail.py: {args.data} not found (the shared val set)")
    folders = find_triplets(args.data)[: args.limit]
    triplets = [tuple(load_image(f / f"im{i}.png")[None] for i in (1, 2, 3)) for f in folders]

    default = models.create(models.default_model_name(), pretrained=True)
    buckets = [motion_bucket(m) for m in motion_of(folders, default)]

    methods = []
    rife = load_rife()
    if rife is not None:
        methods.append((rife.name, lambda a, b: rife(a, b)))
    for name in models.list_models():
        if name != "blend" and models.shipped_weights(name):
            runner = Runner(EagerBackend(models.create(name, pretrained=True)))
            methods.append((name, lambda a, b, runner=runner: next(iter(runner.interpolate(a, b, [0.5])))))

    rows: dict[str, list[tuple[float, float, float]]] = {}
    for name, fn in methods:
        rows[name] = []
        for a, gt, b in triplets:
            pred = quantize_8bit(fn(a, b))
            low_pass = psnr(gaussian_blur(pred), gaussian_blur(gt))
            rows[name].append((psnr(pred, gt), low_pass, laplacian_energy(pred) / laplacian_energy(gt)))

    names = [n for n, _, _ in MOTION_BUCKETS if n in buckets]
    ref = rife.name if rife is not None else None
    print(f"\n{len(folders)} triplets from {args.data}; low-pass: Gaussian sigma {SIGMA:g} px; in brackets: vs RIFE\n")
    print("| model | motion | n | PSNR (dB) | low-pass PSNR (dB) | detail ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, vals in rows.items():
        for bucket in [*names, "all"]:
            idx = [i for i, bk in enumerate(buckets) if bucket in ("all", bk)]
            mean = [sum(vals[i][j] for i in idx) / len(idx) for j in range(3)]
            cells = [f"{mean[0]:.2f}", f"{mean[1]:.2f}", f"{mean[2]:.3f}"]
            if ref is not None and name != ref:
                base = [sum(rows[ref][i][j] for i in idx) / len(idx) for j in range(2)]
                cells[0] += f" ({mean[0] - base[0]:+.2f})"
                cells[1] += f" ({mean[1] - base[1]:+.2f})"
            print(f"| {name} | {bucket} | {len(idx)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
