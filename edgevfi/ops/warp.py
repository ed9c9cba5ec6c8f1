"""Differentiable warping, splatting and resizing on NCHW float tensors.

Pixel-grid convention (used by every op here and by :mod:`edgevfi.ops.tiles`)
-----------------------------------------------------------------------------
Pixel centres sit at integer coordinates ``x = 0..W-1`` (columns) and ``y = 0..H-1`` (rows); pixel
``x`` covers ``[x - 0.5, x + 0.5]``. A flow / displacement field has shape (B, 2, H, W): channel 0
is the horizontal (x) displacement in pixels, channel 1 the vertical (y) one. A displacement
``flow[p]`` attached to pixel ``p`` points at the location ``p + flow[p]``. :func:`_pixel_grid`
is the one place that materialises these coordinates.

Two families of ops
-------------------
* Reference ops (:func:`backward_warp`, :func:`splat_sum`, :func:`forward_splat`) use
  ``grid_sample`` / ``scatter_add`` and work for any displacement. They are the training reference.
* Window ops (:func:`window_warp`, :func:`window_splat_sum`, :func:`window_splat`) compute the same
  results as a sum over the ``(2R+1)²`` static integer shifts ``d ∈ [-R, R]²`` weighted by the
  bilinear tent ``tent(t) = max(0, 1 - |t|)`` of the flow. They only use elementwise ops, constant
  padding, slicing, expand and concat, so they export to backends without gather/scatter support.
  For ``|flow| ≤ R`` they equal the reference ops (up to float rounding). Flows beyond ``R`` are
  NOT clamped here: the parts of the tent that fall outside the window are simply missing, so
  callers must clamp (or pick ``R`` large enough) themselves.
  At exactly integer flows (e.g. an all-zero flow) the tent is at a kink: the reference ops give a
  one-sided difference as the flow gradient, the window ops give 0 there.
* Separable splatting (:func:`separable_splat_sum`, :func:`separable_splat_with_weight`) splats rows
  first, then columns: ``2(2R+1)`` shifts instead of ``(2R+1)²``, so the same cost buys a larger
  radius (R = 8 costs 34 shifts, the 2-D window at R = 4 costs 81). It equals the reference wherever
  the flow is locally a translation; where pixels with different vertical displacements land on the
  same intermediate pixel, they share their mean vertical displacement (two-pass warping).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "backward_warp",
    "flow_consensus",
    "forward_splat",
    "forward_splat_variant",
    "forward_splat_with_weight",
    "resize",
    "resize_flow",
    "separable_splat_sum",
    "separable_splat_with_weight",
    "separable_window_warp",
    "splat_sum",
    "splat_sum_variant",
    "window_splat",
    "window_splat_sum",
    "window_splat_with_weight",
    "window_warp",
]


# ----------------------------------------------------------------------------- helpers


def _pixel_grid(h: int, w: int, like: Tensor) -> Tensor:
    """Pixel-centre coordinates (1, 2, h, w): channel 0 = x = column index, channel 1 = y = row index."""
    ys, xs = torch.meshgrid(
        torch.arange(h, device=like.device, dtype=like.dtype),
        torch.arange(w, device=like.device, dtype=like.dtype),
        indexing="ij",
    )
    return torch.stack([xs, ys]).unsqueeze(0)


def _check(x: Tensor, flow: Tensor, name: str = "img") -> None:
    if x.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"expected {name} (B, C, H, W) and flow (B, 2, H, W), got {x.shape}, {flow.shape}")
    if x.shape[0] != flow.shape[0] or x.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"{name} {tuple(x.shape)} and flow {tuple(flow.shape)} disagree on B/H/W")


def _check_radius(radius: int) -> None:
    if not isinstance(radius, int) or radius < 0:
        raise ValueError(f"radius must be a non-negative int, got {radius!r}")


def _normalise(num: Tensor, den: Tensor, eps: float) -> Tensor:
    # clamp_min (not den + eps) leaves well-covered pixels exact and makes holes (den≈0) come out 0.
    return num / den.clamp_min(eps)


def _average_splat(
    splat: Callable[[Tensor, Tensor], Tensor], img: Tensor, flow: Tensor, weight: Tensor | None, eps: float
) -> tuple[Tensor, Tensor]:
    """Weighted average splatting with ``splat`` as the scatter primitive; returns (out, den)."""
    if weight is None:
        weight = torch.ones_like(img[:, :1])
        num_in = img
    else:
        if weight.shape != (img.shape[0], 1, *img.shape[-2:]):
            raise ValueError(f"weight must be (B, 1, H, W), got {tuple(weight.shape)}")
        num_in = img * weight
    # One splat over [img*w, w] rather than two calls: the corner weights are computed only once.
    both = splat(torch.cat([num_in, weight], 1), flow)
    den = both[:, -1:]
    return _normalise(both[:, :-1], den, eps), den


def _tents(f: Tensor, radius: int) -> list[Tensor]:
    """``tent(f - d)`` for ``d = -R..R``; ``f`` is one displacement component (B, 1, H, W)."""
    return [F.relu(1.0 - (f - d).abs()) for d in range(-radius, radius + 1)]


def _replicate_pad(x: Tensor, r: int) -> Tensor:
    """Pad the last two dims by ``r`` repeating the edge pixels.

    ``F.pad(mode='replicate')`` decomposes to ``aten.index`` in core ATen, which the gather-free
    backends reject, so the edges are expanded and concatenated instead.
    """
    if r == 0:
        return x
    b, c, h, w = x.shape
    x = torch.cat([x[:, :, :, :1].expand(b, c, h, r), x, x[:, :, :, -1:].expand(b, c, h, r)], 3)
    wp = w + 2 * r
    return torch.cat([x[:, :, :1, :].expand(b, c, r, wp), x, x[:, :, -1:, :].expand(b, c, r, wp)], 2)


# ----------------------------------------------------------------------------- reference ops


def backward_warp(img: Tensor, flow: Tensor) -> Tensor:
    """Backward warp: ``out[p] = img[p + flow[p]]``, bilinear, coordinates clamped to the image.

    Two forms of the same sampling: ``F.grid_sample`` in eager PyTorch (training and inference: its
    multithreaded kernel is 6–8× faster there than the gathers, ``benchmarks/warp_export.py``), and
    :func:`gather_backward_warp`, four row gathers, in graphs being exported. They differ by the
    rounding of grid_sample's normalised coordinates (≈ 1e-7 relative, so up to 4e-5 of a pixel on a
    640-px grid); the gathers take the coordinates exactly.

    Parameters
    ----------
    img : (B, C, H, W) tensor.
    flow : (B, 2, H, W) displacement in pixels (x, y).

    Returns
    -------
    (B, C, H, W) tensor.
    """
    # Both forms check their arguments.
    if torch.compiler.is_exporting():
        return gather_backward_warp(img, flow)
    return grid_sample_warp(img, flow)


def flow_consensus(f01: Tensor, f10: Tensor) -> tuple[Tensor, Tensor]:
    """Each direction of a bidirectional flow averaged with the other direction's estimate of it.

    Where frame 0's pixel p moves by ``f01[p]``, frame 1's flow at ``p + f01[p]`` should be its
    negation; ``-backward_warp(f10, f01)`` reads that second estimate, and the two are averaged (both
    directions alike). Two estimates of one motion whose errors are partly independent average to a
    better one, as flipped-input averaging (motion TTA) does, at the cost of one warp per direction.
    Where p is occluded in frame 1 the second estimate belongs to the occluder, which is why the
    shipped models apply it once, after the pyramid's last block only (fusing the coarser blocks' flow
    too, or weighting by forward-backward agreement, measured no better: ``docs/quality.md``).

    Parameters
    ----------
    f01, f10 : (B, 2, H, W) displacements in pixels of their (shared) grid, ``f01`` on frame 0's
        pixels, ``f10`` on frame 1's.

    Returns
    -------
    The two averaged flows, same shapes.
    """
    return 0.5 * (f01 - backward_warp(f10, f01)), 0.5 * (f10 - backward_warp(f01, f10))


def grid_sample_warp(img: Tensor, flow: Tensor) -> Tensor:
    """:func:`backward_warp` through ``F.grid_sample`` (its eager form); same arguments and result."""
    _check(img, flow)
    H, W = img.shape[-2:]
    coords = _pixel_grid(H, W, flow) + flow
    # align_corners=True maps -1/+1 to the centres of the first/last pixel, i.e. x_norm = 2x/(W-1) - 1.
    # For a size-1 axis every coordinate samples pixel 0, so the scale is 0 instead of a division by 0.
    sx = 2.0 / (W - 1) if W > 1 else 0.0
    sy = 2.0 / (H - 1) if H > 1 else 0.0
    grid = torch.stack([coords[:, 0] * sx - 1.0, coords[:, 1] * sy - 1.0], dim=-1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def gather_backward_warp(img: Tensor, flow: Tensor) -> Tensor:
    """:func:`backward_warp` as four row gathers from a channels-last table of the image.

    Why: exported, ``grid_sample`` is ExecuTorch's single-threaded portable kernel (a fifth of the
    motion graph's time) and, in LiteRT, a gather per corner wrapped in per-pixel bounds masks that
    run outside XNNPACK. Clamping the coordinates to the image first (border padding) leaves every
    corner in range, so no masks are needed, and a gather of whole C-channel rows moves contiguous
    memory (``benchmarks/warp_export.py`` times both forms on each backend). Same arguments and
    result as :func:`backward_warp`.
    """
    _check(img, flow)
    B, C, H, W = img.shape
    coords = _pixel_grid(H, W, flow) + flow
    x = coords[:, 0:1].clamp(0, W - 1)
    y = coords[:, 1:2].clamp(0, H - 1)
    x0, y0 = torch.floor(x), torch.floor(y)
    x1, y1 = (x0 + 1).clamp(max=W - 1), (y0 + 1).clamp(max=H - 1)

    def channels_last(t: Tensor) -> Tensor:
        return t.permute(0, 2, 3, 1).reshape(B * H * W, t.shape[1])

    wx, wy = channels_last(x - x0), channels_last(y - y0)
    # Row indices into the (B·H·W, C) table, computed in float (exact below 2^24 rows) and cast once.
    first_row = (torch.arange(B, device=img.device, dtype=img.dtype) * (H * W)).view(B, 1, 1, 1)
    table = channels_last(img)

    def corner(yy: Tensor, xx: Tensor) -> Tensor:
        rows = (first_row + yy * W + xx).to(torch.int64).reshape(B * H * W)
        return torch.index_select(table, 0, rows)

    top = corner(y0, x0) * (1 - wx) + corner(y0, x1) * wx
    bottom = corner(y1, x0) * (1 - wx) + corner(y1, x1) * wx
    return (top * (1 - wy) + bottom * wy).reshape(B, H, W, C).permute(0, 3, 1, 2)


def splat_sum(values: Tensor, flow: Tensor) -> Tensor:
    """Forward (scatter-add) splatting with the bilinear tent kernel.

    ``out[p] = Σ_q B(q + flow[q] - p) · values[q]`` with ``B(d) = max(0, 1-|dx|)·max(0, 1-|dy|)``.
    Contributions landing outside the image are dropped.

    Parameters
    ----------
    values : (B, C, H, W) tensor.
    flow : (B, 2, H, W) displacement in pixels (x, y).

    Returns
    -------
    (B, C, H, W) tensor.
    """
    _check(values, flow, "values")
    B, C, H, W = values.shape
    base = flow.floor()
    # Tent weights from the flow's fractional part alone (not from q + flow), which is exact in
    # float and matches the window ops' tent(f - d) bit for bit.
    frac = flow - base
    top_left = (_pixel_grid(H, W, flow) + base).detach()
    # Clamp far-away targets before the integer cast; anything clamped is out of bounds anyway.
    x0 = top_left[:, 0].clamp(-2, W).long()
    y0 = top_left[:, 1].clamp(-2, H).long()
    ax, ay = frac[:, 0], frac[:, 1]
    corners = [
        (x0, y0, 1 - ax, 1 - ay),
        (x0 + 1, y0, ax, 1 - ay),
        (x0, y0 + 1, 1 - ax, ay),
        (x0 + 1, y0 + 1, ax, ay),
    ]
    idx, wts = [], []
    for xi, yi, wx, wy in corners:
        inside = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
        idx.append(torch.where(inside, yi * W + xi, 0))
        wts.append(wx * wy * inside.to(values.dtype))
    idx_t = torch.stack(idx, 1).reshape(B, 1, 4 * H * W).expand(B, C, 4 * H * W)
    w_t = torch.stack(wts, 1).unsqueeze(1)  # (B, 1, 4, H, W)
    src = (values.unsqueeze(2) * w_t).reshape(B, C, 4 * H * W)
    out = values.new_zeros(B, C, H * W).scatter_add(2, idx_t, src)
    return out.view(B, C, H, W)


def forward_splat_with_weight(
    img: Tensor, flow: Tensor, weight: Tensor | None = None, eps: float = 1e-4
) -> tuple[Tensor, Tensor]:
    """Weighted average splatting; also returns the splatted weight (coverage, 0 in holes).

    ``out = splat_sum(img·weight, flow) / max(splat_sum(weight, flow), eps)``.

    Parameters
    ----------
    img : (B, C, H, W) tensor.
    flow : (B, 2, H, W) displacement in pixels (x, y).
    weight : (B, 1, H, W) non-negative per-source weight, None for ones.
    eps : lower bound of the denominator.

    Returns
    -------
    out : (B, C, H, W) tensor.
    den : (B, 1, H, W) splatted weight.
    """
    _check(img, flow)
    return _average_splat(splat_sum, img, flow, weight, eps)


def forward_splat(img: Tensor, flow: Tensor, weight: Tensor | None = None, eps: float = 1e-4) -> Tensor:
    """Weighted average splatting; see :func:`forward_splat_with_weight`."""
    return forward_splat_with_weight(img, flow, weight, eps)[0]


# ----------------------------------------------------------------------------- window ops


def window_warp(img: Tensor, flow: Tensor, radius: int) -> Tensor:
    """Gather-free :func:`backward_warp`, exact for ``|flow| ≤ radius``.

    ``out[p] = Σ_d img_replicate_padded[p + d] · tent(flow_x[p] - dx) · tent(flow_y[p] - dy)``
    over ``d ∈ [-radius, radius]²``. Replicate padding reproduces the border clamp of
    :func:`backward_warp`. Flows beyond ``radius`` are not clamped: their missing taps make the
    result wrong, so callers clamp.

    Parameters
    ----------
    img : (B, C, H, W) tensor.
    flow : (B, 2, H, W) displacement in pixels (x, y).
    radius : window radius R (static int).

    Returns
    -------
    (B, C, H, W) tensor.
    """
    _check(img, flow)
    _check_radius(radius)
    R = radius
    H, W = img.shape[-2:]
    padded = _replicate_pad(img, R)
    tx = _tents(flow[:, 0:1], R)
    ty = _tents(flow[:, 1:2], R)
    out: Tensor | None = None
    for j, dy in enumerate(range(-R, R + 1)):
        # Separable: the y tent is shared by the whole row of x taps, so apply it once per dy.
        row: Tensor | None = None
        for i, dx in enumerate(range(-R, R + 1)):
            tap = padded[:, :, R + dy : R + dy + H, R + dx : R + dx + W] * tx[i]
            row = tap if row is None else row + tap
        term = row * ty[j]
        out = term if out is None else out + term
    assert out is not None
    return out


def separable_window_warp(img: Tensor, flow: Tensor, radius: int) -> Tensor:
    """:func:`window_warp` as a column pass then a row pass: ``2(2R+1)`` taps instead of ``(2R+1)²``.

    ``mid[q] = Σ_dy img[q + (0, dy)] · tent(flow_y[q] − dy)``, then ``out[p] = Σ_dx mid[p + (dx, 0)] ·
    tent(flow_x[p] − dx)``: each tent is read at the pixel its pass writes, so the result equals
    :func:`window_warp` wherever the flow is constant over ±R px along x and differs by the change of
    ``flow_y`` across those pixels elsewhere. For the splat re-alignment's smooth, ±2-px field (its
    head's output upsampled ×4) the difference moved no triplet by more than 0.003 dB, and one warp of a
    448 window runs 2.0–2.6× faster on the three runtimes (``python benchmarks/warp_export.py --only
    re-alignment``; docs/latency.md). Same contract as :func:`window_warp` otherwise (replicate
    borders, exact only for ``|flow| ≤ radius``, callers clamp).
    """
    _check(img, flow)
    _check_radius(radius)
    R = radius
    H, W = img.shape[-2:]
    padded = _replicate_pad(img, R)
    # The column pass also writes the R-px margins that the row pass reads: give them the edge's flow.
    ty = _tents(_replicate_pad(flow[:, 1:2], R)[:, :, R : R + H, :], R)
    mid: Tensor | None = None
    for j, dy in enumerate(range(-R, R + 1)):
        term = padded[:, :, R + dy : R + dy + H, :] * ty[j]
        mid = term if mid is None else mid + term
    assert mid is not None
    tx = _tents(flow[:, 0:1], R)
    out: Tensor | None = None
    for i, dx in enumerate(range(-R, R + 1)):
        term = mid[:, :, :, R + dx : R + dx + W] * tx[i]
        out = term if out is None else out + term
    assert out is not None
    return out


def window_splat_sum(values: Tensor, flow: Tensor, radius: int) -> Tensor:
    """Gather/scatter-free :func:`splat_sum`, exact for ``|flow| ≤ radius``.

    ``out[p] = Σ_d shift_d(values · tent(flow_x - dx) · tent(flow_y - dy))[p]`` where ``shift_d``
    moves source pixel ``q`` to ``q + d`` with zero fill. Flows beyond ``radius`` are not clamped:
    the tent mass outside the window is simply dropped, so callers clamp.

    Parameters
    ----------
    values : (B, C, H, W) tensor.
    flow : (B, 2, H, W) displacement in pixels (x, y).
    radius : window radius R (static int).

    Returns
    -------
    (B, C, H, W) tensor.
    """
    _check(values, flow, "values")
    _check_radius(radius)
    R = radius
    H, W = values.shape[-2:]
    pad = (R, R, R, R)
    # Work on the zero-padded source domain: shift_d(z)[p] = z_padded[p - d + R], so every shift
    # is a constant-size slice and zero fill comes for free (padded values are 0, whatever the flow).
    vp = F.pad(values, pad)
    fp = F.pad(flow, pad)
    tx = _tents(fp[:, 0:1], R)
    ty = _tents(fp[:, 1:2], R)
    out: Tensor | None = None
    for j, dy in enumerate(range(-R, R + 1)):
        vy = vp * ty[j]
        for i, dx in enumerate(range(-R, R + 1)):
            term = (vy * tx[i])[:, :, R - dy : R - dy + H, R - dx : R - dx + W]
            out = term if out is None else out + term
    assert out is not None
    return out


def window_splat_with_weight(
    img: Tensor, flow: Tensor, weight: Tensor | None = None, radius: int = 2, eps: float = 1e-4
) -> tuple[Tensor, Tensor]:
    """Gather/scatter-free :func:`forward_splat_with_weight`, exact for ``|flow| ≤ radius``.

    Parameters
    ----------
    img : (B, C, H, W) tensor.
    flow : (B, 2, H, W) displacement in pixels (x, y); not clamped to ``radius``.
    weight : (B, 1, H, W) non-negative per-source weight, None for ones.
    radius : window radius R (static int).
    eps : lower bound of the denominator.

    Returns
    -------
    out : (B, C, H, W) tensor.
    den : (B, 1, H, W) splatted weight.
    """
    _check(img, flow)
    _check_radius(radius)
    return _average_splat(lambda v, f: window_splat_sum(v, f, radius), img, flow, weight, eps)


def window_splat(img: Tensor, flow: Tensor, weight: Tensor | None = None, radius: int = 2, eps: float = 1e-4) -> Tensor:
    """Gather/scatter-free :func:`forward_splat`; see :func:`window_splat_with_weight`."""
    return window_splat_with_weight(img, flow, weight, radius, eps)[0]


def separable_splat_sum(values: Tensor, flow: Tensor, radius: int) -> Tensor:
    """Gather/scatter-free :func:`splat_sum` in two 1-D passes (rows, then columns).

    The row pass moves every source pixel by its horizontal displacement and carries its vertical
    displacement along, averaged over what lands on each intermediate pixel (weighted by the
    horizontal tent); the column pass then moves the intermediate pixels by that mean. For a flow
    that is locally a translation this equals :func:`splat_sum` (and :func:`window_splat_sum`); at
    motion boundaries it blends the vertical displacements of pixels that meet after the row pass.
    Cost: two 1-D passes of ``2R+1`` taps each instead of the window's ``(2R+1)²``, each pass one
    batched matrix product (:func:`_axis_splat_sum`). Displacements must stay within ``radius``
    (beyond it the result is undefined, not the exact splat): callers clamp.

    Parameters
    ----------
    values : (B, C, H, W) tensor.
    flow : (B, 2, H, W) displacement in pixels (x, y).
    radius : window radius R per axis (static int).

    Returns
    -------
    (B, C, H, W) tensor.
    """
    _check(values, flow, "values")
    _check_radius(radius)
    # Row pass carrying [values, fy, 1]: the last two channels give the mean vertical displacement
    # of each intermediate pixel. Then the column pass moves the intermediate image by that mean.
    carry = torch.cat([values, flow[:, 1:2], torch.ones_like(flow[:, :1])], 1)
    rows = _axis_splat_sum(carry, flow[:, 0:1], radius, -1)
    moved, fy = rows[:, :-2], rows[:, -2:-1] / rows[:, -1:].clamp_min(1e-12)
    return _axis_splat_sum(moved, fy, radius, -2)


def block_windows(x: Tensor, b: int, dim: int) -> Tensor:
    """Windows of two adjacent blocks of ``b`` along ``dim`` (-1: x, -2: y) of ``x`` (B, C, H, W), whose
    length along ``dim`` is (blocks + 1)·b: (B, H, blocks, C, 2b) for x, (B, blocks, W, C, 2b) for y.

    Window j is blocks j and j + 1 side by side, so a map padded by R before and b − R or more after
    gives each block of b pixels every source within R of it, with one concatenation instead of a
    gather: the operands of the block matrix products (:func:`_axis_splat_sum`,
    :func:`edgevfi.models.blocks.block_matmul_correlation`).
    """
    B, C, H, W = x.shape
    if dim == -1:
        blocks = x.reshape(B, C, H, W // b, b)
        pairs = torch.cat([blocks[..., :-1, :], blocks[..., 1:, :]], -1)  # (B, C, H, blocks, 2b)
        return pairs.permute(0, 2, 3, 1, 4)
    blocks = x.reshape(B, C, H // b, b, W)
    pairs = torch.cat([blocks[:, :, :-1], blocks[:, :, 1:]], 3)  # (B, C, blocks, 2b, W)
    return pairs.permute(0, 2, 4, 1, 3)


def _axis_splat_sum(values: Tensor, disp: Tensor, radius: int, dim: int, block: int | None = None) -> Tensor:
    """One pass of :func:`separable_splat_sum`: move each pixel of ``values`` along ``dim`` (-1: x,
    -2: y) by ``disp`` (B, 1, H, W), |disp| ≤ R, with the tent kernel, as one batched matrix product.

    The axis is cut into blocks of b ≥ 2R output pixels (``block``, default 2R; zero padding where b
    does not divide the axis); the sources that can land in a block are the block and R pixels either
    side, i.e. padded blocks j and j + 1 side by side. Per block, the (C × 2b) window of values times
    the (2b × b) matrix ``T[s, o] = tent(disp_s − (o − s + R))`` (source s lands on output o) is the
    block's splat. Why: as ``2R+1`` shifted multiply-adds the pass was 3·(2R+1) memory-bound
    full-size operators (slices, broadcast products, sums); this is one GEMM and a few layout copies
    (``benchmarks/warp_export.py`` times both forms on each backend). Why b = 2R: the tent matrices
    hold 2b entries per pixel, each built by four elementwise operators, and the GEMM does C·2b
    multiply-adds per pixel, so the narrowest block is the cheapest, a few pixels of padding included
    (``warp_export.py`` also times 2R against the block that divides the axis).
    """
    R = radius
    B, C, H, W = values.shape
    n = values.shape[dim]
    b = 2 * R if block is None else block
    if b < 2 * R:
        raise ValueError(f"splatting blocks must be at least 2R = {2 * R} px, got {b}")
    blocks = -(-n // b)
    after = (blocks + 1) * b - n - R
    pad = (R, after, 0, 0) if dim == -1 else (0, 0, R, after)

    def windows(x: Tensor) -> Tensor:
        """(B·rows·blocks, channels, 2b): each block's source window along the axis."""
        return block_windows(F.pad(x, pad), b, dim).flatten(0, 2)

    source = torch.arange(2 * b, device=values.device, dtype=values.dtype).view(1, 2 * b, 1)
    target = torch.arange(b, device=values.device, dtype=values.dtype).view(1, 1, b)
    weights = F.relu(1.0 - (windows(disp).transpose(1, 2) - (target - source + R)).abs())
    out = torch.bmm(windows(values), weights)  # (B·rows·blocks, C, b)
    if dim == -1:
        out = out.reshape(B, H, blocks, C, b).permute(0, 3, 1, 2, 4).reshape(B, C, H, blocks * b)
        return out[..., :n]
    out = out.reshape(B, blocks, W, C, b).permute(0, 3, 1, 4, 2).reshape(B, C, blocks * b, W)
    return out[:, :, :n]


