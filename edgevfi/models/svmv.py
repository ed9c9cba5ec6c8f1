"""SVMV: a compact motion volume with normalised bilinear-kernel synthesis (seed 000).

Motion stage: the shared :class:`~edgevfi.models.blocks.FlowPyramid` gives a base flow per
direction; a head on its finest features adds ``M − 1`` offset hypotheses around it and ``M``
weight logits. Each motion tensor is ``[M displacement pairs, M logits]`` at 1/2 canvas.

Synthesis stage (per tile, full resolution), the paper's equation::

    Î_t[p] = Σ_i Σ_m Σ_q K^m_{i,t}[q] I_i[q] / Σ_i Σ_m Σ_q K^m_{i,t}[q],
    K^m_{i,t}[q] = ω^m_{i,t}[q] · B(q + u^m_{i→t}[q] − p)

i.e. forward splatting of every hypothesis with the bilinear kernel B, normalised over all
hypotheses of both frames. ``u^m_{0→t} = t·u^m_{0→1}`` and ``u^m_{1→t} = (1−t)·u^m_{1→0}`` make the
volume t-independent (so one motion pass serves every t of a ×8 slow-motion), and ``ω`` gets the
temporal prior ``(1−t)`` for frame 0 and ``t`` for frame 1. A small residual refiner at 1/4
resolution fixes holes and kernel blur; the paper avoids heavy refinement, and so do we.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from edgevfi.models.base import ModelConfig, SplattingConfig, TwoStageModel, residual_displacement
from edgevfi.models.blocks import (
    FlowPyramid,
    MotionConfig,
    QuarterDecoder,
    QuarterEncoder,
    RefineBlock,
    conv,
    per_block,
)
from edgevfi.ops.warp import splat_sum_variant


@dataclass(frozen=True)
class SVMVConfig(ModelConfig, MotionConfig, SplattingConfig):
    family: str = "svmv"
    hypotheses: int = 4
    width: int = 32
    inner: int | tuple[int, ...] = 48  # one width for every refine block, or one per block (pruned)
    blocks: int = 3
    warp_impl: str = "scatter"  # or "window" / "separable" (edgevfi.ops.warp.SPLAT_IMPLS)
    window_radius: int = 4
    separable_radius: int = 12
    eps: float = 1e-4


class SVMV(TwoStageModel):
    """SVMV made two-stage and tileable; see the module docstring."""

    def __init__(self, config: SVMVConfig) -> None:
        super().__init__(config)
        c = config
        self.hypotheses = c.hypotheses
        self.flow = FlowPyramid.from_config(c)
        m = c.hypotheses
        hw = c.motion_widths[-1]
        self.volume = nn.Sequential(conv(hw + 2, hw), nn.Conv2d(hw, 3 * m - 2, 3, 1, 1))
        # Hypothesis 0 is the base flow itself; the head starts as "all hypotheses = base".
        nn.init.zeros_(self.volume[-1].weight)
        nn.init.zeros_(self.volume[-1].bias)
        refine_in = 3 * 3 + 3  # normalised per-frame and joint images + per-frame and joint coverage
        self.encode = QuarterEncoder(refine_in, c.width)
        self.refine = nn.Sequential(*(RefineBlock(c.width, inner) for inner in per_block(c.inner, c.blocks)))
        self.decode = QuarterDecoder(c.width, 3)

    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        flow, hidden = self.flow(img0, img1)
        m = self.config.hypotheses
        hidden = torch.nn.functional.interpolate(hidden, size=flow.shape[-2:], mode="bilinear", align_corners=False)
        extra = self.volume(torch.cat([hidden, flow], 1))
        offsets = extra[:, : 2 * (m - 1)] + flow.repeat(1, m - 1, 1, 1)
        volume = torch.cat([flow, offsets, extra[:, 2 * (m - 1) :]], 1)
        B = img0.shape[0]
        return volume[:B], volume[B:]

    def hypothesis_offsets(self, mot: Tensor) -> Tensor:
        """(B, M, 2, H, W) view of a motion tensor's hypotheses (for the variance-aware loss)."""
        m = self.config.hypotheses
        return mot[:, : 2 * m].reshape(mot.shape[0], m, 2, *mot.shape[-2:])

    def _splat_sum(self, x: Tensor, disp: Tensor) -> Tensor:
        c = self.config
        return splat_sum_variant(x, disp, c.warp_impl, c.splat_radius)

    def synthesize(self, src0, src1, mot0, mot1, shift0, shift1, t) -> Tensor:
        c = self.config
        m = c.hypotheses
        B = src0.shape[0]
        sums = []
        for src, mot, shift, frac, prior in (
            (src0, mot0, shift0, t, 1 - t),
            (src1, mot1, shift1, 1 - t, t),
        ):
            disp = residual_displacement(mot, shift, frac, 2 * m)
            # Softplus keeps weights positive and bounded below by nothing but 0, so a hypothesis
            # can be switched off; the temporal prior favours the nearer frame.
            weights = torch.nn.functional.softplus(mot[:, 2 * m : 3 * m]) * prior.view(B, 1, 1, 1)
            acc = None
            for h in range(m):
                w = weights[:, h : h + 1]
                s = self._splat_sum(torch.cat([src * w, w], 1), disp[:, 2 * h : 2 * h + 2])
                acc = s if acc is None else acc + s
            sums.append(acc)
        num = sums[0][:, :3] + sums[1][:, :3]
        den = sums[0][:, 3:] + sums[1][:, 3:]
        joint = num / den.clamp_min(c.eps)
        per_frame = [s[:, :3] / s[:, 3:].clamp_min(c.eps) for s in sums]
        cov = [s[:, 3:].clamp(max=1.0) for s in sums]
        x = torch.cat([joint, *per_frame, den.clamp(max=1.0), *cov], 1)
        residual = self.decode(self.refine(self.encode(x)))
        return (joint + residual).clamp(0, 1)
