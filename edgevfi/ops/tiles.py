"""Region helpers shared by the full-frame forward and the tiled runtime.

Both paths call these exact functions, which is what makes "one tile covering the frame" and
"many tiles" run the same arithmetic.  Coordinates follow the pixel-centre convention of
:mod:`edgevfi.ops.warp`: pixel ``x`` of a frame of width ``W`` covers ``[x - 0.5, x + 0.5]``.
A region is ``(y0, x0, h, w)`` in frame pixels and may extend beyond the frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

Region = tuple[int, int, int, int]


def _clamped_index(start: int, length: int, size: int, device: torch.device) -> Tensor:
    return torch.arange(start, start + length, device=device).clamp_(0, size - 1)


def crop_replicate(img: Tensor, region: Region) -> Tensor:
    """Crop ``region`` from ``img`` (B, C, H, W); pixels outside the frame repeat the nearest edge.

    Replicate (not zero) filling keeps colour statistics sane at frame borders, and because the
    full-frame forward pads the same way, a tile that hangs over the border sees exactly what the
    full-frame pass sees there.
    """
    y0, x0, h, w = region
    H, W = img.shape[-2:]
    rows = _clamped_index(y0, h, H, img.device)
    cols = _clamped_index(x0, w, W, img.device)
    return img.index_select(-2, rows).index_select(-1, cols)


def _lerp_axis(m: Tensor, coords: Tensor, dim: int) -> Tensor:
    """Linear interpolation of ``m`` along ``dim`` at fractional ``coords`` (clamped to the edge)."""
    size = m.shape[dim]
    coords = coords.clamp(0, size - 1)
    lo = coords.floor().long().clamp_(0, size - 1)
    hi = (lo + 1).clamp_(max=size - 1)
    frac = (coords - lo.to(coords.dtype)).to(m.dtype)
    shape = [1] * m.dim()
    shape[dim] = -1
    frac = frac.view(shape)
    return m.index_select(dim, lo) * (1 - frac) + m.index_select(dim, hi) * frac


def sample_motion(
    motion: Tensor,
    canvas_hw: tuple[int, int],
    frame_hw: tuple[int, int],
    region: Region,
    displacement_channels: int,
) -> Tensor:
    """Bilinearly upsample a motion tensor onto the full-resolution pixels of ``region``.

    ``motion`` (B, C, h_m, w_m) was estimated on frames resized to ``canvas_hw`` and may itself be
    at a lower resolution than the canvas. Its first ``displacement_channels`` channels are x/y
    displacement pairs in canvas pixels; they are rescaled to frame pixels. Other channels
    (weights, logits) are unitless and only interpolated. Sampling is separable (rows, then
    columns) and clamps at the edge, so a region reaching outside the frame sees the border value.
    """
    y0, x0, h, w = region
    H, W = frame_hw
    Hc, Wc = canvas_hw
    hm, wm = motion.shape[-2:]
    dev = motion.device
    # Same align_corners=False mapping as F.interpolate: centre of frame pixel x sits at motion
    # coordinate (x + 0.5) * w_m / W - 0.5.
    ys = (torch.arange(y0, y0 + h, device=dev, dtype=torch.float64) + 0.5) * (hm / H) - 0.5
    xs = (torch.arange(x0, x0 + w, device=dev, dtype=torch.float64) + 0.5) * (wm / W) - 0.5
    out = _lerp_axis(_lerp_axis(motion, ys.float(), -2), xs.float(), -1)
    if displacement_channels:
        scale = torch.ones(out.shape[1], device=dev, dtype=out.dtype)
        scale[0:displacement_channels:2] = W / Wc
        scale[1:displacement_channels:2] = H / Hc
        out = out * scale.view(1, -1, 1, 1)
    return out


def region_mean_displacement(
    motion: Tensor, canvas_hw: tuple[int, int], frame_hw: tuple[int, int], region: Region
) -> Tensor:
    """Mean of the first displacement pair of ``motion`` over ``region``, in frame pixels (B, 2).

    Used to centre each tile's source crop on where its content comes from. Any integer shift is
    *correct* (the synthesis graph receives the residual); a good one keeps residual motion small.
    """
    y0, x0, h, w = region
    H, W = frame_hw
    hm, wm = motion.shape[-2:]
    top = min(max(int(y0 * hm / H), 0), hm - 1)
    left = min(max(int(x0 * wm / W), 0), wm - 1)
    bottom = max(min(int(-(-(y0 + h) * hm // H)), hm), top + 1)
    right = max(min(int(-(-(x0 + w) * wm // W)), wm), left + 1)
    mean = motion[:, 0:2, top:bottom, left:right].mean(dim=(-2, -1))
    Hc, Wc = canvas_hw
    return mean * torch.tensor([W / Wc, H / Hc], dtype=mean.dtype, device=mean.device)


def resize_to(img: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize (align_corners=False, no antialias): the motion canvas transform."""
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    return F.interpolate(img, size=size, mode="bilinear", align_corners=False)


def window_source(
    img: Tensor,
    motion: Tensor,
    canvas_hw: tuple[int, int],
    region: Region,
    shift: tuple[int, int],
    displacement_channels: int,
) -> tuple[Tensor, Tensor]:
    """Source crop and its motion for output window ``region``, displaced by ``shift`` = (sx, sy).

    The crop starts at ``region``'s origin minus the shift: content that lands in the window at time
    t comes from roughly there. Returns ``(crop, motion_on_crop)``.
    """
    sx, sy = shift
    src_region = (region[0] - sy, region[1] - sx, region[2], region[3])
    frame_hw = (img.shape[-2], img.shape[-1])
    return (
        crop_replicate(img, src_region),
        sample_motion(motion, canvas_hw, frame_hw, src_region, displacement_channels),
    )


def transpose_motion(motion: Tensor, displacement_channels: int) -> Tensor:
    """A motion tensor of the transposed frames (H and W swapped) as motion of the frames themselves.

    The map is transposed and every (x, y) displacement pair becomes (y, x); further channels are
    per-pixel scalars and only move with the map. Its own inverse.
    """
    m = motion.transpose(-2, -1)
    B, _, h, w = m.shape
    d = m[:, :displacement_channels].reshape(B, displacement_channels // 2, 2, h, w).flip(2)
    return torch.cat([d.reshape(B, displacement_channels, h, w), m[:, displacement_channels:]], 1)


def flip_motion(motion: Tensor, displacement_channels: int, horizontal: bool, vertical: bool) -> Tensor:
    """A motion tensor of mirrored frames as motion of the frames themselves (its own inverse).

    The map is mirrored like the frames and the x (y) component of every displacement pair changes
    sign with a horizontal (vertical) mirror; further channels only move with the map.
    """
    dims = [d for d, on in ((-1, horizontal), (-2, vertical)) if on]
    if not dims:
        return motion
    sign = torch.ones(motion.shape[1], dtype=motion.dtype, device=motion.device)
    if horizontal:
        sign[0:displacement_channels:2] = -1
    if vertical:
        sign[1:displacement_channels:2] = -1
    return motion.flip(dims) * sign.view(1, -1, 1, 1)