def separable_splat_with_weight(
    img: Tensor, flow: Tensor, weight: Tensor | None = None, radius: int = 12, eps: float = 1e-4
) -> tuple[Tensor, Tensor]:
    """:func:`forward_splat_with_weight` through :func:`separable_splat_sum`; returns (out, den)."""
    _check(img, flow)
    _check_radius(radius)
    return _average_splat(lambda v, f: separable_splat_sum(v, f, radius), img, flow, weight, eps)


#: splatting implementations a model's ``warp_impl`` may name
SPLAT_IMPLS: tuple[str, ...] = ("scatter", "window", "separable")


def splat_sum_variant(values: Tensor, flow: Tensor, impl: str, radius: int) -> Tensor:
    """:func:`splat_sum` by implementation: ``scatter`` (any flow), or ``window`` / ``separable``
    with the flow clamped to ``±radius`` per axis (their exact range)."""
    if impl == "scatter":
        return splat_sum(values, flow)
    if impl == "window":
        return window_splat_sum(values, flow.clamp(-radius, radius), radius)
    if impl == "separable":
        return separable_splat_sum(values, flow.clamp(-radius, radius), radius)
    raise ValueError(f"unknown splatting implementation {impl!r} ({', '.join(SPLAT_IMPLS)})")


def forward_splat_variant(
    img: Tensor, flow: Tensor, impl: str, radius: int, weight: Tensor | None = None, eps: float = 1e-4
) -> tuple[Tensor, Tensor]:
    """:func:`forward_splat_with_weight` through :func:`splat_sum_variant`; returns (out, den)."""
    _check(img, flow)
    _check_radius(radius)
    return _average_splat(lambda v, f: splat_sum_variant(v, f, impl, radius), img, flow, weight, eps)


