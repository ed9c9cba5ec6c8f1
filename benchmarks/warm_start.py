"""Warm-starting the fine motion pass from the coarse pass, in ONE run: does it keep the quality?

With the motion-adaptive canvas a pair's motion runs twice: on the 512 canvas, then (when the pair's
motion fits the pyramid's reach there) from scratch on a finer canvas. On ExecuTorch and LiteRT that
second pass is most of a fine-canvas frame's time (docs/latency.md). Starting it at pyramid block
``start`` from the coarse pass's flow (``FlowPyramid(..., init, start)``) would skip the 1/8-canvas
block and its cost volume (``start`` 1) or also the 1/4-canvas block (``start`` 2). This scores each
variant on ``--data`` with the eager tiled Runner, same weights, same canvas rule:

    python benchmarks/warm_start.py [--model apr-s] [--data ../shared/data/val] [--starts 0,1,2]

Rows: ``from scratch`` (start 0, the shipped behaviour) and ``warm, start k``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

from edgevfi import models
from edgevfi.evaluate import evaluate
from edgevfi.runtime import EagerBackend, Runner


class FirstPassBackend(EagerBackend):
    """Eager backend that keeps the motion-adaptive canvas's first motion pass for the second one.

    The Runner runs ``motion`` on the coarse canvas, asks ``refine_canvas`` for a finer one and, if
    it differs, runs ``motion`` again there: ``refine_canvas`` keeps the first pass, and the second
    ``motion`` call takes it with :meth:`take_first_pass` (None on a pair without a second pass).
    """

    def __init__(self, model: models.TwoStageModel) -> None:
        super().__init__(model)
        self._first: tuple[Tensor, Tensor, tuple[int, int]] | None = None

    def refine_canvas(
        self, frame_hw: tuple[int, int], canvas_hw: tuple[int, int], m0: Tensor, m1: Tensor
    ) -> tuple[int, int]:
        fine = super().refine_canvas(frame_hw, canvas_hw, m0, m1)
        self._first = (m0, m1, tuple(canvas_hw)) if fine != canvas_hw else None
        return fine

    def take_first_pass(self) -> tuple[Tensor, Tensor, tuple[int, int]] | None:
        """The first pass's two flows and its canvas, once, if the Runner is now running the second pass."""
        first, self._first = self._first, None
        return first


class WarmStartBackend(FirstPassBackend):
    """Eager backend whose fine motion pass refines the coarse pass's flow: the second ``motion`` call
    starts the pyramid at block ``start`` from the coarse flow, rescaled per axis to the finer canvas."""

    def __init__(self, model: models.TwoStageModel, start: int) -> None:
        super().__init__(model)
        self.start = start

    @torch.inference_mode()
    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        first = self.take_first_pass()
        if first is None or not self.start:
            return super().motion(img0, img1)
        m0, m1, (ch, cw) = first
        hw = img0.shape[-2:]
        init = torch.cat([m0, m1], 0) * torch.tensor([hw[1] / cw, hw[0] / ch]).view(1, 2, 1, 1)
        flow, _ = self.model.flow(img0, img1, init, self.start)
        return flow[:1], flow[1:]


def shipped_flow_model(name: str, data: str, script: str) -> models.TwoStageModel:
    """The shipped ``name`` for a benchmark of its flow on ``data`` (2 threads), after printing the run's
    header; exits with one line if ``data`` is missing or ``name`` is not a one-hypothesis flow model."""
    if not Path(data).exists():
        sys.exit(f"{script}: {data} not found")
    torch.set_num_threads(2)
    model = models.create(name, pretrained=True)
    if model.hypotheses != 1 or not hasattr(model, "flow"):
        sys.exit(f"{script}: {name} is not a one-hypothesis flow model")
    print(f"{name} on {data} (eager tiled Runner, motion-adaptive canvas)\n")
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=models.default_model_name())
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val"))
    p.add_argument("--starts", default="0,1,2", help="pyramid block the fine pass starts at (0 = from scratch)")
    args = p.parse_args()
    model = shipped_flow_model(args.model, args.data, "benchmarks/warm_start.py")
    print("| fine pass | PSNR (dB) | SSIM | s |")
    print("| --- | ---: | ---: | ---: |")
    for start in map(int, args.starts.split(",")):
        t0 = time.perf_counter()
        res = evaluate(Runner(WarmStartBackend(model, start)), args.data, args.model)
        label = "from scratch" if start == 0 else f"warm, start {start}"
        seconds = time.perf_counter() - t0
        print(f"| {label} | {res['mean_psnr']:.3f} | {res['mean_ssim']:.4f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
