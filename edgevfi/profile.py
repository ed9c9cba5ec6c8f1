"""Model size and compute: parameters and multiply–accumulates (MACs) per interpolated frame."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from edgevfi.models.base import TwoStageModel
from edgevfi.models.blocks import exported_cost_volumes


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: TwoStageModel, frame_hw: tuple[int, int] = (720, 1280)) -> dict[str, int]:
    """MACs of the motion stage (on its canvas) and of full-frame synthesis at ``frame_hw``.

    Convolutions and matrix products only (what dominates and what every profiler counts), via
    PyTorch's FLOP counter (FLOPs / 2). Synthesis is counted on the full-frame window, i.e. the
    algorithmic cost; tiling adds the halo overhead, which the bench reports per graph. With a
    motion-adaptive canvas (``config.fine_canvas_side``), ``fine_motion`` is the second motion pass
    at its largest canvas for this frame (pairs with small motion) and ``total_fine`` the frame's
    cost with it; both equal the single-pass figures when the model has none. Cost volumes count
    as the exported graphs compute them (a 1×1 convolution per tap), not as eager's tap sums.
    """
    with exported_cost_volumes(model):
        return _count_macs(model, frame_hw)


def _count_macs(model: TwoStageModel, frame_hw: tuple[int, int]) -> dict[str, int]:
    H, W = frame_hw
    was_training = model.training
    model.eval()
    canvas = model.canvas_for(frame_hw)
    img = torch.rand(1, 3, H, W)
    c0 = torch.rand(1, 3, *canvas)
    with FlopCounterMode(display=False) as fc:
        m0, m1 = model.motion(c0, c0)
    motion = fc.get_total_flops() // 2
    region = model.full_frame_region(frame_hw)
    zero = torch.zeros(1, 2)
    t = torch.full((1,), 0.5)
    with FlopCounterMode(display=False) as fc:
        model.synthesize_region(img, img, m0, m1, canvas, region, zero, zero, t)
    synth = fc.get_total_flops() // 2
    fine_motion = 0
    # The Runner's own rule on a still pair gives the largest canvas the second pass can take.
    fine = model.refine_canvas(frame_hw, canvas, torch.zeros_like(m0), torch.zeros_like(m1))
    if fine != canvas:
        f0 = torch.rand(1, 3, *fine)
        with FlopCounterMode(display=False) as fc:
            model.motion(f0, f0)
        fine_motion = fc.get_total_flops() // 2
    model.train(was_training)
    return {
        "motion": int(motion),
        "synthesis": int(synth),
        "total": int(motion + synth),
        "fine_motion": int(fine_motion),
        "total_fine": int(motion + synth + fine_motion),
    }
