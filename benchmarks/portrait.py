"""Portrait frames through a bundle, in ONE run: landscape vs portrait, motion transposed or squeezed.

A bundle's motion graphs have landscape canvases (512x288 and the 16:9 fine canvases). A portrait
frame resized onto them loses most of its rows (a 1080x1920 frame keeps 0.15 of its rows and 0.47 of
its columns on 512x288); the Runner instead runs such a pair's motion on the transposed frames
(``edgevfi.runtime.runner.crosses_canvas``). This scores every ``--data`` triplet three ways per backend:
as it is (landscape), rotated a quarter turn (portrait) with the transposed motion, and rotated with
the frames squeezed onto the canvas (``Runner(transpose_crossing=False)``, the behaviour before).

    python benchmarks/portrait.py BUNDLE [--backend onnx,litert] [--data ../shared/data/val] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
# Import the packages before this folder joins the path: benchmarks/export.py would shadow `export`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from edgevfi.data.triplets import find_triplets, load_image  # noqa: E402
from edgevfi.io import atomic_output  # noqa: E402
from edgevfi.metrics import psnr, quantize_8bit, ssim  # noqa: E402
from edgevfi.runtime import Runner  # noqa: E402
from export.bundle import BundleBackend, load_bundle  # noqa: E402

WAYS = (("landscape", False, True), ("portrait, motion transposed", True, True), ("portrait, squeezed", True, False))


def score(runner: Runner, folders: list[Path], rotate: bool) -> dict:
    """Mean PSNR / SSIM (8-bit rounded) of ``runner`` on ``folders``, each frame turned a quarter if ``rotate``."""
    per = []
    for f in folders:
        a, gt, b = (load_image(f / f"im{i}.png")[None] for i in (1, 2, 3))
        if rotate:
            a, gt, b = (torch.rot90(x, 1, dims=(-2, -1)).contiguous() for x in (a, gt, b))
        pair = runner.prepare(a, b)
        pred = quantize_8bit(runner.synthesize(pair, 0.5))
        per.append({"path": str(f), "psnr": psnr(pred, gt), "ssim": ssim(pred, gt), "canvas": list(pair.canvas_hw)})
    n = len(per)
    return {"psnr": sum(r["psnr"] for r in per) / n, "ssim": sum(r["ssim"] for r in per) / n, "per_triplet": per}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--backend", default="et,litert,onnx")
    p.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "val"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    folders = find_triplets(args.data) if Path(args.data).exists() else []
    if not folders:
        sys.exit(f"benchmarks/portrait.py: no triplets under {args.data}")
    rows = []
    for name in [b.strip() for b in args.backend.split(",") if b.strip()]:
        backend = BundleBackend(load_bundle(args.bundle, name), name, args.threads)
        for way, rotate, transpose in WAYS:
            r = score(Runner(backend, transpose_crossing=transpose), folders, rotate)
            rows.append({"backend": name, "frames": way, **r})
            print(f"{name} {way}: {r['psnr']:.3f} dB", file=sys.stderr, flush=True)

    print(f"\nPSNR / SSIM on {Path(args.data).name} ({len(folders)} triplets), {args.bundle}\n")
    print("| backend | frames | PSNR (dB) | vs landscape | SSIM | second pass |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        base = next(x for x in rows if x["backend"] == r["backend"])
        refined = sum(1 for t in r["per_triplet"] if max(t["canvas"]) > 512)
        print(
            f"| {r['backend']} | {r['frames']} | {r['psnr']:.3f} | {r['psnr'] - base['psnr']:+.3f} | "
            f"{r['ssim']:.4f} | {refined}/{len(folders)} |"
        )
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
