"""Layers shared by the model families: plain convs, PReLU, pixel shuffle, nothing exotic.

Every op here is chosen to export to ExecuTorch/XNNPACK, Core ML, LiteRT and ONNX and to quantize
well: 3×3/1×1 convolutions, PReLU, pixel (un)shuffle, elementwise math. No normalisation layer
depends on statistics beyond a pixel, so tiles and full frames compute the same thing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgevfi.ops.warp import backward_warp


def conv(cin: int, cout: int, k: int = 3, stride: int = 1, act: bool = True) -> nn.Sequential:
    """k×k convolution (zero padding keeps size / stride), optionally followed by PReLU."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2)]
    if act:
        layers.append(nn.PReLU(cout))
    return nn.Sequential(*layers)


class Upsample2x(nn.Module):
    """1×1 conv to 4·cout channels then pixel shuffle: a cheap, exact-size learned upsampler."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, cout * 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.proj(x), 2)


def channel_norm(x: Tensor, eps: float = 1e-5) -> Tensor:
    """Normalise each pixel's feature vector (APR-VFI's "add & norm" fusion), no batch statistics."""
    mean = x.mean(dim=1, keepdim=True)
    var = (x - mean).pow(2).mean(dim=1, keepdim=True)
    return (x - mean) * torch.rsqrt(var + eps)


class RefineBlock(nn.Module):
    """APR-VFI's encoder–decoder refine block at 1/4 resolution: down ×2, conv, up ×2, residual."""

    def __init__(self, ch: int, inner: int) -> None:
        super().__init__()
        self.down = conv(ch, inner, 3, 2)
        self.body = conv(inner, inner)
        self.up = Upsample2x(inner, ch)
        self.out = conv(ch, ch, act=False)
        self.act = nn.PReLU(ch)

    def forward(self, x: Tensor) -> Tensor:
        y = self.up(self.body(self.down(x)))
        return self.act(x + self.out(y + x))


class QuarterEncoder(nn.Module):
    """Full-resolution maps → features at 1/4 resolution via pixel-unshuffle and a 1×1 conv.

    Nothing heavy runs at full resolution: this is what keeps a 4K tile affordable on a phone.
    """

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        self.proj = conv(cin * 16, width, 1)
        self.mix = conv(width, width)

    def forward(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        y = self.proj(F.pixel_unshuffle(x, 4))
        if extra is not None:
            y = y + extra
        return self.mix(y)


class QuarterDecoder(nn.Module):
    """1/4-resolution features → ``cout`` full-resolution maps (two learned ×2 upsamplings)."""

    def __init__(self, width: int, cout: int, mid: int = 16, fine: int = 8) -> None:
        super().__init__()
        self.up1 = Upsample2x(width, mid)
        self.mid_conv = conv(mid, mid)
        self.up2 = Upsample2x(mid, fine)
        self.full = nn.Conv2d(fine, cout, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.full(F.leaky_relu(self.up2(self.mid_conv(self.up1(x))), 0.1))


class FlowPyramid(nn.Module):
    """Bidirectional coarse-to-fine flow on the motion canvas (IFRNet/PWC-style, tiny).

    A shared feature pyramid (1/2 … 1/16) feeds one estimator per level. Both directions run
    through the same weights as one batch, so ``F_{0→1}`` and ``F_{1→0}`` are estimated
    symmetrically. Each finer level backward-warps the other frame's features with the current
    flow and predicts a residual. Output flows are at 1/2 of the canvas, in canvas pixels, plus the
    finest estimator's hidden features (for heads that predict more than one hypothesis).
    """

    def __init__(self, widths: tuple[int, int, int, int], est_widths: tuple[int, int, int, int]) -> None:
        super().__init__()
        c1, c2, c3, c4 = widths
        self.enc = nn.ModuleList(
            [
                nn.Sequential(conv(3, c1, 3, 2), conv(c1, c1)),
                nn.Sequential(conv(c1, c2, 3, 2), conv(c2, c2)),
                nn.Sequential(conv(c2, c3, 3, 2), conv(c3, c3)),
                nn.Sequential(conv(c3, c4, 3, 2), conv(c4, c4)),
            ]
        )
        chans = (c1, c2, c3, c4)
        self.est = nn.ModuleList()
        for level, (c, e) in enumerate(zip(chans, est_widths, strict=True)):
            coarsest = level == 3
            cin = 2 * c if coarsest else 2 * c + 2 + est_widths[level + 1]
            self.est.append(
                nn.ModuleDict(
                    {
                        "body": nn.Sequential(conv(cin, e), conv(e, e), conv(e, e)),
                        "flow": nn.Conv2d(e, 2, 3, 1, 1),
                    }
                )
            )
        self.out_channels = est_widths[0]

    def forward(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        B = img0.shape[0]
        x = torch.cat([img0, img1], 0)
        feats = []
        for enc in self.enc:
            x = enc(x)
            feats.append(x)
        flow = hidden = None
        for level in (3, 2, 1, 0):
            f = feats[level]
            # Swap halves so each sample sees (its own frame, the other frame).
            other = torch.cat([f[B:], f[:B]], 0)
            if flow is None:
                inp = torch.cat([f, other], 1)
            else:
                flow = 2.0 * F.interpolate(flow, scale_factor=2.0, mode="bilinear", align_corners=False)
                hidden = F.interpolate(hidden, scale_factor=2.0, mode="bilinear", align_corners=False)
                inp = torch.cat([f, backward_warp(other, flow), flow, hidden], 1)
            est = self.est[level]
            hidden = est["body"](inp)
            delta = est["flow"](hidden)
            flow = delta if flow is None else flow + delta
        # Level 0 is at 1/2 canvas: express displacements in canvas pixels.
        return 2.0 * flow, hidden
