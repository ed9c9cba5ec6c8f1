"""The tile plan's halo and overlap: windows per frame and what each setting costs in quality, in ONE run.

Every window is ``tile`` pixels (the synthesis graph's static shape); a plan trusts its core (tile − 2·halo)
and cross-fades neighbours over ``overlap`` pixels, so a smaller halo or no overlap means fewer windows at
1080p and 4K (not at 720p, whose 720 rows take two windows either way). Eager PyTorch splats without bounds,
so its tiles equal the full frame whatever the plan; a bundle splats within a bounded window radius, so
its output depends on where the windows fall. This runs each pair's motion once and synthesizes it with
every plan, scoring each against the ground truth and against the first plan:

    python benchmarks/tile_geometry.py --data ../shared/data/val --bundle out/speed/fp32 --backend et
    python benchmarks/tile_geometry.py --data cache/holdout --plans 32/32,16/32,32/0     # eager
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from edgevfi import models  # noqa: E402
from edgevfi.data.triplets import TripletFolder  # noqa: E402
from edgevfi.io import atomic_output  # noqa: E402
from edgevfi.metrics import psnr, quantize_8bit  # noqa: E402
from edgevfi.runtime import EagerBackend, Runner, TilePlan, blend_windows  # noqa: E402

SIZES = {"720p": (720, 1280), "1080p": (1080, 1920), "4k": (2160, 3840)}


def parse_plans(text: str) -> list[tuple[int, int]]:
    """``"32/32,16/32"`` → ``[(halo, overlap), ...]``."""
    try:
        plans = [tuple(int(v) for v in item.split("/")) for item in text.split(",")]
    except ValueError:
        raise SystemExit(f"tile_geometry: --plans wants HALO/OVERLAP pairs like 32/32,16/32, got {text!r}") from None
    if not plans or any(len(p) != 2 for p in plans):
        raise SystemExit(f"tile_geometry: --plans wants HALO/OVERLAP pairs like 32/32,16/32, got {text!r}")
    return plans  # type: ignore[return-value]


def make_plan(frame_hw: tuple[int, int], tile: int, halo: int, overlap: int, align: int) -> TilePlan:
    try:
        return TilePlan(frame_hw, tile=tile, halo=halo, overlap=overlap, align=align)
    except ValueError as e:
        raise SystemExit(f"tile_geometry: halo {halo} / overlap {overlap}: {e}") from None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "val"))
    ap.add_argument("--bundle", help="bundle folder (default: eager PyTorch, shipped default model)")
    ap.add_argument("--backend", default="et", help="bundle backend (default et)")
    ap.add_argument("--plans", default="32/32,16/32,32/0", help="HALO/OVERLAP pairs; the first is the baseline")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", help="write per-triplet and mean figures here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    plans = parse_plans(args.plans)
    if args.bundle:
        from export.bundle import BundleBackend, load_bundle

        backend = BundleBackend(load_bundle(args.bundle, args.backend), args.backend, args.threads)
        name = f"{args.bundle} ({args.backend})"
    else:
        backend = EagerBackend(models.create(models.default_model_name(), pretrained=True).eval())
        name = f"{models.default_model_name()} (eager)"
    runner = Runner(backend)
    tile, align = runner.tile, backend.align

    print(f"{name}, {tile}-px windows: windows (Mpixel synthesized) per frame")
    print("| halo / overlap | " + " | ".join(SIZES) + " |")
    print("| --- |" + " ---: |" * len(SIZES))
    for halo, overlap in plans:
        cells = []
        for hw in SIZES.values():
            n = len(make_plan(hw, tile, halo, overlap, align).windows())
            cells.append(f"{n} ({n * tile * tile / 1e6:.2f})")
        print(f"| {halo} / {overlap} | " + " | ".join(cells) + " |", flush=True)

    rows = []
    with torch.no_grad():
        for item in TripletFolder(Path(args.data), args.limit):
            pair = runner.prepare(item["img0"], item["img1"])
            hw = (item["img0"].shape[-2], item["img0"].shape[-1])
            # eager runs shrink the window of a small frame to fit it; bundles keep their static tile
            frame_tile = runner.plan(hw).tile
            outs = []
            for halo, overlap in plans:
                plan = make_plan(hw, frame_tile, halo, overlap, align)
                outs.append(quantize_8bit(blend_windows(plan, runner.window_tiles(pair, 0.5, plan))[0]))
            row = {
                "path": str(Path(item["path"]).relative_to(args.data)),
                "psnr": [round(psnr(o, item["gt"]), 4) for o in outs],
                "vs_first": [None] + [round(psnr(o, outs[0]), 2) for o in outs[1:]],
            }
            rows.append(row)
            print(row["path"], row["psnr"], "vs first plan:", row["vs_first"][1:], flush=True)
    if not rows:
        raise SystemExit(f"tile_geometry: no triplets under {args.data}")

    n = len(rows)
    print(f"\n{name} on {args.data} ({n} triplets): mean PSNR per plan, change against {plans[0][0]}/{plans[0][1]}")
    print("| halo / overlap | PSNR (dB) | Δ | triplets up / down (> 0.005 dB) | worst Δ | lowest PSNR vs first plan |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    summary = []
    for k, (halo, overlap) in enumerate(plans):
        mean = round(sum(r["psnr"][k] for r in rows) / n, 4)
        deltas = [r["psnr"][k] - r["psnr"][0] for r in rows]
        up, down = sum(d > 0.005 for d in deltas), sum(d < -0.005 for d in deltas)
        lowest = min((r["vs_first"][k] for r in rows), default=None) if k else None
        summary.append({"halo": halo, "overlap": overlap, "mean_psnr": mean, "up": up, "down": down})
        print(
            f"| {halo} / {overlap} | {mean:.4f} | {mean - summary[0]['mean_psnr']:+.4f} | {up} / {down} |"
            f" {min(deltas):+.4f} | {'–' if lowest is None else f'{lowest:.1f}'} |"
        )
    if args.json:
        result = {"model": name, "data": args.data, "plans": summary, "per_triplet": rows}
        with atomic_output(Path(args.json)) as tmp:
            tmp.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
