"""Eager inference's cost volumes: the exported graphs' form or tap sums? One run, side by side.

Eager PyTorch (``edgevfi interpolate``, ``eval``, ``benchmarks/quality.py``) computes each cost volume
one of two ways with the same values (``edgevfi.models.blocks.local_correlation``):

* ``per-tap conv``: each tap's product summed over channels by a 1×1 convolution of constant ones,
  the one-channel sums concatenated: the form exported graphs take, which backends delegate (since the
  twenty-second session; before, one grouped 1×1 convolution over all taps' concatenated products,
  eager inference's form until the twenty-first session, 3.48× slower per 720p frame than the tap sums).
* ``tap sums``: one channel sum per tap into the output (``_TapSumCorrelation``): eager's form now.

First the cost volumes alone at the shapes the shipped ``apr-s`` builds for a 720p frame (both
directions stacked), then whole frames through the tiled Runner (``edgevfi bench``'s 720p pair, so the
motion-adaptive canvas takes its second, 1280-wide pass) with each form, and the largest difference
between the two frames.

    python benchmarks/correlation.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
# Import the packages before this folder joins the path: benchmarks/export.py would shadow `export`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from edgevfi import models  # noqa: E402
from edgevfi.models import blocks  # noqa: E402
from edgevfi.runtime import EagerBackend, Runner  # noqa: E402
from export.latency import frame_pair  # noqa: E402

sys.path.append(str(HERE))
from train_step import timed  # noqa: E402


def cost_volume_shapes(model: models.TwoStageModel, canvas_hw: tuple[int, int]) -> list[tuple[str, tuple, int]]:
    """(label, feature shape with both directions stacked, radius) of every cost volume on ``canvas_hw``."""
    pyramid = next(m for m in model.modules() if isinstance(m, blocks.FlowPyramid))
    H, W = canvas_hw
    # Each volume's constant weight is (1, feature channels, 1, 1): the pyramid's own layout.
    volumes = [(8, pyramid.radius, pyramid.corr_weight)]
    for scale, radius in sorted(pyramid.refine_radii.items(), reverse=True):
        volumes.append((scale, radius, getattr(pyramid, f"refine_corr_weight{scale}")))
    return [(f"1/{s} canvas, ±{r}", (2, w.shape[1], H // s, W // s), r) for s, r, w in volumes]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", default=models.default_model_name())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = models.create(args.model, pretrained=True).eval()
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats}, {args.model}\n")

    print("| cost volume (forward) | canvas | per-tap conv (ms) | tap sums (ms) | tap sums vs per-tap conv |")
    print("| --- | --- | ---: | ---: | ---: |")
    g = torch.Generator().manual_seed(0)
    for canvas in ((288, 512), (736, 1280)):
        for label, shape, radius in cost_volume_shapes(model, canvas):
            f0, f1 = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
            with torch.inference_mode():
                taps = 1000 * timed(partial(blocks.local_correlation, f0, f1, radius, channel_sums=True), args.repeats)
                conv = 1000 * timed(partial(blocks.local_correlation, f0, f1, radius), args.repeats)
            print(f"| {label} | {canvas[1]}×{canvas[0]} | {conv:.0f} | {taps:.0f} | {conv / taps:.2f}× faster |")

    a, b = frame_pair((1280, 720))
    runner = Runner(EagerBackend(model))

    def frame() -> torch.Tensor:
        return next(iter(runner.interpolate(a, b, [0.5])))

    with torch.inference_mode():
        taps_out = frame()
        taps_s = timed(frame, args.repeats)
        with blocks.exported_cost_volumes(model):
            conv_out = frame()
            conv_s = timed(frame, args.repeats)
    diff = (taps_out - conv_out).abs().max().item()
    print(
        f"\n720p frame through the Runner (edgevfi bench's pair): per-tap conv {conv_s:.2f} s, "
        f"tap sums {taps_s:.2f} s: {conv_s / taps_s:.2f}× faster; max |difference| {diff:.1e}"
    )


if __name__ == "__main__":
    main()
