"""VFI-DPA: a difficulty pre-assessor that decides, before any interpolation runs, where the
accurate model is worth its cost (seed 001, made edge-sized and per tile).

The paper's pipeline is kept, each part shrunk to a few hundred MMACs:

* **Siamese feature extractor** on both frames at a small *assess canvas*: a strided CNN instead of
  Swin-T, giving shallow texture features (1/4) and deep semantic features (1/8).
* **DeformNet fusion**: deep features are brought to the shallow resolution with PixelShuffle (as in
  the paper) and predict offsets that re-sample the shallow features. The paper uses a deformable
  convolution; ``align="deform"`` is that (DCNv1 built on ``grid_sample``, eager only), while
  the default ``align="warp"`` is its export-friendly equivalent: one learned offset per location,
  applied with the gather-free :func:`~edgevfi.ops.warp.window_warp` (exact for offsets ≤
  ``offset_radius``), followed by an ordinary 3×3 convolution. ``benchmarks/routing.py`` measures
  the two against each other and against ``align="none"``.
* **Temporal difference and spatial features**: ``f0 − f1`` and ``f0 + f1`` of the fused features,
  concatenated.
* **Patch-wise prediction with attention pooling**: per patch (8 assess-canvas pixels) the network
  predicts

  - ``difficulty``: log10 of the fast model's MSE there (the paper's target: how badly the fast
    model does, from the inputs alone);
  - ``benefit``: how much squared error the accurate model removes there (×1000), which is what a
    compute budget should be spent on — the paper's annotators implicitly judged this by knowing
    their accurate model fixes the hard cases; here the fast and accurate models are close, so it
    is learned directly;
  - ``attention`` logits; the frame difficulty is the attention-weighted mean of the patch scores.

Routing uses these maps through :mod:`edgevfi.runtime.routing`: per frame pair, the predicted PSNR
gain; per tile, the predicted squared error removed inside the tile.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgevfi.ops.warp import backward_warp, window_warp

__all__ = ["DPAConfig", "DifficultyAssessor", "assess_canvas", "frame_difficulty", "pair_gain_db"]

#: benefit maps are squared-error differences scaled by this, so the head's outputs are O(1)
BENEFIT_SCALE = 1000.0


@dataclass(frozen=True)
class DPAConfig:
    """Widths and the fusion variant of the assessor."""

    family: str = "dpa"
    width: int = 16
    #: "warp" (export-friendly offset re-sampling), "deform" (deformable conv, eager only) or "none"
    align: str = "warp"
    offset_radius: int = 2
    #: the assess canvas is this fraction of the motion canvas (each side, multiple of 16)
    canvas_scale: float = 0.5
    #: one output patch covers this many assess-canvas pixels
    stride: int = 8

    def to_dict(self) -> dict:
        return asdict(self)


def assess_canvas(motion_canvas_hw: tuple[int, int], scale: float = 0.5, multiple: int = 16) -> tuple[int, int]:
    """The assessor's input size for a motion canvas (a multiple of ``multiple`` per side)."""
    return tuple(max(multiple, round(s * scale / multiple) * multiple) for s in motion_canvas_hw)  # type: ignore[return-value]


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.1))


class _DeformAlign(nn.Module):
    """The paper's deformable convolution (DCNv1) on shallow features, offsets from deep features.

    Written with :func:`backward_warp` (``grid_sample``): each of the 9 taps samples the input at
    its own learned offset, and a 1×1 convolution over the 9·C samples is the 3×3 kernel. Border
    samples clamp to the edge instead of reading zeros. Eager reference only (``grid_sample`` per
    tap is what the export-friendly variant avoids).
    """

    def __init__(self, channels: int, guide: int) -> None:
        super().__init__()
        self.offsets = nn.Conv2d(guide, 2 * 9, 3, 1, 1)
        nn.init.zeros_(self.offsets.weight)
        nn.init.zeros_(self.offsets.bias)
        self.kernel = nn.Conv2d(9 * channels, channels, 1)

    def forward(self, shallow: Tensor, guide: Tensor) -> Tensor:
        off = self.offsets(guide)
        taps = []
        for k, (dy, dx) in enumerate((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)):
            base = torch.tensor([dx, dy], dtype=off.dtype, device=off.device).view(1, 2, 1, 1)
            taps.append(backward_warp(shallow, base + off[:, 2 * k : 2 * k + 2]))
        return F.leaky_relu(self.kernel(torch.cat(taps, 1)), 0.1)


