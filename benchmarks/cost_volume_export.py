"""Exported cost volumes: a grouped convolution over all taps, a convolution per tap, or a batched
matrix product per tap row? ONE run.

Each cost volume sums, per tap, the channel products of two feature maps. Exported graphs did that
with one grouped 1×1 convolution over the concatenation of every tap's product ((2R+1)²·C channels;
until the twenty-second session), then with one 1×1 convolution (C → 1) per tap's product and only
the one-channel sums concatenated (until the twenty-fourth), and now with one ``bmm`` per row of taps
over blocks of 2R pixels (``edgevfi.models.blocks.block_matmul_correlation``), after the ExecuTorch
profile of the 512 motion graph (``benchmarks/et_profile.py``) put only a fifth of its operator time
in convolutions and the rest mostly in the per-tap slices, products and transposes. This lowers the
three forms to each backend at the shapes of the shipped model's ±4 warped volumes (both directions
stacked) and of its splat re-alignment's ±1 correlation (one synthesis window), and times them side by
side, with the largest difference from eager PyTorch's tap sums.

    python benchmarks/cost_volume_export.py [--backends et,litert,onnx] [--threads 2] [--runs 5] [--only TEXT]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # benchmarks/export.py shadows `export`

from edgevfi.models.blocks import (  # noqa: E402
    block_matmul_correlation,
    correlation_weight,
    local_correlation,
    unit_features,
)
from export import backends  # noqa: E402
from export.graphs import GraphSpec  # noqa: E402

sys.path.append(str(HERE))
from train_step import timed  # noqa: E402

EXT = {"et": ".pte", "litert": ".tflite", "onnx": ".onnx"}
#: (label, (directions, channels, H, W), radius): the shipped apr-s's ±4 warped volumes on its canvases.
SHAPES = (
    ("1/2 of the 512 canvas", (2, 16, 144, 256), 4),
    ("1/4 of the 1280 canvas", (2, 32, 184, 320), 4),
    ("1/2 of the 1280 canvas", (2, 16, 368, 640), 4),
    # apr-s's splat re-alignment (align_radius): the two splatted images' features, one 512 synthesis window.
    ("splat re-alignment, 512 window", (1, 8, 512, 512), 1),
)


class GroupedConvVolume(nn.Module):
    """The earlier exported form: every tap's product concatenated, one grouped 1×1 convolution."""

    def __init__(self, radius: int, channels: int) -> None:
        super().__init__()
        self.radius = radius
        self.register_buffer("weight", torch.ones((2 * radius + 1) ** 2, channels, 1, 1))

    def forward(self, f0: torch.Tensor, f1: torch.Tensor) -> torch.Tensor:
        r, (H, W) = self.radius, f0.shape[-2:]
        f0 = unit_features(f0)
        padded = F.pad(unit_features(f1), (r, r, r, r))
        taps = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
        products = [f0 * padded[:, :, r + dy : r + dy + H, r + dx : r + dx + W] for dy, dx in taps]
        return F.conv2d(torch.cat(products, 1), self.weight, groups=len(taps))


class PerTapConvVolume(nn.Module):
    """The second exported form: a 1×1 convolution (C → 1) per tap, the one-channel sums concatenated."""

    def __init__(self, radius: int, channels: int) -> None:
        super().__init__()
        self.radius = radius
        self.register_buffer("weight", correlation_weight(channels))

    def forward(self, f0: torch.Tensor, f1: torch.Tensor) -> torch.Tensor:
        r, (H, W) = self.radius, f0.shape[-2:]
        f0 = unit_features(f0)
        padded = F.pad(unit_features(f1), (r, r, r, r))
        taps = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
        shifted = (padded[:, :, r + dy : r + dy + H, r + dx : r + dx + W] for dy, dx in taps)
        return torch.cat([F.conv2d(f0 * s, self.weight) for s in shifted], 1)


class BlockMatmulVolume(nn.Module):
    """Today's exported form for radius ≥ 2 (:func:`local_correlation`, which takes the per-tap form at
    radius 1): a ``bmm`` per tap row."""

    def __init__(self, radius: int, channels: int) -> None:
        super().__init__()
        self.radius = radius
        self.register_buffer("weight", correlation_weight(channels))

    def forward(self, f0: torch.Tensor, f1: torch.Tensor) -> torch.Tensor:
        return block_matmul_correlation(unit_features(f0, self.weight), unit_features(f1, self.weight), self.radius)


def lowered_run(
    backend: str,
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    input_names: tuple[str, ...],
    threads: int,
    runs: int,
) -> tuple[float, torch.Tensor]:
    """Lower ``module`` (one output) to ``backend``, run it on ``inputs``: (median ms of ``runs`` calls, output)."""
    spec = GraphSpec(type(module).__name__, module.eval(), inputs, input_names, ("out",))
    mod = backends.get(backend)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"graph{EXT[backend]}"
        mod.lower(spec, path)
        run = mod.load(path, threads=threads)
        (got,) = run(list(inputs))
        return 1000 * timed(partial(run, list(inputs)), runs), torch.as_tensor(got)


def time_forms(
    backend: str,
    forms: Iterable[nn.Module],
    inputs: tuple[torch.Tensor, ...],
    input_names: tuple[str, ...],
    want: torch.Tensor,
    args: argparse.Namespace,
) -> tuple[list[float], float]:
    """Each form through :func:`lowered_run` on ``backend``: (median ms per form, largest |output − want|)."""
    row, diff = [], 0.0
    for form in forms:
        ms, got = lowered_run(backend, form, inputs, input_names, args.threads, args.runs)
        diff = max(diff, float((got - want).abs().max()))
        row.append(ms)
    return row, diff


def parse_op_args(doc: str) -> tuple[argparse.Namespace, list[str]]:
    """The op benchmarks' command line (``--backends``, ``--threads``, ``--runs``): (args, backend names)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--backends", default="et,litert,onnx")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="", help="only the rows whose label contains this text")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads, median of {args.runs} runs\n")
    return args, backends.parse_backends(args.backends)


def main() -> None:
    args, names = parse_op_args(__doc__)
    print(
        "| backend | volume | grouped conv (ms) | per-tap conv (ms) | bmm per tap row (ms) "
        "| bmm vs per-tap | max abs diff vs eager |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    g = torch.Generator().manual_seed(0)
    for label, shape, radius in (row for row in SHAPES if args.only in row[0]):
        f0, f1 = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        with torch.no_grad():
            want = local_correlation(f0, f1, radius, channel_sums=True)
        for name in names:
            forms = (f(radius, shape[1]) for f in (GroupedConvVolume, PerTapConvVolume, BlockMatmulVolume))
            row, diff = time_forms(name, forms, (f0, f1), ("f0", "f1"), want, args)
            print(
                f"| {name} | {label}, ±{radius}, {shape[1]} ch | {row[0]:.0f} | {row[1]:.0f} | {row[2]:.0f} | "
                f"{row[1] / row[2]:.2f}× | {diff:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
