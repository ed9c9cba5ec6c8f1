"""Synthesis window size vs cost and quality, in ONE run: windows per frame, time per 720p/1080p frame,
val PSNR — eager PyTorch at the bundle's static shapes (512×288 motion canvas), shipped default model.

A window of ``tile`` pixels trusts only its core (tile − 2·halo) and overlaps its neighbours by 32 px,
so the pixels synthesized per frame depend on how the frame divides into strides; this measures it.

    python benchmarks/tile_size.py [--tiles 384,448,512] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from edgevfi import models  # noqa: E402
from edgevfi.evaluate import evaluate  # noqa: E402
from edgevfi.runtime import EagerBackend, Runner  # noqa: E402
from export.graphs import DEFAULT_CANVAS  # noqa: E402
from export.latency import frame_pair, summarize, time_calls  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", default="384,448,512")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "val"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = models.create(models.default_model_name(), pretrained=True).eval()
    print(
        "| tile | windows 720p | Mpixel synthesized / frame 720p | ms / 720p frame | windows 1080p |"
        " ms / 1080p frame | val PSNR (dB) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for tile in (int(t) for t in args.tiles.split(",")):
        runner = Runner(EagerBackend(model, max_batch=1, canvas_hw=DEFAULT_CANVAS, tile=tile))
        row = [str(tile)]
        for size in ((1280, 720), (1920, 1080)):
            a, b = frame_pair(size)
            windows = len(runner.plan((size[1], size[0])).windows())
            ms = summarize(time_calls(lambda a=a, b=b, r=runner: next(r.interpolate(a, b, [0.5])), args.runs, 1))[
                "p50_ms"
            ]
            row += [str(windows)] + ([f"{windows * tile * tile / 1e6:.2f}"] if size[0] == 1280 else []) + [f"{ms:.0f}"]
        psnr = evaluate(runner, args.data, f"tile {tile}")["mean_psnr"] if Path(args.data).exists() else None
        row.append("–" if psnr is None else f"{psnr:.3f}")
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
