"""Bundles with and without their fine canvases, side by side in ONE run: PSNR and time per frame.

A bundle's motion graph runs on one static canvas (512x288); a bundle exported with fine canvases
(``edgevfi export --fine-canvases``, by default 768x448, 960x544 and 1280x736 for the shipped models)
also has a motion graph per fine canvas, and the Runner reruns motion on the largest one the frame and
the pair's motion allow (``edgevfi.models.base.static_canvas``). For every backend of each bundle this
scores both ways on each ``--data`` folder (PSNR / SSIM, 8-bit rounded, overall and by motion bucket,
the buckets from the one-canvas motion so both rows split the same triplets) and times one output frame
at ``--size`` (a small-motion pair, so the second pass runs where the frame allows it).

    python benchmarks/bundle_canvas.py BUNDLE [BUNDLE ...] [--backend et,litert,onnx] \\
        [--data ../shared/data/val --data cache/holdout/opencv] [--size 720p] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
# Import the packages before this folder joins the path: benchmarks/export.py would shadow `export`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from edgevfi.data.triplets import find_triplets, load_image  # noqa: E402
from edgevfi.io import atomic_output  # noqa: E402
from edgevfi.metrics import MOTION_BUCKETS, motion_bucket, motion_magnitude, psnr, quantize_8bit, ssim  # noqa: E402
from edgevfi.runtime import Runner  # noqa: E402
from export import latency  # noqa: E402
from export.bundle import BundleBackend, load_bundle  # noqa: E402


def score(
    runner: Runner,
    folders: list[Path],
    motion: list[float] | None = None,
    frames: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict:
    """Mean PSNR / SSIM of ``runner`` on ``folders``, per bucket, each triplet's score and canvas.

    ``frames`` turns each loaded (1, 3, H, W) frame into the one scored (e.g. a portrait version)."""
    per = []
    for k, f in enumerate(folders):
        a, gt, b = (load_image(f / f"im{i}.png")[None] for i in (1, 2, 3))
        if frames is not None:
            a, gt, b = frames(a), frames(gt), frames(b)
        pair = runner.prepare(a, b)
        pred = quantize_8bit(runner.synthesize(pair, 0.5))
        m = motion[k] if motion else motion_magnitude(pair.m0, pair.canvas_hw, tuple(gt.shape[-2:]))
        per.append({"path": str(f), "psnr": psnr(pred, gt), "ssim": ssim(pred, gt), "motion_px": m})
        per[-1]["canvas"] = list(pair.canvas_hw)
    n = len(per)
    return {
        "psnr": sum(r["psnr"] for r in per) / n,
        "ssim": sum(r["ssim"] for r in per) / n,
        "buckets": {b: [r["psnr"] for r in per if motion_bucket(r["motion_px"]) == b] for b, _, _ in MOTION_BUCKETS},
        "per_triplet": per,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundles", nargs="+", type=Path)
    p.add_argument("--backend", default="et,litert,onnx")
    p.add_argument("--data", action="append", help="triplet folder (repeatable; default: ../shared/data/val)")
    p.add_argument("--size", default="720p", help="frame size timed (default 720p)")
    p.add_argument("--runs", type=int, default=3, help="timed frames per row (default 3)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = args.data or [str(HERE.parent.parent / "shared" / "data" / "val")]
    for d in data:
        if not Path(d).exists():
            sys.exit(f"benchmarks/bundle_canvas.py: {d} not found")
    size = latency.parse_size(args.size)
    img0, img1 = latency.frame_pair(size)
    rows = []
    for path in args.bundles:
        for name in [b.strip() for b in args.backend.split(",") if b.strip()]:
            bundle = load_bundle(path, name)
            fine = bundle.manifest.get("fine_canvases", [])
            if not fine:
                sys.exit(f"benchmarks/bundle_canvas.py: {path} has no fine canvases (export it with --fine-canvases)")
            for use_fine in (False, True):
                runner = Runner(BundleBackend(bundle, name, args.threads, fine_canvases=use_fine))
                row = {"bundle": str(path), "precision": bundle.manifest["precision"], "backend": name}
                row["canvases"] = "512 + fine" if use_fine else "512 only"
                start = time.perf_counter()
                row["data"] = {}
                for d in data:
                    folders = find_triplets(d)
                    ref = next((r for r in rows if r["bundle"] == str(path) and r["backend"] == name), None)
                    motion = [t["motion_px"] for t in ref["data"][d]["per_triplet"]] if ref else None
                    row["data"][d] = score(runner, folders, motion)
                row["score_s"] = time.perf_counter() - start
                graphs, canvas = latency.motion_graphs_run(runner, img0, img1)
                row["timing"] = latency.summarize(
                    latency.time_calls(lambda r=runner: r.synthesize(r.prepare(img0, img1), 0.5), args.runs, 1)
                )
                row["motion_graphs"], row["timed_canvas"] = graphs, list(canvas)
                rows.append(row)
                print(
                    f"{path} {name} {row['canvases']}: "
                    + ", ".join(f"{Path(d).name} {row['data'][d]['psnr']:.3f} dB" for d in data)
                    + f", {row['timing']['p50_ms']:.0f} ms/frame",
                    file=sys.stderr,
                    flush=True,
                )

    W, H = size
    print(
        f"\nPSNR (dB) on {', '.join(f'{Path(d).name} ({len(find_triplets(d))})' for d in data)}; "
        f"ms per {W}x{H} output frame (p50 of {args.runs}, {args.threads} threads, a small-motion pair)\n"
    )
    names = [b for b, _, _ in MOTION_BUCKETS]
    head = " | ".join(f"{Path(d).name} PSNR | vs 512" for d in data)
    buckets_head = f"{Path(data[0]).name} {' / '.join(names)}"
    print(f"| bundle | backend | canvases | {head} | {buckets_head} | second pass | ms / frame |")
    print("| --- | --- | --- | " + " | ".join("---: | ---:" for _ in data) + " | ---: | ---: | ---: |")
    for r in rows:
        base = next(x for x in rows if x["bundle"] == r["bundle"] and x["backend"] == r["backend"])
        cells = []
        for d in data:
            v = r["data"][d]["psnr"]
            cells.append(f"{v:.3f} | {v - base['data'][d]['psnr']:+.3f}")
        b = r["data"][data[0]]["buckets"]
        buckets = " / ".join(f"{sum(b[n]) / len(b[n]):.2f}" if b[n] else "–" for n in names)
        refined = [
            sum(1 for t in r["data"][d]["per_triplet"] if max(t["canvas"]) > 512) for d in data
        ]  # pairs that took a fine canvas
        second = ", ".join(f"{k}/{len(r['data'][d]['per_triplet'])}" for k, d in zip(refined, data, strict=True))
        label = f"{Path(r['bundle']).name} ({r['precision']})"
        print(
            f"| {label} | {r['backend']} | {r['canvases']} | {' | '.join(cells)} | {buckets} | {second} | "
            f"{r['timing']['p50_ms']:.0f} |"
        )
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