class _WarpAlign(nn.Module):
    """Export-friendly deformable alignment: one bounded offset per location, gather-free re-sampling
    (:func:`window_warp`), then a 3×3 convolution."""

    def __init__(self, channels: int, guide: int, radius: int) -> None:
        super().__init__()
        self.radius = radius
        self.offsets = nn.Conv2d(guide, 2, 3, 1, 1)
        nn.init.zeros_(self.offsets.weight)
        nn.init.zeros_(self.offsets.bias)
        self.conv = _conv(channels, channels)

    def forward(self, shallow: Tensor, guide: Tensor) -> Tensor:
        # tanh keeps every offset inside the window the gather-free warp covers exactly.
        offset = torch.tanh(self.offsets(guide)) * (self.radius - 0.01)
        return self.conv(window_warp(shallow, offset, self.radius))


class _NoAlign(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = _conv(channels, channels)

    def forward(self, shallow: Tensor, guide: Tensor) -> Tensor:
        return self.conv(shallow)


class DifficultyAssessor(nn.Module):
    """``forward(img0, img1) -> (difficulty, benefit, attention)``, each (B, 1, H/stride, W/stride).

    Inputs are both frames resized to the assess canvas, in [0, 1]. Static shapes, no data-dependent
    control flow: it exports as the bundle's ``assess`` graph.
    """

    def __init__(self, config: DPAConfig = DPAConfig()) -> None:
        super().__init__()
        if config.align not in ("warp", "deform", "none"):
            raise ValueError(f"unknown align variant {config.align!r} (warp, deform or none)")
        if config.stride != 8:
            raise ValueError("the assessor's patch stride is fixed at 8 assess-canvas pixels")
        self.config = config
        w = config.width
        self.stem = nn.Sequential(_conv(3, w, 2), _conv(w, w))  # 1/2
        self.shallow = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))  # 1/4
        self.deep = nn.Sequential(_conv(2 * w, 3 * w, 2), _conv(3 * w, 4 * w), _conv(4 * w, 4 * w))  # 1/8
        # PixelShuffle(2): 4w channels at 1/8 -> w channels at 1/4, the paper's detail-preserving upsampling.
        self.up = nn.PixelShuffle(2)
        if config.align == "deform":
            self.align = _DeformAlign(2 * w, w)
        elif config.align == "warp":
            self.align = _WarpAlign(2 * w, w, config.offset_radius)
        else:
            self.align = _NoAlign(2 * w)
        fused = 3 * w  # aligned shallow (2w) + upsampled deep (w)
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * fused + 4 * w, 4 * w, 1),
            nn.LeakyReLU(0.1),
            _conv(4 * w, 4 * w, 2),  # 1/8: the patch grid
            _conv(4 * w, 4 * w),
            _conv(4 * w, 4 * w),
        )
        self.head = nn.Conv2d(4 * w, 3, 1)

    def features(self, img: Tensor) -> tuple[Tensor, Tensor]:
        """Fused (1/4) and deep (1/8) features of one frame."""
        s = self.shallow(self.stem(img))
        d = self.deep(s)
        d_up = self.up(d)
        return torch.cat([self.align(s, d_up), d_up], 1), d

    def forward(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        # Siamese: both frames through the same weights in one batch.
        f, d = self.features(torch.cat([img0, img1], 0))
        b = img0.shape[0]
        f0, f1 = f[:b], f[b:]
        d0, d1 = d[:b], d[b:]
        deep_diff = F.interpolate(torch.abs(d0 - d1), scale_factor=2.0, mode="nearest")
        x = self.fuse(torch.cat([f0 - f1, f0 + f1, deep_diff], 1))
        out = self.head(x)
        # difficulty is log10(MSE); bias its start near a typical value (-2.5 ≈ 25 dB).
        return out[:, 0:1] - 2.5, out[:, 1:2], out[:, 2:3]


def frame_difficulty(difficulty: Tensor, attention: Tensor) -> Tensor:
    """The paper's frame score: patch scores pooled by softmax attention, (B,)."""
    wts = torch.softmax(attention.flatten(1), 1)
    return (wts * difficulty.flatten(1)).sum(1)


def pair_gain_db(difficulty: Tensor, benefit: Tensor) -> Tensor:
    """Predicted PSNR gain (dB) of the accurate model over the fast one, per pair (B,).

    The fast model's frame MSE is the mean of ``10**difficulty``; the accurate model removes the mean
    of ``benefit / BENEFIT_SCALE`` from it (at most 90 %, so the log stays finite).
    """
    mse_fast = (10.0 ** difficulty.flatten(1)).mean(1)
    removed = (benefit.flatten(1) / BENEFIT_SCALE).mean(1)
    remaining = torch.maximum(mse_fast - removed, 0.1 * mse_fast)
    return 10.0 * torch.log10(mse_fast / remaining)
