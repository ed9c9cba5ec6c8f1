"""Exported warping ops, two forms of each (earlier and today's, or today's and a candidate), lowered to
each backend: ONE run.

Rewrites of the twenty-fourth and twenty-fifth sessions, each numerically the same op:

* **backward warp** (the motion graphs' five warps): ``F.grid_sample`` (ExecuTorch's single-threaded
  portable ``grid_sampler_2d``; in LiteRT a masked ``GATHER_ND`` per corner outside the XNNPACK
  delegate) against :func:`edgevfi.ops.warp.gather_backward_warp` (coordinates clamped first, four
  row gathers from a channels-last table, no masks);
* **one separable splatting pass** (the synthesis graph's four): ``2R+1`` shifted tent
  multiply-adds (slices, broadcast products, sums) against today's
  :func:`edgevfi.ops.warp._axis_splat_sum` (one batched matrix product over blocks of the axis);
  and that pass with the twenty-fourth session's block width (the one in [2R, 4R] that divides the
  axis) against today's 2R.

* **the splat re-alignment's window warp** (R = 2): the 2-D window of :func:`edgevfi.ops.warp.window_warp`
  ((2R+1)² tap slices and products; shipped until the forty-seventh session) against a rejected
  candidate, :func:`block_matmul_window_warp` (one batched matrix product over blocks of each row, the
  rows stacked as channels), and against today's :func:`edgevfi.ops.warp.separable_window_warp` (a
  column pass then a row pass, 2(2R+1) taps; on a smooth field like the re-alignment's, not the same
  values where the field varies fast, so that row's difference column is large by design).

Each form is lowered at the shipped model's shapes, run on the same inputs and timed side by side
(median of ``--runs`` after a warm-up), with its largest difference from today's eager form.

    python benchmarks/warp_export.py [--backends et,litert,onnx] [--threads 2] [--runs 5] [--only TEXT]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # benchmarks/export.py shadows `export`

from edgevfi.ops.warp import (  # noqa: E402
    _axis_splat_sum,
    _replicate_pad,
    _tents,
    block_windows,
    gather_backward_warp,
    grid_sample_warp,
    separable_window_warp,
    window_warp,
)

sys.path.append(str(HERE))
from cost_volume_export import parse_op_args, time_forms  # noqa: E402


def shifted_axis_splat(values: Tensor, disp: Tensor, radius: int, dim: int) -> Tensor:
    """The earlier splatting pass: ``2R+1`` shifted tent multiply-adds on the zero-padded source."""
    R, n = radius, values.shape[dim]
    pad = (R, R, 0, 0) if dim == -1 else (0, 0, R, R)
    vp = F.pad(values, pad)
    tents = _tents(F.pad(disp, pad), R)
    out = None
    for i, d in enumerate(range(-R, R + 1)):
        term = (vp * tents[i]).narrow(dim, R - d, n)
        out = term if out is None else out + term
    return out


def block_matmul_window_warp(img: Tensor, flow: Tensor, radius: int) -> Tensor:
    """A candidate form of :func:`edgevfi.ops.warp.window_warp` (same values for ``|flow| ≤ radius``):
    the 2R+1 rows of taps stacked as channels and each block of b = 2R output pixels of a row made
    by ONE batched matrix product with its (2b × b) matrix ``T[s, o] = tent(flow_x[o] − (s − o − R))``,
    as :func:`edgevfi.ops.warp._axis_splat_sum` does for splatting (which gathers by the output's
    displacement here, not the source's); then the rows weighted by their y tents."""
    R, b = radius, 2 * radius
    B, C, H, W = img.shape
    padded = _replicate_pad(img, R)
    rows = torch.cat([padded[:, :, R + dy : R + dy + H, :] for dy in range(-R, R + 1)], 1)
    blocks = -(-W // b)
    windows = block_windows(F.pad(rows, (0, (blocks + 1) * b - W - 2 * R)), b, -1).flatten(0, 2)
    fx = F.pad(flow[:, 0:1], (0, blocks * b - W)).reshape(B, 1, H, blocks, b).permute(0, 2, 3, 1, 4).flatten(0, 2)
    source = torch.arange(2 * b, dtype=img.dtype).view(1, 2 * b, 1)
    target = torch.arange(b, dtype=img.dtype).view(1, 1, b)
    weights = F.relu(1.0 - (fx - (source - target - R)).abs())  # (B·H·blocks, 2b, b)
    out = torch.bmm(windows, weights).reshape(B, H, blocks, (2 * R + 1) * C, b)
    out = out.permute(0, 3, 1, 2, 4).reshape(B, (2 * R + 1) * C, H, blocks * b)[..., :W]
    ty = _tents(flow[:, 1:2], R)
    return sum(out[:, j * C : (j + 1) * C] * ty[j] for j in range(2 * R + 1))


class Op(nn.Module):
    def __init__(self, fn: Callable[..., Tensor], *args: object) -> None:
        super().__init__()
        self.fn, self.args = fn, args

    def forward(self, x: Tensor, disp: Tensor) -> Tensor:
        return self.fn(x, disp, *self.args)


def cases(g: torch.Generator) -> list[tuple[str, tuple[Tensor, Tensor], Op, Op]]:
    """(label, inputs, earlier form, today's form) at the shipped apr-s's shapes."""
    out = []
    # Feature warps of the warped cost volumes (both directions stacked), flows up to ±20 px.
    for label, shape in (("warp, 1/2 of the 512 canvas, 16 ch", (2, 16, 144, 256)),
                         ("warp, 1/2 of the 1280 canvas, 16 ch", (2, 16, 368, 640))):  # fmt: skip
        img = torch.rand(shape, generator=g)
        flow = (torch.rand(shape[0], 2, *shape[2:], generator=g) * 2 - 1) * 20
        out.append((label, (img, flow), Op(grid_sample_warp), Op(gather_backward_warp)))
    # The synthesis graph's row pass: image, displacement, weight, carried dy and ones on a 448-px tile, R = 12.
    values = torch.rand(1, 8, 448, 448, generator=g)
    disp = (torch.rand(1, 1, 448, 448, generator=g) * 2 - 1) * 12
    for dim, name in ((-1, "rows"), (-2, "columns")):
        label = f"splat pass ({name}), 448 tile, R 12, 8 ch"
        out.append((label, (values, disp), Op(shifted_axis_splat, 12, dim), Op(_axis_splat_sum, 12, dim)))
    # The pass's block width: until the twenty-fifth session the width in [2R, 4R] that divides the
    # axis (28 on a 448 tile), now 2R (24, the axis zero-padded to 456).
    for dim, name in ((-1, "rows"), (-2, "columns")):
        label = f"splat pass ({name}), blocks of 28 → 2R = 24"
        out.append((label, (values, disp), Op(_axis_splat_sum, 12, dim, 28), Op(_axis_splat_sum, 12, dim)))
    # apr-s's splat re-alignment: two window warps of a splatted image per synthesis window, |t·δ| ≤ 2.
    # Today's per-tap form first, the candidate block matrix products second.
    img = torch.rand(1, 3, 448, 448, generator=g)
    shift = (torch.rand(1, 2, 448, 448, generator=g) * 2 - 1) * 2
    label = "re-alignment window warp, 448 tile, R 2, 3 ch: per tap → block bmm (candidate)"
    out.append((label, (img, shift), Op(window_warp, 2), Op(block_matmul_window_warp, 2)))
    smooth = F.interpolate((torch.rand(1, 2, 112, 112, generator=g) * 2 - 1) * 2, size=(448, 448), mode="bilinear")
    label = "re-alignment window warp, 448 tile, R 2, 3 ch: 2-D window → column then row pass (today's)"
    out.append((label, (img, smooth), Op(window_warp, 2), Op(separable_window_warp, 2)))
    return out


def main() -> None:
    args, names = parse_op_args(__doc__)
    print(
        "| backend | op | first form (ms) | second form (ms) | speed-up "
        "| max abs diff, either form vs the second's eager |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for label, inputs, before, now in cases(torch.Generator().manual_seed(0)):
        if args.only not in label:
            continue
        with torch.no_grad():
            want = now(*inputs)
        for name in names:
            row, diff = time_forms(name, (before, now), inputs, ("x", "disp"), want, args)
            speedup = row[0] / row[1]
            print(f"| {name} | {label} | {row[0]:.1f} | {row[1]:.1f} | {speedup:.2f}× | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
