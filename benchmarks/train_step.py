"""How fast is a motion-stage training step, and how much of it is the cost volume? One run, side by side.

Three ways to compute the same cost volume (``edgevfi.models.blocks.local_correlation``, per-pixel
normalisation included), forward and backward, at the shapes a motion-stage step of
``configs/apr-s-refine-5.yaml`` builds (batch 8 of 256-px crops, both directions stacked: 16 samples; the
1/8-canvas volume at ±4 cells, the warped volumes at 1/4 and 1/2 of the canvas at ±4 and ±2):

* ``grouped conv``: the exported form (products, then one grouped 1×1 convolution of constant ones);
* ``autograd taps``: one channel sum per tap with autograd's backward (training's form until the
  sixteenth session);
* ``fused taps``: the same sums with the hand-written backward (training's form now).

Then whole motion-stage steps (the shipped ``apr-s`` in training mode, forward + backward of an EPE-like
loss, no teacher) with the autograd and the fused cost volume, and their ratio.

    python benchmarks/train_step.py [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from edgevfi import models
from edgevfi.models import blocks

SHAPES = (("1/8 canvas, ±4", (16, 32, 32, 32), 4), ("1/4 canvas, ±4", (16, 32, 64, 64), 4))
SHAPES += (("1/2 canvas, ±2", (16, 16, 128, 128), 2),)


def autograd_taps(f0: Tensor, f1: Tensor, radius: int) -> Tensor:
    """The cost volume as plain per-tap reductions, differentiated by autograd (the reference)."""
    H, W = f0.shape[-2:]
    padded = F.pad(f1, (radius, radius, radius, radius))
    n = 2 * radius + 1
    return torch.stack([(f0 * padded[:, :, dy : dy + H, dx : dx + W]).sum(1) for dy in range(n) for dx in range(n)], 1)


class _AutogradTaps:
    apply = staticmethod(autograd_taps)


@contextmanager
def autograd_cost_volume() -> Iterator[None]:
    """Training's cost volume (``channel_sums``) with autograd's backward instead of the hand-written one."""
    fused = blocks._TapSumCorrelation
    blocks._TapSumCorrelation = _AutogradTaps  # type: ignore[assignment, misc]
    try:
        yield
    finally:
        blocks._TapSumCorrelation = fused


def grouped_conv(f0: Tensor, f1: Tensor, radius: int) -> Tensor:
    return blocks.local_correlation(f0, f1, radius)


def fused_taps(f0: Tensor, f1: Tensor, radius: int) -> Tensor:
    return blocks.local_correlation(f0, f1, radius, channel_sums=True)


def autograd_reference(f0: Tensor, f1: Tensor, radius: int) -> Tensor:
    with autograd_cost_volume():
        return fused_taps(f0, f1, radius)


VARIANTS: dict[str, Callable[[Tensor, Tensor, int], Tensor]] = {
    "grouped conv": grouped_conv,
    "autograd taps": autograd_reference,
    "fused taps": fused_taps,
}


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def one_pass(fn: Callable[[Tensor, Tensor, int], Tensor], f0: Tensor, f1: Tensor, radius: int, grad: Tensor) -> None:
    """Forward and backward of one cost-volume variant."""
    f0.grad = f1.grad = None
    fn(f0, f1, radius).backward(grad)


def correlation_table(repeats: int) -> None:
    print("| cost volume | " + " | ".join(f"{name} fwd + bwd (ms)" for name in VARIANTS) + " | fused vs autograd |")
    print("| --- |" + " ---: |" * (len(VARIANTS) + 1))
    g = torch.Generator().manual_seed(0)
    for label, shape, radius in SHAPES:
        f0 = torch.randn(shape, generator=g, requires_grad=True)
        f1 = torch.randn(shape, generator=g, requires_grad=True)
        grad = torch.randn(shape[0], (2 * radius + 1) ** 2, *shape[2:], generator=g)
        ms = {name: 1000 * timed(partial(one_pass, fn, f0, f1, radius, grad), repeats) for name, fn in VARIANTS.items()}
        ratio = ms["autograd taps"] / ms["fused taps"]
        print(f"| {label} | " + " | ".join(f"{v:.0f}" for v in ms.values()) + f" | {ratio:.2f}× faster |")


def step_table(repeats: int) -> None:
    model = models.create("apr-s", pretrained=True).train()
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(8, 3, 256, 256, generator=g), torch.rand(8, 3, 256, 256, generator=g)
    target = torch.randn(8, 2, 128, 128, generator=g)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        m0, m1 = model.motion(a, b)
        ((m0[:, :2] - target).norm(dim=1).mean() + (m1[:, :2] + target).norm(dim=1).mean()).backward()

    seconds = {"fused taps": timed(step, repeats)}
    with autograd_cost_volume():
        seconds["autograd taps"] = timed(step, repeats)
    print(
        f"\nmotion-stage step (apr-s, batch 8, 256-px canvas): autograd taps {seconds['autograd taps']:.3f} s, "
        f"fused taps {seconds['fused taps']:.3f} s: {seconds['autograd taps'] / seconds['fused taps']:.2f}× faster"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats}\n")
    correlation_table(args.repeats)
    step_table(args.repeats)


if __name__ == "__main__":
    main()
