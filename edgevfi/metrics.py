"""Image quality metrics on 8-bit-rounded RGB, as the evaluation protocol requires."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def quantize_8bit(img: Tensor) -> Tensor:
    """Round to the 8-bit grid a saved frame would have (so scores match files on disk)."""
    return (img.clamp(0, 1) * 255.0).round() / 255.0


def psnr(pred: Tensor, gt: Tensor) -> float:
    """PSNR in dB over all pixels and channels of one image pair (range [0, 1])."""
    mse = F.mse_loss(pred.double(), gt.double()).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(pred: Tensor, gt: Tensor) -> float:
    """SSIM (Wang et al. 2004: 11×11 Gaussian σ=1.5, K1=0.01, K2=0.03), mean over RGB channels."""
    if pred.dim() == 3:
        pred, gt = pred[None], gt[None]
    x, y = pred.double(), gt.double()
    c = x.shape[1]
    win = _gaussian_window().to(x)[None, None].expand(c, 1, 11, 11)
    if min(x.shape[-2:]) < 11:
        win = win[..., :1, :1] * 0 + 1.0  # degenerate tiny images: plain per-pixel statistics

    def filt(z: Tensor) -> Tensor:
        return F.conv2d(z, win, groups=c)

    mu_x, mu_y = filt(x), filt(y)
    sxx = filt(x * x) - mu_x**2
    syy = filt(y * y) - mu_y**2
    sxy = filt(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return float(s.mean())


#: Motion buckets (``edgevfi validate``, ``benchmarks/quality.py``): mean displacement between the
#: two input frames, in frame pixels.
MOTION_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("small", 0.0, 3.0),
    ("medium", 3.0, 10.0),
    ("large", 10.0, math.inf),
)


def motion_bucket(motion_px: float) -> str:
    """Name of the :data:`MOTION_BUCKETS` entry that ``motion_px`` falls in."""
    return next(name for name, lo, hi in MOTION_BUCKETS if lo <= motion_px < hi)


def motion_magnitude(m0: Tensor, canvas_hw: tuple[int, int], frame_hw: tuple[int, int]) -> float:
    """Mean length of the 0→1 displacement (first pair of ``m0``, canvas px) in frame pixels."""
    d = m0[:, 0:2].double()
    sx, sy = frame_hw[1] / canvas_hw[1], frame_hw[0] / canvas_hw[0]
    return float(torch.sqrt((d[:, 0] * sx) ** 2 + (d[:, 1] * sy) ** 2).mean())
