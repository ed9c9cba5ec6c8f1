"""The floor baseline: a time-weighted average of the two frames, no motion at all."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from edgevfi.models.base import ModelConfig, TwoStageModel


@dataclass(frozen=True)
class BlendConfig(ModelConfig):
    family: str = "blend"
    align: int = 1
    halo: int = 0


class Blend(TwoStageModel):
    """``(1 − t)·I0 + t·I1``; its motion stage returns zero displacement at 1/8 canvas."""

    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        z = torch.zeros(img0.shape[0], 2, max(1, img0.shape[-2] // 8), max(1, img0.shape[-1] // 8))
        return z.to(img0), z.to(img1)

    def synthesize(self, src0, src1, mot0, mot1, shift0, shift1, t) -> Tensor:
        t = t.view(-1, 1, 1, 1)
        return (1 - t) * src0 + t * src1