# ----------------------------------------------------------------------------- resizing


def resize(img: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize to ``size`` = (H, W), align_corners=False, no antialias.

    This is the transform that puts frames on the motion canvas; a same-size call is the identity.
    """
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    return F.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=False)


def downsample_kernel(factor: int, channels: int) -> Tensor:
    """The depthwise (channels, 1, 2f, 2f) triangle kernel of :func:`downsample` for an even ``factor``.

    Taps sit at ``d = j − c`` from the output centre ``c = f·(i + ½) − ½``, i.e. at ±½, ±3/2, …,
    ±(f − ½), weighted ``1 − |d|/f``: PyTorch's antialiased bilinear filter for an integer factor.
    """
    tap = 1.0 - (torch.arange(2 * factor, dtype=torch.float64) - (factor - 0.5)).abs() / factor
    return torch.outer(tap, tap).float().expand(channels, 1, 2 * factor, 2 * factor).clone()


def downsample(img: Tensor, factor: int, kernel: Tensor | None = None) -> Tensor:
    """``F.interpolate(img, scale 1/factor, bilinear, antialias=True)`` for an integer ``factor``.

    The same triangle filter, weights renormalised where taps fall outside the image, written as a
    strided depthwise convolution divided by the (constant) convolution of ones. The antialiased
    resize op has no lowering in LiteRT or Core ML; this form exports everywhere and equals
    PyTorch's to float rounding (``tests/test_ops.py``). Pass ``kernel`` (from
    :func:`downsample_kernel`, held as a module buffer) so exported graphs see constant weights,
    which XNNPACK needs to delegate the convolution. Odd factors or sizes fall back to PyTorch.
    """
    H, W = img.shape[-2:]
    if factor == 1:
        return img
    if factor < 1 or factor % 2 or H % factor or W % factor:
        return F.interpolate(img, size=(H // factor, W // factor), mode="bilinear", align_corners=False, antialias=True)
    s = factor
    if kernel is None:
        kernel = downsample_kernel(s, img.shape[1])
    kernel = kernel.to(img)
    num = F.conv2d(img, kernel, stride=s, padding=s // 2, groups=img.shape[1])
    return num / torch.from_numpy(_downsample_normaliser(H, W, s)).to(img)


@functools.lru_cache(maxsize=64)
def _downsample_normaliser(h: int, w: int, s: int) -> np.ndarray:
    """Sum of the in-image tap weights per output pixel of :func:`downsample`.

    It depends on the static shape only: built in numpy, it is a constant in exported graphs, and
    cached, so training does not rebuild it on every forward.
    """
    tap = 1.0 - np.abs(np.arange(2 * s) - (s - 0.5)) / s
    ones = np.pad(np.ones((h, w)), s // 2)
    win = np.lib.stride_tricks.sliding_window_view(ones, (2 * s, 2 * s))[::s, ::s]
    den = (win * np.outer(tap, tap)).sum((-1, -2)).astype(np.float32)
    return den


def resize_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize a (B, 2, H, W) displacement field to ``size`` = (H', W') and rescale it to new pixels.

    Channel 0 (x) is multiplied by ``W'/W`` and channel 1 (y) by ``H'/H``, since a displacement of
    one old pixel spans that many new pixels.
    """
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"expected flow (B, 2, H, W), got {tuple(flow.shape)}")
    H, W = flow.shape[-2:]
    h, w = size
    out = resize(flow, size)
    # cat of two scaled slices rather than a constant scale tensor keeps the graph constant-free.
    return torch.cat([out[:, 0:1] * (w / W), out[:, 1:2] * (h / H)], 1)
